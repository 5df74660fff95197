"""Correct and error cones: where on each piece the model is right, and where it errs.

On a piece the logits are an exact linear map ``L x``. Inside an order cell (the input facts
that fix the target ``s``) the model is right iff logit ``s`` wins under PyTorch's tie rule:
``L_s x > L_j x`` for every ``j < s`` and ``L_s x >= L_j x`` for every ``j > s``. With
``D_j = L_s - L_j``:

* ``D_j = 0`` as a row (the two logits agree on the whole piece): for ``j < s`` the tie goes to
  ``j`` and the model is wrong on the whole cell; for ``j > s`` the comparison always holds;
* otherwise ``{D_j x = 0}`` has measure zero, so the closed half-space ``D_j x >= 0`` stands for
  the strict one.

The comparisons are taken in turn: the error set is the disjoint union of the cones "first
``i - 1`` comparisons hold, comparison ``i`` fails", and what remains is the correct cone. So
the cones of one cell have disjoint interiors and cover the cell, by construction.

Most (piece, cell) pairs are decided without a polyhedron (exact integer tests on the piece's
generators, see :func:`cell_occupancy`); a cell row or a comparison whose sign the piece's
generators already fix needs no cut, and a cell holding the whole piece needs no polyhedron.
Only the rest goes to PPL: copies of the piece's converted polyhedron, one per cut, so each
converts incrementally.
"""

from __future__ import annotations

import functools
import itertools
import operator
from dataclasses import dataclass
from functools import cached_property

import ppl

from .cones import cone, generators, half_space, is_full_dimensional, minimized_rows, sign_on_cone
from .decomposition import Piece, primitive
from ..models.tasks import OrderCell


@dataclass(frozen=True)
class OutcomeCone:
    """A convex cone on which the model is uniformly right or uniformly wrong.

    ``constraints`` are canonical (minimized primitive rows, sorted); ``loses_to`` (error cones
    only) is the first position whose logit beats the target's there.
    """

    piece: int
    cell: OrderCell
    correct: bool
    constraints: tuple[tuple[int, ...], ...]
    loses_to: int | None = None

    @cached_property
    def _generators(self):
        return generators(cone(self.constraints, len(self.constraints[0]) if self.constraints else 0))

    @property
    def rays(self) -> tuple[tuple[int, ...], ...]:
        return self._generators[0]

    @property
    def lines(self) -> tuple[tuple[int, ...], ...]:
        return self._generators[1]


def comparisons(piece: Piece, target: int) -> tuple[list[int], int | None]:
    """The positions the target's logit is compared with on a piece, in order, and ``tie_loser``:
    the first ``j < target`` whose logit equals the target's on the whole piece (then the target
    never wins there), else None. Vacuous comparisons (equal logits, ``j > target``) are dropped.
    """
    lmap = piece.logits  # one positive denominator: equal rows are equal logits
    for j in range(target):
        if lmap[j] == lmap[target]:
            return [], j
    return [j for j in range(len(lmap)) if j != target and lmap[j] != lmap[target]], None


def comparison_rows(piece: Piece, target: int) -> tuple[list[tuple[int, tuple[int, ...]]], int | None]:
    """The target's comparisons on a piece with their rows: ``([(j, row of D_j)], tie_loser)``
    (see :func:`comparisons`)."""
    positions, tie_loser = comparisons(piece, target)
    lmap = piece.logits
    return [(j, primitive([a - b for a, b in zip(lmap[target], lmap[j])])) for j in positions], tie_loser


def order_bounds(piece: Piece, n: int) -> list[list[bool]]:
    """``le[a][b]``: whether ``x_a <= x_b`` on the whole piece (exact tests on its generators)."""
    columns = list(zip(*piece.rays)) or [()] * n
    line_columns = list(zip(*piece.lines)) or [()] * n
    return [[all(map(operator.le, columns[a], columns[b])) and all(map(operator.eq, line_columns[a], line_columns[b]))
             for b in range(n)] for a in range(n)]


def cell_occupancy(piece: Piece, cells: tuple[OrderCell, ...], n: int,
                   le: list[list[bool]] | None = None) -> list[bool | None]:
    """Per cell: True (the piece meets it in a full-dimensional cone), False (it does not), or
    None (undecided: ask PPL). Exact integer tests only; ``le`` is :func:`order_bounds` (computed
    when not given).

    Empty: a non-negative combination, not zero, of one or two cell rows is ``<= 0`` on every
    ray of the piece and on both directions of every line. Then no point strictly inside the
    piece satisfies the cell's rows strictly, so the two meet in no full-dimensional cone (the
    alternative theorem of Ville; one row is ``le``, two rows an interval of ratios, exactly).
    Non-empty: a point strictly inside the piece lies strictly inside the cell. The points tried
    are the interior point ``p`` and ``p + M g`` for each generator ``g`` (and ``-g`` for lines)
    with ``M`` large, compared lexicographically (first by ``g``, then by ``p``), so no ``M`` is
    ever chosen.
    """
    p = piece.interior
    generators_both_ways = piece.rays + piece.lines + tuple(tuple(-v for v in g) for g in piece.lines)
    if le is None:
        le = order_bounds(piece, n)
    orders = set()
    for keys in [list(p)] + [list(zip(g, p)) for g in generators_both_ways]:
        if len(set(keys)) == n:
            orders.add(tuple(sorted(range(n), key=keys.__getitem__, reverse=True)))  # largest first
    not_above = [{a for a in range(n) if le[a][s]} for s in range(n)]  # a with x_a <= x_s on the piece
    not_below = [{b for b in range(n) if le[s][b]} for s in range(n)]  # b with x_s <= x_b on the piece
    heads = {}  # k -> {(the k largest, the next)} over the orders found
    out = []
    for cell, s, above, below, rows in _cell_facts(cells, n):
        if not (not_above[s].isdisjoint(above) and not_below[s].isdisjoint(below)):
            out.append(False)
            continue
        k = len(above)
        if k not in heads:
            heads[k] = {(frozenset(order[:k]), order[k]) for order in orders}
        if (above, s) in heads[k]:
            out.append(True)
        elif _two_rows_exclude(rows, generators_both_ways):
            out.append(False)
        else:
            out.append(None)
    return out


