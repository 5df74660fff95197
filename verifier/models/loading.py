"""Resolve a model spec (a string, a path or a PyTorch-like object) to an exact :class:`Model`.

One spec string names a model everywhere (API and CLI):

* a path to a weight file: ``.pth`` (a PyTorch state_dict, read safely without torch),
  ``.json`` or ``.npz`` (the project's own formats);
* ``handcrafted:N``: a published handcrafted model (N = 2, 3, 10);
* ``zoo:TASK:D:N[:SEED]``: AlgZoo's ``{TASK}_{D}_{N}_1073741824_{SEED}.pth`` in ``$ALGZOO_DIR``
  (default ``../shared/algzoo`` from the current directory); SEED defaults to the best-of-5 seed;
* ``trained:D:N``: a model shipped with the package (``verifier/data/trained_D_N.json``).

In Python, a :class:`Model`, a state_dict (name -> array or tensor) and any object with
``.rnn.weight_ih_l0``, ``.rnn.weight_hh_l0`` and ``.linear.weight`` (an AlgZoo/PyTorch
module) are accepted too.

>>> load_model("handcrafted:2").describe()
'handcrafted:2: 2nd_argmax RNN, d=2, n=2, 10 parameters (float32)'
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import LoadError, VerifierError
from .handcrafted import KNOWN_LENGTHS, handcrafted
from .model import Model
from .pth import read_state_dict
from .tasks import get_task
from .weightfile import load_json, load_npz

SPEC_FORMS = "a .pth/.json/.npz file, handcrafted:N, zoo:TASK:D:N[:SEED], trained:D:N"
STATE_DICT_KEYS = ("rnn.weight_ih_l0", "rnn.weight_hh_l0", "linear.weight")
ZOO_N_SEQS = 2**30  # AlgZoo's fully trained models saw 2^30 sequences
DEFAULT_ALGZOO_DIR = Path("..") / "shared" / "algzoo"
ALGZOO_TASK_PREFIXES = ("2nd_argmax", "argmedian", "argmax")
_TRAINED_FILE = re.compile(r"trained_(\d+)_(\d+)\.json")
_NUMBER = re.compile(r"\d+", re.ASCII)


def load_model(spec) -> Model:
    """The model named by ``spec`` (see the module docstring for the accepted forms)."""
    if isinstance(spec, Model):
        return spec
    if isinstance(spec, os.PathLike):
        return load_file(spec)
    if isinstance(spec, str):
        if not spec.strip():
            raise LoadError(f"empty model spec; accepted: {SPEC_FORMS}")
        scheme, colon, rest = spec.partition(":")
        if colon and scheme in _SCHEMES:
            return _SCHEMES[scheme](rest, spec)
        if colon and re.fullmatch(r"[A-Za-z_]\w+", scheme) and not Path(spec).exists():
            raise LoadError(f"unknown model spec {spec!r}; accepted: {SPEC_FORMS}")
        return load_file(spec)
    if isinstance(spec, Mapping):
        return model_from_state_dict(spec, name="state_dict")
    if hasattr(spec, "rnn") and hasattr(spec, "linear"):
        return model_from_module(spec)
    raise LoadError(f"cannot load a model from a {type(spec).__name__}; accepted: {SPEC_FORMS}, "
                    "or an object with .rnn.weight_ih_l0, .rnn.weight_hh_l0 and .linear.weight")


def load_file(path: str | os.PathLike) -> Model:
    """A model from a ``.pth``, ``.json`` or ``.npz`` weight file."""
    path = Path(path)
    if not path.exists():
        raise LoadError(f"no such file or model spec: {str(path)!r}; accepted: {SPEC_FORMS}")
    if path.is_dir():
        raise LoadError(f"{path} is a directory, not a weight file")
    suffix = path.suffix.lower()
    if suffix in (".pth", ".pt"):
        return load_pth(path)
    if suffix == ".json":
        return load_json(path)
    if suffix == ".npz":
        return load_npz(path)
    raise LoadError(f"{path}: unknown weight file type {path.suffix!r} (expected .pth, .json or .npz)")


def load_pth(path: str | os.PathLike, task: str | None = None, name: str | None = None) -> Model:
    """A model from a PyTorch state_dict file; the task defaults to the one in an AlgZoo file name."""
    path = Path(path)
    return model_from_state_dict(read_state_dict(path), task=task or task_from_filename(path.name),
                                 name=name or path.stem)


def task_from_filename(filename: str) -> str:
    """The task an AlgZoo file name starts with (``argmax_2_3_...pth`` -> ``argmax``), else ``2nd_argmax``.

    >>> task_from_filename("argmedian_4_5_1073741824_2.pth"), task_from_filename("model.pth")
    ('argmedian', '2nd_argmax')
    """
    for task in ALGZOO_TASK_PREFIXES:
        if filename.startswith(task + "_"):
            return task
    return "2nd_argmax"


def model_from_state_dict(state: Mapping, *, task: str = "2nd_argmax", name: str = "model") -> Model:
    """A model from a bias-free RNN state_dict: exactly the keys ``STATE_DICT_KEYS``, finite floats."""
    keys = set(state)
    biases = sorted(str(k) for k in keys if "bias" in str(k))
    if biases:
        raise LoadError(f"{name}: biases are not supported (found {', '.join(biases)}); "
                        "only bias-free RNNs can be verified")
    missing = [k for k in STATE_DICT_KEYS if k not in keys]
    extra = sorted(str(k) for k in keys - set(STATE_DICT_KEYS))
    if missing or extra:
        found = "; ".join(f"{what}: {', '.join(ks)}" for what, ks in (("missing", missing), ("unexpected", extra)) if ks)
        raise LoadError(f"{name}: state_dict keys must be exactly {', '.join(STATE_DICT_KEYS)} ({found})")
    w_ih, w_hh, w_lin = (_weight_array(state[k], k, name) for k in STATE_DICT_KEYS)
    if w_hh.ndim != 2 or w_hh.shape[0] != w_hh.shape[1] or w_hh.shape[0] == 0:
        raise LoadError(f"{name}: rnn.weight_hh_l0 has shape {w_hh.shape}, expected (d, d)")
    d = w_hh.shape[0]
    if w_ih.shape != (d, 1):
        raise LoadError(f"{name}: rnn.weight_ih_l0 has shape {w_ih.shape}, expected ({d}, 1) (one input per step)")
    if w_lin.ndim != 2 or w_lin.shape[1] != d or w_lin.shape[0] == 0:
        raise LoadError(f"{name}: linear.weight has shape {w_lin.shape}, expected (n, {d})")
    precision = "float64" if np.float64 in (w_ih.dtype, w_hh.dtype, w_lin.dtype) else "float32"
    return Model.from_arrays(w_ih, w_hh, w_lin, task=task, name=name, precision=precision)


def model_from_module(module, *, task: str = "2nd_argmax", name: str | None = None) -> Model:
    """A model from an AlgZoo/PyTorch-like module (duck typed: torch is not imported here)."""
    name = name or type(module).__name__
    rnn, linear = module.rnn, module.linear
    if getattr(rnn, "nonlinearity", "relu") != "relu":
        raise LoadError(f"{name}: the RNN's nonlinearity is {rnn.nonlinearity!r}; only relu is supported")
    if getattr(rnn, "num_layers", 1) != 1 or getattr(rnn, "bidirectional", False):
        raise LoadError(f"{name}: only single-layer, one-directional RNNs are supported")
    state = {}
    for key, owner, attr in (("rnn.weight_ih_l0", rnn, "weight_ih_l0"), ("rnn.weight_hh_l0", rnn, "weight_hh_l0"),
                             ("linear.weight", linear, "weight"), ("rnn.bias_ih_l0", rnn, "bias_ih_l0"),
                             ("rnn.bias_hh_l0", rnn, "bias_hh_l0"), ("linear.bias", linear, "bias")):
        value = getattr(owner, attr, None)
        if value is not None:
            state[key] = value
    return model_from_state_dict(state, task=task, name=name)


def _weight_array(value, key: str, name: str) -> np.ndarray:
    try:
        arr = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
    except Exception as e:  # noqa: BLE001 - whatever a foreign tensor type raises
        raise LoadError(f"{name}: cannot read {key} as an array ({type(e).__name__})") from None
    if arr.dtype not in (np.float32, np.float64):
        raise LoadError(f"{name}: {key} has dtype {arr.dtype}; expected float32 or float64")
    if not np.isfinite(arr).all():
        raise LoadError(f"{name}: {key} holds NaN or infinite values")
    return arr


# -- spec schemes ---------------------------------------------------------------------------

def _numbers(rest: str, spec: str, form: str, counts: tuple[int, ...]) -> list[int]:
    parts = rest.split(":")
    if len(parts) not in counts or not all(_NUMBER.fullmatch(p) for p in parts):
        raise LoadError(f"bad model spec {spec!r}: expected {form} with non-negative integers")
    return [int(p) for p in parts]


def _handcrafted(rest: str, spec: str) -> Model:
    if not _NUMBER.fullmatch(rest):
        raise LoadError(f"bad model spec {spec!r}: expected handcrafted:N, N one of "
                        f"{', '.join(map(str, KNOWN_LENGTHS))}")
    return handcrafted(int(rest))


def algzoo_dir() -> tuple[Path, str]:
    """The folder holding AlgZoo's ``.pth`` files and where that choice came from."""
    env = os.environ.get("ALGZOO_DIR")
    if env:
        return Path(env), "from $ALGZOO_DIR"
    return Path.cwd() / DEFAULT_ALGZOO_DIR, f"ALGZOO_DIR is unset, so the default {DEFAULT_ALGZOO_DIR} from the current directory"


