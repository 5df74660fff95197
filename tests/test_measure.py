"""Gaussian measure of cones: exact values, closed forms, Monte Carlo, additivity, invariance."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import flint
import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from verifier.errors import VerifierError
from verifier.exact import integer_row
from verifier.exact import decimal_bound
from verifier.measure import ZERO, Measure, cone_measure, generators_measure

RNG_SEED = 20240601


def contains(m: Measure, value, slack=0.0) -> bool:
    return m.lo - Fraction(slack) <= Fraction(value) <= m.hi + Fraction(slack)


def orthant_rows(n):
    return [tuple(int(i == j) for j in range(n)) for i in range(n)]


def mp_fraction(x) -> Fraction:
    """An mpmath number as an exact Fraction (its binary value)."""
    man, exp = mpmath.mpf(x).man_exp
    return Fraction(int(man)) * Fraction(2) ** int(exp)


def monte_carlo(rows, n, samples, seed):
    """Fraction of standard Gaussian samples satisfying every row, and its standard error."""
    rng = np.random.default_rng(seed)
    a = np.array(rows, dtype=float).reshape(-1, n)
    hits = 0
    for _ in range(samples // 100_000):
        x = rng.standard_normal((100_000, n))
        hits += int(np.count_nonzero((x @ a.T >= 0).all(axis=1)))
    p = hits / samples
    return p, math.sqrt(max(p * (1 - p), 1 / samples) / samples)


def arc_oracle_2d(rows) -> float:
    """Measure of a 2D cone from the feasible arc of angles (floats, independent of ppl)."""
    angles = [math.atan2(b, a) for a, b in rows if (a, b) != (0, 0)]
    cuts = sorted({(t + s * math.pi / 2) % (2 * math.pi) for t in angles for s in (-1, 1)}) or [0.0]
    total = 0.0
    for start, end in zip(cuts, cuts[1:] + [cuts[0] + 2 * math.pi]):
        mid = (start + end) / 2
        if all(a * math.cos(mid) + b * math.sin(mid) >= 0 for a, b in rows):
            total += end - start
    return total / (2 * math.pi)


def meridian_oracle_3d(rows) -> float:
    """Measure of a 3D cone by adaptive quadrature over azimuths of the feasible polar-angle arc."""
    rows = [r for r in rows if any(r)]

    def arc_area(phi):
        lo, hi = 0.0, math.pi
        for x, y, z in rows:
            # r . v(theta, phi) = z cos(theta) + (x cos(phi) + y sin(phi)) sin(theta) >= 0
            alpha = math.atan2(x * math.cos(phi) + y * math.sin(phi), z)
            alpha += 2 * math.pi if alpha < -math.pi / 2 else 0.0  # the translate meeting [0, pi]
            lo, hi = max(lo, alpha - math.pi / 2), min(hi, alpha + math.pi / 2)
        return max(0.0, math.cos(lo) - math.cos(hi)) if hi > lo else 0.0

    # The feasible arc changes smoothly except at azimuths of the polygon's vertices, which lie
    # among the cross products of pairs of rows, and where a row's horizontal part vanishes (a
    # row with z = 0 flips the arc from all to nothing there): split the integral at both.
    kinks = {0.0, 2 * math.pi}
    for a, b in itertools.combinations(rows, 2):
        x, y, _ = np.cross(a, b)
        if x or y:
            kinks |= {math.atan2(y, x) % (2 * math.pi), math.atan2(-y, -x) % (2 * math.pi)}
    for x, y, _ in rows:
        if x or y:
            kinks |= {math.atan2(x, -y) % (2 * math.pi), math.atan2(-x, y) % (2 * math.pi)}
    kinks = sorted(kinks)
    total = sum(quad(arc_area, lo, hi, limit=200, epsabs=1e-12, epsrel=1e-12)[0] for lo, hi in zip(kinks, kinks[1:]))
    return total / (4 * math.pi)


def mp_orthant_3d(rows) -> Fraction:
    """P(r_i . x >= 0 for three rows) by the arcsin formula on their Gram matrix, at 60 digits."""
    with mpmath.workdps(60):
        g = [[mpmath.mpf(sum(x * y for x, y in zip(a, b))) for b in rows] for a in rows]
        asin = [mpmath.asin(g[i][j] / mpmath.sqrt(g[i][i] * g[j][j])) for i, j in ((0, 1), (0, 2), (1, 2))]
        return mp_fraction(mpmath.mpf(1) / 8 + sum(asin) / (4 * mpmath.pi))


def random_cone(rng, n, m, spread=20):
    """Integer rows biased to keep the cone full-dimensional (a common direction e_0)."""
    rows = rng.integers(-spread, spread + 1, size=(m, n))
    rows[:, 0] = np.abs(rows[:, 0]) + spread // 2
    return [tuple(int(v) for v in r) for r in rows]


# --- exact known values ------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3])
def test_orthant_certified(n):
    m = cone_measure(orthant_rows(n), n)
    assert m.certified
    assert contains(m, Fraction(1, 2**n))
    assert m.width < 1e-25


HADAMARD_4 = ((1, 1, 1, 1), (1, -1, 1, -1), (1, 1, -1, -1), (1, -1, -1, 1))


def rotated_orthant_rows(n: int) -> list[tuple[int, ...]]:
    """Mutually orthogonal rows (a Hadamard block, then unit rows): an orthant, measure 2^-n, not axis-aligned."""
    return [row + (0,) * (n - 4) for row in HADAMARD_4] + [tuple(int(j == i) for j in range(n)) for i in range(4, n)]


@pytest.mark.parametrize("n", [4, 5])
def test_orthant_estimated(n):
    m = cone_measure(rotated_orthant_rows(n), n)
    assert not m.certified and m.method == "qmc-estimate/2" and m.stderr is not None
    assert abs(m.estimate - 2.0**-n) <= max(4 * m.stderr, 1e-12)
    assert contains(m, Fraction(1, 2**n), 1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_half_space_whole_space_and_flat_cones(n):
    e0 = tuple(int(j == 0) for j in range(n))
    minus = tuple(-v for v in e0)
    assert cone_measure([e0], n) == Measure.exact(Fraction(1, 2), "half-space")
    assert cone_measure([], n).lo == cone_measure([(0,) * n], n).hi == 1
    flat = cone_measure([e0, minus], n)
    assert flat.certified and flat.lo == flat.hi == 0
    assert generators_measure([e0], [], n).hi == (Fraction(1, 2) if n == 1 else 0)


def test_cone_with_empty_interior_has_measure_zero():
    assert cone_measure([(1, 0, 0), (0, 1, 0), (-1, -1, 0)], 3).hi == 0
    assert generators_measure([(1, 0, 0), (0, 1, 0)], [], 3).hi == 0
    assert generators_measure([(1, 0, 0)], [(0, 0, 1), (1, 1, 1), (1, 2, 0)], 3).lo == 1
    assert contains(generators_measure([(1, 0, 0), (0, 1, 0)], [(0, 0, 1)], 3), Fraction(1, 4))


def test_generators_match_constraints():
    by_rows = cone_measure([(1, 2, 0), (0, 1, 3), (2, 0, 1)], 3)
    # The same cone from its generators (cross products of pairs of facet normals).
    rays = [(6, -3, 1), (1, 6, -2), (-2, 1, 4)]
    by_generators = generators_measure(rays, [], 3)
    assert by_generators.certified and by_generators.method == "spherical-excess"
    assert by_rows.lo <= by_generators.hi and by_generators.lo <= by_rows.hi
    assert contains(by_generators, mp_orthant_3d([(1, 2, 0), (0, 1, 3), (2, 0, 1)]))


def test_arcsin_formula_for_simplicial_3d_cones():
    rng = np.random.default_rng(RNG_SEED)
    checked = 0
    while checked < 25:
        rows = [tuple(int(v) for v in r) for r in rng.integers(-9, 10, size=(3, 3))]
        if round(abs(np.linalg.det(np.array(rows, dtype=float)))) == 0:
            continue
        m = cone_measure(rows, 3)
        assert m.certified and m.method == "spherical-excess"
        assert contains(m, mp_orthant_3d(rows), 1e-50), (rows, m)
        assert m.width < 1e-30
        checked += 1


@pytest.mark.parametrize("line", [(0, 0, 1), (1, 2, 3)])
def test_wedges_with_a_lineality_line(line):
    rng = np.random.default_rng(RNG_SEED)
    for _ in range(10):
        a, b = (tuple(int(v) for v in np.cross(line, rng.integers(-9, 10, size=3))) for _ in range(2))
        if not any(np.cross(a, b)):
            continue
        m = cone_measure([a, b], 3)
        assert m.certified and m.method == "wedge"
        with mpmath.workdps(60):
            na, nb = (mpmath.sqrt(sum(mpmath.mpf(x) ** 2 for x in v)) for v in (a, b))
            theta = mpmath.acos(sum(x * y for x, y in zip(a, b)) / (na * nb))
            expected = mp_fraction((mpmath.pi - theta) / (2 * mpmath.pi))
        assert contains(m, expected, 1e-50)


def test_two_dimensional_sectors_against_angles():
    for degrees_num, rows in [(90, [(1, 0), (0, 1)]), (135, [(1, 0), (1, 1)]), (45, [(1, 0), (-1, 1)])]:
        m = cone_measure(rows, 2)
        assert contains(m, Fraction(degrees_num, 360)) and m.width < 1e-30


def test_one_dimensional_cones():
    assert cone_measure([(3,)], 1).lo == Fraction(1, 2)
    assert cone_measure([(-2,)], 1).hi == Fraction(1, 2)
    assert cone_measure([(1,), (-5,)], 1).hi == 0


def test_lineality_reduces_high_dimensional_cones_to_certified_cases():
    # x3, x4 free: the 3D orthant times R^2 in R^5.
    rows5 = [r + (0, 0) for r in orthant_rows(3)]
    m = cone_measure(rows5, 5)
    assert m.certified and contains(m, Fraction(1, 8))
    # A sheared version: rows orthogonal to the lines (1, 1, 1, 1, 0) and (0, 0, 0, 1, 1).
    rows = [(1, -1, 0, 0, 0), (0, 1, -1, 0, 0), (1, 1, 1, -3, 3)]
    m = cone_measure(rows, 5)
    assert m.certified and m.method == "spherical-excess"
    assert contains(m, mp_orthant_3d(rows), 1e-50)


def test_non_simplicial_4d_cones_tile_space():
    """{x : x_i >= |x_j| for j != i} and its negatives: 2n congruent cones tiling R^n (1/(2n) each)."""
    for n in (4, 5):
        rows = [tuple(1 if c == 0 else (s if c == j else 0) for c in range(n)) for j in range(1, n) for s in (1, -1)]
        m = cone_measure(rows, n)
        assert not m.certified
        assert abs(m.estimate - 1 / (2 * n)) <= 4 * m.stderr + 1e-12, m
        assert contains(m, Fraction(1, 2 * n), 1e-12)


# --- Monte Carlo cross-checks ------------------------------------------------------------------


@pytest.mark.parametrize("n, m", [(2, 2), (2, 4), (3, 3), (3, 6), (4, 5), (4, 7), (5, 6)])
def test_random_cones_against_monte_carlo(n, m):
    rng = np.random.default_rng(RNG_SEED + 10 * n + m)
    for trial in range(3):
        rows = random_cone(rng, n, m)
        measure = cone_measure(rows, n)
        p, se = monte_carlo(rows, n, 300_000, RNG_SEED + trial)
        assert measure.certified == (n <= 3)
        spread = math.hypot(se, measure.stderr or 0.0)
        assert abs(measure.estimate - p) <= 4 * spread, (rows, measure, p, se)


def test_lineality_with_an_estimated_pointed_part():
    # A pointed 4D cone times a line, in R^5, with the line mixed into every coordinate.
    rows = [(1, 0, 0, 0, -1), (0, 1, 0, 0, -1), (1, 1, 2, 0, -4), (2, 0, -1, 1, -2), (1, -1, 0, 3, -3)]
    measure = cone_measure(rows, 5)
    assert measure.method == "qmc-estimate/2"
    p, se = monte_carlo(rows, 5, 500_000, RNG_SEED)
    assert abs(measure.estimate - p) <= 4 * math.hypot(se, measure.stderr)


def test_estimates_are_reproducible_and_tighten_with_more_points():
    rows = random_cone(np.random.default_rng(7), 4, 6)
    a, b = cone_measure(rows, 4), cone_measure(rows, 4)
    assert a == b
    fine = cone_measure(rows, 4, points=4096, replicates=16)
    assert fine.stderr < a.stderr
    assert abs(fine.estimate - a.estimate) <= 4 * math.hypot(a.stderr, fine.stderr)


def test_ball_factors_are_the_exact_factors_rounded():
    """``qmc-estimate/2`` factors each simplex's covariance in ball arithmetic: the same matrices as
    the exact rational LDL^T of ``qmc-estimate`` to 1e-12, thin simplices included; a simplex too
    degenerate for 256-bit balls gets the exact factor itself."""
    from verifier.measure import solid_angle
    from verifier.measure.triangulation import balanced_gram, projected_gram

    rng = np.random.default_rng(RNG_SEED)
    for k in (4, 5, 6):
        for scale in (1, 10**6, 10**12):   # the last ray within 1/scale of the others' span
            rays = rng.integers(-9, 10, size=(k, k))
            rays[-1] = rays[-1] + scale * rays[:-1].sum(axis=0)
            gram = balanced_gram(projected_gram([tuple(int(x) for x in r) for r in rays], []))
            simplices = [tuple(range(k))]
            ball = solid_angle._ball_ldl_factors(gram, simplices)[0]
            exact = solid_angle._exact_ldl_factors(gram, simplices)[0]
            assert np.abs(ball - exact).max() <= 1e-12 * max(1.0, np.abs(exact).max())
    rays = [(1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 2**400, 0), (0, 0, 2**400, 1)]
    gram = balanced_gram(projected_gram(rays, []))
    with solid_angle._arb_precision(solid_angle._BALL_BITS):
        balls = flint.arb_mat(4, 4, [flint.arb(gram[i, j]) for i in range(4) for j in range(4)])
        with pytest.raises(ZeroDivisionError):
            balls.inv()   # so this simplex takes the exact route
    assert np.array_equal(solid_angle._ball_ldl_factors(gram, [(0, 1, 2, 3)])[0],
                          solid_angle._exact_ldl_factors(gram, [(0, 1, 2, 3)])[0])


def test_estimates_made_by_either_factor_are_reproduced_from_their_method():
    """Older certificates hold ``qmc-estimate`` (exact LDL^T), newer ones ``qmc-estimate/2``: each is
    recomputed bit for bit from its method's name, and the two agree within their errors."""
    from verifier.measure.solid_angle import route_options

    rows = random_cone(np.random.default_rng(11), 6, 8)
    new, old = cone_measure(rows, 6), cone_measure(rows, 6, factor="exact-ldl")
    assert (new.method, old.method) == ("qmc-estimate/2", "qmc-estimate")
    for m in (new, old):
        assert cone_measure(rows, 6, **route_options(m.method)) == m
    assert abs(new.estimate - old.estimate) <= 4 * math.hypot(new.stderr, old.stderr)
    p, se = monte_carlo(rows, 6, 400_000, RNG_SEED)
    assert abs(new.estimate - p) <= 4 * math.hypot(se, new.stderr)
    with pytest.raises(VerifierError, match="unknown estimate factorization"):
        cone_measure(rows, 6, factor="float")


