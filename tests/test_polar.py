"""4-dimensional cones measured through their polar cones, against closed forms, triangulation and sampling."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import ppl
import pytest

from verifier.certify import certify
from verifier.measure import cone_measure
from verifier.measure.orthant import arb_bounds
from verifier.measure.polar import polar_cone_measure, polar_triangulation
from verifier.measure.solid_angle import route_options
from verifier.models.model import Model
from verifier.proof.checker import check_certificate


def geometry(rows, n):
    """(normals, rays, lines, tight) of the cone ``rows x >= 0``."""
    poly = ppl.C_Polyhedron(n, "universe")
    for row in rows:
        poly.add_constraint(ppl.Linear_Expression(list(row), 0) >= 0)
    gens = poly.minimized_generators()
    rays = [tuple(int(c) for c in g.coefficients()) for g in gens if g.is_ray()]
    lines = [tuple(int(c) for c in g.coefficients()) for g in gens if g.is_line()]
    normals = [tuple(int(c) for c in con.coefficients()) for con in poly.minimized_constraints()]
    tight = [frozenset(i for i, r in enumerate(rays) if sum(x * y for x, y in zip(a, r)) == 0) for a in normals]
    return normals, rays, lines, tight


def random_cone(rng: np.random.Generator, facets: int, n: int = 4) -> list[tuple[int, ...]]:
    """A pointed full-dimensional cone in R^n with more rays than n: random rows leaning towards e_0."""
    while True:
        rows = [(int(rng.integers(2, 6)), *(int(v) for v in rng.integers(-3, 4, size=n - 1))) for _ in range(facets)]
        normals, rays, lines, _ = geometry(rows, n)
        if not lines and len(rays) > n and len(normals) > n:
            return rows


def polar_bounds(rows, n):
    normals, rays, lines, tight = geometry(rows, n)
    return arb_bounds(polar_cone_measure(normals, rays, tight, lines=lines))


@pytest.mark.parametrize("seed", range(4))
def test_a_3d_cone_times_a_half_line_matches_its_closed_form(seed):
    """K x {x3 >= 0}, K a random 3-dimensional cone: half of K's closed-form (spherical excess) measure."""
    rows = random_cone(np.random.default_rng(seed), 5 + seed, n=3)
    closed = cone_measure(rows, 3)
    assert closed.method == "spherical-excess"
    lo, hi = polar_bounds([(*row, 0) for row in rows] + [(0, 0, 0, 1)], 4)
    assert lo <= closed.hi / 2 and closed.lo / 2 <= hi and hi - lo < 1e-14


@pytest.mark.parametrize("seed", range(4))
def test_random_cones_agree_with_their_own_triangulation(seed):
    rows = random_cone(np.random.default_rng(10 + seed), 6 + seed % 2)
    polar = cone_measure(rows, 4, **route_options("plackett-polar"))
    primal = cone_measure(rows, 4, **route_options("plackett"))
    assert polar.method == "plackett-polar" and primal.method == "plackett"
    assert polar.lo <= primal.hi and primal.lo <= polar.hi
    assert polar.width < 1e-13 and primal.width < 1e-13


def test_a_cone_against_monte_carlo_and_the_polar_triangulation_is_smaller():
    """x0 >= |x1|, |x2|, |x3| (a cube's face, 6 facets, 8 rays): a sixth of R^4 by symmetry, which
    the polar route must reproduce; the rotated copy below has no symmetry, so it is sampled."""
    cube = [(1, s, 0, 0) for s in (-1, 1)] + [(1, 0, s, 0) for s in (-1, 1)] + [(1, 0, 0, s) for s in (-1, 1)]
    m = cone_measure(cube, 4, plackett=True)
    assert m.method == "plackett-polar/2" and m.lo <= Fraction(1, 8) <= m.hi   # one of 8 faces of the 4-cube
    normals, rays, _, tight = geometry(cube, 4)
    assert len(rays) == 8 and len(polar_triangulation(normals, tight, len(rays))[1]) < 8 - 3 + 1
    skew = [(3, 1, -1, 0), (2, -1, 0, 1), (4, 0, 2, -1), (3, 0, -2, -1), (2, 1, 1, 1), (3, -2, 1, 0)]
    s = cone_measure(skew, 4, plackett=True)
    assert s.method == "plackett-polar/2" and s.width < 1e-13
    x = np.random.default_rng(7).standard_normal((2_000_000, 4))
    hits = (x @ np.array(skew, dtype=float).T >= 0).all(axis=1)
    p = hits.mean()
    assert abs(float(s.lo) - p) < 4 * math.sqrt(p * (1 - p) / len(hits))


