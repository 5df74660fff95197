"""The Monte Carlo baseline: forward pass, tie rule, Wilson interval, and the real models' accuracies."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from verifier.models.loading import load_model
from verifier.models.model import Model
from verifier.errors import VerifierError
from verifier.estimate.sampling import (_forward64, correct, estimate_accuracy, exact_predictions, forward,
                                        wilson_interval)

PERFECT = Model.from_arrays([[1], [-1]], [[-1, 1], [1, -1]], [[1, -1], [-1, 1]], name="perfect")


def test_forward_matches_exact_logits_at_rational_points():
    rng = np.random.default_rng(3)
    m = Model.from_arrays(rng.normal(size=(3, 1)).astype(np.float32), rng.normal(size=(3, 3)).astype(np.float32),
                          rng.normal(size=(4, 3)).astype(np.float32))
    x = rng.normal(size=(50, 4))
    got = forward(m, x)
    for row, xi in zip(got, x):
        exact = [float(v) for v in m.logits_exact(list(xi))]
        assert np.allclose(row, exact, rtol=1e-12, atol=1e-12)


def test_tie_rule_picks_first_maximal_logit():
    # All-zero readout: every logit ties at 0, so the prediction is position 0 (PyTorch's argmax).
    m = Model.from_arrays([[1]], [[0]], [[0], [0], [0]])
    x = np.array([[0.5, 2.0, -1.0],   # 2nd largest at 0 -> right
                  [2.0, 0.5, -1.0]])  # 2nd largest at 1 -> wrong
    assert correct(m, x).tolist() == [True, False]
    # Under the tie rule this model is right exactly when position 0 holds the 2nd largest: 1/3.
    est = estimate_accuracy(m, 60_000, seed=5)
    assert abs(est.accuracy - 1 / 3) < 4 * math.sqrt((1 / 3) * (2 / 3) / est.n)


def test_perfect_model_never_errs_in_either_dtype():
    for dtype in ("float64", "float32"):
        est = estimate_accuracy(PERFECT, 50_000, seed=2, dtype=dtype)
        assert est.correct == est.n


def test_stream_does_not_depend_on_batch_size():
    m = Model.from_arrays([[1], [1]], [[0.5, -1], [1, 0.25]], [[1, -1], [-1, 1]])
    a = estimate_accuracy(m, 30_000, seed=9, batch=1000)
    b = estimate_accuracy(m, 30_000, seed=9, batch=30_000)
    assert a.correct == b.correct
    c = estimate_accuracy(m, 30_000, seed=10)
    assert 0 < a.accuracy < 1 and c.correct != a.correct  # a different seed really draws other inputs


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    assert wilson_interval(100, 100)[1] == 1.0
    assert wilson_interval(0, 100)[0] == 0.0


def test_real_m22_errs_about_8e_5(m22_path):
    est = estimate_accuracy(load_model(m22_path), 3_000_000, seed=0)
    p = 8e-5
    assert abs(est.error_rate - p) < 4 * math.sqrt(p * (1 - p) / est.n)


def test_real_m1610_is_about_95_3_percent(m1610_path):
    est = estimate_accuracy(load_model(m1610_path), 200_000, seed=0)
    assert abs(est.accuracy - 0.953) < 4 * est.stderr + 5e-4  # the post rounds to 0.1%


@pytest.mark.parametrize("which", ["m22_path", "m1610_path"])
def test_agrees_with_pytorch_forward_pass(which, request):
    torch = pytest.importorskip("torch", reason="torch not installed (optional extra); cross-check skipped")
    path = request.getfixturevalue(which)
    sd = torch.load(path, map_location="cpu", weights_only=True)
    m = load_model(path)
    d, n = m.d, m.n
    rnn = torch.nn.RNN(1, d, bias=False, nonlinearity="relu", batch_first=True)
    lin = torch.nn.Linear(d, n, bias=False)
    rnn.weight_ih_l0.data = sd["rnn.weight_ih_l0"].float()
    rnn.weight_hh_l0.data = sd["rnn.weight_hh_l0"].float()
    lin.weight.data = sd["linear.weight"].float()
    x = np.random.default_rng(0).standard_normal((20_000, n)).astype(np.float32)
    with torch.no_grad():
        out, _ = rnn(torch.from_numpy(x)[..., None])
        ref = lin(out[:, -1]).numpy()
    ours = forward(m, x, "float32")
    # float32 summation order differs from PyTorch's kernels: compare against the logits' scale
    assert np.abs(ours - ref).max() <= 1e-5 * np.abs(ref).max()
    agree = (ours.argmax(-1) == ref.argmax(-1)).mean()
    assert agree > 0.9999
    assert np.array_equal(forward(m, x, "float64").argmax(-1) == m.task.target(x),
                          correct(m, x, "float64"))


# -- float64 estimates the exact model: rigorous rounding bound, near-ties re-evaluated exactly ------

def _random_model(rng, d, n, exact_weights: bool) -> Model:
    if exact_weights:  # rationals that float64 rounds, so the bound's weight-rounding term is exercised
        mats = [[[Fraction(int(rng.integers(-300, 300)), int(rng.integers(1, 300))) for _ in range(c)]
                 for _ in range(r)] for r, c in ((d, 1), (d, d), (n, d))]
        return Model.from_arrays(*mats)
    return Model.from_arrays(*(rng.normal(size=s).astype(np.float32) for s in ((d, 1), (d, d), (n, d))))


@pytest.mark.parametrize("exact_weights", [False, True])
def test_float64_rounding_bound_contains_the_exact_logits(exact_weights):
    rng = np.random.default_rng(21)
    for d, n in ((2, 2), (3, 4), (5, 3)):
        m = _random_model(rng, d, n, exact_weights)
        x = rng.normal(size=(40, n)) * np.exp(rng.normal(size=(40, 1)) * 3)  # scales 1e-4 .. 1e4
        logits, bound = _forward64(m, x, with_bound=True)
        for row, b, xi in zip(logits, bound, x):
            exact = m.logits_exact(list(xi))
            assert max(abs(Fraction(float(v)) - e) for v, e in zip(row, exact)) <= Fraction(float(b))
            assert b < 1e-6 * (1 + np.abs(xi).max())  # and a tight bound, not a vacuous one


def test_exact_predictions_match_exact_logits():
    rng = np.random.default_rng(22)
    m = _random_model(rng, 3, 4, exact_weights=True)
    x = rng.normal(size=(60, 4))
    x[:10] = np.round(x[:10])  # integer inputs: exact ties among the logits become likely
    want = [max(range(4), key=lambda i, lg=m.logits_exact(list(xi)): (lg[i], -i)) for xi in x]
    assert exact_predictions(m, x).tolist() == want


def _at_most_one_positive(rng, size, n=10):
    """Inputs conditioned on at most one positive coordinate: the set where handcrafted:10's logits tie."""
    x = -np.abs(rng.standard_normal((size, n)))
    one = rng.random(size) < n / (n + 1)  # P(exactly one positive | at most one) = n / (n + 1)
    pos = rng.integers(0, n, size)
    x[one, pos[one]] *= -1
    return x