# --- additivity and invariance -----------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3])
def test_splitting_by_a_hyperplane_preserves_the_certified_total(n):
    rng = np.random.default_rng(RNG_SEED + n)
    for _ in range(10):
        rows = random_cone(rng, n, n + 1)
        h = tuple(int(v) for v in rng.integers(-9, 10, size=n))
        parent = cone_measure(rows, n)
        total = cone_measure(rows + [h], n) + cone_measure(rows + [tuple(-v for v in h)], n)
        assert total.certified
        assert total.lo <= parent.hi and parent.lo <= total.hi
        assert total.width < 1e-30


def test_splitting_a_4d_cone_preserves_the_estimated_total():
    rng = np.random.default_rng(RNG_SEED)
    rows = random_cone(rng, 4, 5)
    h = tuple(int(v) for v in rng.integers(-9, 10, size=4))
    parent = cone_measure(rows, 4)
    total = cone_measure(rows + [h], 4) + cone_measure(rows + [tuple(-v for v in h)], 4)
    assert not total.certified
    assert abs(total.estimate - parent.estimate) <= 4 * math.hypot(total.stderr, parent.stderr)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_invariant_under_row_order_row_scaling_and_coordinate_permutation(n):
    rng = np.random.default_rng(RNG_SEED + n)
    rows = random_cone(rng, n, n + 2)
    base = cone_measure(rows, n)
    scaled = [tuple(v * int(s) for v in r) for r, s in zip(rows, rng.integers(1, 50, size=len(rows)))]
    perm = list(rng.permutation(n))
    variants = [rows[::-1], scaled, [tuple(r[i] for i in perm) for r in rows]]
    for variant in variants:
        other = cone_measure(variant, n)
        if n <= 3:
            assert other.certified and other.lo <= base.hi and base.lo <= other.hi
        else:
            assert abs(other.estimate - base.estimate) <= 4 * math.hypot(base.stderr, other.stderr)