def test_a_cone_with_a_lineality_space_is_measured_in_its_pointed_part():
    """{x : x0 >= |x1|, x0 >= |x2|, x3 >= 0} x R (x4 free): the same measure as without the line, 1/12."""
    rows4 = [(1, s, 0, 0) for s in (-1, 1)] + [(1, 0, s, 0) for s in (-1, 1)] + [(0, 0, 0, 1)]
    for rows, n in ((rows4, 4), ([(*r, 0) for r in rows4], 5), ([(r[0], 0, *r[1:]) for r in rows4], 5)):
        lo, hi = polar_bounds(rows, n)
        assert lo <= Fraction(1, 12) <= hi and hi - lo < 1e-14


def test_the_excess_term_and_polar_cone_of_the_orthant():
    """For the orthant, C polar is the negative orthant (1/16) and the six 2-faces are right
    angles with right-angled normal cones: 1/2 - 6/16 - 1/16 = 1/16."""
    e = [tuple(int(i == j) for j in range(4)) for i in range(4)]
    tight = [frozenset(range(4)) - {f} for f in range(4)]
    lo, hi = arb_bounds(polar_cone_measure(e, e, tight))
    assert lo <= Fraction(1, 16) <= hi and hi - lo < 1e-20


def test_certificates_made_before_the_block_path_still_check(tmp_path, monkeypatch):
    """Every orthant integral along the identity path (what certificates made before the ``/2``
    methods hold): the checker recomputes those cones by that path and accepts, and the accuracy
    interval overlaps the one the block path certifies."""
    from verifier.measure import solid_angle

    rng = np.random.default_rng(0)
    model = Model.from_arrays(rng.integers(-3, 4, size=(2, 1)).tolist(), rng.integers(-3, 4, size=(2, 2)).tolist(),
                              rng.integers(-3, 4, size=(4, 2)).tolist())
    path = tmp_path / "old.json"
    with monkeypatch.context() as patch:
        patch.setitem(solid_angle.polyhedron_measure.__kwdefaults__, "orthant_path", "identity")
        old = certify(model, certificate=path, integrate="errors", workers=1)
    new = certify(model, integrate="errors", workers=1)
    methods = {m.method for m in old.measures}
    assert {"plackett", "plackett-polar"} <= methods and not any("/" in m for m in methods)
    assert check_certificate(path).valid
    assert old.accuracy.lo <= new.accuracy.hi and new.accuracy.lo <= old.accuracy.hi


def test_route_options_round_trip_every_certified_method():
    """A cone measured by some route is measured the same way again from its method's name alone."""
    rows = random_cone(np.random.default_rng(3), 7)
    for options in ({"faces": True, "orthant_path": "blocks"}, {"faces": False, "orthant_path": "blocks"},
                    {"faces": True, "orthant_path": "identity"}, {"faces": False, "orthant_path": "identity"}):
        first = cone_measure(rows, 4, plackett=True, **options)
        again = cone_measure(rows, 4, **route_options(first.method))
        assert (again.lo, again.hi, again.method) == (first.lo, first.hi, first.method)


def test_an_unknown_orthant_path_is_a_clear_error():
    from verifier.errors import VerifierError

    with pytest.raises(VerifierError, match="unknown orthant path"):
        cone_measure([(1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (1, 1, 1, 1)], 4, plackett=True, orthant_path="x")
