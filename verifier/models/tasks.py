"""Tasks: which input position a model must point at, or which value it must output.

Every AlgZoo position task with this architecture asks for the position of a fixed order
statistic: ``argmax`` (the largest), ``2nd_argmax`` (the second largest), ``argmedian`` (the
median, odd n). Such a task is one number, ``above(n)``: how many inputs lie above the target;
it is scored by accuracy. ``median`` is a value task (AlgZoo's ``ScalarRNN``, one output): the
target is the median of the inputs (the mean of the two middle ones for even n, as AlgZoo's
``task_median``), scored by mean squared error. Its :class:`MedianCell` s fix which inputs are
the middle ones, so on a cell the median is a fixed linear form.

>>> int(TASKS["2nd_argmax"].target([0.3, 2.0, -1.0]))
0
>>> [c for c in TASKS["2nd_argmax"].cells(2)]
[OrderCell(target=0, above=(1,)), OrderCell(target=1, above=(0,))]
>>> float(TASKS["median"].value([0.3, 2.0, -1.0, 5.0]))
1.15
>>> [c.form(4) for c in median_cells(4)][0]
(Fraction(1, 2), Fraction(1, 2), Fraction(0, 1), Fraction(0, 1))
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
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
class MedianCell:
    """The inputs' order facts that fix the median: ``x[a] >= x[m] >= x[b]`` for a in ``above``,
    m in ``middle`` (one index for odd n, two for even n) and b elsewhere."""

    middle: tuple[int, ...]
    above: tuple[int, ...]

    def constraint_rows(self, n: int) -> tuple[tuple[int, ...], ...]:
        """Integer rows r with ``r . x >= 0`` exactly describing this cell (a closed convex cone)."""
        below = [b for b in range(n) if b not in self.middle and b not in self.above]
        pairs = [(a, m) for a in self.above for m in self.middle] + [(m, b) for m in self.middle for b in below]
        return tuple(tuple(1 if i == hi else -1 if i == lo else 0 for i in range(n)) for hi, lo in pairs)

    def form(self, n: int) -> tuple[Fraction, ...]:
        """The median on this cell as a linear form: ``median(x) = form . x``."""
        share = Fraction(1, len(self.middle))
        return tuple(share if i in self.middle else Fraction(0) for i in range(n))


def median_cells(n: int) -> Iterator[MedianCell]:
    """All median cells of R^n; they cover R^n and overlap only where two inputs are equal."""
    if n < 1:
        raise VerifierError(f"the median needs at least one input, got sequence length {n}")
    width = 1 if n % 2 else 2
    for middle in itertools.combinations(range(n), width):
        others = [i for i in range(n) if i not in middle]
        for above in itertools.combinations(others, (n - width) // 2):
            yield MedianCell(middle, above)


@dataclass(frozen=True)
class Task:
    """A task: the target is the input with exactly ``above(n)`` inputs larger than it (position
    tasks, scored by accuracy), or the median value (``scored_by == "mse"``)."""

    name: str
    above: Callable[[int], int]
    description: str
    scored_by: str = "accuracy"

    @property
    def outputs_value(self) -> bool:
        """Whether the model outputs one number (a ScalarRNN) rather than one logit per position."""
        return self.scored_by == "mse"

    def check_length(self, n: int) -> None:
        if self.outputs_value:
            if n < 1:
                raise VerifierError(f"task {self.name} is undefined for sequence length {n}")
            return
        k = self.above(n)
        if not 0 <= k < n:
            raise VerifierError(f"task {self.name} is undefined for sequence length {n}")

    def value(self, x) -> np.ndarray:
        """The target value for inputs ``x`` of shape (..., n) (value tasks only)."""
        if not self.outputs_value:
            raise VerifierError(f"task {self.name} has a target position, not a target value")
        return np.median(np.asarray(x), axis=-1)

    def target(self, x) -> np.ndarray:
        """Target positions for inputs ``x`` of shape (..., n) (ties among inputs have measure zero)."""
        x = np.asarray(x)
        n = x.shape[-1]
        return np.argsort(x, axis=-1)[..., n - 1 - self.above(n)]

    def cells(self, n: int) -> Iterator[OrderCell]:
        """All order cells; they cover R^n and overlap only where two inputs are equal."""
        if self.outputs_value:
            raise VerifierError(f"task {self.name} is scored by its value: its cells are median_cells(n)")
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
    "median": Task("median", lambda n: (n - 1) // 2, "the median of the inputs (a ScalarRNN, one output)", "mse"),
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise VerifierError(f"unknown task {name!r}; known: {', '.join(TASKS)}") from None
