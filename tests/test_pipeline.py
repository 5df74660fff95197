"""The streaming, parallel certify pipeline: same answers as the in-memory run, on any number of
workers or a dask cluster; budgets and Ctrl-C stop with true intervals; certificates match."""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from fractions import Fraction

import numpy as np
import pytest

from verifier.certify import certify
from verifier.geometry.decomposition import decompose
from verifier.measure import Measure, sum_measures
from verifier.models.loading import load_model
from verifier.models.model import Model
from verifier.measure.solid_angle import IntervalSum
from verifier.proof.certificate import write_certificate
from verifier.proof.checker import check_certificate


def gaussian_model(d: int, n: int, seed: int, task: str = "2nd_argmax") -> Model:
    """Gaussian weights; ``task="median"``: a one-output ScalarRNN scored by its squared error."""
    rng = np.random.default_rng((seed, d, n))
    outputs = 1 if task == "median" else n
    arrays = [rng.standard_normal(shape).astype(np.float32) for shape in ((d, 1), (d, d), (outputs, d))]
    return Model.from_arrays(*arrays, name=f"gaussian {d},{n} seed {seed}", precision="float32", task=task,
                             seq_len=n if task == "median" else None)


def without_meta(path) -> dict:
    doc = json.loads(open(path).read())
    doc.pop("meta")
    return doc


def scores(cert) -> tuple:
    """The certified numbers: accuracy and error rate, or a median model's MSE and RMSE."""
    return (cert.mse, cert.rmse) if cert.model.task.outputs_value else (cert.accuracy, cert.error_rate)


def kept(cert) -> tuple:
    """The kept cones and their values."""
    if cert.model.task.outputs_value:
        return cert.cones, cert.contributions, cert.masses
    return cert.outcomes, cert.measures


def same_result(a, b) -> bool:
    count = (lambda c: c.cone_count) if a.model.task.outputs_value else (lambda c: c.cones)
    return (scores(a) == scores(b) and a.pieces == b.pieces and count(a) == count(b)
            and a.breakdown() == b.breakdown())


# a small model of each kind: 2nd argmax (accuracy) and median (squared error)
SMALL = {"accuracy": lambda: gaussian_model(4, 3, 0), "median": lambda: gaussian_model(6, 3, 0, "median")}


def test_streaming_matches_the_kept_run_and_its_certificate(tmp_path):
    model = gaussian_model(4, 3, 5)
    kept = certify(model)
    streamed = certify(model, keep=False, certificate=tmp_path / "s.json")
    assert streamed.decomposition is None and streamed.outcomes == ()
    assert same_result(kept, streamed) and streamed.pieces == len(kept.decomposition.pieces)
    write_certificate(kept, tmp_path / "k.json")
    assert without_meta(tmp_path / "s.json") == without_meta(tmp_path / "k.json")
    assert check_certificate(tmp_path / "s.json").valid


@pytest.mark.parametrize("kind", SMALL)
def test_two_processes_give_the_serial_result(tmp_path, kind):
    model = SMALL[kind]()
    serial = certify(model, certificate=tmp_path / "1.json")
    parallel = certify(model, workers=2, certificate=tmp_path / "2.json")
    assert parallel.workers == 2 and same_result(serial, parallel)
    assert parallel.decomposition.tree == serial.decomposition.tree
    assert kept(parallel) == kept(serial)
    assert without_meta(tmp_path / "1.json") == without_meta(tmp_path / "2.json")
    assert check_certificate(tmp_path / "2.json").valid


@pytest.mark.parametrize("kind", SMALL)
def test_dask_local_cluster_gives_the_serial_result(tmp_path, kind):
    distributed = pytest.importorskip("distributed")
    model = SMALL[kind]()
    serial = certify(model, keep=False, certificate=tmp_path / "1.json")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = certify(model, scheduler=client, keep=False, certificate=tmp_path / "2.json")
    assert remote.workers > 1 and same_result(serial, remote)
    assert without_meta(tmp_path / "1.json") == without_meta(tmp_path / "2.json")