def test_rational_rows_are_scaled_exactly():
    a = cone_measure([(Fraction(1, 3), Fraction(-1, 7)), (0.5, 0.25)], 2)
    b = cone_measure([(7, -3), (2, 1)], 2)
    assert a == b


# --- huge integers ------------------------------------------------------------------------------


def test_huge_integer_rows_from_float32_products():
    """Rows like the ones weight products give: sums of products of float32 values, made integer."""
    rng = np.random.default_rng(RNG_SEED)
    for _ in range(5):
        w = [[Fraction(float(v)) for v in r] for r in rng.standard_normal((3, 3 * 4)).astype(np.float32)]
        rows = [integer_row([r[4 * j] * r[4 * j + 1] * r[4 * j + 2] + r[4 * j + 3] for j in range(3)]) for r in w]
        assert max(abs(v) for r in rows for v in r) > 2**60
        m = cone_measure(rows, 3)
        assert m.certified and m.width < 1e-30
        assert contains(m, mp_orthant_3d(rows), 1e-50)


def test_thin_cones_with_huge_entries():
    big = 2**80
    # y >= big |x|: a wedge of angle 2 atan(1/big), measure atan(1/big) / pi.
    wedge = cone_measure([(big, 1), (-big, 1)], 2)
    with mpmath.workdps(60):
        expected = mp_fraction(mpmath.atan(mpmath.mpf(1) / big) / mpmath.pi)
    assert wedge.certified and 0 < wedge.lo and wedge.width < 1e-30
    assert contains(wedge, expected, 1e-50)
    thin = [(big, 1, 0), (-big, 1, 1), (0, -1, big)]
    m = cone_measure(thin, 3)
    assert m.certified and 0 < m.lo < 1e-20 and m.width < 1e-30
    assert contains(m, mp_orthant_3d(thin), 1e-50)