def best_seed(task: str, d: int, n: int) -> int | None:
    """AlgZoo's best-of-5 training seed for ``(task, d, n)``, or None when the table has no entry."""
    table = json.loads((resources.files("verifier") / "data" / "algzoo-best-seeds.json").read_text())
    return table["best_seed"].get(task, {}).get(f"{d},{n}")


def zoo_path(task: str, d: int, n: int, seed: int) -> Path:
    """Where AlgZoo's fully trained model ``(task, d, n, seed)`` is expected."""
    return algzoo_dir()[0] / f"{task}_{d}_{n}_{ZOO_N_SEQS}_{seed}.pth"


def _zoo(rest: str, spec: str) -> Model:
    task, _, numbers = rest.partition(":")
    d, n, *seed = _numbers(numbers, spec, "zoo:TASK:D:N[:SEED]", (2, 3))
    try:
        task = get_task(task).name
    except VerifierError as e:
        raise LoadError(f"{spec}: {e}") from None
    if seed:
        seed = seed[0]
    else:
        seed = best_seed(task, d, n)
        if seed is None:
            raise LoadError(f"{spec}: no best-of-5 seed known for {task} d={d} n={n}; "
                            f"give one: zoo:{task}:{d}:{n}:SEED")
    path = zoo_path(task, d, n, seed)
    if not path.is_file():
        folder, origin = algzoo_dir()
        note = "" if folder.is_dir() else ", a folder that does not exist"
        raise LoadError(f"{spec}: {path.name} not found in {folder.resolve()} ({origin}{note}); "
                        "set ALGZOO_DIR to the folder holding AlgZoo's .pth files")
    model = load_pth(path, task=task, name=f"zoo:{task}:{d}:{n}:{seed}")
    if (model.d, model.n) != (d, n):
        raise LoadError(f"{path}: holds a model with d={model.d}, n={model.n}, not d={d}, n={n} as its name says")
    return model


def trained_models() -> dict[str, str]:
    """The models shipped with the package: ``trained:D:N`` spec -> file name in ``verifier/data``."""
    data = resources.files("verifier") / "data"
    found = [_TRAINED_FILE.fullmatch(p.name) for p in data.iterdir()] if data.is_dir() else []
    ordered = sorted(filter(None, found), key=lambda m: (int(m[1]), int(m[2])))
    return {f"trained:{int(m[1])}:{int(m[2])}": m[0] for m in ordered}


def _trained(rest: str, spec: str) -> Model:
    d, n = _numbers(rest, spec, "trained:D:N", (2,))
    canonical = f"trained:{d}:{n}"
    available = trained_models()
    if canonical not in available:
        raise LoadError(f"no shipped model {spec!r}; available: {', '.join(available) or 'none'}")
    with resources.as_file(resources.files("verifier") / "data" / available[canonical]) as path:
        model = load_json(path)
    return dataclasses.replace(model, name=canonical)


_SCHEMES = {"handcrafted": _handcrafted, "zoo": _zoo, "trained": _trained}
