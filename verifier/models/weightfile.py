"""The project's own weight files: JSON (exact, human-readable) and NumPy ``.npz``.

JSON layout (``format: "verifier-rnn"``, version 1)::

    {"format": "verifier-rnn", "version": 1, "task": "2nd_argmax", "precision": "float32",
     "W_hi": [[w], ...], "W_hh": [[...], ...], "W_oh": [[...], ...], "meta": {...}}

Each weight is a JSON number (its exact decimal value), or a string: ``"p/q"``, a decimal or a
C99 hex float (``"0x1.99999ap-4"``). The writer uses hex floats for float weights and ``p/q``
for exact ones, so a save/load round trip is lossless. ``meta`` is free-form provenance.
"""

from __future__ import annotations

import json
import zipfile
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
    """A file's bytes, refusing files over ``limit`` (weight files and certificates are small)."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise LoadError(f"{path}: file too large ({size} bytes) for {what}")
        return path.read_bytes()
    except OSError as e:
        raise LoadError(f"{path}: cannot read ({e.strerror or e})") from None


def model_from_json(doc, name: str) -> Model:
    """Validate and build a model from a parsed JSON document."""
    if not isinstance(doc, dict):
        raise LoadError(f"{name}: JSON weight file must be an object")
    if doc.get("format", FORMAT) != FORMAT:
        raise LoadError(f"{name}: unknown format {doc.get('format')!r}, expected {FORMAT!r}")
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
    return Model.from_arrays(doc["W_hi"], doc["W_hh"], doc["W_oh"], task=task,
                             name=str(doc.get("name") or name), precision=precision, seq_len=seq_len)


def load_json(path: str | Path) -> Model:
    path = Path(path)
    raw = read_limited(path)
    try:
        doc = json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as e:
        raise LoadError(f"{path}: not valid JSON ({e})") from None
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
    read_limited(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            found = {}
            for key, names in NPZ_KEYS.items():
                hit = [k for k in names if k in z.files]
                if not hit:
                    raise LoadError(f"{path}: missing array {key} (have: {', '.join(z.files) or 'none'})")
                found[key] = z[hit[0]]
            extra = [k for k in z.files if "bias" in k]
    except LoadError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise LoadError(f"{path}: not a readable .npz file ({e})") from None
    if extra:
        raise LoadError(f"{path}: biases are not supported (found {', '.join(extra)})")
    for key, arr in found.items():
        if arr.dtype.kind != "f":
            raise LoadError(f"{path}: {key} has dtype {arr.dtype}, expected float")
    rows = found["W_oh"].shape[0] if found["W_oh"].ndim == 2 else 0
    task = task or ("median" if rows == 1 else "2nd_argmax")
    return Model.from_arrays(found["W_hi"], found["W_hh"], found["W_oh"], task=task, name=path.stem,
                             seq_len=seq_len if rows == 1 else None)


def save_npz(model: Model, path: str | Path) -> Path:
    """Save float64 arrays (exact for float32/float64 weights; rounded for other rationals)."""
    w_hi, w_hh, w_oh = model.arrays
    np.savez(path, W_hi=w_hi.reshape(-1, 1), W_hh=w_hh, W_oh=w_oh)
    return Path(path)
