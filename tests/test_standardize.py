"""Standardizing is an exact equivalence, and the real M2,2 shows the post's sign pattern."""

from __future__ import annotations

import random
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.models.loading import load_model
from verifier.models.model import Model
from verifier.explain.standardize import pattern_text, standardize

weights = st.fractions(min_value=-5, max_value=5, max_denominator=50)


def random_model(draw_row, d: int, n: int) -> Model:
    return Model.from_arrays([[draw_row()] for _ in range(d)],
                             [[draw_row() for _ in range(d)] for _ in range(d)],
                             [[draw_row() for _ in range(d)] for _ in range(n)])


@settings(max_examples=40, deadline=None)
@given(st.data(), st.integers(1, 4), st.integers(2, 4))
def test_logits_unchanged_at_rational_points(data, d, n):
    m = random_model(lambda: data.draw(weights), d, n)
    s = standardize(m)
    assert s.model.precision == "exact" and all(c > 0 for c in s.scales)
    for _ in range(3):
        x = [data.draw(weights) for _ in range(n)]
        assert s.model.logits_exact(x) == m.logits_exact(x)
        assert s.model.hidden_exact(x)[-1] == tuple(c * h for c, h in zip(s.scales, m.hidden_exact(x)[-1]))


def test_input_weights_become_unit_and_zero_rows_stay():
    m = Model.from_arrays([[Fraction(-3, 7)], [0], [Fraction(5, 2)]],
                          [[1, 2, 3], [4, 5, 6], [7, 8, 9]], [[1, 1, 1], [2, 0, -1], [0, 3, 1]])
    s = standardize(m)
    assert [r[0] for r in s.model.w_hi] == [-1, 0, 1]
    assert s.scales == (Fraction(7, 3), Fraction(1), Fraction(2, 5))
    assert s.model.w_hh[0][2] == Fraction(7, 3) * 3 / Fraction(2, 5)   # c_i w_ij / c_j
    assert s.model.w_oh[1][0] == 2 / Fraction(7, 3)
    rng = random.Random(3)
    for _ in range(5):
        x = [Fraction(rng.randint(-99, 99), rng.randint(1, 30)) for _ in range(3)]
        assert s.model.logits_exact(x) == m.logits_exact(x)


def test_classification_of_entries():
    m = Model.from_arrays([[2], [-1]], [[Fraction(-1, 2), 1], [-3, 0]], [[1, -1], [0, 2]])
    p = standardize(m).sign_pattern()
    assert len(p) == m.n_params
    assert pattern_text(p, "w_hi") == "(+ ; -)"
    # scales 1/2, 1: w_hh' = ((-1/2, 1/2), (-6, 0))
    assert pattern_text(p, "w_hh") == "((-1,0) (0,1) ; (-inf,-1] 0)"
    assert pattern_text(p, "w_oh") == "(+ - ; 0 +)"
    assert [e.at_least_one for e in p if e.matrix == "w_hh"] == [False, False, True, False]
    assert all(e.at_least_one is None for e in p if e.matrix != "w_hh")


def test_real_m22_matches_the_post(m22_path):
    m = load_model(m22_path)
    s = standardize(m)
    p = s.sign_pattern()
    assert [r[0] for r in s.model.w_hi] == [1, -1]
    assert pattern_text(p, "w_hh") == "((-1,0) [1,inf) ; [1,inf) (-1,0))"
    assert pattern_text(p, "w_oh") == "(+ - ; - +)"
    # independent check in floats: W'_hh[i][j] = W_hh[i][j] |W_hi[j]| / |W_hi[i]|
    w_hi, w_hh, _ = m.arrays
    assert abs(float(s.model.w_hh[0][1]) - w_hh[0, 1] * abs(w_hi[1]) / abs(w_hi[0])) < 1e-12
    assert 2.08 < float(s.model.w_hh[0][1]) < 2.09 and 1.14 < float(s.model.w_hh[1][0]) < 1.15
    x = (Fraction(3, 7), Fraction(-11, 5))
    assert s.model.logits_exact(x) == m.logits_exact(x)
