"""Accuracy estimators: unbiased on models with certified accuracies, the tie rule, the API and CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from verifier.certify import certify
from verifier.errors import VerifierError
from verifier.estimate import branching, circle, conditional, kernel, monte_carlo, stratified
from verifier.estimate.api import estimate, resolve_method
from verifier.estimate.sampling import correct
from verifier.models.loading import load_model
from verifier.models.model import Model

SMALL = ("trained:4:3", "handcrafted:3")
# estimate minus certified accuracy of the moment estimator at 64 components (its stated bias)
MOMENT_BIAS = {"m22": -0.0435, "trained:4:3": -0.4889, "handcrafted:3": -0.6823}


@pytest.fixture(scope="module")
def certified():
    """Certified accuracies (interval midpoints; the widths are below 1e-30)."""
    out = {}
    for spec in SMALL:
        acc = certify(spec).accuracy
        assert acc.hi - acc.lo < 1e-30
        out[spec] = float(acc.lo)
    return out


def pooled(draw, seeds: int, size: int) -> tuple[float, float]:
    """Mean and standard error of all unit values from ``seeds`` independent seeds."""
    values = np.concatenate([draw(np.random.default_rng(s), size) for s in range(seeds)])
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))


def randomized_batches(model):
    w = kernel.Weights.of(model, np.float64)  # float64: exact decisions on these tie-prone models
    right = stratified.cell_accuracies(w, np.random.default_rng(99), 16)
    yield "sampling", monte_carlo.batch(w)
    for factors in ((2,), (2, 2), (3, 2)):
        if len(factors) <= model.n:
            yield f"branching {factors}", branching.batch(w, factors)
    yield "stratified", stratified.batch(w, stratified.allocation(right, 16, 4 * len(right)))
    yield "conditional", conditional.batch(w)
    yield "circle", circle.batch(w)


@pytest.mark.parametrize("spec", SMALL)
def test_randomized_estimators_unbiased_on_certified_models(spec, certified):
    model = load_model(spec)
    for name, draw in randomized_batches(model):
        mean, se = pooled(draw, seeds=12, size=4000)
        assert se > 0, name
        assert abs(mean - certified[spec]) < 4 * se, (name, mean, se, certified[spec])


def test_randomized_estimators_unbiased_on_real_m22(m22_path):
    model = load_model(m22_path)
    truth = float(certify(model).accuracy.lo)
    for name, draw in randomized_batches(model):
        if name == "sampling":
            continue  # 1 error in 13,000: too few errors in a fast test for a stderr
        mean, se = pooled(draw, seeds=12, size=4000)
        assert abs(mean - truth) < 4 * se + 1e-9, (name, mean, se, truth)


def test_conditional_mass_matches_brute_force_on_m1610(m1610_path):
    model = load_model(m1610_path)
    w = kernel.Weights.of(model, np.float64)
    rng = np.random.default_rng(0)
    prefix = rng.standard_normal((20, model.n - 1))
    q = conditional.prefix_correct_mass(w, prefix)
    draws = 20_000
    x = np.concatenate([np.repeat(prefix, draws, axis=0), rng.standard_normal((20 * draws, 1))], axis=1)
    brute = correct(model, x).reshape(20, draws).mean(axis=1)
    assert np.all(np.abs(brute - q) < 4 * np.sqrt(q * (1 - q) / draws) + 1e-3)


def test_first_index_tie_rule_on_a_constant_readout():
    """W_oh = 0: every logit is exactly 0, PyTorch answers position 0, so the accuracy is exactly 1/n."""
    from scipy.special import ndtr

    n = 4
    model = Model.from_arrays([[1], [-1], [0.5]], np.eye(3).tolist(), np.zeros((n, 3)).tolist())
    w = kernel.Weights.of(model, np.float64)
    prefix = np.random.default_rng(0).standard_normal((2000, n - 1))
    # right iff x_0 is the 2nd largest: given the prefix, a closed form in x_0
    above_x0 = (prefix[:, 1:] > prefix[:, :1]).sum(axis=1)
    exact = np.where(above_x0 == 0, 1 - ndtr(prefix[:, 0]), np.where(above_x0 == 1, ndtr(prefix[:, 0]), 0.0))
    assert np.allclose(conditional.prefix_correct_mass(w, prefix), exact, atol=1e-12)
    for name, draw in randomized_batches(model):
        mean, se = pooled(draw, seeds=4, size=4000)
        assert abs(mean - 1 / n) < 4 * se + 1e-12, name
    assert kernel.correct(w, np.array([[3.0, 1.0, 0.0, -1.0]])).tolist() == [False]
    assert kernel.correct(w, np.array([[1.0, 3.0, 0.0, -1.0]])).tolist() == [True]


def test_kernel_agrees_with_the_exact_sampler(m1610_path):
    for spec in ("handcrafted:10", "trained:4:3", m1610_path):
        model = load_model(spec)
        x = np.random.default_rng(3).standard_normal((20_000, model.n))
        differ = kernel.correct(kernel.Weights.of(model, np.float64), x) != correct(model, x)
        # handcrafted:10's logits tie exactly on about 1% of inputs (at most one positive input): the
        # sampler resolves those ties exactly, the kernel by float rounding; elsewhere they agree
        tie_set = (x > 0).sum(axis=1) <= 1 if spec == "handcrafted:10" else np.zeros(len(x), bool)
        assert not differ[~tie_set].any()
        assert differ.mean() < 0.01


def test_cells_are_drawn_exactly():
    x = stratified.draw_in_cells(np.random.default_rng(0), np.tile([[3, 5]], (5000, 1)), 7, np.float64)
    order = np.argsort(x, axis=1)
    assert (order[:, -1] == 3).all() and (order[:, -2] == 5).all()
    assert abs(x[:, 0].mean() - x[:, 6].mean()) < 0.05  # the others stay exchangeable


def test_branching_forward_passes_count_steps():
    w = kernel.Weights.of(load_model("handcrafted:10"))
    assert branching.forward_passes(w, (2, 2)) == (8 + 2 + 4) / 10


@pytest.mark.parametrize("spec", SMALL)
def test_moments_is_deterministic_with_its_stated_bias(spec, certified):
    a, b = estimate(spec, method="moments"), estimate(spec, method="moments")
    assert a.accuracy == b.accuracy and a.deterministic and a.stderr is None and a.forward_passes == 0
    assert abs((a.accuracy - certified[spec]) - MOMENT_BIAS[spec]) < 0.002


def test_moments_stated_bias_on_real_m22(m22_path):
    e = estimate(m22_path, method="moments")
    assert abs(e.accuracy - float(certify(m22_path).accuracy.lo) - MOMENT_BIAS["m22"]) < 0.002


def test_api_checks_its_arguments():
    for kwargs in ({"seconds": 0}, {"seconds": -1}, {"seconds": float("nan")}, {"method": "magic"},
                   {"seed": -1}, {"dtype": "int8"}):
        with pytest.raises(VerifierError):
            estimate("handcrafted:2", **kwargs)
    with pytest.raises(VerifierError):
        estimate("zoo:argmedian:1:1", method="moments")
    assert resolve_method("auto", 2) == "conditional" and resolve_method("auto", 10) == "branching"
    assert resolve_method("auto", 4) == "sampling"


def test_auto_picks_by_a_pilot_and_stays_unbiased(certified):
    """With a budget >= 0.1 s, auto measures: conditional wins on handcrafted:3 (rare, thin errors;
    ~2,800x sampling's efficiency) but not on trained:6:4; the final run (a fresh stream) agrees
    with the certified value."""
    truths = dict(certified)
    e = estimate("handcrafted:3", seconds=0.3, seed=3)
    assert e.method == "conditional" and abs(e.accuracy - truths["handcrafted:3"]) < 4 * e.stderr
    assert estimate("trained:6:4", seconds=0.3, seed=3).method != "conditional"
    assert estimate("handcrafted:3", seconds=0.05, seed=3).method == "sampling"  # short budget: the size rule


def test_budget_is_respected():
    e = estimate("handcrafted:10", seconds=0.2, method="branching", seed=3)
    assert e.seconds < 0.6 and e.units > 0 and e.forward_passes == pytest.approx(e.units * 1.4)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "verifier", *args], capture_output=True, text=True, timeout=120)


def test_cli_estimate_agrees_with_certified_values(m22_path, certified):
    truths = dict(certified)
    truths[str(m22_path)] = float(certify(m22_path).accuracy.lo)
    for spec, truth in truths.items():
        r = run_cli("estimate", spec, "--seconds", "0.3", "--seed", "2", "--json")
        assert r.returncode == 0, r.stderr
        data = json.loads(r.stdout)
        assert {"accuracy", "stderr", "method", "deterministic", "seconds", "forward_passes"} <= set(data)
        assert data["deterministic"] is False and data["stderr"] > 0
        assert abs(data["accuracy"] - truth) < 4 * data["stderr"], (spec, data, truth)


def test_cli_estimate_errors_exit_2():
    for args in (["estimate", "handcrafted:3", "--seconds", "0"], ["estimate", "nosuch.pth"]):
        r = run_cli(*args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = run_cli("estimate", "handcrafted:3", "--method", "moments", "--json")
    data = json.loads(r.stdout)
    assert data["stderr"] is None and data["deterministic"] is True


@pytest.mark.parametrize("task, n", [("argmedian", 5), ("argmax", 3)])
def test_other_tasks_agree_with_plain_sampling(task, n):
    rng = np.random.default_rng(0)
    d = 4
    model = Model.from_arrays(rng.standard_normal((d, 1)).astype(np.float32),
                              rng.standard_normal((d, d)).astype(np.float32),
                              rng.standard_normal((n, d)).astype(np.float32), task=task)
    x = np.random.default_rng(1).standard_normal((200_000, n))
    ok = correct(model, x)
    truth, truth_se = ok.mean(), ok.std() / np.sqrt(len(ok))
    for name, draw in randomized_batches(model):
        mean, se = pooled(draw, seeds=6, size=4000)
        assert abs(mean - truth) < 4 * np.hypot(se, truth_se), (name, mean, truth)


def test_one_input_falls_back_to_sampling():
    model = Model.from_arrays([[1.0], [-1.0]], [[0.5, 0.0], [0.0, 0.5]], [[1.0, 1.0]], task="argmax")
    for method in ("branching", "conditional", "stratified"):
        e = estimate(model, seconds=0.05, method=method)
        assert e.method == "sampling" and e.accuracy == 1.0


def test_first_max_at_is_argmax_with_ties():
    rng = np.random.default_rng(0)
    logits = rng.integers(-2, 3, size=(5, 4000)).astype(np.float32)  # many exact ties
    logits[:, :50] = 0
    position = rng.integers(0, 5, size=4000)
    assert np.array_equal(kernel.first_max_at(logits, position), logits.argmax(axis=0) == position)


def grid_fraction(model, x, y, points: int) -> tuple[float, int]:
    """Right fraction of the circle x cos t + y sin t on a midpoint grid, by the exact sampler, and the
    number of answer switches seen (each true switch moves the grid's value by at most 1 / points)."""
    t = (np.arange(points) + 0.5) * 2 * np.pi / points
    ok = correct(model, np.cos(t)[:, None] * x + np.sin(t)[:, None] * y)
    return float(ok.mean()), int(np.count_nonzero(ok != np.roll(ok, 1)))


@pytest.mark.parametrize("spec, points", [("trained:4:3", 100_000), ("handcrafted:3", 400_000),
                                          ("handcrafted:10", 50_000), ("m1610", 20_000)])
def test_circle_fraction_matches_a_dense_grid(spec, points, request):
    """The walked fraction equals the exact forward pass on a dense grid, up to the grid's resolution
    (handcrafted:3's error wedges are ~3e-4 rad wide: its grid is finer)."""
    model = load_model(request.getfixturevalue("m1610_path") if spec == "m1610" else spec)
    x, y = np.random.default_rng(5).standard_normal((2, 4, model.n))
    work = circle.Work()
    walked = circle.circle_fractions(kernel.Weights.of(model, np.float64), x, y, work)
    for i in range(len(x)):
        grid, switches = grid_fraction(model, x[i], y[i], points)
        assert abs(walked[i] - grid) <= (switches + 1) / points, (i, walked[i], grid, switches)
    assert work.circles == 4 and work.arcs >= 4 and work.bias_bound < 1e-8


def test_circle_fraction_is_exact_when_only_the_order_matters():
    """W_oh = 0: every logit is 0, position 0 wins, so the answer is right iff z_0 has the target's rank.
    z_j - z_0 > 0 on a half circle ending at a_j; for n = 3 the answer is right (2nd argmax) iff
    exactly one of z_1, z_2 exceeds z_0: the symmetric difference of two half circles, 2 delta of
    2 pi where delta is the angle between a_1 and a_2. Argmax: neither, (pi - delta) / (2 pi)."""
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((2, 200, 3))
    a = np.arctan2(x[:, 1:] - x[:, :1], -(y[:, 1:] - y[:, :1]))  # z_j - z_0 = -R_j sin(t - a_j)
    delta = np.abs(np.angle(np.exp(1j * (a[:, 0] - a[:, 1]))))
    for task, exact in (("2nd_argmax", delta / np.pi), ("argmax", (np.pi - delta) / (2 * np.pi))):
        model = Model.from_arrays([[1], [-1]], np.eye(2).tolist(), np.zeros((3, 2)).tolist(), task=task)
        walked = circle.circle_fractions(kernel.Weights.of(model, np.float64), x, y)
        assert np.allclose(walked, exact, atol=1e-9), task
    # n = 2: the first input beats the second on exactly half of every circle
    model = Model.from_arrays([[1], [-1]], np.eye(2).tolist(), np.zeros((2, 2)).tolist(), task="argmax")
    walked = circle.circle_fractions(kernel.Weights.of(model, np.float64), x[:, :2], y[:, :2])
    assert np.allclose(walked, 0.5, atol=1e-9)


def test_circle_estimate_counts_its_work_and_refuses_value_tasks():
    e = estimate("trained:4:3", seconds=0.1, method="circle", seed=1)
    assert e.method == "circle" and e.dtype == "float64" and e.units > 0 and e.seconds < 0.5
    assert e.forward_passes >= 2 * e.units and e.forward_passes % 2 == 0  # 2 per arc, at least one arc each
    median = Model.from_arrays([[1], [-1]], [[1, -1], [-1, 1]], [[1.0, -1.0]], task="median", seq_len=3)
    with pytest.raises(VerifierError):
        estimate(median, method="circle")


@pytest.mark.parametrize("above,m", [(0, 5), (1, 8), (3, 6), (4, 3)])
def test_top_ranks_are_the_sorted_tops(above, m):
    x = np.random.default_rng((above, m)).standard_normal((m, 500)).astype(np.float32)
    pos, val = kernel.top_ranks(x, above)
    order = np.argsort(-x, axis=0)
    for rank in range(above + 1):
        if rank < m:
            assert np.array_equal(pos[rank], order[rank]) and np.array_equal(val[rank], -np.sort(-x, axis=0)[rank])
        else:  # past the column's length
            assert (pos[rank] == -1).all() and np.isneginf(val[rank]).all()
    assert np.array_equal(kernel.target(x.T, min(above, m - 1)), order[min(above, m - 1)])


def test_run_is_the_recurrence_and_resumes():
    w = kernel.Weights.of(load_model("trained:4:3"), np.float64)
    xt = np.random.default_rng(3).standard_normal((3, 40))
    h = np.zeros((w.d, 40))
    for x in xt:
        h = np.maximum(w.w_hh @ h + w.w_hi[:, None] * x, 0)
    assert np.array_equal(kernel.run(w, xt), h)
    assert np.array_equal(kernel.run(w, xt[1:], kernel.run(w, xt[:1])), h)
    assert np.array_equal(kernel.run(w, xt[:0]), np.zeros((w.d, 40)))


def test_branching_workspace_reuse_changes_nothing(m1610_path):
    w = kernel.Weights.of(load_model(m1610_path), np.float32)
    reused = branching.batch(w, (2, 2))
    for size in (64, 200, 64, 7, 200, 5, 1, 64):  # more sizes than the workspace keeps
        fresh = branching.batch(w, (2, 2))(np.random.default_rng(size), size)
        assert np.array_equal(reused(np.random.default_rng(size), size), fresh)