def test_exact_ties_are_resolved_by_the_first_index_rule():
    m = load_model("handcrafted:10")
    x = _at_most_one_positive(np.random.default_rng(23), 60)
    want = [m.correct_exact(list(xi)) for xi in x]
    assert correct(m, x).tolist() == want
    # plain float64 argmax breaks about a third of these exact ties the other way (the bug this guards against)
    assert (forward(m, x).argmax(-1) != exact_predictions(m, x)).sum() >= 5


def test_handcrafted_10_estimate_on_its_tie_set_matches_the_exact_value():
    """On inputs with at most one positive coordinate handcrafted:10's logits tie exactly; its exact
    error mass there is (9/10 + 10 * 8/9) / 2^10 out of 11/2^10, so the accuracy is 1 - (9/10 + 80/9)/11.
    Float64 tie-breaking alone is off by about 6 standard errors here."""
    m = load_model("handcrafted:10")
    x = _at_most_one_positive(np.random.default_rng(24), 20_000)
    hits = correct(m, x)
    p = float(1 - (Fraction(9, 10) + Fraction(80, 9)) / 11)
    se = math.sqrt(p * (1 - p) / len(x))
    assert abs(hits.mean() - p) <= 4 * se


def test_sampling_arguments_are_checked():
    with pytest.raises(VerifierError, match="seed"):
        estimate_accuracy(PERFECT, 10, seed=-1)
    with pytest.raises(VerifierError, match="number of samples must be at most"):
        estimate_accuracy(PERFECT, 10**13)
    long = Model.from_arrays([[1]], [[1]], [[i] for i in range(1000)])  # batches shrink with n: bounded memory
    assert estimate_accuracy(long, 40, seed=1, batch=1 << 30).n == 40


@pytest.mark.parametrize("spec", ["handcrafted:3", "trained:4:3"])
def test_float32_mode_is_bit_identical_to_pytorch_for_small_d(spec):
    """d <= 4: PyTorch's CPU kernels sum left to right without FMA, as the float32 mode does."""
    torch = pytest.importorskip("torch", reason="torch not installed (optional extra); cross-check skipped")
    m = load_model(spec)
    w_hi, w_hh, w_oh = (torch.from_numpy(a.astype(np.float32)) for a in m.arrays)
    rnn = torch.nn.RNN(1, m.d, bias=False, nonlinearity="relu", batch_first=True)
    lin = torch.nn.Linear(m.d, m.n, bias=False)
    rnn.weight_ih_l0.data, rnn.weight_hh_l0.data, lin.weight.data = w_hi[:, None], w_hh, w_oh
    x = np.random.default_rng(25).standard_normal((50_000, m.n)).astype(np.float32)
    with torch.no_grad():
        ref = lin(rnn(torch.from_numpy(x)[..., None])[0][:, -1]).numpy()
    assert np.array_equal(forward(m, x, "float32"), ref)