def test_huge_integer_rows_in_4d_estimate():
    rng = np.random.default_rng(RNG_SEED)
    rows = [tuple(v * 2**70 + 1 for v in r) for r in random_cone(rng, 4, 5)]
    m = cone_measure(rows, 4)
    p, se = monte_carlo(rows, 4, 500_000, RNG_SEED)
    assert abs(m.estimate - p) <= 4 * math.hypot(se, m.stderr)


# --- hypothesis: enclosures contain independent float computations --------------------------------

small_ints = st.integers(-6, 6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(small_ints, small_ints), min_size=0, max_size=5))
def test_2d_enclosure_contains_arc_oracle(rows):
    m = cone_measure(rows, 2)
    assert m.certified
    assert contains(m, arc_oracle_2d(rows), 1e-12), (rows, m)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(small_ints, small_ints, small_ints), min_size=0, max_size=5))
@example([(0, -1, 0), (-1, 2, 0)])  # a wedge times a line: the oracle once missed its jumps
def test_3d_enclosure_contains_quadrature_oracle(rows):
    m = cone_measure(rows, 3)
    assert m.certified
    assert contains(m, meridian_oracle_3d(rows), 1e-8), (rows, m)


# --- the Measure type and input errors ------------------------------------------------------------


def test_measure_sum_and_strings():
    third = Measure(Fraction(1, 3), Fraction(1, 3), True, "x", 1 / 3)
    est = Measure(Fraction(1, 10), Fraction(2, 10), False, "qmc-estimate", 0.15, 0.01)
    s = third + third
    assert s.certified and s.lo == s.hi == Fraction(2, 3) and s.method == "x"
    mixed = third + est
    assert not mixed.certified and mixed.method == "sum" and mixed.stderr == 0.01
    spread = 4 * Fraction(0.01)  # the estimate's value and stderr enter exactly (as their binary floats)
    assert mixed.lo == Fraction(1, 3) + Fraction(0.15) - spread and mixed.hi == Fraction(1, 3) + Fraction(0.15) + spread
    many = sum([Measure(Fraction(0), Fraction(2, 1000), False, "qmc-estimate", 0.001, 0.001)] * 100, ZERO)
    assert many.stderr == pytest.approx(0.01) and many.estimate == pytest.approx(0.1)
    assert float(many.hi) == pytest.approx(0.1 + 4 * 0.01)  # quadrature, not 100 x 4 stderr
    assert sum([third, third, third], ZERO).lo == 1
    assert third.lo_str(5) == "0.33333" and third.hi_str(5) == "0.33334"
    assert decimal_bound(Fraction(-1, 3), 2, up=False) == "-0.34"
    assert decimal_bound(Fraction(5), 1, up=True) == "5"
    assert third.as_dict(3)["lo"] == "0.333"
    with pytest.raises(ValueError):
        Measure(Fraction(1), Fraction(0), True, "x", 0.5)


