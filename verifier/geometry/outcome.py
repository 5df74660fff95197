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
generators, see :func:`cell_occupancy`); a comparison whose sign the piece's generators already
fix needs no cut. Only the rest goes to PPL, with one polyhedron copy per cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import flint
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


def comparison_rows(piece: Piece, target: int) -> tuple[list[tuple[int, tuple[int, ...]]], int | None]:
    """The target's comparisons on a piece: ``([(j, row of D_j)], tie_loser)``.

    ``tie_loser`` is the first ``j < target`` whose logit equals the target's on the whole piece
    (then the target never wins there), else None. Vacuous comparisons are dropped.
    """
    lmap = piece.logits  # one positive denominator: differences keep their signs
    rows = []
    for j in range(len(lmap)):
        if j == target:
            continue
        diff = [a - b for a, b in zip(lmap[target], lmap[j])]
        if not any(diff):
            if j < target:
                return [], j
            continue
        rows.append((j, primitive(diff)))
    return rows, None


def order_bounds(piece: Piece, n: int) -> list[list[bool]]:
    """``le[a][b]``: whether ``x_a <= x_b`` on the whole piece (exact tests on its generators)."""
    rays, lines = piece.rays, piece.lines
    return [[all(g[a] <= g[b] for g in rays) and all(g[a] == g[b] for g in lines) for b in range(n)]
            for a in range(n)]


def cell_occupancy(piece: Piece, cells: tuple[OrderCell, ...], n: int,
                   le: list[list[bool]] | None = None) -> list[bool | None]:
    """Per cell: True (the piece meets it in a full-dimensional cone), False (it does not), or
    None (undecided: ask PPL). Exact integer tests only; ``le`` is :func:`order_bounds` (computed
    when not given).

    Empty: some cell row ``x_a - x_b >= 0`` is ``<= 0`` on every ray and ``= 0`` on every line
    of the piece. Non-empty: a point strictly inside the piece lies strictly inside the cell. The
    points tried are the interior point ``p`` and ``p + M g`` for each generator ``g`` (and ``-g``
    for lines) with ``M`` large, compared lexicographically (first by ``g``, then by ``p``), so no
    ``M`` is ever chosen.
    """
    rays, lines, p = piece.rays, piece.lines, piece.interior
    if le is None:
        le = order_bounds(piece, n)
    occupied = set()
    for g in ((),) + rays + lines + tuple(tuple(-v for v in g) for g in lines):
        keys = [(g[i], p[i]) if g else (p[i],) for i in range(n)]
        if len(set(keys)) == n:
            order = sorted(range(n), key=keys.__getitem__, reverse=True)  # largest first
            occupied.add(tuple(order))
    out = []
    for cell in cells:
        s = cell.target
        below = [b for b in range(n) if b != s and b not in cell.above]
        if any(le[a][s] for a in cell.above) or any(le[s][b] for b in below):
            out.append(False)
        else:
            k = len(cell.above)
            out.append(True if any(order[k] == s and set(order[:k]) == set(cell.above) for order in occupied)
                       else None)
    return out


def piece_outcomes(index: int, piece: Piece, cells: tuple[OrderCell, ...], n: int) -> list[OutcomeCone]:
    """Split one piece into correct and error cones, cell by cell (canonical cones, in order).

    A cut the piece's generators already imply is not made: a cell that holds the whole piece,
    and comparisons whose sign is fixed on it, need no polyhedron. The cuts are made on copies of
    the piece's converted polyhedron (:attr:`Piece.polyhedron`), so they convert incrementally.
    """
    out: list[OutcomeCone] = []
    logit_values = None
    le = order_bounds(piece, n)
    for cell, occupied in zip(cells, cell_occupancy(piece, cells, n, le)):
        if occupied is False:
            continue
        crossing = [row for row in cell.constraint_rows(n) if not le[row.index(-1)][row.index(1)]]
        current = None  # None: the whole piece
        if crossing:
            current = ppl.C_Polyhedron(piece.polyhedron)
            for row in crossing:
                current.add_constraint(half_space(row))
            if occupied is None and not is_full_dimensional(current, n):
                continue
        comparisons, tie_loser = comparison_rows(piece, cell.target)
        if tie_loser is not None:
            out.append(OutcomeCone(index, cell, False, _rows(current, piece), tie_loser))
            continue
        if logit_values is None:
            logit_values = _logit_values(piece, n)
        correct = True
        gens = None
        for j, row in comparisons:
            # the piece's sign holds on the cell's part
            sign = _sign([a - b for a, b in zip(logit_values[cell.target], logit_values[j])], len(piece.rays))
            if sign == 0 and current is not None:
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


def _logit_values(piece: Piece, n: int) -> list[list[int]]:
    """The logits' values (times the piece's denominator) on its rays, then its lines: one
    exact integer matrix product."""
    gens = piece.rays + piece.lines
    product = flint.fmpz_mat(n, n, [v for row in piece.logits for v in row]) * flint.fmpz_mat(
        n, len(gens), [g[i] for i in range(n) for g in gens])
    return [[int(v) for v in row] for row in product.tolist()]


def _sign(values: list[int], rays: int) -> int:
    """:func:`~verifier.geometry.cones.sign_on_cone` from a form's values on the rays, then the lines."""
    if any(values[rays:]):
        return 0
    positive = any(v > 0 for v in values[:rays])
    negative = any(v < 0 for v in values[:rays])
    return 0 if positive and negative else 1 if positive else -1


def _rows(current: ppl.C_Polyhedron | None, piece: Piece) -> tuple[tuple[int, ...], ...]:
    return piece.constraints if current is None else minimized_rows(current)
