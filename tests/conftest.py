"""Shared fixtures: where the real AlgZoo weights are (``$ALGZOO_DIR`` or ``../shared/algzoo``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
M22_FILE = "2nd_argmax_2_2_1073741824_2.pth"
M1610_FILE = "one_layer_16_hidden_94_acc_2nd_argmax.pth"


def algzoo_dir() -> Path:
    return Path(os.environ.get("ALGZOO_DIR", REPO.parent / "shared" / "algzoo"))


def _zoo_file(name: str) -> Path:
    path = algzoo_dir() / name
    if not path.is_file():
        pytest.skip(f"real AlgZoo weights not found: {path} (set ALGZOO_DIR to the folder holding {name})")
    return path


@pytest.fixture
def m22_path() -> Path:
    """The real M2,2 file (zoo_2nd_argmax(2, 2), seed 2)."""
    return _zoo_file(M22_FILE)


@pytest.fixture
def m1610_path() -> Path:
    """The real M16,10 file of the post's challenge (example_2nd_argmax())."""
    return _zoo_file(M1610_FILE)
