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
"""

from __future__ import annotations

from dataclasses import dataclass

from .cones import cone, generators, is_full_dimensional, minimized_rows, sign_on_cone
from .decomposition import Piece
from ..exact import integer_row
from ..models.tasks import OrderCell


@dataclass(frozen=True)
class OutcomeCone:
    """A convex cone on which the model is uniformly right or uniformly wrong.

    ``loses_to`` (error cones only) is the first position whose logit beats the target's there.
    """

    piece: int
    cell: OrderCell
    correct: bool
    constraints: tuple[tuple[int, ...], ...]
    rays: tuple[tuple[int, ...], ...]
    lines: tuple[tuple[int, ...], ...]
    loses_to: int | None = None


def comparison_rows(piece: Piece, target: int) -> tuple[list[tuple[int, tuple[int, ...]]], int | None]:
    """The target's comparisons on a piece: ``([(j, row of D_j)], tie_loser)``.

    ``tie_loser`` is the first ``j < target`` whose logit equals the target's on the whole piece
    (then the target never wins there), else None. Vacuous comparisons are dropped.
    """
    lmap = piece.logit_map
    rows = []
    for j in range(len(lmap)):
        if j == target:
            continue
        diff = [a - b for a, b in zip(lmap[target], lmap[j])]
        if not any(diff):
            if j < target:
                return [], j
            continue
        rows.append((j, integer_row(diff)))
    return rows, None


def _outcome(index, cell, correct, poly, loses_to=None) -> OutcomeCone:
    rays, lines = generators(poly)
    return OutcomeCone(index, cell, correct, minimized_rows(poly), rays, lines, loses_to)


def piece_outcomes(index: int, piece: Piece, cells: tuple[OrderCell, ...], n: int) -> list[OutcomeCone]:
    """Split one piece into correct and error cones, cell by cell."""
    out = []
    for cell in cells:
        current = cone(piece.constraints + cell.constraint_rows(n), n)
        if not is_full_dimensional(current, n):
            continue
        comparisons, tie_loser = comparison_rows(piece, cell.target)
        if tie_loser is not None:
            out.append(_outcome(index, cell, False, current, tie_loser))
            continue
        correct = True
        for j, row in comparisons:
            rays, lines = generators(current)
            sign = sign_on_cone(row, rays, lines)
            if sign > 0:
                continue
            if sign < 0:
                out.append(_outcome(index, cell, False, current, j))
                correct = False
                break
            wrong = cone(minimized_rows(current) + (tuple(-v for v in row),), n)
            out.append(_outcome(index, cell, False, wrong, j))
            current = cone(minimized_rows(current) + (row,), n)
        if correct:
            out.append(_outcome(index, cell, True, current))
    return out