BUDGETED = {"accuracy": lambda: gaussian_model(10, 3, 1), "median": lambda: gaussian_model(10, 3, 1, "median")}


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("kind", BUDGETED)
def test_a_time_budget_holds_and_stays_true(workers, kind):
    model = BUDGETED[kind]()
    full = certify(model, keep=False)
    start = time.perf_counter()
    part = certify(model, max_seconds=0.05, workers=workers, keep=False)
    assert time.perf_counter() - start < 2.5
    assert not part.complete and "time budget" in part.stop_reason
    for p, f in zip(scores(part), scores(full)):
        assert p.lo <= f.lo and f.hi <= p.hi
    assert part.certified and part.pieces < full.pieces


def test_a_budget_holds_inside_plackett_measures_of_a_median_model(tmp_path):
    """n = 4: the budget stops a cone's measure between simplices; the partial certificate checks."""
    from verifier.estimate.sampling import estimate_mse
    model = gaussian_model(3, 4, 2, "median")
    start = time.perf_counter()
    part = certify(model, max_seconds=1.0, workers=2, keep=False, certificate=tmp_path / "c.json")
    assert time.perf_counter() - start < 3.0
    assert not part.complete and part.certified and "time budget" in part.stop_reason
    est = estimate_mse(model, 100_000, seed=0)
    assert part.mse.lo <= est.mse + 4 * est.stderr and est.mse - 4 * est.stderr <= part.mse.hi
    report = check_certificate(tmp_path / "c.json")
    assert report.valid and not report.summary["complete"]
    assert Fraction(report.summary["mse"]["hi"]) == part.mse.hi


