"""Stratified sampling over the order cells (position of the largest input, position of the 2nd).

By symmetry each of the n(n-1) cells has probability exactly 1/(n(n-1)), for every task. A
sequence in cell (i, j) is drawn exactly: draw n Gaussians, then swap the largest into
position i and the second largest into position j (the others stay exchangeable).

Allocation: a pilot of ``pilot`` sequences per cell (used only to choose the allocation, then
discarded, so the estimate stays unbiased) gives each cell a spread sqrt(p~(1-p~)), with
p~ = (right + 1) / (pilot + 2); a unit then draws max(1, round(share * unit_size)) sequences
per cell, shares proportional to the spreads (Neyman allocation). A unit's value is the mean
over cells of the cell means, an unbiased estimate; units are independent.

What it can gain is the spread of the cell accuracies: see :func:`variance_decomposition`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernel import Weights, correct


def cells(n: int) -> np.ndarray:
    """(n(n-1), 2) array of the cells (i, j), i != j: largest input at i, second largest at j."""
    return np.array([(i, j) for i in range(n) for j in range(n) if i != j], dtype=np.intp)


def draw_in_cells(rng: np.random.Generator, cell_of_row: np.ndarray, n: int, dtype) -> np.ndarray:
    """One N(0, I_n) sequence conditioned on each row's cell (rows of ``cell_of_row``: (i, j))."""
    rows = len(cell_of_row)
    x = rng.standard_normal((rows, n), dtype=dtype)
    r = np.arange(rows)
    order = np.argsort(x, axis=1)
    top, second = order[:, -1], order[:, -2]
    i, j = cell_of_row[:, 0], cell_of_row[:, 1]
    x[r, top], x[r, i] = x[r, i], x[r, top]                   # largest to i
    second = np.where(second == i, top, second)                 # where i's old value went
    x[r, second], x[r, j] = x[r, j], x[r, second]             # second largest to j
    return x


def cell_accuracies(w: Weights, rng: np.random.Generator, per_cell: int) -> np.ndarray:
    """Right-answer counts, (n(n-1),), from ``per_cell`` sequences in each cell."""
    c = cells(w.n)
    rows = np.repeat(np.arange(len(c)), per_cell)
    ok = correct(w, draw_in_cells(rng, c[rows], w.n, w.dtype))
    return np.bincount(rows, weights=ok, minlength=len(c))


def allocation(right: np.ndarray, pilot: int, unit_size: int) -> np.ndarray:
    """Sequences per cell in one unit: Neyman shares from the pilot counts, at least one each."""
    p = (right + 1) / (pilot + 2)
    spread = np.sqrt(p * (1 - p))
    return np.maximum(1, np.rint(spread / spread.sum() * unit_size)).astype(np.intp)


def batch(w: Weights, counts: np.ndarray):
    """``batch(rng, size)``: ``size`` units, each the stratified estimate from ``counts`` sequences per cell."""
    c = cells(w.n)
    per_unit = int(counts.sum())
    cell_of_slot = np.repeat(np.arange(len(c)), counts)

    def draw(rng: np.random.Generator, size: int) -> np.ndarray:
        rows = np.tile(cell_of_slot, size)
        ok = correct(w, draw_in_cells(rng, c[rows], w.n, w.dtype)).reshape(size, per_unit)
        sums = np.add.reduceat(ok, np.concatenate([[0], np.cumsum(counts)[:-1]]), axis=1)
        return (sums / counts).mean(axis=1)

    return draw


@dataclass(frozen=True)
class VarianceDecomposition:
    """How much of p(1-p) (one plain sample's variance) stratifying by cells removes."""

    total: float          # p(1-p)
    within: float         # mean over cells of p_c(1-p_c): the variance left with proportional allocation
    neyman: float         # (mean over cells of sqrt(p_c(1-p_c)))^2: left with Neyman allocation

    @property
    def removed_proportional(self) -> float:
        return 1 - self.within / self.total

    @property
    def removed_neyman(self) -> float:
        return 1 - self.neyman / self.total


def variance_decomposition(cell_p: np.ndarray) -> VarianceDecomposition:
    """Decomposition from the cells' accuracies (each cell has the same probability)."""
    p = float(cell_p.mean())
    return VarianceDecomposition(p * (1 - p), float(np.mean(cell_p * (1 - cell_p))),
                                 float(np.mean(np.sqrt(cell_p * (1 - cell_p)))) ** 2)
