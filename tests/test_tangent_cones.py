"""5-dimensional cones measured from their faces' tangent cones, against triangulation and sampling."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import ppl
import pytest

from verifier.measure import cone_measure
from verifier.measure.orthant import arb_bounds
from verifier.measure.tangent_cones import faces_by_dimension, odd_cone_measure


def geometry(rows, n):
    """(normals, rays, tight) of the cone ``rows x >= 0``."""
    poly = ppl.C_Polyhedron(n, "universe")
    for row in rows:
        poly.add_constraint(ppl.Linear_Expression(list(row), 0) >= 0)
    rays = [tuple(int(c) for c in g.coefficients()) for g in poly.minimized_generators() if g.is_ray()]
    normals = [tuple(int(c) for c in con.coefficients()) for con in poly.minimized_constraints()]
    tight = [frozenset(i for i, r in enumerate(rays) if sum(x * y for x, y in zip(a, r)) == 0) for a in normals]
    return normals, rays, tight


def random_cone(rng: np.random.Generator, facets: int) -> list[tuple[int, ...]]:
    """A pointed full-dimensional cone in R^5: ``facets`` random integer rows around a common axis."""
    while True:
        rows = [tuple(int(v) for v in rng.integers(-3, 4, size=5)) for _ in range(facets)]
        rows = [(r[0] + 4, *r[1:]) for r in rows]   # all lean towards e_0, so the cone is not empty
        normals, rays, _ = geometry(rows, 5)
        m = cone_measure(rows, 5)
        if len(normals) >= 5 and m.hi > 0 and all(rays):
            poly = ppl.C_Polyhedron(5, "universe")
            for row in rows:
                poly.add_constraint(ppl.Linear_Expression(list(row), 0) >= 0)
            if not any(g.is_line() for g in poly.minimized_generators()) and poly.affine_dimension() == 5:
                return rows


def test_the_orthant_and_its_face_counts():
    rays = [tuple(int(i == j) for j in range(5)) for i in range(5)]
    tight = [frozenset(range(5)) - {f} for f in range(5)]
    faces = faces_by_dimension(rays, tight, 5, 5)
    assert {j: len(v) for j, v in faces.items()} == {j: math.comb(5, j) for j in range(1, 5)}
    lo, hi = arb_bounds(odd_cone_measure(rays, rays, tight, 5))
    assert lo <= Fraction(1, 32) <= hi and hi - lo < 1e-25


@pytest.mark.parametrize("seed", range(6))
def test_face_counts_satisfy_euler(seed):
    """The faces of a pointed 5-cone are those of a 4-polytope: f1 - f2 + f3 - f4 = 0."""
    normals, rays, tight = geometry(random_cone(np.random.default_rng(seed), 6 + seed % 3), 5)
    f = {j: len(v) for j, v in faces_by_dimension(normals, tight, len(rays), 5).items()}
    assert f[1] == len(rays) and f[4] == len(normals)
    assert f[1] - f[2] + f[3] - f[4] == 0


@pytest.mark.parametrize("seed", range(4))
def test_random_cones_agree_with_their_triangulation(seed):
    rows = random_cone(np.random.default_rng(100 + seed), 7)
    faces = cone_measure(rows, 5, plackett=True)
    simplices = cone_measure(rows, 5, plackett=True, faces=False)
    assert faces.method == "plackett-faces/2" and simplices.method == "plackett/2"
    assert faces.lo <= simplices.hi and simplices.lo <= faces.hi
    assert faces.width < 1e-14 and simplices.width < 1e-14


def test_a_cone_with_non_simple_rays_against_monte_carlo():
    """x4 >= |x0| + |x1| (four facets through e2 and e3) with x2, x3 >= 0: rays on 5 facets, whose
    tangent cones are measured by triangulation; the total matches sampling within 4 stderr."""
    rows = [(s0, s1, 0, 0, 1) for s0 in (-1, 1) for s1 in (-1, 1)] + [(0, 0, 1, 0, 0), (0, 0, 0, 1, 0)]
    normals, rays, tight = geometry(rows, 5)
    assert max(sum(r in t for t in tight) for r in range(len(rays))) > 4
    m = cone_measure(rows, 5, plackett=True)
    assert m.method == "plackett-faces/2" and m.width < 1e-14
    # exactly: P(x4 >= |x0| + |x1|) / 4, and that is P(|x0| + |x1| <= x4) / 4 by symmetry
    x = np.random.default_rng(5).standard_normal((2_000_000, 5))
    hits = (x @ np.array(rows, dtype=float).T >= 0).all(axis=1)
    p = hits.mean()
    stderr = math.sqrt(p * (1 - p) / len(hits))
    assert abs(float(m.lo) - p) < 4 * stderr


