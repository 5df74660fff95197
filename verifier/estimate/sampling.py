"""Reference forward pass and Monte Carlo accuracy estimate (the baseline the verifier is judged against).

Vectorized numpy, batched so memory stays bounded, seeded, and PyTorch's tie rule (the first of
equal maximal logits). Two arithmetics:

- ``float64`` estimates the quantity ``certify`` proves: the exact model on the sampled (float64)
  inputs. The float forward pass carries a rigorous bound on its rounding error; inputs whose
  logit gap is within that bound (exact ties included) are re-evaluated in exact integer
  arithmetic from their float64 values, so float rounding never decides an answer.
- ``float32`` is IEEE single precision with every product and sum rounded, summed left to right
  in PyTorch's operation order (``W_hh h``, then ``+ W_ih x``, ReLU; ``W_oh h``). PyTorch's CPU
  kernels match it bit for bit for d <= 4; for larger d they pick their own summation order
  (and FMA), so a few decisions near a boundary can differ. It measures float32 behaviour.

These numbers are *estimates*: sampling error, labelled as such.

>>> from verifier.models.model import Model
>>> m = Model.from_arrays([[1], [-1]], [[-1, 1], [1, -1]], [[1, -1], [-1, 1]])
>>> est = estimate_accuracy(m, 10_000, seed=1)
>>> est.accuracy, est.n
(1.0, 10000)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import reduce
from typing import Iterator

import flint
import numpy as np
from tqdm import tqdm

from ..errors import VerifierError
from ..coerce import as_model
from ..models.model import Model

DTYPES = {"float64": np.float64, "float32": np.float32}
Z95 = 1.959963984540054
MAX_SAMPLES = 10**12  # a bound on the request, not on memory: batches keep memory flat
MAX_BATCH_VALUES = 1 << 22  # numbers per batch array (32 MB in float64)
# Exact re-evaluation of near-ties may take EXACT_SECONDS plus EXACT_RATIO times the float work;
# past that (long sequences, huge weights) the rest are left to float rounding and counted.
EXACT_SECONDS, EXACT_RATIO, EXACT_CHUNK = 10.0, 5.0, 256
EXACT_CHUNK_WORK = 2_000_000  # chunks small enough to check the time often
_U64 = 2.0**-53  # unit roundoff of float64
_ETA64 = 2.0**-1074  # smallest subnormal: the absolute error of an underflowing product


def forward(model: Model, x: np.ndarray, dtype: str = "float64") -> np.ndarray:
    """Logits for a batch of input sequences ``x`` of shape (B, n), computed in ``dtype``."""
    if _dtype(dtype) is np.float32:
        return _forward32(model, x)
    return _forward64(model, x)[0]


def _forward64(model: Model, x: np.ndarray, with_bound: bool = False):
    """float64 logits (B, n) and, if asked, a rigorous bound (B,) on the max-norm distance of each
    row to the exact logits of the exact model at the float64 inputs ``x`` (None if not asked).

    Inner-product error analysis in the max norm: step t computes length-(d+1) inner products, so
    its rounding error is at most gamma * (||W_hh|| max(h) + max|w_hi| |x_t|), gamma = k u / (1 - k u)
    with k = d + 2 (the extra term covers weights that float64 rounds); earlier errors propagate
    through ||W_hh|| (ReLU is 1-Lipschitz) and each step may add underflow errors. The bound is
    evaluated in floats and then widened by a factor 1 + 2^-20, far more than its own rounding.
    """
    w_hi, w_hh, w_oh = model.arrays
    xt = np.ascontiguousarray(np.asarray(x, dtype=np.float64).T)  # (n, B): batch-contiguous rows run ~2.5x faster
    h = np.zeros((model.d, xt.shape[1]))
    err = np.zeros(xt.shape[1]) if with_bound else None
    k = model.d + 2
    gamma = k * _U64 / (1 - k * _U64)
    eta = k * _ETA64
    norm_hh, norm_hi, norm_oh = (float(np.abs(w).sum(axis=1).max()) for w in (w_hh, w_hi[:, None], w_oh))
    for t in range(xt.shape[0]):
        if with_bound:
            err = norm_hh * (gamma * h.max(axis=0) + (1 + _U64) * err) + (gamma * norm_hi) * np.abs(xt[t]) + eta
        h = w_hh @ h
        h += w_hi[:, None] * xt[t]
        np.maximum(h, 0, out=h)
    logits = (w_oh @ h).T
    if not with_bound:
        return logits, None
    return logits, (norm_oh * (gamma * h.max(axis=0) + (1 + _U64) * err) + eta) * (1 + 2.0**-20)


def _forward32(model: Model, x: np.ndarray) -> np.ndarray:
    """float32 logits, every operation rounded, sums left to right (see the module docstring)."""
    w_hi, w_hh, w_oh = (a.astype(np.float32) for a in model.arrays)
    xt = np.ascontiguousarray(np.asarray(x, dtype=np.float32).T)
    h = np.zeros((model.d, xt.shape[1]), dtype=np.float32)
    for t in range(xt.shape[0]):
        h = _sum_left_to_right(w_hh, h)
        h += w_hi[:, None] * xt[t]
        np.maximum(h, 0, out=h)
    return _sum_left_to_right(w_oh, h).T


def _sum_left_to_right(w: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``w @ h`` in h's dtype with each product and partial sum rounded, in column order of ``w``."""
    out = w[:, :1] * h[0]
    for j in range(1, w.shape[1]):
        out += w[:, j:j + 1] * h[j]
    return out


