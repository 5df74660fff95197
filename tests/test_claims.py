"""The post's claims as machine checks: all available ones pass, missing weights skip, wrong claims fail."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from verifier.cli import main
from verifier.present.claims import DEFAULT_CLAIMS, Claim, check_claims, load_claims, verdict
from verifier.errors import VerifierError
from verifier.measure import Measure

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args):
    """The command line in a fresh process (used once: the full run)."""
    return subprocess.run([sys.executable, "-m", "verifier", *args], capture_output=True, text=True, timeout=300,
                          cwd=REPO)


def cli(capsys, *args) -> tuple[int, str, str]:
    """The command line in this process (same parser and error handling, no interpreter start-up)."""
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def claim(expected, tolerance=0, relative=False) -> Claim:
    return Claim("c", "handcrafted:2", "parameters", expected, str(expected), Fraction(tolerance), relative)


def test_claims_file_covers_the_post():
    claims = {c.id: c for c in load_claims(DEFAULT_CLAIMS)}
    assert len(claims) >= 20
    assert claims["m22-error-rate"].band == (Fraction(9, 130000), Fraction(11, 130000))
    assert {c.quantity for c in claims.values()} >= {
        "parameters", "certified_error_rate", "certified_accuracy", "sampled_accuracy", "delta_pieces",
        "near_equal_pieces", "near_equal_agreement_bits", "delta_coefficients_positive", "standardized_w_hh_pattern"}
    assert "M16,10" not in claims["m1610-accuracy"].model and claims["m1610-accuracy"].model.endswith(
        "one_layer_16_hidden_94_acc_2nd_argmax.pth")                       # $ALGZOO_DIR expanded
    assert dict(claims["m1610-accuracy"].options)["samples"] >= 100_000


def test_exact_claims_pass_and_missing_zoo_file_skips(m22_path):
    claims = tuple(c for c in load_claims(DEFAULT_CLAIMS) if c.quantity != "sampled_accuracy")
    results = {r.claim.id: r for r in check_claims(claims)}
    failed = [(i, r.measured) for i, r in results.items() if r.verdict == "fail"]
    assert not failed
    assert results["m22-delta-pieces"].measured == 6 and results["m22-near-equal-pieces"].measured == 2
    assert results["handcrafted2-exact"].measured.hi == 0
    bits = results["m22-near-equal-precision"].measured
    assert len(bits) == 2 and all(10 < b < 12 for b in bits)
    if not (m22_path.parent / "2nd_argmax_4_3_1073741824_0.pth").exists():
        for cid in ("m43-parameters", "m43-accuracy"):
            assert results[cid].verdict == "skipped"
            assert "2nd_argmax_4_3_1073741824_0.pth" in results[cid].reason and "not found" in results[cid].reason


@pytest.mark.slow
def test_cli_runs_every_claim(m22_path, m1610_path):
    r = run_cli("claims", "--json")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    data = json.loads(r.stdout)
    assert all({"id", "verdict", "expected", "measured"} <= set(d) for d in data)
    assert {d["verdict"] for d in data} <= {"pass", "skipped"}
    assert all(d["reason"] for d in data if d["verdict"] == "skipped")
    by_id = {d["id"]: d for d in data}
    assert by_id["m1610-accuracy"]["verdict"] == "pass" and by_id["m1610-parameters"]["measured"] == 432
    assert by_id["m22-error-rate"]["certified"] is True


def test_wrong_claim_fails_with_exit_1(tmp_path, capsys):
    path = tmp_path / "wrong.toml"
    path.write_text('[[claim]]\nid = "too-many"\nmodel = "handcrafted:2"\nquantity = "parameters"\nexpected = 11\n'
                    '[[claim]]\nid = "right"\nmodel = "handcrafted:2"\nquantity = "parameters"\nexpected = 10\n'
                    '[[claim]]\nid = "absent"\nmodel = "zoo:2nd_argmax:8:8"\nquantity = "parameters"\nexpected = 1\n')
    code, out, err = cli(capsys, "claims", str(path), "--json")
    assert code == 1, err
    verdicts = {d["id"]: d["verdict"] for d in json.loads(out)}
    assert verdicts == {"too-many": "fail", "right": "pass", "absent": "skipped"}
    code, text, _ = cli(capsys, "claims", str(path))
    assert code == 1 and "too-many" in text and "1 pass, 1 fail, 1 skipped" in text


@pytest.mark.parametrize("body, message", [
    ("[[claim]\nid = 1", "not valid TOML"),
    ('[[claim]]\nid = "a"\nmodel = "handcrafted:2"\nquantity = "parameters"\n', "missing expected"),
    ('[[claim]]\nid = "a"\nmodel = "handcrafted:2"\nquantity = "volume"\nexpected = 1\n', "unknown quantity"),
    ('[[claim]]\nid = "a"\nmodel = "handcrafted:2"\nquantity = "parameters"\nexpected = 1\nhope = 2\n', "unknown keys"),
    ('[[claim]]\nid = "a"\nmodel = "handcrafted:2"\nquantity = "parameters"\nexpected = 1\noptions = {n = 3}\n',
     "bad options"),
    ('[[claim]]\nid = "a"\nmodel = "handcrafted:2"\nquantity = "parameters"\nexpected = 1\ntolerance = -1\n', ">= 0"),
    ('[[claim]]\nid = "a"\nmodel = "handcrafted:2"\nquantity = "weights"\nexpected = "x"\ntolerance = 1\n',
     "numeric expected"),
    ('title = "no claims"\n', "no [[claim]]"),
])
def test_malformed_claims_file_is_a_one_line_error(tmp_path, body, message):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(VerifierError, match=message.replace("[", r"\[")) as err:
        load_claims(path)
    assert "\n" not in str(err.value)


def test_malformed_claims_file_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[[claim]]\nid = "a"\nmodel = "handcrafted:2"\nquantity = "volume"\nexpected = 1\n')
    code, _, err = cli(capsys, "claims", str(path))
    assert code == 2 and err.count("\n") == 1 and err.startswith("verifier: error:") and "unknown quantity" in err
    code, _, err = cli(capsys, "claims", str(tmp_path / "missing.toml"))
    assert code == 2 and "missing.toml: cannot read" in err


def test_verdict_rules():
    certified = Measure(Fraction(99, 100), Fraction(101, 100), True, "x", 1.0)
    estimate = Measure(Fraction(99, 100), Fraction(101, 100), False, "x", 1.0, 0.005)
    assert verdict(claim(Fraction(1), Fraction(1, 50)), certified)           # inside the band
    assert not verdict(claim(Fraction(1), Fraction(1, 200)), certified)      # sticks out: a proof must fit
    assert verdict(claim(Fraction(1), Fraction(1, 200)), estimate)           # an estimate need only meet it
    assert not verdict(claim(Fraction(1, 2), Fraction(1, 200)), estimate)
    assert verdict(claim(Fraction(40), Fraction(5, 100), relative=True), 41.9)
    assert not verdict(claim(Fraction(40), Fraction(5, 100), relative=True), 42.1)
    assert verdict(claim(Fraction(11), 1), (11.58, 10.6)) and not verdict(claim(Fraction(11), 1), (11.58, 9.9))
    assert verdict(claim(True), True) and not verdict(claim(True), 1) and not verdict(claim(Fraction(1)), True)
    assert verdict(claim("(+ ; -)"), "(+ ; -)") and not verdict(claim("(+ ; -)"), "(- ; +)")


def test_algzoo_dir_expansion(tmp_path, monkeypatch):
    monkeypatch.setenv("ALGZOO_DIR", str(tmp_path))
    path = tmp_path / "c.toml"
    path.write_text('[models]\n"Z" = "$ALGZOO_DIR/none.pth"\n'
                    '[[claim]]\nid = "a"\nmodel = "Z"\nquantity = "parameters"\nexpected = 1\n')
    (c,) = load_claims(path)
    assert c.model == str(tmp_path / "none.pth")
    (result,) = check_claims((c,))
    assert result.verdict == "skipped" and "none.pth" in result.reason


def test_default_claims_file_is_the_one_in_proofs():
    """`verifier claims` reads proofs/claims.toml through package data, so installed wheels have it too."""
    from pathlib import Path

    from verifier.present.claims import DEFAULT_CLAIMS

    repo = Path(__file__).resolve().parent.parent
    assert DEFAULT_CLAIMS.read_text() == (repo / "proofs" / "claims.toml").read_text()
