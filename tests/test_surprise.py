"""Surprise ledgers: the post's ~40 bits for M2,2, brute force beside it, pricing rules checked independently."""

from __future__ import annotations

import functools
import json
import math
from fractions import Fraction

import pytest

from verifier.cli import main
from verifier.errors import VerifierError
from verifier.models.loading import load_model
from verifier.measure import Measure
from verifier.explain.surprise import given_explanation_bits, surprise


def delta(model, theta: float) -> Fraction:
    x = (Fraction(math.cos(theta)), Fraction(math.sin(theta)))
    logits = model.logits_exact(x)
    return logits[1] - logits[0]


def coefficients(model, theta: float, eps: float = 1e-4) -> tuple[Fraction, Fraction]:
    """(a0, a1) of Delta = a0 x0 - a1 x1 from two exact evaluations near angle theta (one piece)."""
    p = (Fraction(math.cos(theta)), Fraction(math.sin(theta)))
    q = (Fraction(math.cos(theta + eps)), Fraction(math.sin(theta + eps)))
    dp, dq = delta(model, theta), delta(model, theta + eps)
    det = -p[0] * q[1] + p[1] * q[0]
    return (-dp * q[1] + p[1] * dq) / det, (p[0] * dq - q[0] * dp) / det


def pattern(model, theta: float):
    return tuple(tuple(v > 0 for v in h) for h in model.hidden_exact((Fraction(math.cos(theta)), Fraction(math.sin(theta)))))


def pattern_edge(model, lo: float, hi: float) -> float:
    """The angle in (lo, hi) where the activation pattern changes (bisection on exact forward passes)."""
    first = pattern(model, lo)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if pattern(model, mid) == first else (lo, mid)
    return lo


@functools.lru_cache(maxsize=None)
def ledger(spec: str, explanation: str):
    return surprise(spec, explanation)


@pytest.fixture
def m22(m22_path):
    return load_model(m22_path)


@pytest.fixture
def post(m22_path):
    return ledger(str(m22_path), "post")


@pytest.fixture
def brute(m22_path):
    return ledger(str(m22_path), "brute-force")


def test_post_ledger_totals_for_real_m22(post):
    groups = post.groups()
    assert groups["signs and magnitudes"] == 14 and groups["coefficient comparisons"] == 4
    assert groups["free steps"] == 0 and groups["coefficient positivity"] == 0
    assert 21.5 < groups["near-equalities"] < 23            # the post: "about 22 bits" (2 x about 11)
    assert abs(post.total_bits - 40) < 1                   # the post: "around 40 bits"
    assert post.given_explanation_bits < 1e-20 and post.weight_bits == 320
    assert post.total_bits == pytest.approx(post.explanation_bits + post.given_explanation_bits)
    assert sum(i.group == "near-equalities" for i in post.items) == 2
    assert sum(i.group == "coefficient comparisons" for i in post.items) == 4
    assert all(i.bits == pytest.approx(-math.log2(i.prior)) for i in post.items)


def test_near_equality_bits_match_an_independent_fit(m22, post):
    """-log2 of the relative difference of (a0, a1) fitted from exact logits inside each yellow sector."""
    expected = []
    for degrees in (35.0, 230.0):                          # inside the two sectors around the diagonal
        a0, a1 = coefficients(m22, math.radians(degrees))
        expected.append(-math.log2(abs(a0 - a1) / max(a0, a1)))
    got = sorted(i.bits for i in post.items if i.group == "near-equalities")
    assert got == pytest.approx(sorted(expected), rel=1e-9)
    assert round(expected[0]) == 12 and round(expected[1]) == 11


def test_brute_force_ledger_for_real_m22(m22, brute):
    groups = brute.groups()
    assert groups["region facets"] == 12                   # 6 sectors, 2 edges each
    splits = [i for i in brute.items if i.rule.startswith("the boundary splits")]
    assert len(splits) == 2 and sum(i.group == "comparisons" for i in brute.items) == 8
    # independent: the wrong wedge lies between the diagonal and Delta's zero line a0 x0 = a1 x1,
    # inside the part of the sector on the diagonal's side that contains that line
    for degrees, (lo, hi) in ((35.0, (10.0, 40.0)), (230.0, (200.0, 235.0))):
        a0, a1 = coefficients(m22, math.radians(degrees))
        zero_line = math.atan2(float(a0), float(a1)) + (math.pi if degrees > 180 else 0.0)
        diagonal = math.radians(45.0 if degrees < 180 else 225.0)
        edge = pattern_edge(m22, math.radians(lo), math.radians(hi))
        far = pattern_edge(m22, diagonal, diagonal + math.radians(30.0))
        side = edge if (zero_line - diagonal) * (edge - diagonal) > 0 else far
        fraction = abs(zero_line - diagonal) / abs(side - diagonal)
        assert any(abs(i.bits + math.log2(fraction)) < 1e-6 for i in splits), (degrees, fraction)
    assert 30 < brute.total_bits < 50 and brute.given_explanation_bits < 1e-20


