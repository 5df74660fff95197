"""The benchmark scripts still run: their --quick modes, in a subprocess, with a timeout.

This keeps ``benchmarks/`` from rotting as the library changes: the tables must have their
columns, and on noisy copies the certified verifier's error (its interval width) must stay far
below 1e-12 while sampling's is far above it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

TIMEOUT = 90  # seconds; the quick modes take about 10-30 s on two shared cores


def run_quick(script: str, out) -> str:
    # the scripts must import this tree's package, not whichever copy is installed
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), "--quick", "--out", str(out)],
                            capture_output=True, text=True, timeout=TIMEOUT, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": path})
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.slow
def test_bench_vs_sampling_quick(tmp_path):
    text = run_quick("bench_vs_sampling.py", tmp_path)
    for column in ("parent", "method", "samples", "estimates", "wall s", "RMS error", "predicted RMS"):
        assert column in text
    assert "sampling, equal time" in text and "ARC mechanistic" in text
    data = json.loads((tmp_path / "vs_sampling.json").read_text())
    results = {(r["d"], r["n"]): r for r in data["results"]}
    assert (4, 3) in results, "the d=4, n=3 parent must be benchmarked"
    for r in results.values():
        assert r["copies"] == 8 and r["verifier"]["certified"]
        assert r["verifier"]["rms_width"] < 1e-12
        assert [s["samples"] for s in r["sampling"]] == [100, 1000, 10_000, 100_000]
        # sampling at equal wall time is off by far more than the verifier's certified width
        assert r["equal_time"]["rms_error"] > 1e6 * r["verifier"]["rms_width"]
        assert 0 < r["equal_time"]["rms_error"] < 0.05
        for row in r["sampling"]:  # binomial: measured RMS within a factor 2 of sqrt(p(1-p)/N)
            assert 0.5 < row["rms_error"] / row["predicted_rms"] < 2
    assert (tmp_path / "error_vs_compute.png").stat().st_size > 10_000


@pytest.mark.slow
def test_bench_certify_quick(tmp_path):
    text = run_quick("bench_certify.py", tmp_path)
    for column in ("model", "workers", "pieces", "cones", "wall s", "pieces/s", "cones/s", "walk s", "measure s",
                   "peak MB", "accuracy", "measures"):
        assert column in text
    data = json.loads((tmp_path / "certify.json").read_text())
    rows = {(r["model"], r["workers"]): r for r in data["rows"]}
    hand = next(r for r in data["rows"] if r["model"] == "handcrafted:3")   # run on 2 workers
    assert hand["complete"] and hand["certified"] and hand["pieces"] == 20
    assert 0.9999 < float(hand["accuracy"]["lo"]) < 1
    serial, parallel = rows["gaussian 4,3", 1], rows["gaussian 4,3", 2]
    assert (serial["pieces"], serial["cones"], serial["accuracy"]) == (parallel["pieces"], parallel["cones"],
                                                                       parallel["accuracy"])
    assert all(r["certified"] and r["peak_mb"] > 0 for r in data["rows"])
    assert any("2 workers" in line for line in data["summary"])


@pytest.mark.slow
def test_bench_estimate_quick(tmp_path):
    text = run_quick("bench_estimate.py", tmp_path)
    for column in ("budget s", "method", "RMS (paired)", "RMS (self)", "ratio self", "moments"):
        assert column in text
    data = json.loads((tmp_path / "estimate.json").read_text())
    assert data["copies"] == 2 and len(data["runs"]) == 2
    methods = {r["method"] for r in data["table"]}
    assert methods == {"sampling", "branching", "stratified", "conditional", "circle"}
    m1610 = data["circle"]["M16,10"]
    assert 100 < m1610["circle: arcs (linear pieces) per circle"] < 1000
    assert m1610["circle: variance per unit"] < 0.2 * m1610["p(1-p)"]  # a circle removes most of p(1-p)
    for r in data["table"]:
        assert r["self_mse"] > 0 and r["estimates"] == 2
    for run in data["runs"]:  # the two references agree within their standard errors
        a, b = run["refs"]
        assert abs(a["accuracy"] - b["accuracy"]) < 5 * (a["stderr"] ** 2 + b["stderr"] ** 2) ** 0.5
    assert (tmp_path / "estimate.png").stat().st_size > 10_000


def test_bench_training_quick(tmp_path):
    pytest.importorskip("torch", reason="PyTorch is not installed (the torch extra)")
    text = run_quick("bench_training.py", tmp_path)
    rows = [line.split() for line in text.splitlines() if line.startswith("2nd_argmax")]
    assert [r[3] for r in rows[:2]] == ["1", "5"] and all(float(r[5]) > 0 for r in rows)
    assert (tmp_path / "training.txt").read_text() in text + "\n"


@pytest.mark.slow
def test_bench_median_quick(tmp_path):
    text = run_quick("bench_median.py", tmp_path)
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| d=")]
    assert [(r[0].strip(), r[1].strip()[0]) for r in rows] == [("d=2, n=2", "1"), ("d=2, n=2", "2"),
                                                               ("d=4, n=3", "1"), ("d=4, n=3", "2")]
    for r in rows:  # certified, the 2-worker interval is the 1-worker one, and Monte Carlo agrees
        assert r[9].strip() == "yes" and r[10].strip() in ("-", "yes") and abs(float(r[13])) < 4
    assert "2 workers" in (tmp_path / "median.txt").read_text()
