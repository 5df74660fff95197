"""Median models (AlgZoo's ScalarRNN): certified MSE/RMSE against closed forms, exact algebra and Monte Carlo."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest

from verifier import certify, cli
from verifier.proof.checker import output_gain_squared
from verifier.estimate.sampling import estimate_mse, forward
from verifier.geometry.cones import interior_point, generators, cone
from verifier.models.loading import load_model
from verifier.models.model import Model
from verifier.models.weightfile import save_json


def running_sum(n: int, scale: Fraction) -> Model:
    """Two neurons hold the positive and negative parts of the running sum (ReLU(s) - ReLU(-s) = s),
    so the output is exactly ``scale * (x_0 + ... + x_{n-1})`` everywhere."""
    return Model.from_arrays([[1], [-1]], [[1, -1], [-1, 1]], [[scale, -scale]], task="median", seq_len=n,
                             name=f"sum{n}")


def test_output_equal_to_the_median_has_zero_mse():
    cert = certify(running_sum(2, Fraction(1, 2)))  # for n = 2 the median is the mean
    assert cert.certified and cert.complete and cert.mse.lo == cert.mse.hi == 0 and cert.rmse.hi == 0


def test_mean_of_three_against_closed_form():
    """Basu: the median minus the mean is independent of the mean, so E[(mean - median)^2] =
    Var(median of 3) - 1/3 = 2/3 - sqrt(3)/pi."""
    cert = certify(running_sum(3, Fraction(1, 3)))
    exact = 2 / 3 - math.sqrt(3) / math.pi
    assert cert.certified and cert.mse.lo - Fraction(1, 10**15) <= Fraction(exact) <= cert.mse.hi + Fraction(1, 10**15)
    assert cert.mse.width < Fraction(1, 10**30)
    assert cert.rmse.lo <= Fraction(math.sqrt(exact)) + Fraction(1, 10**15) and cert.rmse.hi >= Fraction(math.sqrt(exact)) - Fraction(1, 10**15)


def _scalar_model(seed: int, d: int = 3, n: int = 3) -> Model:
    rng = np.random.default_rng(seed)
    return Model.from_arrays(rng.standard_normal((d, 1)).astype(np.float32), rng.standard_normal((d, d)).astype(np.float32),
                             rng.standard_normal((1, d)).astype(np.float32), task="median", seq_len=n, name=f"rand{seed}")


@pytest.mark.parametrize("seed", range(3))
def test_error_form_is_output_minus_median_at_interior_points(seed):
    """On every cone the stored form c satisfies c . x = y(x) - median(x) exactly at an interior point."""
    cert = certify(_scalar_model(seed))
    for c in cert.cones:
        x = interior_point(*generators(cone(c.constraints, 3)))
        assert sum(f * v for f, v in zip(c.form, x)) ** 2 == cert.model.squared_error_exact(x)


@pytest.mark.parametrize("seed", range(3))
def test_certified_mse_agrees_with_monte_carlo(seed):
    model = _scalar_model(seed)
    cert = certify(model, workers=1 + seed % 2, keep=False)   # the streaming pipeline, serial and parallel
    est = estimate_mse(model, 200_000, seed=seed)
    assert cert.certified and cert.mse.width < Fraction(1, 10**25)
    assert abs(float(cert.mse.lo) - est.mse) <= 4 * est.stderr


def test_budget_gives_a_true_wider_interval():
    model = _scalar_model(1)
    full = certify(model).mse
    part = certify(model, max_pieces=3)
    assert not part.complete and part.mse.lo <= full.lo and full.hi <= part.mse.hi
    assert part.mse.hi <= full.hi + 2 * (output_gain_squared(model) + 1) * 3  # the tail bound is finite


def test_forward_pass_matches_exact_output():
    model = _scalar_model(2)
    x = np.random.default_rng(0).standard_normal((50, 3))
    exact = [float(model.logits_exact(row)[0]) for row in x]
    assert np.allclose(forward(model, x)[:, 0], exact, rtol=1e-12, atol=1e-12)


def _check_cli_json(path, capsys, seq_len=None):
    extra = ["--seq-len", str(seq_len)] if seq_len else []
    assert cli.main(["--json", "certify", str(path), *extra]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["task"] == "median" and out["certified"] is True
    lo, hi = Fraction(out["mse"]["lo_exact"]), Fraction(out["mse"]["hi_exact"])
    rlo, rhi = Fraction(out["rmse"]["lo_exact"]), Fraction(out["rmse"]["hi_exact"])
    assert set(out["mse"]) >= {"lo", "hi"} and set(out["rmse"]) >= {"lo", "hi"}
    assert rlo * rlo <= lo <= hi <= rhi * rhi and hi - lo < Fraction(1, 10**25)
    est = estimate_mse(load_model(path, seq_len=seq_len), 200_000, seed=7)
    assert abs(float(lo) - est.mse) <= 4 * est.stderr
    assert cli.main(["certify", str(path), *extra]) == 0
    text = capsys.readouterr().out
    assert "MSE  = E[(y(x) - median(x))^2] in [" in text and "RMSE in [" in text and "(certified)" in text


def test_cli_certifies_a_median_pth_from_torch(tmp_path, capsys):
    torch = pytest.importorskip("torch", reason="torch not installed")
    torch.manual_seed(3)
    module = torch.nn.Module()
    module.rnn = torch.nn.RNN(1, 3, nonlinearity="relu", bias=False, batch_first=True)
    module.linear = torch.nn.Linear(3, 1, bias=False)  # one row: AlgZoo's ScalarRNN
    torch.save(module.state_dict(), tmp_path / "median_3_3_1073741824_0.pth")
    _check_cli_json(tmp_path / "median_3_3_1073741824_0.pth", capsys)
    torch.save(module.state_dict(), tmp_path / "mine.pth")  # a bare name: the sequence length comes from --seq-len
    _check_cli_json(tmp_path / "mine.pth", capsys, seq_len=3)
    assert load_model(module, seq_len=3).w_oh == load_model(tmp_path / "mine.pth", seq_len=3).w_oh


def test_cli_certifies_a_median_json(tmp_path, capsys):
    path = save_json(_scalar_model(4, d=2, n=3), tmp_path / "median.json")
    _check_cli_json(path, capsys)
    assert cli.main(["--json", "sample", str(path), "-n", "20000"]) == 0
    assert json.loads(capsys.readouterr().out)["task"] == "median"


def test_accuracy_functions_refuse_median_models():
    from verifier import VerifierError, estimate_accuracy
    with pytest.raises(VerifierError, match="scored by squared error"):
        estimate_accuracy(_scalar_model(0), 100)
    with pytest.raises(VerifierError, match="scored by accuracy"):
        estimate_mse("handcrafted:2", 100)


def test_certificate_round_trip_and_tampering(tmp_path):
    from verifier.proof.certificate import write_certificate
    from verifier.proof.checker import check_certificate

    cert = certify(_scalar_model(0))
    path = write_certificate(cert, tmp_path / "median.json")
    report = check_certificate(path)
    assert report.valid and report.summary["task"] == "median"
    assert Fraction(report.summary["mse"]["lo"]) == cert.mse.lo and Fraction(report.summary["rmse"]["hi"]) == cert.rmse.hi
    doc = json.loads(path.read_text())

    def tampered(edit) -> set:
        copy = json.loads(json.dumps(doc))
        edit(copy)
        result = check_certificate(copy)
        assert not result.valid
        return result.kinds

    def bump(item, key):
        lo = Fraction(item[key]["lo"])
        item[key]["lo"] = str(lo * Fraction(1001, 1000) if lo else Fraction(1, 10**6))
    assert "measure" in tampered(lambda d: bump(d["pieces"][0]["outcomes"][0], "squared_error"))
    assert "outcomes" in tampered(lambda d: d["pieces"][0]["outcomes"][0].__setitem__("form", ["0"] * 3))
    assert "outcomes" in tampered(lambda d: d["pieces"][0]["outcomes"].pop())
    assert "logit map" in tampered(lambda d: d["pieces"][1]["logit_map"][0].__setitem__(0, "1/3"))
    assert "totals" in tampered(lambda d: d["totals"]["mse"].__setitem__("lo", "0"))
    assert "semantics" in tampered(lambda d: d["semantics"].__setitem__("score", "accuracy"))
    partial = write_certificate(certify(_scalar_model(0), max_pieces=3), tmp_path / "partial.json")
    summary = check_certificate(partial).summary
    assert summary["complete"] is False and Fraction(summary["mse"]["hi"]) >= cert.mse.hi


def test_report_states_the_certified_mse(tmp_path):
    from verifier.present.report import render_report

    model = _scalar_model(1)
    files = render_report(model, tmp_path / "report", samples=20_000, seed=1)
    text = files.markdown.read_text()
    mse = certify(model).mse
    assert f"**MSE [{mse.lo_str(20)}, {mse.hi_str(20)}]**" in text and "RMSE" in text and "(certified)" in text
    assert "Comparison with sampling" in text and files.html.is_file()


def test_other_commands_on_a_median_model(tmp_path, capsys):
    path = save_json(_scalar_model(2), tmp_path / "m.json")
    for args in (["decompose", str(path)], ["graph", str(path)], ["info", str(path)]):
        assert cli.main(args) == 0
    assert "one output, nothing to permute" in capsys.readouterr().out
    assert cli.main(["surprise", str(path)]) == 2
    assert "scored by its squared error" in capsys.readouterr().err


def test_claims_about_median_models_and_the_zoo(tmp_path):
    from verifier.present.claims import check_claims, load_claims

    path = save_json(running_sum(2, Fraction(1, 2)), tmp_path / "sum2.json")
    (tmp_path / "claims.toml").write_text(
        f'[[claim]]\nid = "exact"\nmodel = "{path}"\nquantity = "certified_rmse"\nexpected = 0\ntolerance = 0.0005\n'
        f'[[claim]]\nid = "wrong"\nmodel = "{path}"\nquantity = "certified_mse"\nexpected = 0.1\ntolerance = 0.01\n'
        '[[claim]]\nid = "zoo"\nmodel = "-"\nquantity = "zoo_sizes"\noptions = { task = "median" }\n'
        'expected = "hidden 2,4,8,16,32; seq_len 2,3,5,10"\n')
    verdicts = {r.claim.id: r.verdict for r in check_claims(load_claims(tmp_path / "claims.toml"))}
    assert verdicts == {"exact": "pass", "wrong": "fail", "zoo": "pass"}


def test_n5_certified_when_the_cones_are_order_and_sign_cones():
    """y = ReLU(x_4): every cone is cut by x_i >= x_j and x_4 >= 0 rows only, so its measure is an exact
    order-cell count and its ridges have dimension <= 3: the n = 5 MSE is certified without Plackett."""
    model = Model.from_arrays([[1]], [[0]], [[1]], task="median", seq_len=5, name="relu_last")
    cert = certify(model)
    assert cert.certified and cert.complete and cert.mse.width < Fraction(1, 10**30)
    est = estimate_mse(model, 200_000, seed=3)
    assert abs(float(cert.mse.lo) - est.mse) <= 4 * est.stderr