@pytest.mark.parametrize(
    "rows, n",
    [([(1, 2)], 3), ([(1.0, float("nan"))], 2), ([("a", 1)], 2), ([(1, 0)], 0), ([(1, 0)], 2.5), ([(True, 0)], 2), ([5], 1)],
)
def test_bad_input_is_a_verifier_error(rows, n):
    with pytest.raises(VerifierError):
        cone_measure(rows, n)


def test_bad_options_are_verifier_errors():
    for options in ({"points": 100}, {"replicates": 1}, {"prec_bits": 8}):
        with pytest.raises(VerifierError):
            cone_measure([(1, 0)], 2, **options)


def test_cone_with_many_rays_gets_a_sampled_estimate():
    """More than 4k extreme rays: no huge triangulation, but quasi-Monte Carlo over the cone's
    cross-section (``qmc-section-estimate/2``), or, by the route of older certificates, hit-or-miss
    sampling (``mc-estimate``); both agree with an independent Monte Carlo run, and the section's
    error is several times smaller."""
    rng = np.random.default_rng(11)
    # 40 rays on a circular cone's boundary around (1, 0, 0, 0): all extreme
    v = rng.standard_normal((40, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    rays = [(10_000, *(int(round(3000 * c)) for c in row)) for row in v]
    section, plain = generators_measure(rays, [], 4), generators_measure(rays, [], 4, factor="exact-ldl")
    assert (section.method, plain.method) == ("simplex-section-estimate/2", "mc-estimate")
    assert not section.certified and 0 < 5 * section.stderr < plain.stderr
    poly_rows = _cone_rows_from_rays(rays, 4)
    x = rng.standard_normal((400_000, 4))
    p = float(((x @ np.array(poly_rows, dtype=float).T) >= 0).all(axis=1).mean())
    for m in (section, plain):
        assert abs(m.estimate - p) < 4 * math.hypot(m.stderr, math.sqrt(p * (1 - p) / len(x)))
    assert 0 < p < 0.1


def test_sampled_estimates_with_large_errors_are_drawn_again_larger():
    """A wide 40-ray cone (measure ~0.28) is sampled by hit-or-miss; its 2^16-sample error is above
    1e-5, so it is drawn again with 2^20 fresh samples (``mc-estimate/2``), reproduced from its
    method's name and within 4 standard errors of an independent Monte Carlo run."""
    from verifier.measure.solid_angle import route_options

    rng = np.random.default_rng(11)
    v = rng.standard_normal((40, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    rays = [(10_000, *(int(round(30_000 * c)) for c in row)) for row in v]
    rows = _cone_rows_from_rays(rays, 4)
    m = cone_measure(rows, 4)
    assert m.method == "mc-estimate/2"
    assert m.stderr == pytest.approx(math.sqrt(m.estimate * (1 - m.estimate) / 2**20), rel=1e-3)
    assert cone_measure(rows, 4, **route_options(m.method)) == m
    x = np.random.default_rng(5).standard_normal((1_000_000, 4))
    p = float(((x @ np.array(rows, dtype=float).T) >= 0).all(axis=1).mean())
    assert abs(m.estimate - p) < 4 * math.hypot(m.stderr, math.sqrt(p * (1 - p) / len(x)))


@pytest.mark.parametrize("width", [3, 30, 300, 3000])
def test_thin_cones_get_section_estimates_with_relative_errors(width):
    """``x_0 >= width (|x_1| + |x_2| + |x_3|)``, 8 facets: its measure falls like width^-3 (2.5e-12
    at width 3000). Genz's integrand collapses on such thin cones (it stated 2e-30 +- 2e-30 for
    2.5e-9 at width 300); the estimate over its simplices' sections stays within a small fraction
    of the measure and within 4 of its standard errors of the certified value."""
    rows = [(1,) + tuple(s * width for s in signs) for signs in itertools.product((1, -1), repeat=3)]
    certified = cone_measure(rows, 4, plackett=True)
    assert certified.certified and certified.width < 1e-3 * certified.lo
    estimate = cone_measure(rows, 4)
    assert estimate.method == "simplex-section-estimate/2"
    assert 0 < estimate.stderr < 1e-3 * certified.estimate
    assert contains(certified, estimate.estimate, 4 * estimate.stderr)


def test_section_estimates_agree_with_certified_measures_of_a_trained_model():
    """Every pointed 4-dimensional correct cone of the first 60 pieces of ``trained:6:4`` that the
    section samplers take (the box's and the simplices'): each estimate lies within 4 of its
    standard errors of the certified enclosure."""
    from verifier.certify import certify
    from verifier.measure import solid_angle
    from verifier.measure.triangulation import pulling_triangulation

    result = certify("trained:6:4", integrate="correct", workers=1, max_pieces=60)
    checked = 0
    for cone, m in zip(result.outcomes, result.measures):
        if not cone.correct or not m.certified or cone.lines or len(cone.rays) < 4 or m.method == "order-cells":
            continue
        tight = [frozenset(i for i, r in enumerate(cone.rays) if sum(a * x for a, x in zip(row, r)) == 0)
                 for row in cone.constraints]
        simplices = pulling_triangulation(frozenset(range(len(cone.rays))), 4, tight)
        for estimate in (solid_angle._section_measure(list(cone.constraints), list(cone.rays), 16, 7, thin_only=False),
                         solid_angle._simplex_section_measure(list(cone.rays), simplices, 256, 16, 7, thin_only=False)):
            if estimate is None:
                continue
            checked += 1
            nearest = min(max(Fraction(estimate.estimate), m.lo), m.hi)
            assert abs(estimate.estimate - float(nearest)) <= 4 * estimate.stderr, (cone.constraints, m, estimate)
    assert checked >= 40


def _cone_rows_from_rays(rays, n):
    import ppl

    gens = ppl.Generator_System(ppl.point(ppl.Linear_Expression([0] * n, 0)))
    for r in rays:
        gens.insert(ppl.ray(ppl.Linear_Expression(list(r), 0)))
    return [tuple(int(c) for c in con.coefficients()) for con in ppl.C_Polyhedron(gens).minimized_constraints()]


# --- certified k = 4, 5 (Plackett's integral per simplex) ------------------------------------


def test_plackett_cone_and_its_mirror_add_up_to_the_k3_closed_form():
    """Three rows in R^4 leave a line: a k = 3 closed form; a fourth row +-a splits it into two
    simplicial k = 4 cones, certified by Plackett's integral."""
    rest = [(1, 0, 0, 0), (0, 1, 1, 0), (1, -1, 0, 2)]
    whole = cone_measure(rest, 4)
    halves = [cone_measure(rest + [a], 4, plackett=True) for a in [(1, 1, 1, 1), (-1, -1, -1, -1)]]
    assert whole.method == "spherical-excess" and all(h.certified and h.method == "plackett/2" for h in halves)
    total = halves[0] + halves[1]
    assert total.lo <= whole.hi and whole.lo <= total.hi and total.width < 1e-14


def test_plackett_non_simplicial_cone_against_monte_carlo():
    rows = [(1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (1, 1, -1, -1), (2, -1, 1, -1)]
    m = cone_measure(rows, 4, plackett=True)
    assert m.certified and m.width < 1e-12
    p, stderr = monte_carlo(rows, 4, 1_000_000, RNG_SEED)
    assert abs(m.estimate - p) < 4 * stderr
