"""Branching (prefix-sharing) sampling: many endings per sampled beginning, with stratified endings.

One unit is a tree. Its root is a Gaussian prefix x_0..x_{n-3}, run through the RNN once;
it branches into ``b`` values of x_{n-2}, and each branch into ``L`` values of x_{n-1}. The
``b`` (and ``L``) values are stratified: value j is ``ndtri((j + U_j) / b)`` with U_j uniform,
so each is N(0, 1) and together they cover the line evenly. The unit's value is the fraction of
its b*L sequences answered right: unbiased, because every leaf is a N(0, I_n) sequence.

Why it helps: most of the variance of the right/wrong indicator comes from the last inputs
(given x_0..x_{n-2}, the last input alone carries about half of p(1-p) on M16,10), while most of
the cost is the shared prefix. A leaf costs one RNN step plus the readout, about a sixth of a
sequence, and needs no sort: its target follows from where x_{n-1} falls among the prefix's two
order statistics around the target's rank.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from .kernel import Weights, run


def stratified_normals(rng: np.random.Generator, rows: int, k: int, dtype) -> np.ndarray:
    """(rows, k) N(0, 1) values, column j drawn from the j-th of k equal-probability slices."""
    if k == 1:
        return rng.standard_normal((rows, 1), dtype=dtype)
    if k == 2:  # the slices are the two half-lines: -|g| and |g|, no quantile function needed
        g = np.abs(rng.standard_normal((rows, 2), dtype=dtype))
        g[:, 0] *= -1
        return g
    u = (np.arange(k) + rng.random((rows, k))) / k
    return ndtri(u).astype(dtype, copy=False)


def batch(w: Weights, branches: int = 2, leaves: int = 2):
    """``batch(rng, size)``: the right-answer fraction of ``size`` trees (see the module docstring)."""
    n, above = w.n, w.above
    if n < 2:
        raise ValueError("branching needs sequences of length >= 2")

    def draw(rng: np.random.Generator, size: int) -> np.ndarray:
        prefix = rng.standard_normal((size, n - 2), dtype=w.dtype)
        h = run(w, np.ascontiguousarray(prefix.T))                      # (d, size)
        y = stratified_normals(rng, size, branches, w.dtype)          # (size, b)
        h = w.w_hh @ h
        h = h[:, :, None] + w.w_hi[:, None, None] * y[None]
        np.maximum(h, 0, out=h)
        h = h.reshape(w.d, size * branches)
        upper, lower = _ranks_with(prefix, y, above)                   # each (pos, value), (size, b)
        z = stratified_normals(rng, size * branches, leaves, w.dtype)   # (R, L)
        leaf = (w.w_hh @ h)[:, :, None] + w.w_hi[:, None, None] * z[None]
        np.maximum(leaf, 0, out=leaf)
        pred = (w.w_oh @ leaf.reshape(w.d, -1)).argmax(axis=0).reshape(z.shape)
        (up_pos, up_val), (lo_pos, lo_val) = ((a.reshape(-1, 1) for a in pair) for pair in (upper, lower))
        target = np.where(z > up_val, up_pos, np.where(z > lo_val, n - 1, lo_pos))
        return (pred == target).reshape(size, -1).mean(axis=1)

    return draw


def _ranks_with(prefix: np.ndarray, y: np.ndarray, above: int):
    """Positions and values of ranks ``above - 1`` and ``above`` (from the top) of each row of
    ``prefix`` (S, m) extended by one value of ``y`` (S, b) at position m: arrays of shape (S, b).

    A missing rank is position -1 with value +inf (rank -1) or -inf (rank past the end). With the
    prefix sorted downwards as s, inserting y gives new rank i = s_i if s_i > y, else y if
    s_{i-1} > y, else s_{i-1}; so only prefix ranks above-2 .. above are needed.
    """
    s_count, m = prefix.shape
    order = np.argsort(-prefix, axis=1)
    rows = np.arange(s_count)

    def rank(i):
        if i < 0:
            return np.full(s_count, -1), np.full(s_count, np.inf)
        if i >= m:
            return np.full(s_count, -1), np.full(s_count, -np.inf)
        return order[:, i], prefix[rows, order[:, i]]

    def new_rank(i):
        (p_i, v_i), (p_prev, v_prev) = rank(i), rank(i - 1)
        v_i, v_prev, p_i, p_prev = v_i[:, None], v_prev[:, None], p_i[:, None], p_prev[:, None]
        keep, is_y = v_i > y, v_prev > y
        pos = np.where(keep, p_i, np.where(is_y, m, p_prev))
        val = np.where(keep, v_i, np.where(is_y, y, v_prev))
        return pos, val

    if above == 0:
        return (np.full(y.shape, -1), np.full(y.shape, np.inf)), new_rank(0)
    return new_rank(above - 1), new_rank(above)


def forward_passes(w: Weights, branches: int = 2, leaves: int = 2) -> float:
    """Forward-pass equivalents per tree: RNN steps computed / n."""
    return (w.n - 2 + branches + branches * leaves) / w.n