def test_handcrafted_n2_is_exact_and_cheap_by_brute_force():
    post = surprise("handcrafted:2", "post")
    assert post.error_rate.hi == 0 and post.given_explanation_bits == 0
    exact = [i for i in post.items if i.group == "near-equalities"]
    assert [(i.outcome, i.bits) for i in exact] == [("exactly equal", 24.0)]   # float32 significand
    brute = surprise("handcrafted:2", "brute-force")
    assert brute.total_bits == 2                           # one region (Delta = 2 x0 - 2 x1), two order cells


def test_post_ledger_refuses_n_not_2():
    with pytest.raises(VerifierError, match="n = 2") as err:
        surprise("handcrafted:3", "post")
    assert "\n" not in str(err.value)
    with pytest.raises(VerifierError, match="unknown explanation"):
        surprise("handcrafted:2", "elegant")


def test_given_explanation_bits_formula():
    assert given_explanation_bits(Measure.exact(Fraction(0), "x")) == 0
    narrow = Measure(Fraction(1, 13000), Fraction(1, 13000) + Fraction(1, 10**30), True, "x", 1 / 13000)
    assert given_explanation_bits(narrow) < 1e-20
    assert given_explanation_bits(Measure(Fraction(0), Fraction(1, 100), False, "x", 0.005, 0.001)) == pytest.approx(
        math.log2(3))
    wide = Measure(Fraction(1, 1000), Fraction(1, 1000) + Fraction(2**10, 1000), False, "x", 0.5, 0.1)
    assert given_explanation_bits(wide) == pytest.approx(math.log2(1 + 2**10 / (1 + 2**9)))


def test_cli_json_and_text(m22_path, capsys):
    assert main(["surprise", str(m22_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"total_bits", "explanation_bits", "given_explanation_bits", "weight_bits", "ledger"} <= set(data)
    assert abs(data["total_bits"] - 40) < 5 and data["weight_bits"] == 320
    assert all({"check", "bits", "group", "prior", "outcome", "rule"} <= set(i) for i in data["ledger"])
    assert data["alternatives"]["brute-force"]["total_bits"] > 30
    assert main(["surprise", str(m22_path)]) == 0
    text = capsys.readouterr().out
    assert "brute-force:" in text and "total" in text and "320 bits" in text


def test_cli_refuses_post_for_n3_in_one_line(capsys):
    assert main(["surprise", "handcrafted:3", "--explanation", "post"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("verifier: error:") and "n = 2" in err


def test_symmetries_are_priced_and_used_only_when_cheaper():
    from verifier.geometry.decomposition import decompose
    from verifier.explain.surprise import symmetry_equalities
    from verifier.explain.symmetry import find_symmetries

    model = load_model("handcrafted:3")
    (flip,) = [s for s in find_symmetries(decompose(model)) if s.hidden_map is not None]
    assert flip.hidden_map.permutation == (3, 2, 1, 0) and flip.output_permutation == (0, 1, 2)
    # the flip pairs weight (i, k) of W_hh with (3-i, 3-k) and (r, i) of W_oh with (r, 3-i): count nonzero pairs
    pairs = {frozenset({(i, k), (3 - i, 3 - k)}) for i in range(4) for k in range(4)
             if model.w_hh[i][k] or model.w_hh[3 - i][3 - k]}
    pairs_oh = {frozenset({(r, i), (r, 3 - i)}) for r in range(3) for i in range(4) if model.w_oh[r][i]}
    assert symmetry_equalities(model, [flip]) == len(pairs) + len(pairs_oh)
    brute = ledger("handcrafted:3", "brute-force")
    (note,) = [i for i in brute.items if i.check.startswith("use the exact symmetries")]
    with_symmetry = float(note.outcome.split()[1])
    assert note.outcome.startswith("no:") and with_symmetry > brute.total_bits
    assert with_symmetry > 24 * symmetry_equalities(model, [flip])          # float32: 24 bits per equality
