"""Tasks: which input position a model must point at.

Every AlgZoo task with this architecture asks for the position of a fixed order statistic:
``argmax`` (the largest), ``2nd_argmax`` (the second largest), ``argmedian`` (the median,
odd n). A task is therefore one number, ``above(n)``: how many inputs lie above the target.

>>> int(TASKS["2nd_argmax"].target([0.3, 2.0, -1.0]))
0
>>> [c for c in TASKS["2nd_argmax"].cells(2)]
[OrderCell(target=0, above=(1,)), OrderCell(target=1, above=(0,))]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ..errors import VerifierError


@dataclass(frozen=True)
class OrderCell:
    """The inputs' order facts that fix the target: ``x[a] >= x[target] >= x[b]`` for a in ``above``, b elsewhere."""

    target: int
    above: tuple[int, ...]

    def constraint_rows(self, n: int) -> tuple[tuple[int, ...], ...]:
        """Integer rows r with ``r . x >= 0`` exactly describing this cell (a closed convex cone)."""
        rows = []
        for a in self.above:
            rows.append(tuple(1 if i == a else -1 if i == self.target else 0 for i in range(n)))
        for b in range(n):
            if b != self.target and b not in self.above:
                rows.append(tuple(1 if i == self.target else -1 if i == b else 0 for i in range(n)))
        return tuple(rows)


@dataclass(frozen=True)
class Task:
    """A task: the target is the input with exactly ``above(n)`` inputs larger than it."""

    name: str
    above: Callable[[int], int]
    description: str

    def check_length(self, n: int) -> None:
        k = self.above(n)
        if not 0 <= k < n:
            raise VerifierError(f"task {self.name} is undefined for sequence length {n}")

    def target(self, x) -> np.ndarray:
        """Target positions for inputs ``x`` of shape (..., n) (ties among inputs have measure zero)."""
        x = np.asarray(x)
        n = x.shape[-1]
        return np.argsort(x, axis=-1)[..., n - 1 - self.above(n)]

    def cells(self, n: int) -> Iterator[OrderCell]:
        """All order cells; they cover R^n and overlap only where two inputs are equal."""
        self.check_length(n)
        k = self.above(n)
        for s in range(n):
            others = [i for i in range(n) if i != s]
            for above in itertools.combinations(others, k):
                yield OrderCell(s, above)


def _median_above(n: int) -> int:
    if n % 2 == 0:
        raise VerifierError(f"argmedian needs an odd sequence length, got {n}")
    return (n - 1) // 2


TASKS: dict[str, Task] = {
    "argmax": Task("argmax", lambda n: 0, "position of the largest input"),
    "2nd_argmax": Task("2nd_argmax", lambda n: 1, "position of the second-largest input"),
    "argmedian": Task("argmedian", _median_above, "position of the median input (odd n)"),
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise VerifierError(f"unknown task {name!r}; known: {', '.join(TASKS)}") from None