def correct(model: Model, x: np.ndarray, dtype: str = "float64") -> np.ndarray:
    """Boolean array: is the first maximal logit at the task's target position?

    In float64 the answer is the exact model's at the float64 inputs (near-ties resolved exactly).
    """
    return _decide(model, x, dtype, deadline=None)[0]


def _decide(model: Model, x: np.ndarray, dtype: str, deadline: float | None) -> tuple[np.ndarray, int]:
    """Right answers, and how many near-ties were left to float rounding because exact
    re-evaluation passed ``deadline`` (a ``time.perf_counter()`` value; None: no limit)."""
    x = np.asarray(x, dtype=_dtype(dtype))
    target = model.task.target(x)
    if dtype == "float32":
        return _forward32(model, x).argmax(axis=-1) == target, 0
    logits, bound = _forward64(model, x, with_bound=True)
    pred = logits.argmax(axis=-1)
    rows = np.arange(len(pred))
    top = logits[rows, pred]
    rivals = logits.copy()
    rivals[rows, pred] = -np.inf
    # exact top logit > every other one when the float gap exceeds twice the error bound; the extra
    # 2^-20 covers the rounding of the subtraction; NaN or inf (overflow) compare False
    decided = (top - rivals.max(axis=-1)) > 2 * bound * (1 + 2.0**-20) if model.n > 1 else np.isfinite(top)
    undecided = np.flatnonzero(~decided)  # near-ties and exact ties
    work = model.d * model.d * model.n * max(1, model.n // 16)  # per input; its integers grow with n
    step = max(1, min(EXACT_CHUNK, EXACT_CHUNK_WORK // work))
    for start in range(0, len(undecided), step):
        if deadline is not None and time.perf_counter() > deadline:
            return pred == target, len(undecided) - start
        chunk = undecided[start:start + step]
        pred[chunk] = exact_predictions(model, x[chunk])
    return pred == target, 0


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (a display-grade float interval).

    >>> [round(v, 4) for v in wilson_interval(0, 100)]
    [0.0, 0.037]
    """
    if trials <= 0:
        raise VerifierError("need at least one sample")
    p = successes / trials
    denom = 1 + z * z / trials
    center = (p + z * z / (2 * trials)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    lo = 0.0 if successes == 0 else max(0.0, center - half)  # exact ends: the closed form is 0 / 1 there
    hi = 1.0 if successes == trials else min(1.0, center + half)
    return lo, hi


@dataclass(frozen=True)
class SampleEstimate:
    """A Monte Carlo estimate of accuracy: ``correct`` right answers out of ``n`` Gaussian inputs."""

    n: int
    correct: int
    seed: int
    dtype: str
    seconds: float
    float_decided: int = 0  # near-ties left to float rounding when exact re-evaluation ran out of time

    @property
    def accuracy(self) -> float:
        return self.correct / self.n

    @property
    def error_rate(self) -> float:
        return 1 - self.accuracy

    @property
    def stderr(self) -> float:
        p = self.accuracy
        return math.sqrt(p * (1 - p) / self.n)

    @property
    def ci95(self) -> tuple[float, float]:
        """95% Wilson interval for the accuracy."""
        return wilson_interval(self.correct, self.n)

    @property
    def samples_per_second(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("inf")

    def to_json(self) -> dict:
        return {"accuracy": self.accuracy, "error_rate": self.error_rate, "stderr": self.stderr,
                "ci95": list(self.ci95), "n": self.n, "correct": self.correct, "seed": self.seed,
                "dtype": self.dtype, "seconds": self.seconds, "samples_per_second": self.samples_per_second,
                "float_decided": self.float_decided}


def estimate_accuracy(model, n_samples: int, *, seed: int = 0, dtype: str = "float64",
                      batch: int = 1 << 16, progress: bool = False) -> SampleEstimate:
    """Sample ``n_samples`` standard Gaussian sequences and count the model's right answers.

    Inputs are drawn in float64 from ``numpy.random.default_rng(seed)`` batch after batch (the
    stream does not depend on ``batch``) and cast to ``dtype`` before the forward pass. Batches
    shrink for long sequences or wide models so no array exceeds ``MAX_BATCH_VALUES`` numbers.
    """
    model = as_model(model)
    if model.task.outputs_value:
        raise VerifierError(f"{model.name} is a {model.task.name} model, scored by squared error, not accuracy")
    if n_samples < 1:
        raise VerifierError(f"number of samples must be positive, got {n_samples}")
    hits = float_decided = 0
    exact_seconds = 0.0
    start = time.perf_counter()
    for x in _input_batches(model, n_samples, seed, dtype, batch, progress):
        exact_start = time.perf_counter()
        float_seconds = exact_start - start - exact_seconds  # the work outside exact re-evaluation
        ok, left = _decide(model, x, dtype, exact_start + EXACT_SECONDS + EXACT_RATIO * float_seconds
                           - exact_seconds)
        exact_seconds += time.perf_counter() - exact_start
        hits += int(np.count_nonzero(ok))
        float_decided += left
    return SampleEstimate(n_samples, hits, seed, dtype, time.perf_counter() - start, float_decided)


def _input_batches(model: Model, n_samples: int, seed: int, dtype: str, batch: int,
                   progress: bool) -> Iterator[np.ndarray]:
    """The sampled inputs, batch after batch: float64 draws from ``default_rng(seed)`` cast to
    ``dtype``, the same stream whatever the batch size (shrunk to ``MAX_BATCH_VALUES`` numbers)."""
    ftype = _dtype(dtype)
    batch = _checked_batch(model, n_samples, seed, batch)
    rng = np.random.default_rng(seed)
    with tqdm(total=n_samples, disable=not progress, unit="seq", unit_scale=True, desc="sampling") as bar:
        done = 0
        while done < n_samples:
            size = min(batch, n_samples - done)
            yield rng.standard_normal((size, model.n)).astype(ftype)
            done += size
            bar.update(size)


@dataclass(frozen=True)
class SquaredErrorEstimate:
    """A Monte Carlo estimate of a median model's MSE: mean and sample variance of the squared errors."""

    n: int
    mse: float
    variance: float        # sample variance of the per-input squared errors
    seed: int
    dtype: str
    seconds: float

    @property
    def stderr(self) -> float:
        return math.sqrt(self.variance / self.n)

    @property
    def rmse(self) -> float:
        return math.sqrt(self.mse)

    @property
    def rmse_stderr(self) -> float:
        """Delta-method standard error of the RMSE estimate."""
        return self.stderr / (2 * self.rmse) if self.rmse > 0 else 0.0

    @property
    def samples_per_second(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("inf")

    def to_json(self) -> dict:
        return {"task": "median", "mse": self.mse, "mse_stderr": self.stderr, "rmse": self.rmse,
                "rmse_stderr": self.rmse_stderr, "n": self.n, "seed": self.seed, "dtype": self.dtype,
                "seconds": self.seconds, "samples_per_second": self.samples_per_second}


def estimate_mse(model, n_samples: int, *, seed: int = 0, dtype: str = "float64", batch: int = 1 << 16,
                 progress: bool = False) -> SquaredErrorEstimate:
    """Sample ``n_samples`` standard Gaussian sequences and average a median model's squared error
    ``(y(x) - median(x))^2`` (same input stream as :func:`estimate_accuracy`)."""
    model = as_model(model)
    if not model.task.outputs_value:
        raise VerifierError(f"{model.name} is a {model.task.name} model, scored by accuracy: use estimate_accuracy")
    if n_samples < 2:
        raise VerifierError(f"need at least 2 samples for a standard error, got {n_samples}")
    total = total_sq = 0.0
    start = time.perf_counter()
    for x in _input_batches(model, n_samples, seed, dtype, batch, progress):
        errors = (forward(model, x, dtype)[:, 0].astype(np.float64) - model.task.value(x)) ** 2
        total += float(errors.sum())
        total_sq += float((errors ** 2).sum())
    mean = total / n_samples
    variance = max(total_sq / n_samples - mean * mean, 0.0) * n_samples / (n_samples - 1)
    return SquaredErrorEstimate(n_samples, mean, variance, seed, dtype, time.perf_counter() - start)


def exact_predictions(model: Model, x: np.ndarray) -> np.ndarray:
    """The exact model's first maximal logit at each float64 input row (B, n), in integer arithmetic.

    Every float64 is an integer times a power of two, and positive scalings commute with ReLU, so
    with W = A/a (integer A, common denominator a, per matrix) and x = X / 2^E (E per input row) the hidden states
    are integers divided by positive constants: ``H_1 = relu(A_hi X_1)``,
    ``H_{t+1} = relu(A_hh H_t + a_hh^t A_hi X_{t+1})``, and the logits are ``A_oh H_n`` up to a
    positive factor, which leaves the argmax unchanged. python-flint's fmpz matrices do the work.
    """
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise VerifierError("inputs must be finite")
    (a_hi, _), (a_hh, den_hh), (a_oh, _) = (_integer_matrix(m) for m in (model.w_hi, model.w_hh, model.w_oh))
    mant, expo = np.frexp(x)
    mant = (mant * 2.0**53).astype(np.int64)  # exact: |mant| < 2^53
    expo = expo.astype(np.int64) - 53
    shift = expo - expo.min(axis=1, keepdims=True) if x.size else expo  # each input scaled on its own: small integers
    count, n = x.shape
    h = flint.fmpz_mat(model.d, count)
    for t in range(n):
        xs = flint.fmpz_mat(1, count, [int(m) << int(e) for m, e in zip(mant[:, t], shift[:, t])])
        h = a_hh * h + (a_hi * xs) * den_hh**t
        h = flint.fmpz_mat(model.d, count, [v if v > 0 else 0 for v in h.entries()])
    logits = (a_oh * h).tolist()  # n rows of `count` integers
    return np.array([max(range(n), key=lambda i: (logits[i][c], -i)) for c in range(count)], dtype=np.intp)


def _integer_matrix(rows) -> tuple[flint.fmpz_mat, int]:
    """(A, a) with A = a * rows an integer matrix and a the lcm of the denominators."""
    den = reduce(math.lcm, (v.denominator for r in rows for v in r), 1)
    return flint.fmpz_mat([[int(v * den) for v in r] for r in rows]), den


def _checked_batch(model: Model, n_samples: int, seed: int, batch: int) -> int:
    """Refuse out-of-range requests; shrink the batch so no array exceeds ``MAX_BATCH_VALUES`` numbers."""
    if n_samples > MAX_SAMPLES:
        raise VerifierError(f"number of samples must be at most {MAX_SAMPLES:.0e}, got {n_samples}")
    if batch < 1:
        raise VerifierError(f"batch size must be positive, got {batch}")
    if seed < 0:
        raise VerifierError(f"seed must be a non-negative integer, got {seed}")
    return max(1, min(batch, MAX_BATCH_VALUES // max(model.n, model.d)))


def _dtype(name: str):
    try:
        return DTYPES[name]
    except KeyError:
        raise VerifierError(f"unknown dtype {name!r}; use float64 or float32") from None
