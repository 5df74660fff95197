"""Certified accuracy against independent computations: exact forward passes and Monte Carlo."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from verifier.certify import certify
from verifier.errors import VerifierError
from verifier.models.loading import load_model
from verifier.models.model import Model
from verifier.estimate.sampling import estimate_accuracy

PERFECT = Model.from_arrays([[1], [-1]], [[-1, 1], [1, -1]], [[1, -1], [-1, 1]], name="perfect")


def random_model(seed: int, d: int, n: int, zero_rows: int = 0) -> Model:
    rng = np.random.default_rng(seed)
    w_oh = rng.normal(size=(n, d)).astype(np.float32)
    w_oh[:zero_rows] = 0  # zero readout rows tie whenever the other logits are <= 0
    return Model.from_arrays(rng.normal(size=(d, 1)).astype(np.float32), rng.normal(size=(d, d)).astype(np.float32),
                             w_oh, name=f"random-{seed}")


def cone_interior(rays, lines, n):
    """A point strictly inside a full-dimensional cone: the sum of its minimized generators."""
    return [sum(Fraction(g[i]) for g in rays + lines) for i in range(n)]


def assert_within(cert, est, k=4.0):
    """The certified error rate lies within k standard errors of a Monte Carlo estimate."""
    p = float(cert.error_rate.lo + cert.error_rate.hi) / 2
    se = math.sqrt(max(p * (1 - p), 1e-12) / est.n)
    assert abs(est.error_rate - p) <= k * se, (est.error_rate, p, se)


def test_perfect_model_has_no_error_cone():
    cert = certify(PERFECT)
    assert cert.certified and cert.complete
    assert cert.error_rate.hi == 0 and cert.error_rate.lo == 0
    assert cert.accuracy.lo <= 1 <= cert.accuracy.hi and cert.accuracy.hi - cert.accuracy.lo < 1e-25


@pytest.mark.parametrize("seed,d,n,zero_rows", [(0, 2, 2, 0), (1, 3, 2, 1), (2, 2, 3, 0), (3, 3, 3, 1), (4, 1, 3, 0)])
def test_outcome_cones_agree_with_exact_forward_pass(seed, d, n, zero_rows):
    model = random_model(seed, d, n, zero_rows)
    cert = certify(model)
    assert cert.outcomes, "some cones"
    for o in cert.outcomes:
        x = cone_interior(o.rays, o.lines, n)
        assert all(sum(r[i] * x[i] for i in range(n)) > 0 for r in o.constraints)
        assert model.correct_exact(x) == o.correct  # the cone's label is the exact model's verdict inside


@pytest.mark.parametrize("seed,d,n,zero_rows", [(10, 2, 2, 0), (11, 3, 3, 0), (12, 4, 3, 1), (13, 4, 3, 0)])
def test_certified_error_matches_monte_carlo(seed, d, n, zero_rows):
    model = random_model(seed, d, n, zero_rows)
    cert = certify(model)
    assert cert.certified and cert.error_rate.hi - cert.error_rate.lo < 1e-12
    assert_within(cert, estimate_accuracy(model, 400_000, seed=seed))


def test_intervals_sum_to_one_and_breakdown_adds_up():
    cert = certify(random_model(5, 3, 3, 1))
    acc, err = cert.accuracy, cert.error_rate
    assert acc.lo + err.lo <= 1 <= acc.hi + err.hi
    parts = cert.breakdown().values()
    mass = cert.error_mass
    assert sum(p.lo for p in parts) == mass.lo and sum(p.hi for p in parts) == mass.hi
    assert mass.lo <= err.lo <= err.hi <= mass.hi  # the complement of the correct mass can only tighten it


def test_budget_gives_a_true_but_wider_answer():
    model = random_model(6, 4, 3)
    full = certify(model)
    part = certify(model, max_pieces=3)
    assert not part.complete and part.decomposition.unresolved
    assert part.error_rate.lo <= full.error_rate.lo and full.error_rate.hi <= part.error_rate.hi
    assert part.accuracy.lo <= full.accuracy.lo and full.accuracy.hi <= part.accuracy.hi


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 2), st.integers(2, 3), st.lists(st.integers(-2, 2), min_size=3 + 4 + 6, max_size=3 + 4 + 6))
@example(1, 2, [0] * 4 + [-2] * 9)   # weights summing below -17 once made the spot check's seed negative
def test_small_integer_models_partition_the_probability(d, n, ws):
    """Integer weights produce many exact ties and degenerate pieces; the masses still add up to 1."""
    w_hi = [[ws[i]] for i in range(d)]
    w_hh = [[ws[3 + d * i + j] for j in range(d)] for i in range(d)]
    w_oh = [[ws[7 + d * i + j] for j in range(d)] for i in range(n)]
    model = Model.from_arrays(w_hi, w_hh, w_oh)
    cert = certify(model)
    assert cert.accuracy.lo + cert.error_rate.lo <= 1 <= cert.accuracy.hi + cert.error_rate.hi
    # one exact spot check per model: a random rational point's verdict matches the cone containing it
    rng = np.random.default_rng([v + 2 for v in ws])   # a seed per weight list (entries >= 0)
    x = [Fraction(int(v), 1000) for v in rng.integers(-5000, 5000, size=n)]
    hits = [o for o in cert.outcomes
            if all(sum(r[i] * x[i] for i in range(n)) > 0 for r in o.constraints)]
    assert len(hits) <= 1
    if hits:
        assert hits[0].correct == model.correct_exact(x)


def test_handcrafted_2_is_exactly_perfect():
    cert = certify("handcrafted:2")
    assert cert.certified and cert.error_rate.hi < 1e-15 and cert.error_rate.lo == 0


def test_handcrafted_3_is_about_99_99_percent():
    cert = certify("handcrafted:3")
    assert cert.certified
    assert 0.9998 < float(cert.accuracy.lo) and float(cert.accuracy.hi) < 1
    assert_within(cert, estimate_accuracy(load_model("handcrafted:3"), 1_000_000, seed=3))


def test_real_m22_error_is_about_1_in_13000(m22_path):
    cert = certify(m22_path)
    err = cert.error_rate
    assert cert.certified and err.hi - err.lo < 1e-12
    assert 12_000 < 1 / float(err.hi) < 14_000
    assert_within(cert, estimate_accuracy(load_model(m22_path), 4_000_000, seed=1))


@pytest.mark.parametrize("seed", [20, 21, 22, 23])
def test_n2_closed_form_lies_in_the_certified_interval(seed):
    from verifier.measure.closed_form import error_closed_form

    cert = certify(random_model(seed, 2 + seed % 2, 2))
    value = error_closed_form(cert).evaluate(60)
    lo, hi = cert.error_rate.lo, cert.error_rate.hi
    assert Fraction(str(value)) >= lo - Fraction(1, 10**50) and Fraction(str(value)) <= hi + Fraction(1, 10**50)


def test_m22_closed_form_is_the_posts_two_near_equal_wedges(m22_path):
    from verifier.measure.closed_form import error_closed_form

    form = error_closed_form(certify(m22_path))
    assert len(form.expression.args) == 2  # one atan2 term per near-equal sector
    by_name = {str(k): v for k, v in form.values.items()}
    for piece in {name[3:] for name in by_name}:
        a0, a1 = by_name[f"a0_{piece}"], by_name[f"a1_{piece}"]
        assert 0 < abs(a0 - a1) / max(a0, a1) < 2 ** -10  # near-equal to about 1 part in 2^11


@pytest.mark.slow
def test_trained_4_3_and_noisy_copies_agree_with_10m_samples():
    """Issue 4's bar: d=4, n=3 trained models and ARC-style noisy copies, certified to < 1e-12 and
    within 4 standard errors of 10^7-sample Monte Carlo."""
    from verifier.models.perturb import perturb

    parent = load_model("trained:4:3")
    for k, model in enumerate([parent, *perturb(parent, 0.05, 2, seed=7)]):
        cert = certify(model)
        assert cert.certified and cert.error_rate.hi - cert.error_rate.lo < 1e-12
        assert_within(cert, estimate_accuracy(model, 10_000_000, seed=100 + k))


def test_time_budget_covers_the_outcome_stage_and_stays_true():
    """A budget that runs out after the decomposition leaves pieces unsplit: still a true interval."""
    model = random_model(6, 4, 3)
    full = certify(model)
    part = certify(model, max_seconds=0)
    assert not part.complete and "budget" in part.stop_reason
    assert part.error_rate.lo <= full.error_rate.lo and full.error_rate.hi <= part.error_rate.hi
    assert part.accuracy.lo + part.error_rate.lo <= 1 <= part.accuracy.hi + part.error_rate.hi


def test_m1610_with_a_budget_stops_cleanly(m1610_path):
    """M16,10 cannot be enumerated: with a budget certify returns a true, wide, estimated answer."""
    cert = certify(m1610_path, max_pieces=3, max_seconds=20)
    assert not cert.complete and not cert.certified
    assert cert.accuracy.lo <= 0.953 <= cert.accuracy.hi


def test_plackett_certifies_an_n4_model():
    """20 of its 61 cones are not order-and-sign cones: Plackett's integral certifies them."""
    model = Model.from_arrays([[1]], [[-1]], [[1], [2], [-1], [3]])
    cert = certify(model, plackett=True)
    assert cert.certified and cert.complete and any(m.method == "plackett/2" for m in cert.measures)
    assert cert.correct_mass.lo + cert.error_mass.lo <= 1 <= cert.correct_mass.hi + cert.error_mass.hi
    assert cert.accuracy.width < 1e-12
    assert_within(cert, estimate_accuracy(model, 400_000, seed=4))


