"""The exact model: an immutable ReLU RNN ``M_{d,n}`` with rational weights.

``h_0 = 0``, ``h_{t+1} = ReLU(W_hh h_t + W_hi x_t)``, ``logits = W_oh h_n``; no biases.
Position tasks have one logit per input (``W_oh`` is n x d); the median task's ``ScalarRNN``
has one output (``W_oh`` is 1 x d), so its sequence length ``seq_len`` is stored apart.
Weights are held as exact rationals (the exact value of each stored float, no rounding);
numpy float64 copies serve sampling and plots, python-flint matrices serve exact algebra.

>>> m = Model.from_arrays([[1], [-1]], [[-1, 1], [1, -1]], [[1, -1], [-1, 1]], name="demo")
>>> m.d, m.n, m.n_params
(2, 2, 10)
>>> m.logits_exact([3, 5])
(Fraction(2, 1), Fraction(-2, 1))
>>> m.correct_exact([3, 5])
True
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import Sequence

import flint
import numpy as np

from ..errors import LoadError, VerifierError
from ..exact import Matrix, exact_rational, fmpq_matrix, rational_str
from .tasks import TASKS, Task

PRECISIONS = {"float16": 16, "float32": 32, "float64": 64, "exact": None}
_FLOAT_PRECISIONS = {np.dtype("float16"): "float16", np.dtype("float32"): "float32", np.dtype("float64"): "float64"}
# Sizes a model may have at all (sampling); exact work (decompose, certify, ...) has tighter limits,
# EXACT_MAX_D and EXACT_MAX_N, which the commands that enumerate pieces check.
MAX_D, MAX_N = 256, 1024
EXACT_MAX_D, EXACT_MAX_N = 256, 64
# Every weight is 0 or has 2^-1000 <= |w| <= 2^512 (so its float64 copy is finite and normal) and a
# numerator and denominator of at most 1100 bits (every float64 fits; 10^100000 does not).
MAX_WEIGHT_BITS = 1100


def _exact_matrix(values, shape: tuple[int, int], what: str) -> Matrix:
    arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if arr.ndim == 1 and shape[1] == 1:
        arr = arr.reshape(-1, 1)
    if arr.shape != shape:
        raise LoadError(f"{what} has shape {tuple(arr.shape)}, expected {shape}")
    try:
        return tuple(tuple(_exact_value(v) for v in row) for row in arr)
    except ValueError as e:
        raise LoadError(f"{what}: {e}") from None


def _exact_value(v) -> Fraction:
    """The exact value of one weight; numpy floats of every width (long double and float16 too)
    through ``as_integer_ratio``, never through a rounding conversion to a Python float."""
    if isinstance(v, np.floating):
        if not np.isfinite(v):
            raise ValueError(f"not a finite number: {v}")
        return Fraction(*v.as_integer_ratio())
    if isinstance(v, np.generic) and not isinstance(v, np.integer):
        raise ValueError(f"not a real number: {v!r} ({v.dtype})")
    return exact_rational(v.item() if isinstance(v, np.integer) else v)


def check_size(d: int, n: int, *, exact: bool = False, what: str = "model") -> None:
    """Refuse sizes beyond the documented limits (``exact``: the limits of piece enumeration)."""
    max_d, max_n = (EXACT_MAX_D, EXACT_MAX_N) if exact else (MAX_D, MAX_N)
    if d > max_d or n > max_n:
        work = "exact verification (decompose, graph, certify, report, surprise)" if exact else "any use"
        raise LoadError(f"{what} has d={d}, n={n}: too large for {work}; the limits are d <= {max_d},"
                        f" n <= {max_n}" + (" (verifier sample and estimate go further)" if exact else ""))


def _check_weights(mat: Matrix, what: str) -> None:
    for row in mat:
        for v in row:  # integer comparisons only: Fraction's own are ~10x slower on a million weights
            num, den = abs(v.numerator), v.denominator
            if num.bit_length() > MAX_WEIGHT_BITS or den.bit_length() > MAX_WEIGHT_BITS:
                raise LoadError(f"{what}: a weight has a numerator or denominator over {MAX_WEIGHT_BITS} bits")
            if num and not (num << 1000 >= den and num <= den << 512):
                raise LoadError(f"{what}: weight {float(v):.3g} is outside the supported range"
                                " 2^-1000 <= |w| <= 2^512 (or 0)")


def printable_name(name: str, limit: int = 200) -> str:
    """A name safe to print on one line: control, format and separator characters escaped (no forged
    lines or terminal escapes), and at most ``limit`` characters.

    >>> printable_name("a\\nb\\x1b[31m")
    'a\\\\nb\\\\x1b[31m'
    """
    out = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(name))
    return out if len(out) <= limit else out[: limit - 3] + "..."


@dataclass(frozen=True)
class Model:
    """An AlgZoo-family RNN with exact rational weights.

    ``precision`` records how the weights were stored ("float32", "float64" or "exact"): it
    prices the weights in bits for surprise accounting and does not change their values.
    ``seq_len`` is the sequence length of a one-output model (the median task); position
    tasks read it from ``W_oh`` and leave it None.
    """

    w_hi: Matrix
    w_hh: Matrix
    w_oh: Matrix
    task: Task = TASKS["2nd_argmax"]
    name: str = field(default="model", compare=False)
    precision: str = "float32"
    seq_len: int | None = None
    task_source: str = field(default="", compare=False)  # where a guessed task came from ("" when given)

    def __post_init__(self):
        object.__setattr__(self, "name", printable_name(self.name))  # names come from files: never print them raw
        d = len(self.w_hi)
        if d == 0:
            raise LoadError("model has no hidden neurons")
        n = len(self.w_oh)
        if n == 0:
            raise LoadError("model has no outputs")
        if any(len(r) != 1 for r in self.w_hi):
            raise LoadError(f"W_hi must be {d}x1")
        if len(self.w_hh) != d or any(len(r) != d for r in self.w_hh):
            raise LoadError(f"W_hh must be {d}x{d}")
        if any(len(r) != d for r in self.w_oh):
            raise LoadError(f"W_oh must be {n}x{d}")
        check_size(d, n if self.seq_len is None else self.seq_len)
        for mat, what in ((self.w_hi, "W_hi"), (self.w_hh, "W_hh"), (self.w_oh, "W_oh")):
            if not all(isinstance(v, Fraction) for r in mat for v in r):
                raise LoadError("weights must be Fractions; build models with Model.from_arrays")
            _check_weights(mat, what)
        if self.precision not in PRECISIONS:
            raise LoadError(f"unknown precision {self.precision!r}; known: {', '.join(PRECISIONS)}")
        if self.task.outputs_value:
            if n != 1:
                raise LoadError(f"task {self.task.name} needs one output (W_oh 1 x d), got {n} rows")
            if isinstance(self.seq_len, bool) or not isinstance(self.seq_len, int) or self.seq_len < 1:
                raise LoadError(f"a one-output {self.task.name} model (a ScalarRNN) needs its sequence length,"
                                f" got {self.seq_len!r}")
        elif self.seq_len not in (None, n):
            raise LoadError(f"a {self.task.name} model's sequence length is its {n} logits, not {self.seq_len}")
        try:
            self.task.check_length(self.n)
        except VerifierError:
            if n == 1 and not self.task.outputs_value:
                raise LoadError(f"W_oh has one row: a ScalarRNN (the median task), not a {self.task.name} model,"
                                " which has one logit per input position") from None
            raise

    @classmethod
    def from_arrays(cls, w_hi, w_hh, w_oh, *, task: Task | str = "2nd_argmax", name: str = "model",
                    precision: str | None = None, seq_len: int | None = None, task_source: str = "") -> "Model":
        """Build from array-likes of numbers (or exact-number strings), taking exact values.

        ``w_hi`` may be d x 1 or a length-d vector. ``precision`` defaults to the numpy dtype
        of the arrays when they are float32/float64 arrays, else "exact". ``seq_len``: for
        one-output (median) models only.
        """
        if isinstance(task, str):
            if task not in TASKS:
                raise LoadError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
            task = TASKS[task]
        arrays = [np.asarray(w) if isinstance(w, np.ndarray) else w for w in (w_hi, w_hh, w_oh)]
        if precision is None:
            dtypes = {a.dtype for a in arrays if isinstance(a, np.ndarray)}
            precision = _FLOAT_PRECISIONS.get(dtypes.pop(), "exact") if len(dtypes) == 1 and len(arrays) == 3 \
                else "exact"
        try:
            shapes = [np.shape(np.asarray(a, dtype=object)) for a in arrays]
        except (ValueError, RecursionError):
            raise LoadError("weights are ragged (rows of different lengths) or nested too deeply") from None
        if len(shapes[1]) != 2 or len(shapes[2]) != 2:
            raise LoadError(f"W_hh and W_oh must be matrices, got shapes {shapes[1]} and {shapes[2]}")
        d = shapes[1][0]
        n = shapes[2][0]
        check_size(d, n if seq_len is None else seq_len, what=printable_name(name))  # before any conversion
        return cls(
            _exact_matrix(arrays[0], (d, 1), "W_hi"),
            _exact_matrix(arrays[1], (d, d), "W_hh"),
            _exact_matrix(arrays[2], (n, d), "W_oh"),
            task=task, name=name, precision=precision, seq_len=seq_len, task_source=task_source,
        )

    # -- sizes -------------------------------------------------------------------------
    @property
    def d(self) -> int:
        """Hidden size."""
        return len(self.w_hi)

    @property
    def n(self) -> int:
        """Sequence length (= number of logits, except for a one-output median model)."""
        return len(self.w_oh) if self.seq_len is None else self.seq_len

    @property
    def outputs(self) -> int:
        """Number of outputs: n logits, or 1 for a median model."""
        return len(self.w_oh)

    @property
    def n_params(self) -> int:
        return self.d + self.d * self.d + self.outputs * self.d

    @property
    def weight_bits(self) -> int | None:
        """Bits needed to store the weights (32 per float32 parameter); None for exact weights."""
        bits = PRECISIONS[self.precision]
        return None if bits is None else bits * self.n_params

    # -- derived representations ---------------------------------------------------------
    @cached_property
    def content_hash(self) -> str:
        """SHA-256 of the exact weights in canonical text (independent of name and storage format)."""
        h = hashlib.sha256()
        h.update(f"rnn-v1 d={self.d} n={self.n}\n".encode())
        for label, mat in (("W_hi", self.w_hi), ("W_hh", self.w_hh), ("W_oh", self.w_oh)):
            h.update(label.encode())
            for row in mat:
                h.update((" ".join(rational_str(v) for v in row) + "\n").encode())
        return h.hexdigest()

    @cached_property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(W_hi as a length-d vector, W_hh, W_oh) as read-only float64 arrays (rounded to nearest)."""
        out = []
        for mat in (self.w_hi, self.w_hh, self.w_oh):
            a = np.array([[float(v) for v in row] for row in mat], dtype=np.float64)
            a.setflags(write=False)
            out.append(a)
        w_hi = out[0][:, 0].copy()
        w_hi.setflags(write=False)
        return w_hi, out[1], out[2]

    @cached_property
    def flint_weights(self) -> tuple[flint.fmpq_mat, flint.fmpq_mat, flint.fmpq_mat]:
        """(W_hi d x 1, W_hh d x d, W_oh n x d) as python-flint rational matrices."""
        return fmpq_matrix(self.w_hi), fmpq_matrix(self.w_hh), fmpq_matrix(self.w_oh)

    # -- exact evaluation ------------------------------------------------------------------
    def hidden_exact(self, x: Sequence) -> tuple[tuple[Fraction, ...], ...]:
        """Exact hidden states h_1..h_n at an input point with rational coordinates."""
        xs = [exact_rational(v) for v in x]
        if len(xs) != self.n:
            raise ValueError(f"expected {self.n} inputs, got {len(xs)}")
        h = [Fraction(0)] * self.d
        states = []
        for xt in xs:
            h = [max(Fraction(0), sum((w * hj for w, hj in zip(row, h)), Fraction(0)) + self.w_hi[i][0] * xt)
                 for i, row in enumerate(self.w_hh)]
            states.append(tuple(h))
        return tuple(states)

    def logits_exact(self, x: Sequence) -> tuple[Fraction, ...]:
        """Exact outputs (logits, or the one median output) at an input point with rational coordinates."""
        h = self.hidden_exact(x)[-1]
        return tuple(sum((w * hj for w, hj in zip(row, h)), Fraction(0)) for row in self.w_oh)

    def correct_exact(self, x: Sequence) -> bool:
        """Whether the model is right at x, in exact arithmetic with PyTorch's tie rule (first maximal logit)."""
        if self.task.outputs_value:
            raise VerifierError(f"a {self.task.name} model outputs a value: use squared_error_exact")
        xs = [exact_rational(v) for v in x]
        logits = self.logits_exact(xs)
        pred = max(range(self.n), key=lambda i: (logits[i], -i))
        ascending = sorted(range(self.n), key=lambda i: xs[i])
        return pred == ascending[self.n - 1 - self.task.above(self.n)]

    def squared_error_exact(self, x: Sequence) -> Fraction:
        """``(y(x) - median(x))^2`` in exact arithmetic (median models)."""
        if not self.task.outputs_value:
            raise VerifierError(f"a {self.task.name} model is scored by accuracy: use correct_exact")
        xs = sorted(exact_rational(v) for v in x)
        middle = xs[(len(xs) - 1) // 2: len(xs) // 2 + 1]
        return (self.logits_exact(x)[0] - sum(middle, Fraction(0)) / len(middle)) ** 2

    def describe(self) -> str:
        source = f" [task {self.task_source}; --task overrides]" if self.task_source else ""
        return (f"{self.name}: {self.task.name} RNN, d={self.d}, n={self.n}, {self.n_params} parameters"
                f" ({self.precision}){source}")
