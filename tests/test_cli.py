"""The command line as a user meets it: exit codes, one-line errors, --json output."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

from verifier.models.model import Model
from verifier.models.weightfile import save_json


def run(*args):
    return subprocess.run([sys.executable, "-m", "verifier", *args], capture_output=True, text=True, timeout=120)


def perfect(tmp_path):
    m = Model.from_arrays([[1], [-1]], [[-1, 1], [1, -1]], [[1, -1], [-1, 1]], name="perfect")
    return str(save_json(m, tmp_path / "perfect.json"))


def test_info_json(tmp_path):
    r = run("--json", "info", perfect(tmp_path))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert (data["d"], data["n"], data["params"]) == (2, 2, 10)


def test_sample_json_keys(tmp_path):
    r = run("sample", perfect(tmp_path), "-n", "5000", "--seed", "1", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["accuracy"] == 1.0 and data["error_rate"] == 0.0 and data["n"] == 5000
    assert {"stderr", "ci95", "seconds"} <= set(data) and data["ci95"][1] == 1.0


def test_errors_are_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for args in (["info", str(tmp_path / "missing.json")], ["info", str(bad)], ["sample", perfect(tmp_path), "-n", "0"]):
        r = run(*args)
        assert r.returncode == 2
        assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("verifier: error:")


def test_certify_json_labels_estimates_and_plackett_certificates_check(tmp_path):
    n4 = Model.from_arrays([[1]], [[-1]], [[1], [2], [-1], [3]], name="n4")  # 61 cones, 20 of dimension 4
    model = str(save_json(n4, tmp_path / "m.json"))
    estimated = json.loads(run("--json", "certify", model, "--workers", "1", "--qmc").stdout)
    assert not estimated["certified"] and not estimated["accuracy"]["certified"]
    assert estimated["accuracy"]["stderr"] > 0 and "estimate" in estimated["error_rate"]
    cert = tmp_path / "cert.json"
    r = run("--json", "certify", model, "--certificate", str(cert))  # certified by default
    assert r.returncode == 0, r.stderr
    certified = json.loads(r.stdout)
    assert certified["certified"] and "stderr" not in certified["accuracy"]
    exact = (Fraction(certified["accuracy"]["lo_exact"]), Fraction(certified["accuracy"]["hi_exact"]))
    assert exact[1] - exact[0] < 1e-12
    assert abs(estimated["accuracy"]["estimate"] - float(sum(exact)) / 2) < 4 * estimated["accuracy"]["stderr"]
    checked = run("--json", "check", str(cert))
    assert checked.returncode == 0 and json.loads(checked.stdout)["valid"], checked.stdout
    one_side = json.loads(run("--json", "certify", model, "--integrate", "errors").stdout)
    assert one_side["integrated"] == "errors" and certified["integrated"] == "both" and one_side["certified"]
    lo, hi = Fraction(one_side["accuracy"]["lo_exact"]), Fraction(one_side["accuracy"]["hi_exact"])
    assert max(lo, exact[0]) <= min(hi, exact[1]) and hi - lo < 1e-12
