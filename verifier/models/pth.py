"""Read a PyTorch ``.pth`` state_dict without torch and without running the file's code.

A ``torch.save`` file is a zip archive: ``<top>/data.pkl`` is a pickle whose tensors point,
through persistent ids, at raw storages ``<top>/data/<key>``. ``<top>`` is ``archive`` in new
files and the saved object's name in old ones. Unpickling can call any importable function, so
the reader resolves only the globals a plain tensor state_dict needs (the tensor and parameter
rebuild functions, float32/float64 storage types, ``collections.OrderedDict``); any other
global, ``os.system`` included, is refused before anything is called. Storage bytes are only
read, whatever device (``cpu``, ``cuda:0``) the file names, and every view is checked against
its storage.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import LoadError
from .weightfile import MAX_FILE_BYTES, read_limited

MAX_PICKLE_BYTES = 1 << 20
MAX_DIMS = 8
# What pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2) gives: the first record of a pre-1.6 torch.save file.
LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."


class _StorageType(NamedTuple):
    """What the pickle's ``torch.FloatStorage``/``torch.DoubleStorage`` global resolves to."""

    name: str
    dtype: np.dtype


class _Storage(NamedTuple):
    key: str
    values: np.ndarray  # 1-D, native byte order, read-only


class _Tensor(NamedTuple):
    """A rebuilt tensor: a copy of its values (a tuple type, so a pickle cannot set attributes on it)."""

    values: np.ndarray


STORAGE_TYPES = {"FloatStorage": np.dtype("float32"), "DoubleStorage": np.dtype("float64")}


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a ``.pth`` state_dict file: name -> float32/float64 numpy array.

    Raises :class:`LoadError` (one line) for anything else: not a zip, the legacy non-zip
    format, a pickle naming a global other than the tensor-rebuild ones, truncated storages,
    views outside their storage, non-float tensors, oversized files.
    """
    path = Path(path)
    return parse_state_dict(read_limited(path), str(path))


def parse_state_dict(raw: bytes, label: str = "<bytes>") -> dict[str, np.ndarray]:
    """Like :func:`read_state_dict`, from the file's bytes; ``label`` starts every error message."""
    if len(raw) > MAX_FILE_BYTES:
        raise LoadError(f"{label}: file too large ({len(raw)} bytes) for an RNN weight file")
    if not raw:
        raise LoadError(f"{label}: empty file")
    if raw.startswith(LEGACY_MAGIC):
        raise LoadError(f"{label}: legacy (pre-1.6, non-zip) PyTorch file; re-save it with a recent "
                        "torch: torch.save(torch.load(path), path)")
    try:
        is_zip = zipfile.is_zipfile(io.BytesIO(raw))
    except Exception:  # noqa: BLE001 - is_zipfile itself raises on some corrupt zip64 records
        is_zip = True  # let ZipFile below report what is wrong
    if not is_zip:
        kind = "a bare pickle" if raw[:1] == b"\x80" else "not a zip archive"
        raise LoadError(f"{label}: not a PyTorch zip checkpoint ({kind})")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            return _read_archive(archive, label)
    except LoadError:
        raise
    except Exception as e:  # noqa: BLE001 - any parse failure of untrusted bytes is a load error
        raise LoadError(f"{label}: corrupt PyTorch file ({type(e).__name__}: {_one_line(e)})") from None


def _read_archive(archive: zipfile.ZipFile, label: str) -> dict[str, np.ndarray]:
    members = {info.filename: info for info in archive.infolist()}
    total = sum(info.file_size for info in members.values())
    if total > MAX_FILE_BYTES:
        raise LoadError(f"{label}: archive unpacks to {total} bytes, too large for an RNN weight file")
    tops = sorted(name[: -len("/data.pkl")] for name in members
                  if name.endswith("/data.pkl") and name.count("/") == 1)
    if not tops:
        raise LoadError(f"{label}: no <top>/data.pkl in the zip: not a PyTorch checkpoint")
    if len(tops) > 1:
        raise LoadError(f"{label}: several data.pkl records ({', '.join(tops)}): ambiguous checkpoint")
    top = tops[0]
    pkl = members[f"{top}/data.pkl"]
    if pkl.file_size > MAX_PICKLE_BYTES:
        raise LoadError(f"{label}: data.pkl is {pkl.file_size} bytes, too large for a small state_dict")
    byteorder = "little"
    if f"{top}/byteorder" in members:
        byteorder = archive.read(f"{top}/byteorder").decode("ascii", "replace").strip()
        if byteorder not in ("little", "big"):
            raise LoadError(f"{label}: unknown byte order {byteorder!r}")
    unpickler = _StateDictUnpickler(archive, top, byteorder, label)
    result = unpickler.load()
    return _tensors(result, label)


