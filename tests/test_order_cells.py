"""Exact measure of order-and-sign cones against independent oracles.

* brute force: enumerate every cell (a permutation of the inputs and a count of positives),
  test a point strictly inside it against the rows, and add ``C(n, k) / (2^n n!)``;
* the certified solid-angle closed forms (k <= 3);
* Monte Carlo within 4 standard errors;
* task order cells: the n! orderings split evenly, so each (target, above) cell of 2nd argmax
  has measure 1 / (n (n - 1)).
"""

from __future__ import annotations

import itertools
import math
import random
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from verifier.measure import cone_measure
from verifier.measure.order_cells import MAX_STATES, order_relations, order_sign_measure
from verifier.models.tasks import TASKS


def unit(n, i, sign=1):
    return tuple(sign * int(j == i) for j in range(n))


def order_row(n, i, j):
    """x_i >= x_j."""
    return tuple(int(m == i) - int(m == j) for m in range(n))


def brute_force(rows, n) -> Fraction:
    """Sum over all n! orders and n + 1 sign splits, tested at a point strictly inside each cell."""
    total = Fraction(0)
    for order in itertools.permutations(range(n)):  # order[0] is the largest input
        for k in range(n + 1):                       # the top k inputs are positive
            x = [0] * n
            for rank, i in enumerate(order):
                x[i] = k - rank if rank < k else -(rank - k + 1)
            if all(sum(r * v for r, v in zip(row, x)) >= 0 for row in rows):
                total += Fraction(math.comb(n, k), 2**n * math.factorial(n))
    return total


def random_order_sign_rows(rng: random.Random, n: int, count: int):
    rows = []
    for _ in range(count):
        scale = rng.randint(1, 3)  # rows are read up to positive scaling
        if n == 1 or rng.random() < 0.3:
            rows.append(tuple(scale * v for v in unit(n, rng.randrange(n), rng.choice((1, -1)))))
        else:
            i, j = rng.sample(range(n), 2)
            rows.append(tuple(scale * v for v in order_row(n, i, j)))
    return rows


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_random_cones_match_brute_force(n):
    rng = random.Random(n)
    for _ in range(25 if n < 6 else 8):
        rows = random_order_sign_rows(rng, n, rng.randint(0, 2 * n))
        assert order_sign_measure(rows, n) == brute_force(rows, n), rows


def spec_row(n, spec):
    kind, i, other = spec
    return unit(n, i, other) if kind == "sign" else order_row(n, i, other)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 5).flatmap(lambda n: st.tuples(st.just(n), st.lists(
    st.one_of(st.tuples(st.just("sign"), st.integers(0, n - 1), st.sampled_from((1, -1))),
              st.tuples(st.just("order"), st.integers(0, n - 1), st.integers(0, n - 1))), max_size=8))))
def test_hypothesis_matches_brute_force(case):
    n, specs = case
    rows = [spec_row(n, spec) for spec in specs]
    assert order_sign_measure(rows, n) == brute_force(rows, n)


@pytest.mark.parametrize("rows,n", [
    ([(1, -1, 0), (0, 1, 0)], 3),                 # x0 >= x1 >= 0
    ([(1, 0, 0), (0, -1, 0), (0, 0, 1)], 3),      # an orthant
    ([(1, -1, 0), (0, 1, -1)], 3),                # x0 >= x1 >= x2 (lines: none; k = 2 after lineality)
    ([(-1, 1, 0), (0, 0, -1), (1, 0, 0)], 3),
])
def test_agrees_with_certified_closed_forms(rows, n):
    """The solid-angle formulas (arb) on the same cones, with the order-cell path switched off."""
    exact = order_sign_measure(rows, n)
    from verifier.measure import solid_angle
    original = solid_angle.order_sign_measure
    try:
        solid_angle.order_sign_measure = lambda rows, n: None
        enclosure = cone_measure(rows, n)
    finally:
        solid_angle.order_sign_measure = original
    assert enclosure.certified and enclosure.method != "order-cells"
    assert enclosure.lo <= exact <= enclosure.hi and enclosure.width < 1e-30


def test_monte_carlo_within_four_standard_errors():
    n = 7
    rows = [order_row(n, 0, 1), order_row(n, 1, 2), unit(n, 2), order_row(n, 3, 4), unit(n, 5, -1),
            order_row(n, 6, 3)]
    exact = order_sign_measure(rows, n)
    x = np.random.default_rng(7).standard_normal((2_000_000, n))
    hits = (x @ np.array(rows, dtype=float).T >= 0).all(axis=1)
    p, se = hits.mean(), hits.std() / math.sqrt(len(hits))
    assert abs(p - float(exact)) <= 4 * se


@pytest.mark.parametrize("n", [3, 4, 5, 6])
def test_task_order_cells_split_evenly(n):
    for task, share in (("2nd_argmax", Fraction(1, n * (n - 1))), ("argmax", Fraction(1, n))):
        cells = list(TASKS[task].cells(n))
        measures = [cone_measure(c.constraint_rows(n), n) for c in cells]
        assert all(m.method == "order-cells" and m.lo == m.hi == share for m in measures)
        assert sum(m.lo for m in measures) == 1


def test_a_single_ordering_with_signs():
    """x_0 > x_1 > ... > x_{n-1} with exactly k positive: C(n, k) / (2^n n!)."""
    n, k = 9, 4
    rows = [order_row(n, i, i + 1) for i in range(n - 1)] + [unit(n, k - 1), unit(n, k, -1)]
    assert order_sign_measure(rows, n) == Fraction(math.comb(n, k), 2**n * math.factorial(n))


def test_cycles_are_empty_and_other_rows_do_not_apply():
    assert order_sign_measure([(1, -1, 0), (0, 1, -1), (-1, 0, 1)], 3) == brute_force(
        [(1, -1, 0), (0, 1, -1), (-1, 0, 1)], 3) == 0
    assert order_relations([(1, -2)], 2) is None and order_sign_measure([(1, 1, 0)], 3) is None
    assert cone_measure([(1, 1, 0), (0, 1, 0)], 3).method != "order-cells"


def test_state_limit_falls_back():
    """An unconstrained large n would visit 2^(n+1) states: the count declines instead of hanging."""
    n = MAX_STATES.bit_length() + 1
    assert order_sign_measure([unit(n, 0)], n) is None
    assert order_sign_measure([order_row(n, i, i + 1) for i in range(n - 1)], n) == Fraction(1, math.factorial(n))
