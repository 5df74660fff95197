"""The project's own weight files: JSON (exact, human-readable) and NumPy ``.npz``.

JSON layout (``format: "verifier-rnn"``, version 1)::

    {"format": "verifier-rnn", "version": 1, "task": "2nd_argmax", "precision": "float32",
     "W_hi": [[w], ...], "W_hh": [[...], ...], "W_oh": [[...], ...], "meta": {...}}

Each weight is a JSON number (its exact decimal value), or a string: ``"p/q"``, a decimal or a
C99 hex float (``"0x1.99999ap-4"``). The writer uses hex floats for float weights and ``p/q``
for exact ones, so a save/load round trip is lossless. ``meta`` is free-form provenance.
"""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
import zlib
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import LoadError
from ..exact import rational_str
from .model import Model

FORMAT = "verifier-rnn"
MAX_FILE_BYTES = 64 * 2**20


def _weight_text(v: Fraction, precision: str) -> str:
    if precision != "exact" and Fraction(float(v)) == v:
        return float(v).hex()
    return rational_str(v)


def model_to_json(model: Model, meta: dict | None = None) -> dict:
    """The JSON document for a model (lossless)."""
    def mat(m):
        return [[_weight_text(v, model.precision) for v in row] for row in m]
    return {
        "format": FORMAT, "version": 1, "task": model.task.name, "precision": model.precision,
        "name": model.name, **({"seq_len": model.seq_len} if model.seq_len is not None else {}),
        "W_hi": mat(model.w_hi), "W_hh": mat(model.w_hh), "W_oh": mat(model.w_oh),
        "sha256_exact": model.content_hash, "meta": meta or {},
    }


def dumps_compact(doc: dict) -> str:
    """JSON text with one top-level key per line and each matrix row on one line."""
    def value(v):
        if isinstance(v, list) and v and all(isinstance(r, list) for r in v):
            return "[\n  " + ",\n  ".join(json.dumps(r) for r in v) + "]"
        return json.dumps(v)
    return "{\n" + ",\n".join(f" {json.dumps(k)}: {value(v)}" for k, v in doc.items()) + "\n}\n"


def save_json(model: Model, path: str | Path, meta: dict | None = None) -> Path:
    path = Path(path)
    path.write_text(dumps_compact(model_to_json(model, meta)))
    return path


def read_limited(path: Path, *, limit: int = MAX_FILE_BYTES, what: str = "an RNN weight file") -> bytes:
    """A file's bytes, refusing files over ``limit`` (weight files and certificates are small).

    Reads at most ``limit + 1`` bytes whatever the file claims to be (``/dev/zero``, a FIFO and
    /proc files report a size of 0), and refuses anything that is not a regular file.
    """
    try:
        with path.open("rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise LoadError(f"{path}: cannot read {what} from a device, FIFO or other non-regular file")
            raw = f.read(limit + 1)
    except OSError as e:
        raise LoadError(f"{path}: cannot read ({e.strerror or e})") from None
    if len(raw) > limit:
        raise LoadError(f"{path}: file too large (over {limit} bytes) for {what}")
    return raw


def strict_json(raw: bytes | str):
    """Parse JSON text strictly: floats as exact Decimals, no NaN/Infinity, no duplicate keys.

    Raises ``ValueError`` (also for nesting too deep to parse) and ``UnicodeDecodeError``.
    """
    try:
        return json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _no_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


JSON_KEYS = ("format", "version", "task", "precision", "name", "seq_len", "W_hi", "W_hh", "W_oh", "sha256_exact", "meta")


def model_from_json(doc, name: str) -> Model:
    """Validate and build a model from a parsed JSON document."""
    if not isinstance(doc, dict):
        raise LoadError(f"{name}: JSON weight file must be an object")
    if doc.get("format", FORMAT) != FORMAT:
        raise LoadError(f"{name}: unknown format {_short(doc.get('format'))}, expected {FORMAT!r}")
    if doc.get("version", 1) != 1 or isinstance(doc.get("version"), bool):
        raise LoadError(f"{name}: unsupported version {_short(doc.get('version'))}; this verifier reads version 1")
    unknown = [k for k in doc if k not in JSON_KEYS]
    if unknown:
        raise LoadError(f"{name}: unknown keys {', '.join(_short(k) for k in unknown[:5])};"
                        f" known: {', '.join(JSON_KEYS)}")
    missing = [k for k in ("W_hi", "W_hh", "W_oh") if k not in doc]
    if missing:
        raise LoadError(f"{name}: missing keys {', '.join(missing)}")
    for k in ("W_hi", "W_hh", "W_oh"):
        rows = doc[k]
        if not isinstance(rows, list) or not rows:
            raise LoadError(f"{name}: {k} must be a non-empty list of rows")
        for row in rows:
            for x in row if isinstance(row, list) else [row]:
                if isinstance(x, bool) or not isinstance(x, (int, Decimal, str)):
                    raise LoadError(f"{name}: {k} must hold numbers or number strings, found {x!r}")
    task = doc.get("task", "median" if len(doc["W_oh"]) == 1 else "2nd_argmax")
    precision, seq_len = doc.get("precision", "exact"), doc.get("seq_len")
    if not isinstance(task, str) or not isinstance(precision, str):
        raise LoadError(f"{name}: 'task' and 'precision' must be strings")
    if seq_len is not None and (isinstance(seq_len, bool) or not isinstance(seq_len, int)):
        raise LoadError(f"{name}: 'seq_len' must be an integer")
    model = Model.from_arrays(doc["W_hi"], doc["W_hh"], doc["W_oh"], task=task, name=str(doc.get("name") or name),
                              precision=precision, seq_len=seq_len,
                              task_source="" if "task" in doc else "from the output size (the file names none)")
    stated = doc.get("sha256_exact")
    if stated is not None and stated != model.content_hash:
        raise LoadError(f"{name}: sha256_exact {_short(stated)} does not match the weights"
                        f" ({model.content_hash}): stale or edited file")
    return model


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:50] + "..."


