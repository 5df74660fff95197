"""Squared-error cones of a median model: where its output minus the median is one linear form.

On a piece the model's one output is ``y = L x`` (``L`` the piece's 1 x n output map); on a
median cell (which inputs are the middle ones) the median is ``m . x``. On their intersection
the error ``y - median`` is the linear form ``c = L - m``, so the squared error is ``(c . x)^2``
there. The cones of one piece have disjoint interiors and cover the piece, as the cells cover R^n.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .cones import cone, is_full_dimensional, minimized_rows
from .decomposition import Piece
from ..models.tasks import MedianCell


@dataclass(frozen=True)
class SquaredErrorCone:
    """A convex cone on which the model's error ``y(x) - median(x)`` is ``form . x``."""

    piece: int
    cell: MedianCell
    constraints: tuple[tuple[int, ...], ...]
    form: tuple[Fraction, ...]


def piece_squared_error_cones(index: int, piece: Piece, cells: tuple[MedianCell, ...], n: int) -> list[SquaredErrorCone]:
    """The full-dimensional intersections of one piece with the median cells, and their error forms."""
    out = []
    (output,) = piece.logit_map
    for cell in cells:
        poly = cone(piece.constraints + cell.constraint_rows(n), n)
        if is_full_dimensional(poly, n):
            form = tuple(y - m for y, m in zip(output, cell.form(n)))
            out.append(SquaredErrorCone(index, cell, minimized_rows(poly), form))
    return out