def test_errors_only_integrates_half_and_keeps_the_interval():
    """Correct cones that need an integral are only bounded ([0, 1/2]); the accuracy is the
    complement of the error rate, as narrow as with both sides, and agrees with sampling."""
    model = Model.from_arrays([[1]], [[-1]], [[1], [2], [-1], [3]])
    both, errors = certify(model), certify(model, integrate="errors")
    skipped = [(o, m) for o, m in zip(errors.outcomes, errors.measures) if m.method == "not-integrated"]
    assert skipped and all(o.correct and (m.lo, m.hi) == (0, Fraction(1, 2)) for o, m in skipped)
    assert [m for o, m in zip(errors.outcomes, errors.measures) if not o.correct] == \
        [m for o, m in zip(both.outcomes, both.measures) if not o.correct]
    assert errors.certified and errors.complete
    assert (errors.error_rate.lo, errors.error_rate.hi) == (errors.error_mass.lo, errors.error_mass.hi)
    assert both.error_mass.lo <= both.error_rate.lo <= both.error_rate.hi <= both.error_mass.hi  # both sides: tighter
    assert errors.accuracy.lo == 1 - errors.error_mass.hi and errors.accuracy.hi == 1 - errors.error_mass.lo
    assert max(errors.accuracy.lo, both.accuracy.lo) <= min(errors.accuracy.hi, both.accuracy.hi)
    assert errors.accuracy.width < 1e-12
    assert_within(errors, estimate_accuracy(model, 400_000, seed=5))
    correct = certify(model, integrate="correct")  # the other side: the error rate is 1 - the accuracy
    assert correct.correct_mass == both.correct_mass and correct.error_rate.hi == 1 - correct.correct_mass.lo
    assert max(correct.error_rate.lo, both.error_rate.lo) <= min(correct.error_rate.hi, both.error_rate.hi)
    with pytest.raises(VerifierError, match="one side needs"):
        certify(model, integrate="errors", plackett=False)
    with pytest.raises(VerifierError, match="integrate must be"):
        certify(model, integrate="neither")


def test_plackett_certifies_a_random_n5_model_completely():
    rng = np.random.default_rng(1)
    model = Model.from_arrays(rng.integers(-3, 4, size=(1, 1)).tolist(), rng.integers(-3, 4, size=(1, 1)).tolist(),
                              rng.integers(-3, 4, size=(5, 1)).tolist())
    cert = certify(model, plackett=True)
    assert cert.certified and cert.complete and cert.model.n == 5
    assert cert.correct_mass.lo + cert.error_mass.lo <= 1 <= cert.correct_mass.hi + cert.error_mass.hi
    assert cert.accuracy.width < 1e-12


def test_accuracy_upper_bound_never_exceeds_one():
    cert = certify("handcrafted:2")
    assert cert.accuracy.hi <= 1 and cert.correct_mass.hi <= 1