@pytest.mark.parametrize("kind", ["accuracy", "median"])
def test_ctrl_c_gives_a_clean_partial_result(tmp_path, kind):
    model = gaussian_model(5, 4, 1) if kind == "accuracy" else gaussian_model(3, 4, 2, "median")
    timer = threading.Timer(0.4, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    part = certify(model, keep=False, certificate=tmp_path / "c.json")
    timer.join()
    assert not part.complete and "interrupted" in part.stop_reason
    if kind == "accuracy":
        assert part.accuracy.lo <= part.accuracy.hi and part.unresolved.hi > 0
    else:
        assert part.mse.lo <= part.mse.hi and part.undecided_mass > 0 and part.tail_bound > 0
    report = check_certificate(tmp_path / "c.json")
    assert report.valid and not report.summary["complete"]


def test_running_sums_add_intervals_and_estimates_in_quadrature_in_any_order():
    parts = [Measure.exact(Fraction(1, 8), "a"), Measure.exact(Fraction(1, 16), "b"),
             Measure(Fraction(1, 10), Fraction(3, 10), False, "qmc", 0.2, 0.05),
             Measure(Fraction(0), Fraction(1, 5), False, "qmc", 0.1, 0.04)]
    got = sum_measures(parts)
    stderr = math.hypot(0.05, 0.04)
    assert got.certified is False and got.method == "sum" and got.estimate == pytest.approx(3 / 16 + 0.3)
    assert got.stderr == pytest.approx(stderr)
    assert float(got.lo) == pytest.approx(3 / 16 + 0.3 - 4 * stderr) and float(got.hi) == pytest.approx(3 / 16 + 0.3 + 4 * stderr)
    halves = IntervalSum(), IntervalSum()
    for i, m in enumerate(reversed(parts)):
        halves[i % 2].add(m)
    halves[1].merge(halves[0])          # another order and grouping: exactly the same sum
    assert halves[1].measure() == got
    assert (halves[1].lo, halves[1].hi) == (sum(m.lo for m in parts), sum(m.hi for m in parts))
    certified = sum_measures(parts[:2])
    assert (certified.lo, certified.hi, certified.certified) == (Fraction(3, 16), Fraction(3, 16), True)


def test_decompose_walk_is_unchanged_by_resuming_subtrees():
    """The pieces a parallel run finds (subtrees resumed from open cones) are the serial walk's."""
    model = gaussian_model(4, 3, 3)
    serial = decompose(model)
    parallel = certify(model, workers=2)
    assert parallel.decomposition.pieces == serial.pieces


def test_models_too_big_to_enumerate_get_a_default_budget(m1610_path, monkeypatch, capsys):
    """Issue 13: commands given no budget on M16,10 run with a stated default one."""
    from verifier import cli, resources
    monkeypatch.setattr(resources, "DEFAULT_SECONDS", 1.0)
    start = time.perf_counter()
    assert cli.main(["decompose", str(m1610_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert time.perf_counter() - start < 15 and not data["complete"] and "time budget" in data["stop_reason"]
    assert cli.main(["certify", str(m1610_path), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "default budget of 1 s" in out and "PARTIAL" in out


def test_the_memory_guard_stops_a_walk_cleanly(monkeypatch):
    full = certify(gaussian_model(10, 3, 0), keep=False)
    monkeypatch.setenv("VERIFIER_MAX_MEMORY_MB", "1")   # any process is above 1 MB
    dec = decompose(gaussian_model(10, 3, 0))
    assert not dec.complete and "memory limit" in dec.stop_reason
    part = certify(gaussian_model(10, 3, 0), keep=False)
    assert not part.complete and "memory limit" in part.stop_reason
    assert part.accuracy.lo <= full.accuracy.lo and full.accuracy.hi <= part.accuracy.hi


def test_certify_command_loads_no_slow_libraries():
    """Start-up: `verifier certify` of a small model imports none of scipy, sympy, networkx, matplotlib."""
    import subprocess
    import sys
    code = ("import sys; from verifier import cli; cli.main(['certify', 'handcrafted:2']); "
            "print(sorted(m for m in ('scipy', 'sympy', 'networkx', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_pieces_above_the_frontier_are_scored_by_workers_too():
    """A shallow tree (every piece less than FRONTIER_DEPTH splits down) still runs in parallel."""
    model = gaussian_model(2, 3, 0, "median")
    serial = certify(model)
    parallel = certify(model, workers=2)
    assert parallel.workers == 2   # (1 when no task is handed out) and same_result(serial, parallel) and kept(parallel) == kept(serial)
    assert parallel.decomposition.tree == serial.decomposition.tree


def test_a_serial_run_moves_its_progress_bar_piece_by_piece(monkeypatch):
    """The in-process walk reports every scored piece (not all at once when it ends)."""
    import verifier.pipeline as pipeline

    class Bar:
        def __init__(self):
            self.updates = []

        def update(self, k):
            self.updates.append(k)

        def close(self):
            pass
    bar = Bar()
    monkeypatch.setattr(pipeline, "_bar", lambda progress: bar if progress else None)
    cert = certify("trained:4:3", workers=1, progress=True, keep=False)
    assert cert.pieces == 70 and bar.updates == [1] * 70
    bar.updates = []
    cert = certify("trained:4:3", workers=2, progress=True, keep=False)
    assert cert.pieces == 70 and sum(bar.updates) == 70


def test_pool_workers_count_their_pieces_as_they_go():
    """A parallel run's bar reads the workers' shared piece counter, so it moves inside a task."""
    import verifier.pipeline as pipeline
    from verifier.models.weightfile import model_to_json
    task = pipeline.Task(1, model_to_json(load_model("trained:4:3")), None, None, None, None, False, False, None)
    pool = pipeline._Pool(2)
    try:
        pool.submit(task)
        result = pool.results.get(timeout=120)
    finally:
        pool.close(abandon=False)
    assert result.tally.pieces == 70 and pool.scored() == 70
