"""Branching (prefix-sharing) sampling: many endings per sampled beginning, with stratified branches.

One unit is a tree. Its root is a Gaussian prefix x_0..x_{n-m-1}, run through the RNN once; it
then branches at each of the last m positions, into ``factors[k]`` values of that input. The
values of one branching are stratified: value j is ``ndtri((j + U_j) / b)`` with U_j uniform
(for b = 2 simply -|g| and |g|), so each is N(0, 1) and together they cover the line evenly.
The unit's value is the fraction of its leaves (complete sequences) answered right: unbiased,
because every leaf is an N(0, I_n) sequence.

Why it helps: much of the variance of the right/wrong indicator comes from the last inputs
(given x_0..x_{n-2}, the last input alone carries about half of p(1-p) on M16,10), while most of
the cost is the shared prefix. A branch costs one RNN step; a leaf costs one step and the
readout. Targets need no sort per leaf: each row carries the prefix's top order statistics
(ranks 0..above), updated by insertion at every branching, and the last input's target follows
from where it falls among them.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from .kernel import Weights, first_max_at, run, top_ranks


BATCH_LEAVES = 1 << 14  # leaves per batch: with the workspace reused, large batches spread numpy's
                       # per-call cost (on M16,10: 1.40x sampling's efficiency, 1.20x at 4,096 leaves)


def stratified_normals(rng: np.random.Generator, k: int, rows: int, dtype) -> np.ndarray:
    """(k, rows) N(0, 1) values, row j drawn from the j-th of k equal-probability slices."""
    if k == 1:
        return rng.standard_normal((1, rows), dtype=dtype)
    if k == 2:  # the slices are the two half-lines: -|g| and |g|, no quantile function needed
        g = np.abs(rng.standard_normal((2, rows), dtype=dtype))
        g[0] *= -1
        return g
    u = (np.arange(k)[:, None] + rng.random((k, rows))) / k
    return ndtri(u).astype(dtype, copy=False)


def batch(w: Weights, factors: tuple[int, ...] = (2, 2)):
    """``batch(rng, size)``: the right-answer fraction of ``size`` trees branching ``factors`` ways
    at the last ``len(factors)`` positions (see the module docstring).

    Every array keeps the tree axis last (contiguous), branches stacked in front of it.
    """
    n, above, m = w.n, w.above, len(factors)
    if not 1 <= m <= n or min(factors) < 1:
        raise ValueError(f"need 1 <= len(factors) <= n and factors >= 1, got {factors}")

    workspaces: dict[int, list[np.ndarray]] = {}

    def workspace(size: int) -> list[np.ndarray]:
        """Per branching, its parents' shared products and its leaves' hidden states, then the
        logits: reused from batch to batch (fresh arrays of a few hundred KB each time cost more
        in page faults than the arithmetic: 1.6x per tree on M16,10)."""
        if size not in workspaces:
            if len(workspaces) >= 4:
                workspaces.pop(next(iter(workspaces)))
            arrays, rows = [], size
            for b in factors:
                arrays += [np.empty((w.d, rows), w.dtype), np.empty((w.d, b, rows), w.dtype)]
                rows *= b
            workspaces[size] = arrays + [np.empty((n, rows), w.dtype)]
        return workspaces[size]

    def draw(rng: np.random.Generator, size: int) -> np.ndarray:
        prefix = rng.standard_normal((n - m, size), dtype=w.dtype)
        h = run(w, prefix)                                                  # (d, rows)
        top_pos, top_val = top_ranks(prefix, above)                         # (above + 1, rows)
        space = workspace(size)
        rows = size
        for k, b in enumerate(factors):
            x = stratified_normals(rng, b, rows, w.dtype)                 # (b, rows)
            shared = np.matmul(w.w_hh, h, out=space[2 * k])
            h = np.multiply(w.w_hi[:, None, None], x[None], out=space[2 * k + 1])
            h += shared[:, None, :]
            np.maximum(h, 0, out=h)
            h = h.reshape(w.d, b * rows)
            if k < m - 1:
                top_pos, top_val = _insert(top_pos, top_val, x, n - m + k)
            rows *= b
        # the last input x (b, rows) against the order statistics of the rest, broadcast over b
        up_val, up_pos = (top_val[above - 1], top_pos[above - 1]) if above else (np.inf, -1)
        target = np.where(x > up_val, up_pos, np.where(x > top_val[above], n - 1, top_pos[above])).reshape(-1)
        return first_max_at(np.matmul(w.w_oh, h, out=space[-1]), target).reshape(-1, size).mean(axis=0)

    return draw


def _insert(top_pos: np.ndarray, top_val: np.ndarray, x: np.ndarray, position: int):
    """Top order statistics (k, rows) after appending each value of ``x`` (b, rows) at ``position``:
    arrays (k, b * rows). Rank i becomes s_i if s_i > x, else x if s_{i-1} > x (or i = 0), else s_{i-1}."""
    k, rows = top_val.shape
    s_val, s_pos = top_val[:, None, :], top_pos[:, None, :]                # (k, 1, rows)
    prev_val = np.concatenate([np.full((1, 1, rows), np.inf, dtype=top_val.dtype), s_val[:-1]])
    prev_pos = np.concatenate([np.full((1, 1, rows), -1, dtype=top_pos.dtype), s_pos[:-1]])
    keep, is_x = s_val > x[None], prev_val > x[None]
    val = np.where(keep, s_val, np.where(is_x, x[None], prev_val))
    pos = np.where(keep, s_pos, np.where(is_x, position, prev_pos))
    return pos.reshape(k, -1), val.reshape(k, -1)


def forward_passes(w: Weights, factors: tuple[int, ...] = (2, 2)) -> float:
    """Forward-pass equivalents per tree: RNN steps computed / n."""
    steps, rows = w.n - len(factors), 1
    for b in factors:
        rows *= b
        steps += rows
    return steps / w.n
