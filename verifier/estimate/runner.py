"""Run a randomized estimator batch after batch until a wall-clock budget is spent.

An estimator supplies ``batch(rng, size)``: ``size`` independent, identically distributed
unbiased estimates of the accuracy (one per *unit*: a sample, a tree of samples, an integrated
prefix). Their mean is the estimate and their spread gives the standard error. Batches grow
from 64 units while they take under a twentieth of the budget, and the loop stops before a
batch that would overrun it (at least one batch always runs), so the stopping time does not
depend on the values drawn and the mean stays unbiased.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

MAX_BATCH = 1 << 15


@dataclass(frozen=True)
class Tally:
    """Sums over the units drawn: count, sum and sum of squares of their values."""

    units: int
    total: float
    total_sq: float
    seconds: float

    @property
    def mean(self) -> float:
        return self.total / self.units

    @property
    def variance(self) -> float:
        """Sample variance of one unit's value (0 for a single unit)."""
        if self.units < 2:
            return 0.0
        return max(self.total_sq - self.total * self.total / self.units, 0.0) / (self.units - 1)

    @property
    def stderr(self) -> float:
        return math.sqrt(self.variance / self.units)


def sample_until(batch: Callable[[np.random.Generator, int], np.ndarray], seconds: float,
                 rng: np.random.Generator, *, first: int = 64, max_units: int | None = None) -> Tally:
    """Draw batches of unit values until ``seconds`` have passed (or ``max_units`` were drawn)."""
    start = time.perf_counter()
    units, total, total_sq = 0, 0.0, 0.0
    size = first
    while True:
        if max_units is not None:
            size = min(size, max_units - units)
        t0 = time.perf_counter()
        values = np.asarray(batch(rng, size), dtype=np.float64)
        took = time.perf_counter() - t0
        units += len(values)
        total += float(values.sum())
        total_sq += float(np.dot(values, values))
        elapsed = time.perf_counter() - start
        if max_units is not None and units >= max_units:
            break
        if took < seconds / 20 and size < MAX_BATCH:
            size *= 2
        if elapsed + took * 1.05 > seconds:
            break
    return Tally(units, total, total_sq, time.perf_counter() - start)
