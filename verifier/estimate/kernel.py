"""The speed-first forward pass shared by the randomized estimators.

Hidden states are (d, M) so the matrix products run in BLAS along the batch. Decisions follow PyTorch's tie rule
(the first of equal maximal logits wins). Arithmetic is plain float32 or float64 without the
exact near-tie resolution of :mod:`verifier.estimate.sampling` (``correct``): a rounding
error flips a decision only within about 1e-6 (float32) of a logit tie, which
``benchmarks/bench_estimate.py`` measures (about one input in 10^6 on M16,10, far below every
error it reports). These are estimates, labelled as such.

>>> from verifier.models.model import Model
>>> m = Model.from_arrays([[1], [-1]], [[-1, 1], [1, -1]], [[1, -1], [-1, 1]])
>>> w = Weights.of(m)
>>> correct(w, np.array([[0.5, 2.0], [3.0, -1.0]])).tolist()
[True, True]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models.model import Model


@dataclass(frozen=True)
class Weights:
    """A model's weights as arrays in one float dtype, plus the task's rank (inputs above the target)."""

    w_hi: np.ndarray   # (d,)
    w_hh: np.ndarray   # (d, d)
    w_oh: np.ndarray   # (n, d)
    above: int         # the target has exactly this many inputs above it

    @classmethod
    def of(cls, model: Model, dtype=np.float32) -> "Weights":
        w_hi, w_hh, w_oh = (np.ascontiguousarray(a, dtype=dtype) for a in model.arrays)
        return cls(w_hi, w_hh, w_oh, model.task.above(model.n))

    @property
    def d(self) -> int:
        return self.w_hh.shape[0]

    @property
    def n(self) -> int:
        return self.w_oh.shape[0]

    @property
    def dtype(self):
        return self.w_hh.dtype


def run(w: Weights, xt: np.ndarray, h: np.ndarray | None = None) -> np.ndarray:
    """Hidden state (d, M) after feeding the rows of ``xt`` (steps, M), starting from ``h`` (default 0).

    Three arrays serve every step (two hidden states in turn and the input term): a fresh array
    per step and operation costs more in page faults than the arithmetic once M is in the
    thousands."""
    steps, width = xt.shape
    if steps == 0:
        return np.zeros((w.d, width), dtype=w.dtype) if h is None else h
    states = [np.empty((w.d, width), dtype=w.dtype), np.empty((w.d, width), dtype=w.dtype)]
    term = np.empty((w.d, width), dtype=w.dtype)
    for t, x in enumerate(xt):
        out = states[t % 2]
        if h is None:   # from h = 0 the first step is just the input term
            np.multiply(w.w_hi[:, None], x, out=out)
        else:
            np.matmul(w.w_hh, h, out=out)
            out += np.multiply(w.w_hi[:, None], x, out=term)
        h = np.maximum(out, 0, out=out)
    return h


def first_max_at(logits: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Is ``position`` (M,) the first maximal row of ``logits`` (n, M), column by column?

    ``logits.argmax(axis=0) == position``, about 3x faster: numpy's argmax along a short first
    axis is slow, a maximum along it is not. Only columns whose maximum is attained more than
    once (exact ties) go through argmax, so the first-index rule holds exactly.
    """
    top = logits == logits.max(axis=0)
    hit = top[position, np.arange(logits.shape[1])]
    tied = np.flatnonzero(hit & (top.sum(axis=0) > 1))
    if len(tied):
        hit[tied] = logits[:, tied].argmax(axis=0) == position[tied]
    return hit


def correct(w: Weights, x: np.ndarray) -> np.ndarray:
    """Right answers for a batch of inputs ``x`` (M, n)."""
    x = np.asarray(x, dtype=w.dtype)
    return first_max_at(w.w_oh @ run(w, np.ascontiguousarray(x.T)), target(x, w.above))


def target(x: np.ndarray, above: int) -> np.ndarray:
    """Target positions for inputs ``x`` (M, n): the input with ``above`` inputs larger than it."""
    return top_ranks(x.T, above)[0][above]


def top_ranks(xt: np.ndarray, above: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions and values (above + 1, rows) of the largest entries of each column of ``xt``
    (positions, rows), ranks 0..above; ranks past the column's length are position -1, value -inf.
    One argmax per rank (cheaper than sorting when ``above`` is small)."""
    m, rows = xt.shape
    x = np.array(xt.T)                                                      # (rows, m), ours to overwrite
    every = np.arange(rows)
    pos = np.full((above + 1, rows), -1, dtype=np.intp)
    val = np.full((above + 1, rows), -np.inf, dtype=xt.dtype)
    for rank in range(min(above + 1, m)):
        pos[rank] = x.argmax(axis=1)
        val[rank] = x[every, pos[rank]]
        x[every, pos[rank]] = -np.inf
    return pos, val