def _tensors(obj, label: str) -> dict[str, np.ndarray]:
    if not isinstance(obj, dict):
        raise LoadError(f"{label}: holds a {type(obj).__name__}, expected a state_dict (name -> tensor)")
    out = {}
    for name, value in obj.items():
        if not isinstance(name, str):
            raise LoadError(f"{label}: state_dict key {name!r} is not a string")
        if not isinstance(value, _Tensor):
            raise LoadError(f"{label}: entry {name!r} is a {type(value).__name__}, not a tensor")
        out[name] = value.values
    return out


class _StateDictUnpickler(pickle.Unpickler):
    """An unpickler that knows only tensors: every other global is refused by name."""

    def __init__(self, archive: zipfile.ZipFile, top: str, byteorder: str, label: str):
        super().__init__(io.BytesIO(archive.read(f"{top}/data.pkl")))
        self._archive = archive
        self._top = top
        self._byteorder = byteorder
        self._label = label
        self._storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return self._rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return self._rebuild_parameter
        if module == "torch" and name in STORAGE_TYPES:
            return _StorageType(f"torch.{name}", STORAGE_TYPES[name])
        if module == "torch" and name.endswith("Storage"):
            raise LoadError(f"{self._label}: unsupported tensor type torch.{name} "
                            "(only float32 and float64 weights can be verified)")
        raise LoadError(f"{self._label}: refusing to unpickle global '{module}.{name}': only plain tensor "
                        "state_dicts are read (save with torch.save(model.state_dict(), path))")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise LoadError(f"{self._label}: unexpected persistent id {_short(pid)}")
        _, stype, key, _location, numel = pid  # the location (cpu, cuda:0, ...) does not matter: we read bytes
        if not isinstance(stype, _StorageType) or not isinstance(key, str) or type(numel) is not int:
            raise LoadError(f"{self._label}: malformed storage reference {_short(pid)}")
        cached = self._storages.get(key)
        if cached is not None:
            if cached.values.dtype != stype.dtype or cached.values.size != numel:
                raise LoadError(f"{self._label}: storage {key} is referenced with conflicting types or sizes")
            return cached
        member = f"{self._top}/data/{key}"
        try:
            info = self._archive.getinfo(member)
        except KeyError:
            raise LoadError(f"{self._label}: storage {member} is missing from the archive") from None
        expected = numel * stype.dtype.itemsize
        if numel < 0 or info.file_size != expected:
            what = "truncated" if 0 <= info.file_size < expected else "size mismatch"
            raise LoadError(f"{self._label}: storage {key} has {info.file_size} bytes, expected {expected} "
                            f"({numel} x {stype.dtype.name}): {what}")
        order = "<" if self._byteorder == "little" else ">"
        values = np.frombuffer(self._archive.read(member), dtype=stype.dtype.newbyteorder(order))
        values = values.astype(stype.dtype)  # native byte order copy
        values.setflags(write=False)
        storage = _Storage(key, values)
        self._storages[key] = storage
        return storage

    def _rebuild_tensor(self, storage, offset, size, stride, requires_grad, backward_hooks, metadata=None):
        if not isinstance(storage, _Storage):
            raise LoadError(f"{self._label}: tensor data is not a storage reference")
        return _Tensor(_view(storage, offset, size, stride, self._label))

    def _rebuild_parameter(self, data, requires_grad, backward_hooks):
        if not isinstance(data, _Tensor):
            raise LoadError(f"{self._label}: parameter data is not a tensor")
        return data


def _view(storage: _Storage, offset, size, stride, label: str) -> np.ndarray:
    """A copy of the strided view ``(offset, size, stride)`` of a storage, bounds-checked first."""
    def ints(v):
        return isinstance(v, tuple) and all(type(i) is int for i in v)
    if type(offset) is not int or not ints(size) or not ints(stride) or len(size) != len(stride):
        raise LoadError(f"{label}: malformed tensor layout in storage {storage.key}")
    if len(size) > MAX_DIMS or offset < 0 or any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise LoadError(f"{label}: unsupported tensor layout size={size} stride={stride} offset={offset}")
    values = storage.values
    count = int(np.prod(size, dtype=object))
    if count == 0:
        return np.zeros(size, dtype=values.dtype)
    if count > values.size:  # only a zero or overlapping stride can do this: a 5000 x 5000 tensor from 4 bytes
        raise LoadError(f"{label}: tensor of shape {size} has {count} elements but its storage {storage.key}"
                        f" holds {values.size} (stride {stride}): refusing expanded or overlapping views")
    last = offset + sum((s - 1) * st for s, st in zip(size, stride))
    if last >= values.size:
        raise LoadError(f"{label}: tensor of shape {size} (offset {offset}, stride {stride}) reaches element "
                        f"{last} of storage {storage.key}, which has {values.size}: truncated or corrupt")
    item = values.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(values[offset:], shape=size,
                                           strides=tuple(st * item for st in stride), writeable=False)
    return np.array(view, dtype=values.dtype)


def _short(obj) -> str:
    text = repr(obj)
    return text if len(text) <= 80 else text[:77] + "..."


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split()) or "no details"