@functools.lru_cache(maxsize=16)
def _cell_facts(cells: tuple[OrderCell, ...], n: int) -> list[tuple]:
    """Per cell: the cell, its target, the positions above it, those below it, and its rows
    ``x_hi - x_lo >= 0`` as ``(row, hi, lo)``."""
    return [(cell, cell.target, frozenset(cell.above),
             frozenset(b for b in range(n) if b != cell.target and b not in cell.above),
             tuple((row, row.index(1), row.index(-1)) for row in cell.constraint_rows(n))) for cell in cells]


def _two_rows_exclude(rows: tuple, generators: tuple) -> bool:
    """Whether ``y_1 r_1 + y_2 r_2 <= 0`` on every generator for two of the cell's rows and some
    ``y_1, y_2 > 0``: the ratio ``t = y_2 / y_1`` must lie in an interval, found exactly."""
    values = [[g[hi] - g[lo] for g in generators] for _, hi, lo in rows]
    for first, second in itertools.combinations(values, 2):
        low_num, low_den, high = 0, 1, None   # t >= low_num / low_den; t <= high[0] / high[1]
        for a, b in zip(first, second):       # a + t b <= 0
            if b > 0:
                if high is None or -a * high[1] < high[0] * b:
                    high = (-a, b)
                    if -a <= 0:
                        break
            elif b < 0:
                if a * low_den > low_num * -b:
                    low_num, low_den = a, -b
            elif a > 0:
                break
            if high is not None and low_num * high[1] > high[0] * low_den:
                break
        else:
            return True
    return False


def piece_outcomes(index: int, piece: Piece, cells: tuple[OrderCell, ...], n: int) -> list[OutcomeCone]:
    """Split one piece into correct and error cones, cell by cell (canonical cones, in order).

    A cut the piece's generators already imply is not made: a cell that holds the whole piece,
    and comparisons whose sign is fixed on it, need no polyhedron. The cuts are made on copies of
    the piece's converted polyhedron (:attr:`Piece.polyhedron`), so they convert incrementally.
    """
    out: list[OutcomeCone] = []
    le = order_bounds(piece, n)
    for (cell, *_, rows), occupied in zip(_cell_facts(cells, n), cell_occupancy(piece, cells, n, le)):
        if occupied is False:
            continue
        crossing = [row for row, hi, lo in rows if not le[lo][hi]]
        current = None  # None: the whole piece
        if crossing:
            current = ppl.C_Polyhedron(piece.polyhedron)
            for row in crossing:
                current.add_constraint(half_space(row))
            if occupied is None and not is_full_dimensional(current, n):
                continue
        compared, tie_loser = comparisons(piece, cell.target)
        if tie_loser is not None:
            out.append(OutcomeCone(index, cell, False, _rows(current, piece), tie_loser))
            continue
        correct = True
        gens = None
        for j in compared:
            difference = list(map(operator.sub, piece.logits[cell.target], piece.logits[j]))
            sign = sign_on_cone(difference, piece.rays, piece.lines)  # the piece's sign holds on the cell's part
            if sign == 0:
                row = primitive(difference)
                if current is not None:
                    if gens is None:
                        gens = generators(current)
                    sign = sign_on_cone(row, *gens)
            if sign > 0:
                continue
            if sign < 0:
                out.append(OutcomeCone(index, cell, False, _rows(current, piece), j))
                correct = False
                break
            if current is None:
                current = ppl.C_Polyhedron(piece.polyhedron)
            wrong = ppl.C_Polyhedron(current)
            wrong.add_constraint(half_space(tuple(-v for v in row)))
            out.append(OutcomeCone(index, cell, False, minimized_rows(wrong), j))
            current.add_constraint(half_space(row))
            gens = None
        if correct:
            out.append(OutcomeCone(index, cell, True, _rows(current, piece)))
    return out


def _rows(current: ppl.C_Polyhedron | None, piece: Piece) -> tuple[tuple[int, ...], ...]:
    return piece.constraints if current is None else minimized_rows(current)
