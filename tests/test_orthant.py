"""Rigorous orthant probabilities (Plackett's integral) against closed forms, identities and sampling."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import flint
import numpy as np
import pytest

from verifier.measure.orthant import (PATHS, arb_bounds, orthant_probability, parity_orthant, reference_blocks,
                                     signed_orthant_probability)


def matrix(rows) -> flint.fmpq_mat:
    k = len(rows)
    return flint.fmpq_mat(k, k, [flint.fmpq(Fraction(v).numerator, Fraction(v).denominator) for row in rows for v in row])


def equicorrelated(k: int, rho: Fraction) -> flint.fmpq_mat:
    return matrix([[1 if i == j else rho for j in range(k)] for i in range(k)])


def bounds(cov, path: str = "blocks") -> tuple[Fraction, Fraction]:
    return arb_bounds(orthant_probability(cov, path=path).enclosure)


def random_cov(k: int, rng: np.random.Generator) -> flint.fmpq_mat:
    """``V^-T V^-1`` for an integer matrix ``V``: the covariance of a random simplicial cone."""
    while True:
        v = flint.fmpq_mat(k, k, [int(x) for x in rng.integers(-4, 5, size=k * k)])
        if v.rank() == k:
            return (v.transpose() * v).inv()


def flipped(cov: flint.fmpq_mat, signs) -> flint.fmpq_mat:
    k = cov.nrows()
    return flint.fmpq_mat(k, k, [cov[i, j] * signs[i] * signs[j] for i in range(k) for j in range(k)])


@pytest.mark.parametrize("k", [4, 5])
def test_equicorrelated_closed_forms(k):
    lo, hi = bounds(equicorrelated(k, Fraction(1, 2)))
    assert lo <= Fraction(1, k + 1) <= hi and hi - lo < 1e-15
    lo, hi = bounds(equicorrelated(k, Fraction(0)))
    assert lo == hi == Fraction(1, 2**k)


def test_block_diagonal_is_a_product():
    blocks = [[[1, Fraction(1, 3)], [Fraction(1, 3), 1]], [[2, -1, Fraction(1, 2)], [-1, 3, 1], [Fraction(1, 2), 1, 2]]]
    rows = [[0] * 5 for _ in range(5)]
    for i, j in itertools.product(range(2), repeat=2):
        rows[i][j] = blocks[0][i][j]
    for i, j in itertools.product(range(3), repeat=2):
        rows[2 + i][2 + j] = blocks[1][i][j]
    joint = orthant_probability(matrix(rows)).enclosure
    product = orthant_probability(matrix(blocks[0])).enclosure * orthant_probability(matrix(blocks[1])).enclosure
    assert joint.overlaps(product) and joint.rad() < 1e-15


def test_embedded_k3_cone_agrees_with_the_closed_form():
    """A 4-D orthant whose 4th coordinate is independent: 1/2 of the 3-D closed form."""
    three = [[3, 1, -1], [1, 2, Fraction(1, 2)], [-1, Fraction(1, 2), 1]]
    rows = [row + [0] for row in three] + [[0, 0, 0, 5]]
    joint = orthant_probability(matrix(rows)).enclosure
    assert joint.overlaps(orthant_probability(matrix(three)).enclosure / 2)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("k, seed", [(4, 1)])
def test_sign_flipped_orthants_sum_to_one(k, seed, path):
    cov = random_cov(k, np.random.default_rng(seed))
    total_lo = total_hi = Fraction(0)
    for signs in itertools.product((1, -1), repeat=k):
        lo, hi = bounds(flipped(cov, signs), path)
        total_lo, total_hi = total_lo + lo, total_hi + hi
    assert total_lo <= 1 <= total_hi and total_hi - total_lo < 1e-9


def test_parity_identity_agrees_with_the_integral():
    cov = random_cov(5, np.random.default_rng(7))
    direct = orthant_probability(cov).enclosure
    assert direct.overlaps(parity_orthant(cov)) and direct.rad() < 1e-12


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("k, seed", [(4, 11), (5, 12)])
def test_random_cones_against_monte_carlo(k, seed, path):
    rng = np.random.default_rng(seed)
    cov = random_cov(k, rng)
    lo, hi = bounds(cov, path)
    dense = np.array([[float(cov[i, j].p) / float(cov[i, j].q) for j in range(k)] for i in range(k)])
    samples = 400_000
    z = rng.multivariate_normal(np.zeros(k), dense, size=samples, method="cholesky")
    p = float(np.count_nonzero((z >= 0).all(axis=1))) / samples
    stderr = math.sqrt(max(p * (1 - p), 1 / samples) / samples)
    assert abs(float((lo + hi) / 2) - p) < 4 * stderr and hi - lo < 1e-9


@pytest.mark.parametrize("path", PATHS)
def test_thin_cone_is_a_finite_enclosure_never_nan(path):
    """Nearly singular R (smallest eigenvalue ~1e-9): the NaN case of a naive integral."""
    eps = Fraction(1, 10**9)
    rho = 1 - eps
    # Z = (X, X + small noise, Y, W): coordinates 0 and 1 almost equal
    rows = [[1, rho, Fraction(1, 3), 0], [rho, 1, Fraction(1, 3), 0], [Fraction(1, 3), Fraction(1, 3), 1, Fraction(1, 4)],
            [0, 0, Fraction(1, 4), 1]]
    value = orthant_probability(matrix(rows), path=path)
    lo, hi = arb_bounds(value.enclosure)
    # as eps -> 0 the first two constraints coincide: the 3-D orthant of (X, Y, W) is the limit
    limit = orthant_probability(matrix([[1, Fraction(1, 3), 0], [Fraction(1, 3), 1, Fraction(1, 4)], [0, Fraction(1, 4), 1]]))
    lim_lo, lim_hi = arb_bounds(limit.enclosure)
    assert not value.fallback and 0 <= lo <= hi <= 1 and hi - lo < 1e-15
    assert lo - Fraction(1, 10**3) <= lim_lo and lim_hi <= hi + Fraction(1, 10**3)  # P_4 -> P_3 as eps -> 0


def sliver(k: int, thickness: int, rng: np.random.Generator) -> flint.fmpq_mat:
    """The covariance of a thin simplicial cone: rays ``v_i = a_i + e_i / thickness`` around a common
    3-dimensional span, like the pieces of a trained model (smallest eigenvalue ~ thickness^-2)."""
    base = rng.integers(-3, 4, size=(3, k))
    mix = rng.integers(-3, 4, size=(k, 3))
    rays = (mix @ base) * thickness + np.eye(k, dtype=np.int64)
    v = flint.fmpq_mat(k, k, [int(x) for x in rays.flatten()])
    return (v * v.transpose()).inv()


def mpmath_plackett(cov: flint.fmpq_mat, digits: int = 40):
    """An independent non-rigorous value: Plackett's integral in ``t`` (the textbook form, matrices
    inverted per point) by mpmath's tanh-sinh quadrature at 40 digits."""
    import mpmath

    k = cov.nrows()
    with mpmath.workdps(digits):
        s = mpmath.matrix([[mpmath.mpf(int(cov[i, j].p)) / int(cov[i, j].q) for j in range(k)] for i in range(k)])
        d = [mpmath.sqrt(s[i, i]) for i in range(k)]
        r = mpmath.matrix([[s[i, j] / (d[i] * d[j]) for j in range(k)] for i in range(k)])

        def integrand(t):
            total = 0
            for i, j in itertools.combinations(range(k), 2):
                rest = [a for a in range(k) if a not in (i, j)]
                rt = lambda a, b: 1 if a == b else t * r[a, b]  # noqa: E731
                inv = mpmath.matrix([[rt(i, i), rt(i, j)], [rt(j, i), rt(j, j)]]) ** -1
                cond = mpmath.matrix([[rt(a, b) - sum(rt(a, p) * inv[x, y] * rt(q, b) for x, p in enumerate((i, j))
                                                      for y, q in enumerate((i, j))) for b in rest] for a in rest])
                asins = sum(mpmath.asin(cond[x, y] / mpmath.sqrt(cond[x, x] * cond[y, y]))
                            for x, y in itertools.combinations(range(len(rest)), 2))
                m = len(rest)
                inner = mpmath.mpf(1) / 2**m + asins / (2 ** (m - 1) * mpmath.pi)
                total += r[i, j] / (2 * mpmath.pi * mpmath.sqrt(1 - (t * r[i, j]) ** 2)) * inner
            return total

        return mpmath.mpf(1) / 2**k + mpmath.quad(integrand, [0, mpmath.mpf(1) / 2, 1 - mpmath.mpf(10) ** -4, 1])


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("k, thickness, seed", [(4, 10**3, 3), (4, 10**5, 4), (5, 10**3, 5)])
def test_slivers_agree_with_an_independent_quadrature(k, thickness, seed, path):
    """Thin cones like a trained model's (smallest eigenvalue 1e-7..1e-11): narrow, and equal to
    the textbook integral evaluated independently."""
    cov = sliver(k, thickness, np.random.default_rng(seed))
    value = orthant_probability(cov, path=path)
    lo, hi = arb_bounds(value.enclosure)
    reference = mpmath_plackett(cov)
    assert not value.fallback and hi - lo < 1e-15
    assert abs(float((lo + hi) / 2) - float(reference)) < 1e-14 + 1e-6 * float(reference)


