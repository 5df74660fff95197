"""The Monte Carlo baseline: forward pass, tie rule, Wilson interval, and the real models' accuracies."""

from __future__ import annotations

import math

import numpy as np
import pytest

from verifier.models.loading import load_model
from verifier.models.model import Model
from verifier.estimate.sampling import correct, estimate_accuracy, forward, wilson_interval

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
