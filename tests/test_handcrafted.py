"""The handcrafted models: exact weights from the published math, checked exactly and by sampling."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.errors import VerifierError
from verifier.models.handcrafted import LAM, handcrafted
from verifier.estimate.sampling import estimate_accuracy


def as_ints(mat):
    assert all(v.denominator == 1 for row in mat for v in row)
    return [[int(v) for v in row] for row in mat]


def test_names_sizes_precision():
    for n, d in ((2, 2), (3, 4), (10, 22)):
        m = handcrafted(n)
        assert (m.name, m.d, m.n, m.precision, m.task.name) == (f"handcrafted:{n}", d, n, "float32", "2nd_argmax")


@pytest.mark.parametrize("n", [0, 4, 11, "3", 3.0, True])
def test_unknown_lengths(n):
    with pytest.raises(VerifierError, match="known: 2, 3, 10"):
        handcrafted(n)


# -- n = 2 ---------------------------------------------------------------------------------

def test_length_2_weights():
    m = handcrafted(2)
    assert as_ints(m.w_hi) == [[1], [-1]]
    assert as_ints(m.w_hh) == [[-1, 1], [1, -1]]
    assert as_ints(m.w_oh) == [[1, -1], [-1, 1]]


rationals = st.builds(Fraction, st.integers(-10**9, 10**9), st.integers(1, 10**6))
M2 = handcrafted(2)


@settings(max_examples=200, deadline=None)
@given(st.tuples(rationals, rationals).filter(lambda x: x[0] != x[1]))
def test_length_2_is_exactly_correct(x):
    assert M2.correct_exact(x)


def test_length_2_sampled_accuracy_is_one():
    assert estimate_accuracy(handcrafted(2), 50_000, seed=3).correct == 50_000


# -- n = 3 ---------------------------------------------------------------------------------

def test_length_3_exact_parts():
    """W_hi and W_oh involve no rounding: U^T fc1[:, 2:] and fc2 V of the published matrices."""
    m = handcrafted(3)
    lam = LAM
    assert as_ints(m.w_hi) == [[lam], [lam + 1], [-lam - 1], [-lam]]
    assert as_ints(m.w_oh) == [[1, 1, 1, 1], [-lam, lam + 1, lam + 1, -lam], [lam + 1, -lam, -lam, lam + 1]]


def test_length_3_recurrent_weights_are_float32_rounded_construction():
    """W_hh is within float32 error of the exact rational construction, but not equal to it."""
    lam = Fraction(LAM)
    a, b, c, e = -lam - 1, lam, -lam, lam + 1  # fc1[:, 1:]
    det = a * e - b * c
    inv = [[e / det, -b / det], [-c / det, a / det]]
    left = [[1, -lam - 1], [-1, -lam], [1, lam], [-1, lam + 1]]  # U^T fc1[:, :2]
    prod = [[sum(left[i][k] * inv[k][j] for k in range(2)) for j in range(2)] for i in range(4)]
    u = [[1, 0, 0, -1], [0, 1, -1, 0]]
    exact_hh = [[sum(prod[i][k] * u[k][j] for k in range(2)) for j in range(4)] for i in range(4)]
    m = handcrafted(3)
    errors = [abs(m.w_hh[i][j] - exact_hh[i][j]) / abs(exact_hh[i][j]) for i in range(4) for j in range(4)]
    assert max(errors) < 2**-16 and min(errors) > 0
    # each entry is a float32 number
    assert all(Fraction(float(np.float32(float(v)))) == v for row in m.w_hh for v in row)


def test_length_3_matches_pytorch_float32_bits():
    torch = pytest.importorskip("torch", reason="torch not installed: bitwise check of the float32 construction skipped")
    lam, f32 = LAM, torch.float32
    fc1 = torch.tensor([[1, -lam - 1, lam], [-1, -lam, lam + 1]], dtype=f32)
    fc2 = torch.tensor([[1, 1], [-lam, lam + 1], [lam + 1, -lam]], dtype=f32)
    u = torch.tensor([[1, 0, 0, -1], [0, 1, -1, 0]], dtype=f32)
    v = torch.tensor([[1, 0, 0, 1], [0, 1, 1, 0]], dtype=f32)
    expected = (u.T @ fc1[:, 2:], u.T @ fc1[:, :2] @ torch.linalg.inv(fc1[:, 1:]) @ u, fc2 @ v)
    m = handcrafted(3)
    for ours, ref in zip((m.w_hi, m.w_hh, m.w_oh), expected):
        assert ours == tuple(tuple(Fraction(float(x)) for x in row) for row in ref.tolist())


def test_length_3_recorded_float32_bits():
    """The first W_hh row as PyTorch 2.13's CPU float32 computation gives it (a regression pin)."""
    expected = ["0x1.8df876p+5", "-0x1.9207cp+5", "0x1.9207cp+5", "-0x1.8df876p+5"]
    assert list(handcrafted(3).w_hh[0]) == [Fraction(float.fromhex(h)) for h in expected]


def test_length_3_accuracy_by_sampling():
    est = estimate_accuracy(handcrafted(3), 200_000, seed=11)
    assert est.accuracy >= 0.999
    assert abs(est.accuracy - 0.9999) <= 4 * np.sqrt(0.9999 * 0.0001 / est.n)  # the post: 99.99%


# -- n = 10 --------------------------------------------------------------------------------

def test_length_10_logits_formula_exactly():
    """logit_i = max(0, x_i) + 2 max(0, max of the other inputs), exactly, at random rational points."""
    m = handcrafted(10)
    rng = np.random.default_rng(7)
    for _ in range(15):
        x = [Fraction(int(p), int(q)) for p, q in zip(rng.integers(-500, 500, 10), rng.integers(1, 97, 10))]
        others = [max([Fraction(0)] + [x[j] for j in range(10) if j != i]) for i in range(10)]
        assert list(m.logits_exact(x)) == [max(Fraction(0), x[i]) + 2 * others[i] for i in range(10)]


def test_length_10_accuracy_by_sampling():
    """About 99% (the post). From the logit formula: wrong only when at most one input is positive,
    so the accuracy is exactly 1 - (9/10 + 10 * 8/9) / 2^10 (about 0.99044)."""
    exact = 1 - (Fraction(9, 10) + 10 * Fraction(8, 9)) / 2**10
    est = estimate_accuracy(handcrafted(10), 120_000, seed=13)
    se = np.sqrt(0.99 * 0.01 / est.n)
    assert abs(est.accuracy - 0.99) <= 4 * se
    assert abs(est.accuracy - float(exact)) <= 4 * se