def test_a_block_diagonal_matrix_is_its_own_reference():
    """The block path starts at R0 = R when R is block-diagonal with blocks of at most 3: no
    integral at all, the exact product of closed forms (1/4 + asin(1/3)/(2 pi)) (1/4 + asin(-1/2)/(2 pi))."""
    rows = [[1, 0, Fraction(1, 3), 0], [0, 1, 0, Fraction(-1, 2)], [Fraction(1, 3), 0, 1, 0], [0, Fraction(-1, 2), 0, 1]]
    assert reference_blocks(matrix(rows)) == [(0, 2), (1, 3)]
    lo, hi = bounds(matrix(rows))
    exact = (Fraction(1, 4) + Fraction(math.asin(1 / 3) / (2 * math.pi))) * Fraction(1, 6)   # asin(-1/2) = -pi/6
    assert hi - lo < 1e-22 and abs(float(lo) - float(exact)) < 1e-15   # no quadrature error at all


@pytest.mark.parametrize("k, thickness, seed", [(4, 10**4, 21), (4, 10**6, 22), (5, 10**4, 23)])
def test_the_two_paths_agree_on_thin_cones(k, thickness, seed):
    """The identity and block paths are independent integrals of the same probability."""
    cov = sliver(k, thickness, np.random.default_rng(seed))
    assert len(reference_blocks(cov)) < k   # a thin cone's aligned coordinates share a block
    a, b = (orthant_probability(cov, path=path) for path in PATHS)
    assert not a.fallback and not b.fallback and a.enclosure.overlaps(b.enclosure)
    assert a.enclosure.rad() < 1e-15 and b.enclosure.rad() < 1e-15


def test_an_unknown_path_is_refused():
    with pytest.raises(ValueError, match="unknown Plackett path"):
        orthant_probability(equicorrelated(4, Fraction(1, 2)), path="diagonal")


def test_signed_orthants_match_their_own_integrals():
    """All 16 sign patterns of a 4-dimensional covariance from its one orthant and closed forms:
    each overlaps the integral of the sign-flipped covariance, and together they sum to 1."""
    cov = sliver(4, 10**3, np.random.default_rng(31))
    total = flint.arb(0)
    for signs in itertools.product((1, -1), repeat=4):
        negative = frozenset(i for i, s in enumerate(signs) if s < 0)
        value = signed_orthant_probability(cov, negative)
        direct = orthant_probability(flipped(cov, signs))
        assert value.enclosure.overlaps(direct.enclosure) and value.enclosure.rad() < 1e-15
        total += value.enclosure
    assert total.contains(1) and total.rad() < 1e-14
