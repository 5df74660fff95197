"""Gaussian moments of cones (verifier/measure/moments.py) against closed forms, tilings and Monte Carlo."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from verifier.errors import VerifierError
from verifier.measure.moments import (Expectation, first_moment, quadratic_moment, second_moment,
                                      sum_expectations)


def floats(balls):
    return np.array([[float(v.mid()) for v in row] for row in balls]) if isinstance(balls[0], tuple) \
        else np.array([float(v.mid()) for v in balls])


def contains(ball, value: float, slack: float = 1e-30) -> bool:
    return float(ball.lower()) - slack <= value <= float(ball.upper()) + slack


def test_whole_space_and_half_space():
    m = second_moment([], 3)
    assert all(contains(m[r][s], float(r == s)) for r in range(3) for s in range(3))
    assert all(m[r][s].rad() < 1e-30 for r in range(3) for s in range(3))
    half = second_moment([(1, -2, 2)], 3)  # E[x x^T 1_H] = I / 2 for any half-space through 0
    assert all(contains(half[r][s], 0.5 * (r == s)) for r in range(3) for s in range(3))
    first = first_moment([(1, -2, 2)], 3)  # E[x 1_H] = u / sqrt(2 pi)
    assert all(contains(first[k], a / 3 / math.sqrt(2 * math.pi), 1e-15) for k, a in enumerate((1, -2, 2)))
    assert quadratic_moment([(1, -2, 2)], 3, (3, 1, 1)).lo == Fraction(11, 2)  # |c|^2 / 2, exactly


def test_orthants():
    two = second_moment([(1, 0), (0, 1)], 2)
    assert contains(two[0][0], 0.25) and contains(two[0][1], 1 / (2 * math.pi), 1e-15)
    three = second_moment([(1, 0, 0), (0, 1, 0), (0, 0, 1)], 3)
    for r, s in itertools.product(range(3), repeat=2):  # E[x_r x_s; orthant] = 1/8 or 1/(4 pi)
        assert contains(three[r][s], 1 / 8 if r == s else 1 / (4 * math.pi), 1e-15)
    first = first_moment([(1, 0, 0), (0, 1, 0), (0, 0, 1)], 3)  # E[x_k; orthant] = 1/(4 sqrt(2 pi))
    assert all(contains(v, 1 / (4 * math.sqrt(2 * math.pi)), 1e-15) for v in first)


@pytest.mark.parametrize("angle_rows", [((1, 0), (-1, 3)), ((0, 1), (1, -1)), ((2, 1), (1, 5))])
def test_plane_wedges_match_polar_integral(angle_rows):
    """In the plane, E[x x^T 1_W] = (1/pi) * integral over the wedge's angles of (cos, sin)(cos, sin)^T."""
    a, b = (np.array(r, float) for r in angle_rows)
    phis = np.linspace(0, 2 * np.pi, 400_001)[:-1]
    u = np.stack([np.cos(phis), np.sin(phis)], 1)
    inside = (u @ a >= 0) & (u @ b >= 0)
    expected = np.einsum("ki,kj->ij", u[inside], u[inside]) * (2 * np.pi / len(phis)) / np.pi
    assert np.allclose(floats(second_moment(angle_rows, 2)), expected, atol=2e-5)


def test_complementary_cones_tile_the_second_moment():
    """The 2^3 sign cells of three hyperplanes tile R^3: their E[(c.x)^2 1_C] sum to |c|^2 exactly (within arb)."""
    planes = [(1, 2, -1), (3, -1, 1), (0, 1, 4)]
    c = (Fraction(1, 3), -2, 1)
    parts = [quadratic_moment([tuple(s * v for v in p) for s, p in zip(signs, planes)], 3, c)
             for signs in itertools.product((1, -1), repeat=3)]
    total = sum_expectations(parts)
    assert total.certified and total.lo <= sum(v * v for v in c) <= total.hi and total.width < 1e-30


def _random_cone(rng, n, facets):
    return [tuple(int(v) for v in rng.integers(-4, 5, n)) for _ in range(facets)]


@pytest.mark.parametrize("seed", range(6))
def test_random_cones_match_monte_carlo(seed):
    rng = np.random.default_rng(seed)
    n = 2 + seed % 2
    rows = _random_cone(rng, n, 2 + seed % 3)
    c = tuple(int(v) for v in rng.integers(-3, 4, n))
    exact = quadratic_moment(rows, n, c)
    x = rng.standard_normal((400_000, n))
    a = np.array(rows, float)
    values = np.where((x @ a.T >= 0).all(1), (x @ np.array(c, float)) ** 2, 0.0)
    stderr = values.std(ddof=1) / math.sqrt(len(values))
    assert exact.certified and exact.width < 1e-25
    assert abs(float(exact.lo) - values.mean()) <= 4 * stderr + 1e-12
    if exact.lo > 0:  # and the full matrix agrees with the quadratic form
        m = floats(second_moment(rows, n))
        assert math.isclose(np.array(c) @ m @ np.array(c), float(exact.lo), rel_tol=1e-12)


def test_lower_dimensional_cone_has_zero_moments():
    assert quadratic_moment([(1, -1), (-1, 1)], 2, (1, 0)).hi == 0


def test_estimated_cone_measure_gives_an_estimate_with_stderr():
    """In R^4 the cone's own measure has no certified enclosure here: the result says so."""
    rows = [(1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (1, 1, 1, 1), (-1, 2, 0, 1)]
    m = quadratic_moment(rows, 4, (1, 1, 1, 1))
    x = np.random.default_rng(1).standard_normal((400_000, 4))
    values = np.where((x @ np.array(rows, float).T >= 0).all(1), x.sum(1) ** 2, 0.0)
    if m.certified:  # the k = 4 enclosures have landed
        assert m.width < 1e-10
    else:
        assert m.stderr > 0 and m.lo <= Fraction(m.estimate) <= m.hi
    assert abs(m.estimate - values.mean()) <= 4 * (values.std() / math.sqrt(len(values))) + 4 * (m.stderr or 0)


def test_bad_input():
    with pytest.raises(VerifierError, match="length 3, expected 2"):
        quadratic_moment([(1, 0)], 2, (1, 2, 3))
    with pytest.raises(ValueError):
        Expectation(Fraction(1), Fraction(0), True, 0.0)


def test_estimate_with_signed_ridge_terms_and_plackett_certificate():
    """The ridge terms can be negative while the cone's own measure is only estimated (k = 4): the
    estimate's interval is still ordered and holds the value Plackett's integral certifies."""
    rows = [(1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (1, 1, 1, 1), (-1, 2, 0, 1)]
    estimated = quadratic_moment(rows, 4, (1, -1, 1, 1))
    certified = quadratic_moment(rows, 4, (1, -1, 1, 1), plackett=True)
    assert certified.certified and certified.width < Fraction(1, 10**12)
    assert not estimated.certified or estimated.width < Fraction(1, 10**12)
    assert estimated.lo <= certified.lo and certified.hi <= estimated.hi
