"""Resolve a model spec (a string, a path or a PyTorch-like object) to an exact :class:`Model`.

One spec string names a model everywhere (API and CLI):

* a path to a weight file: ``.pth`` (a PyTorch state_dict, read safely without torch),
  ``.json`` or ``.npz`` (the project's own formats);
* ``handcrafted:N``: a published handcrafted model (N = 2, 3, 10);
* ``zoo:TASK:D:N[:SEED[:N_SEQS]]``: AlgZoo's ``{TASK}_{D}_{N}_{N_SEQS}_{SEED}.pth`` in ``$ALGZOO_DIR``
  (default ``../shared/algzoo`` from the current directory), TASK one of ``2nd_argmax``,
  ``argmedian``, ``median``; SEED defaults to the best-of-5 seed, N_SEQS to 2^30 (fully trained;
  AlgZoo also kept checkpoints after 0 and 2^20 .. 2^29 sequences); sizes AlgZoo did not train
  are refused with the valid ones listed, as AlgZoo's loaders do;
* ``zoo:example_2nd_argmax``: AlgZoo's ``example_2nd_argmax()``, the post's M16,10;
* ``trained:D:N`` (2nd argmax) and ``trained:TASK:D:N``: models shipped with the package
  (``verifier/data/trained_D_N.json``, ``trained_TASK_D_N.json``).

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
from .model import Model, printable_name
from .pth import read_state_dict
from .tasks import TASKS
from .weightfile import load_json, load_npz

SPEC_FORMS = ("a .pth/.json/.npz file, handcrafted:N, zoo:TASK:D:N[:SEED[:N_SEQS]], zoo:example_2nd_argmax, "
              "trained:D:N, trained:TASK:D:N")
STATE_DICT_KEYS = ("rnn.weight_ih_l0", "rnn.weight_hh_l0", "linear.weight")
ZOO_N_SEQS = 2**30  # AlgZoo's fully trained models saw 2^30 sequences
DEFAULT_ALGZOO_DIR = Path("..") / "shared" / "algzoo"
ALGZOO_TASK_PREFIXES = ("2nd_argmax", "argmedian", "argmax", "median")
_TRAINED_FILE = re.compile(r"trained_(?:(argmedian|median)_)?(\d+)_(\d+)\.json")
# AlgZoo's RNN families: (hidden sizes, sequence lengths) it trained, as its zoo functions check them
ZOO_SIZES = {"2nd_argmax": ((2, 3, 4, 5, 6, 8, 16, 32), (2, 3, 4, 5, 6, 8, 10)),
             "argmedian": ((2, 4, 8, 16, 32), (3, 5, 7, 11)),
             "median": ((2, 4, 8, 16, 32), (2, 3, 5, 10))}
ZOO_CHECKPOINTS = (0,) + tuple(2**i for i in range(20, 31))  # n_seqs of AlgZoo's saved checkpoints
ZOO_SEEDS = tuple(range(5))
ZOO_EXAMPLE = "example_2nd_argmax"  # AlgZoo's example_2nd_argmax(): the post's M16,10
ZOO_EXAMPLE_FILE = "one_layer_16_hidden_94_acc_2nd_argmax.pth"
_NUMBER = re.compile(r"\d+", re.ASCII)
_ALGZOO_FILE = re.compile(r"[a-z0-9_]+?_(\d+)_(\d+)_(\d+)_(\d+)\.pth", re.ASCII)


def load_model(spec, *, seq_len: int | None = None, task: str | None = None) -> Model:
    """The model named by ``spec`` (see the module docstring for the accepted forms).

    ``seq_len`` gives the sequence length of a one-output (median) model whose file does not
    record it; for any other model it must agree with the model. ``task`` overrides the task
    the spec implies (a ``.pth`` file's task is otherwise guessed from its name).
    """
    if task is not None:
        model = load_model(spec, seq_len=seq_len)
        if task not in TASKS:
            raise LoadError(f"unknown task {printable_name(task)!r}; known: {', '.join(TASKS)}")
        if TASKS[task].outputs_value != model.task.outputs_value:
            raise LoadError(f"{model.name} has {len(model.w_oh)} output row(s): a {model.task.name} model cannot"
                            f" be read as a {task} model")
        return dataclasses.replace(model, task=TASKS[task], task_source="")
    if seq_len is not None:
        model = load_model(_with_seq_len(spec, seq_len))
        if model.n != seq_len:
            raise LoadError(f"{model.name}: sequence length {seq_len} given, but the model has n = {model.n}")
        return model
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


def _with_seq_len(spec, seq_len: int):
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise LoadError(f"sequence length must be a positive integer, got {seq_len!r}")
    if isinstance(spec, (str, os.PathLike)) and Path(spec).suffix.lower() in (".pth", ".pt", ".npz") \
            and Path(spec).is_file():
        path = Path(spec)
        if path.suffix.lower() == ".npz":
            return load_npz(path, seq_len=seq_len)
        return load_pth(path, seq_len=seq_len)
    if isinstance(spec, Mapping):
        return model_from_state_dict(spec, name="state_dict", seq_len=seq_len)
    if not isinstance(spec, (str, os.PathLike, Model)) and hasattr(spec, "rnn") and hasattr(spec, "linear"):
        return model_from_module(spec, seq_len=seq_len)
    return spec


def load_file(path: str | os.PathLike) -> Model:
    """A model from a ``.pth``, ``.json`` or ``.npz`` weight file."""
    path = Path(path)
    if not path.exists():
        raise LoadError(f"no such file or model spec: {str(path)!r}; accepted: {SPEC_FORMS}")
    if path.is_dir():
        raise LoadError(f"{path} is a directory, not a weight file")
    loader = {".pth": load_pth, ".pt": load_pth, ".json": load_json, ".npz": load_npz}.get(path.suffix.lower())
    if loader is None:
        raise LoadError(f"{_label(path)}: unknown weight file type {path.suffix!r} (expected .pth, .json or .npz)")
    try:
        return loader(path)
    except VerifierError as e:  # every message names the file
        message, label = str(e), _label(path)
        message = label + message[len(str(path)):] if message.startswith(str(path)) else f"{label}: {message}"
        raise LoadError(message) from None


def _label(path: Path) -> str:
    return printable_name(str(path), limit=300)


def load_pth(path: str | os.PathLike, task: str | None = None, name: str | None = None,
             seq_len: int | None = None) -> Model:
    """A model from a PyTorch state_dict file; the task defaults to the one in an AlgZoo file name,
    else to what the output size says (see :func:`model_from_state_dict`), and so does a
    one-output model's sequence length (``median_D_N_...pth``)."""
    path = Path(path)
    guessed = None if task else task_from_filename(path.name)
    source = "" if task else f"from the file name {path.name}" if guessed else \
        "from the output size (the file names none)"
    return model_from_state_dict(read_state_dict(path), task=task or guessed, name=name or path.stem,
                                 seq_len=seq_len or seq_len_from_filename(path.name), task_source=printable_name(source))


def task_from_filename(filename: str) -> str | None:
    """The task an AlgZoo file name starts with (``argmax_2_3_...pth`` -> ``argmax``), else None.

    >>> task_from_filename("argmedian_4_5_1073741824_2.pth"), task_from_filename("model.pth")
    ('argmedian', None)
    """
    for task in ALGZOO_TASK_PREFIXES:
        if filename.startswith(task + "_"):
            return task
    return None


def seq_len_from_filename(filename: str) -> int | None:
    """The sequence length in an AlgZoo file name ``{task}_{d}_{n}_{n_seqs}_{seed}.pth``, else None.

    >>> seq_len_from_filename("median_4_3_1073741824_0.pth"), seq_len_from_filename("model.pth")
    (3, None)
    """
    match = _ALGZOO_FILE.fullmatch(filename)
    return int(match[2]) if match else None


def model_from_state_dict(state: Mapping, *, task: str | None = None, name: str = "model",
                          seq_len: int | None = None, task_source: str = "") -> Model:
    """A model from a bias-free RNN state_dict: exactly the keys ``STATE_DICT_KEYS``, finite floats.

    Without a ``task`` the output size decides: one row in ``linear.weight`` is AlgZoo's
    ``ScalarRNN`` (the median task, which needs ``seq_len``), n rows a 2nd-argmax model
    (``seq_len`` is then ignored: the rows say it).
    """
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
    task = task or ("median" if w_lin.shape[0] == 1 else "2nd_argmax")
    if TASKS.get(task, TASKS["2nd_argmax"]).outputs_value:
        if seq_len is None:
            raise LoadError(f"{name}: linear.weight has one row, so this is a ScalarRNN (the median task), whose"
                            " sequence length the weights do not record; name the file like AlgZoo"
                            " (median_D_N_1073741824_SEED.pth) or give it (seq_len=N, --seq-len N)")
    else:
        seq_len = None  # one logit per position: the weights say it
    return Model.from_arrays(w_ih, w_hh, w_lin, task=task, name=name, precision=precision, seq_len=seq_len,
                             task_source=task_source)


def model_from_module(module, *, task: str | None = None, name: str | None = None,
                      seq_len: int | None = None) -> Model:
    """A model from an AlgZoo/PyTorch-like module (duck typed: torch is not imported here); a
    one-output module's sequence length is its ``seq_len`` attribute (AlgZoo's ScalarRNN has one)."""
    name = name or type(module).__name__
    seq_len = seq_len or getattr(module, "seq_len", None)
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
    return model_from_state_dict(state, task=task, name=name, seq_len=seq_len)


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


def zoo_path(task: str, d: int, n: int, seed: int, n_seqs: int = ZOO_N_SEQS) -> Path:
    """Where AlgZoo's model ``(task, d, n, seed)`` trained on ``n_seqs`` sequences is expected."""
    return algzoo_dir()[0] / f"{task}_{d}_{n}_{n_seqs}_{seed}.pth"


def _check_zoo_value(spec: str, what: str, value: int, valid) -> None:
    if value not in valid:
        raise LoadError(f"{spec}: AlgZoo has no model with {what} {value}; valid: {', '.join(map(str, valid))}")


def _zoo_file(spec: str, path: Path) -> Path:
    if not path.is_file():
        folder, origin = algzoo_dir()
        note = "" if folder.is_dir() else ", a folder that does not exist"
        raise LoadError(f"{spec}: {path.name} not found in {folder.resolve()} ({origin}{note}); "
                        "set ALGZOO_DIR to the folder holding AlgZoo's .pth files")
    return path


def _zoo(rest: str, spec: str) -> Model:
    if rest == ZOO_EXAMPLE:
        path = _zoo_file(spec, algzoo_dir()[0] / ZOO_EXAMPLE_FILE)
        return load_pth(path, task="2nd_argmax", name=f"zoo:{ZOO_EXAMPLE}")
    task, _, numbers = rest.partition(":")
    if task not in ZOO_SIZES:
        raise LoadError(f"{spec}: AlgZoo has no RNN family {task!r}; families: {', '.join(ZOO_SIZES)}"
                        f" (and zoo:{ZOO_EXAMPLE})")
    d, n, *extra = _numbers(numbers, spec, "zoo:TASK:D:N[:SEED[:N_SEQS]]", (2, 3, 4))
    hidden_sizes, seq_lens = ZOO_SIZES[task]
    _check_zoo_value(spec, "hidden size", d, hidden_sizes)
    _check_zoo_value(spec, "sequence length", n, seq_lens)
    n_seqs = extra[1] if len(extra) == 2 else ZOO_N_SEQS
    _check_zoo_value(spec, "n_seqs", n_seqs, ZOO_CHECKPOINTS)
    seed = extra[0] if extra else best_seed(task, d, n)
    if seed is None:
        raise LoadError(f"{spec}: no best-of-5 seed known for {task} d={d} n={n}; "
                        f"give one: zoo:{task}:{d}:{n}:SEED")
    _check_zoo_value(spec, "seed", seed, ZOO_SEEDS)
    path = _zoo_file(spec, zoo_path(task, d, n, seed, n_seqs))
    name = f"zoo:{task}:{d}:{n}:{seed}" + (f":{n_seqs}" if n_seqs != ZOO_N_SEQS else "")
    model = load_pth(path, task=task, name=name, seq_len=n)
    if (model.d, model.n) != (d, n):
        raise LoadError(f"{path}: holds a model with d={model.d}, n={model.n}, not d={d}, n={n} as its name says")
    return model


def trained_models() -> dict[str, str]:
    """The models shipped with the package: spec -> file name in ``verifier/data``.

    2nd-argmax models are ``trained:D:N`` (``trained_D_N.json``); the other families are
    ``trained:TASK:D:N`` (``trained_TASK_D_N.json``).
    """
    data = resources.files("verifier") / "data"
    found = [_TRAINED_FILE.fullmatch(p.name) for p in data.iterdir()] if data.is_dir() else []
    ordered = sorted(filter(None, found), key=lambda m: (m[1] or "", int(m[2]), int(m[3])))
    return {f"trained:{m[1] + ':' if m[1] else ''}{int(m[2])}:{int(m[3])}": m[0] for m in ordered}


def _trained(rest: str, spec: str) -> Model:
    task, colon, numbers = rest.partition(":")
    if not (colon and task in TASKS):
        task, numbers = None, rest
    d, n = _numbers(numbers, spec, "trained:D:N or trained:TASK:D:N", (2,))
    canonical = f"trained:{task + ':' if task and task != '2nd_argmax' else ''}{d}:{n}"
    available = trained_models()
    if canonical not in available:
        raise LoadError(f"no shipped model {spec!r}; available: {', '.join(available) or 'none'}")
    with resources.as_file(resources.files("verifier") / "data" / available[canonical]) as path:
        model = load_json(path)
    return dataclasses.replace(model, name=canonical)


_SCHEMES = {"handcrafted": _handcrafted, "zoo": _zoo, "trained": _trained}