def load_json(path: str | Path) -> Model:
    path = Path(path)
    raw = read_limited(path)
    try:
        doc = strict_json(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise LoadError(f"{path}: not valid JSON ({' '.join(str(e).split())[:200]})") from None
    return model_from_json(doc, path.stem)


def _reject_constant(token: str):
    raise ValueError(f"non-finite number {token}")


NPZ_KEYS = {"W_hi": ("W_hi", "weight_ih_l0", "rnn.weight_ih_l0"),
            "W_hh": ("W_hh", "weight_hh_l0", "rnn.weight_hh_l0"),
            "W_oh": ("W_oh", "linear.weight")}


def load_npz(path: str | Path, task: str | None = None, seq_len: int | None = None) -> Model:
    """Load ``W_hi``, ``W_hh``, ``W_oh`` (or the PyTorch key names) from an ``.npz`` (no pickles);
    one output row is a median model, whose ``seq_len`` must be given."""
    path = Path(path)
    raw = read_limited(path)
    try:
        _check_npy_headers(raw, path)
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            found = {}
            for key, names in NPZ_KEYS.items():
                hit = [k for k in names if k in z.files]
                if not hit:
                    raise LoadError(f"{path}: missing array {key} (have: {', '.join(z.files) or 'none'})")
                found[key] = z[hit[0]]
            extra = [k for k in z.files if "bias" in k]
    except LoadError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as e:
        raise LoadError(f"{path}: not a readable .npz file ({' '.join(str(e).split())[:200]})") from None
    if extra:
        raise LoadError(f"{path}: biases are not supported (found {', '.join(extra)})")
    for key, arr in found.items():
        if arr.dtype.kind != "f":
            raise LoadError(f"{path}: {key} has dtype {arr.dtype}, expected float")
    rows = found["W_oh"].shape[0] if found["W_oh"].ndim == 2 else 0
    source = "" if task else "from the output size (an .npz names no task)"
    task = task or ("median" if rows == 1 else "2nd_argmax")
    return Model.from_arrays(found["W_hi"], found["W_hh"], found["W_oh"], task=task, name=path.stem,
                             seq_len=seq_len if rows == 1 else None, task_source=source)


def _check_npy_headers(raw: bytes, path: Path) -> None:
    """Read each array's header and refuse, before numpy allocates anything, shapes whose data the
    archive does not hold (a 60-byte header may declare 100000 x 100000) and non-float dtypes."""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        members = archive.infolist()
        if len(members) > 16 or sum(m.file_size for m in members) > MAX_FILE_BYTES:
            raise LoadError(f"{path}: .npz holds {len(members)} members of {sum(m.file_size for m in members)}"
                            " bytes in all: too large for an RNN weight file")
        for member in members:
            with archive.open(member) as f:
                version = np.lib.format.read_magic(f)
                header = {(1, 0): np.lib.format.read_array_header_1_0,
                          (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                if header is None:
                    raise LoadError(f"{path}: {member.filename}: unsupported .npy version {version}")
                shape, _, dtype = header(f)
            if dtype.kind != "f":
                raise LoadError(f"{path}: {member.filename} has dtype {dtype}, expected float")
            need = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if need > member.file_size:
                raise LoadError(f"{path}: {member.filename} declares shape {shape} ({need} bytes) but holds"
                                f" {member.file_size} bytes: truncated or corrupt")


def save_npz(model: Model, path: str | Path) -> Path:
    """Save float64 arrays (exact for float32/float64 weights; rounded for other rationals)."""
    w_hi, w_hh, w_oh = model.arrays
    np.savez(path, W_hi=w_hi.reshape(-1, 1), W_hh=w_hh, W_oh=w_oh)
    return Path(path)
