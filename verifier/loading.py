"""Resolve a model spec (a string, a path or a PyTorch-like object) to an exact :class:`Model`."""

from __future__ import annotations

from pathlib import Path

from .errors import LoadError
from .model import Model
from .weightfile import load_json, load_npz


def load_model(spec) -> Model:
    """The model named by ``spec``: a Model, or a path to a ``.json``/``.npz`` weight file."""
    if isinstance(spec, Model):
        return spec
    path = Path(spec)
    if not path.exists():
        raise LoadError(f"no such model or file: {spec}")
    if path.suffix == ".json":
        return load_json(path)
    if path.suffix == ".npz":
        return load_npz(path)
    raise LoadError(f"{spec}: unknown weight file type {path.suffix!r} (expected .pth, .json or .npz)")
