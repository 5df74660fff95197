"""Polyhedral cones through the origin, exactly, over pplpy.

A cone is given by integer rows ``r`` meaning ``r . x >= 0``; pplpy stores it as a closed
polyhedron and converts between constraints and generators (rays and lines). Every
decision here is exact: rows and generators are integer vectors.

>>> quadrant = cone([(1, 0), (0, 1)], 2)
>>> is_full_dimensional(quadrant, 2), generators(quadrant)
(True, (((0, 1), (1, 0)), ()))
>>> rays, lines = generators(quadrant)
>>> sign_on_cone((1, 1), rays, lines), sign_on_cone((1, -1), rays, lines), sign_on_cone((0, 0), rays, lines)
(1, 0, -1)
>>> interior_point(rays, lines)
(1, 1)
"""

from __future__ import annotations

import operator
from typing import Iterable, Sequence

import ppl

IntRow = tuple[int, ...]


def half_space(row: Sequence[int]) -> ppl.Constraint:
    """The pplpy constraint ``row . x >= 0`` for an integer row."""
    return ppl.Linear_Expression(list(row), 0) >= 0


def cone(rows: Iterable[Sequence[int]], n: int) -> ppl.C_Polyhedron:
    """The closed cone ``{x in R^n : r . x >= 0 for every row r}`` (all of R^n for no rows)."""
    poly = ppl.C_Polyhedron(n, "universe")
    for row in rows:
        if len(row) != n:
            raise ValueError(f"row {tuple(row)} has length {len(row)}, expected {n}")
        poly.add_constraint(half_space(row))
    return poly


def is_full_dimensional(poly: ppl.C_Polyhedron, n: int) -> bool:
    """Whether the cone has a non-empty interior in R^n (a cone always holds the origin)."""
    return poly.affine_dimension() == n


def generators(poly: ppl.C_Polyhedron) -> tuple[tuple[IntRow, ...], tuple[IntRow, ...]]:
    """Minimized (rays, lines) of a cone, as integer vectors (the origin, its only point, is left out)."""
    rays, lines = [], []
    for g in poly.minimized_generators():
        if g.is_ray():
            rays.append(tuple(map(int, g.coefficients())))
        elif g.is_line():
            lines.append(tuple(map(int, g.coefficients())))
    return tuple(sorted(rays)), tuple(sorted(lines))


def minimized_rows(poly: ppl.C_Polyhedron) -> tuple[IntRow, ...]:
    """A minimal set of primitive integer rows ``r`` (``r . x >= 0``) defining the cone.

    An equality ``r . x == 0`` (only in a lower-dimensional cone) appears as ``r`` and ``-r``.
    """
    rows = []
    for c in poly.minimized_constraints():
        row = tuple(map(int, c.coefficients()))
        rows.append(row)
        if c.is_equality():
            rows.append(tuple(-v for v in row))
    return tuple(sorted(rows))


def sign_on_cone(form: Sequence, rays: Sequence[Sequence[int]], lines: Sequence[Sequence[int]]) -> int:
    """The sign a linear form keeps on a cone given by its generators.

    ``+1``: ``form >= 0`` on the cone and not identically 0 there; ``-1``: ``form <= 0`` on the
    cone (an identically-zero form counts here, like ReLU(0) = 0 counting as inactive);
    ``0``: the form crosses the cone (takes both signs). Exact for int/Fraction coefficients.
    """
    for line in lines:
        if sum(map(operator.mul, form, line)) != 0:
            return 0
    positive = negative = False
    for ray in rays:
        value = sum(map(operator.mul, form, ray))
        if value > 0:
            positive = True
        elif value < 0:
            negative = True
        if positive and negative:
            return 0
    return 1 if positive else -1


def contains(rows: Iterable[Sequence[int]], x: Sequence) -> bool:
    """Whether the point ``x`` (exact numbers) satisfies every row ``r . x >= 0``."""
    return all(sum(r_i * x_i for r_i, x_i in zip(row, x)) >= 0 for row in rows)


def interior_point(rays: Sequence[Sequence[int]], lines: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """A point strictly inside a full-dimensional cone: the sum of its minimized generators.

    A strictly positive combination of all rays lies in the relative interior of the pointed
    part; adding lines stays inside. The result is never 0 when there is a generator.
    """
    gens = list(rays) + list(lines)
    if not gens:
        raise ValueError("the zero cone has no interior point")
    return tuple(sum(col) for col in zip(*gens))
