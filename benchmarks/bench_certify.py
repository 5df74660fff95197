"""Benchmark: how fast ``certify`` is, and how it scales with d and n.

Per model: linear pieces, outcome cones, decomposition time, certify wall time (median of
``--reps`` runs), decomposition pieces/s, the accuracy interval's lower end and width, and
whether the measures are certified (n <= 3) or estimates (n >= 4: quasi-Monte Carlo, labelled).

Rows: the real M2,2 (``$ALGZOO_DIR``, default ``../shared/algzoo`` beside the repo),
handcrafted:2 and :3, every ``trained:D:N`` shipped in ``verifier/data``, random models with
standard-normal float32 weights at (d, n) = (4, 3) for five seeds, and scaling rows of random
models at growing (d, n). Each row runs in a child process with a wall-clock budget
(``--budget``) so the script always finishes; rows that hit it say so and report what was
done by then. ``certify(max_seconds=budget)`` gives its decomposition half of it.

    python benchmarks/bench_certify.py            # full run (about 10 minutes on 2 shared cores)
    python benchmarks/bench_certify.py --quick    # a few small rows, checks the script works

BLAS runs single-threaded (the verifier is single-threaded too). Full runs write
``certify.txt`` and ``certify.json`` to ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

from benchmark_env import machine  # first: it pins BLAS to one thread before numpy loads

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from verifier.certify import certify  # noqa: E402
from verifier.geometry.decomposition import decompose  # noqa: E402
from verifier.errors import VerifierError  # noqa: E402
from verifier.models.loading import load_model  # noqa: E402
from verifier.models.model import Model  # noqa: E402
from verifier.geometry.outcome import piece_outcomes  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
M22_FILE = "2nd_argmax_2_2_1073741824_2.pth"
RANDOM_SEEDS = range(5)
SCALING = [(2, 2), (3, 3), (4, 3), (4, 4), (5, 4), (6, 4), (8, 4), (4, 5), (6, 5), (8, 5)]
QUICK_SCALING = [(2, 2), (3, 3), (4, 3)]
# Targets from issues 3 and 4 (seconds on this machine).
M22_DECOMPOSE_TARGET = 0.1
D4N3_DECOMPOSE_TARGET = 0.5
D4N3_CERTIFY_TARGET = 1.0
COLUMNS = ("group", "model", "d", "n", "pieces", "cones", "decomp s", "certify s", "runs", "pieces/s",
           "accuracy lo", "width", "measures", "note")


def m22_path() -> Path:
    return Path(os.environ.get("ALGZOO_DIR", REPO.parent / "shared" / "algzoo")) / M22_FILE


def gaussian_model(d: int, n: int, seed: int) -> Model:
    """Standard-normal float32 weights from ``default_rng((seed, d, n))``."""
    rng = np.random.default_rng((seed, d, n))
    arrays = [rng.standard_normal(shape).astype(np.float32) for shape in ((d, 1), (d, d), (n, d))]
    return Model.from_arrays(*arrays, name=f"gaussian:{d}:{n} seed {seed}", precision="float32")


def trained_specs() -> list[str]:
    """``trained:D:N`` for every model file shipped in ``verifier/data``, smallest first."""
    sizes = []
    for path in (REPO / "verifier" / "data").glob("trained_*_*.json"):
        d, n = path.stem.split("_")[1:3]
        if d.isdigit() and n.isdigit():
            sizes.append((int(n), int(d)))
    return [f"trained:{d}:{n}" for n, d in sorted(sizes)]


def rows(quick: bool):
    """(group, label, model or None, why missing) for every row."""
    path = m22_path()
    yield ("named", "M2,2 (real)", *_load(path)) if path.is_file() else ("named", "M2,2 (real)", None,
                                                                           f"not found: {path}")
    for spec in ["handcrafted:2", "handcrafted:3"] + trained_specs():
        model, missing = _load(spec)
        if quick and model is not None and model.n > 3:
            continue
        yield "named", spec, model, missing
    for seed in RANDOM_SEEDS[:1] if quick else RANDOM_SEEDS:
        yield "random 4,3", f"gaussian seed {seed}", gaussian_model(4, 3, seed), None
    for d, n in QUICK_SCALING if quick else SCALING:
        yield "scaling", f"gaussian {d},{n}", gaussian_model(d, n, 0), None


def _load(spec):
    try:
        return load_model(spec), None
    except VerifierError as e:
        return None, str(e)


def _worker(model: Model, budget: float, reps: int, conn) -> None:
    """Child process: report the pieces and cones first, then the certify runs (see ``measure_row``)."""
    start = time.perf_counter()
    dec = decompose(model, max_seconds=budget / 2)
    conn.send({"pieces": len(dec.pieces), "decomposition_complete": dec.complete, "decomp_s": dec.seconds})
    outcomes_start = time.perf_counter()
    cells = tuple(model.task.cells(model.n))
    cones = sum(len(piece_outcomes(i, piece, cells, model.n)) for i, piece in enumerate(dec.pieces))
    conn.send({"cones": cones, "outcomes_s": time.perf_counter() - outcomes_start})
    runs = []
    for _ in range(reps):
        t0 = time.perf_counter()
        cert = certify(model, max_seconds=budget)  # its decomposition gets half, as above
        runs.append((time.perf_counter() - t0, cert.decomposition.seconds))
        spent = time.perf_counter() - start
        if spent + runs[-1][0] > 0.9 * budget:  # another run would not fit
            break
    acc = cert.accuracy
    conn.send({"certify_runs": [r[0] for r in runs], "certify_s": statistics.median(r[0] for r in runs),
               "decomp_s": statistics.median(r[1] for r in runs), "complete": cert.complete,
               "certified": cert.certified, "accuracy_lo": float(acc.lo), "accuracy_hi": float(acc.hi),
               "width": float(acc.width), "cones": len(cert.outcomes), "pieces": len(cert.decomposition.pieces)})
    conn.close()


def measure_row(model: Model, budget: float, reps: int) -> dict:
    """Run ``_worker`` in a child process for at most ``budget`` seconds; merge what it reported."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_worker, args=(model, budget, reps, send))
    deadline = time.perf_counter() + budget
    child.start()
    send.close()
    result: dict = {}
    finished = False
    while not finished and time.perf_counter() < deadline:
        if receive.poll(max(0.0, deadline - time.perf_counter())):
            try:
                message = receive.recv()
            except EOFError:
                break
            result.update(message)
            finished = "certify_s" in message
    if child.is_alive():
        child.terminate()
    child.join()
    result["timed_out"] = not finished
    return result


def row_note(r: dict, budget: float, n: int) -> str:
    notes = []
    if "pieces" not in r:
        notes.append(f"BUDGET HIT ({budget:g} s) during the decomposition")
    elif not r["decomposition_complete"]:
        notes.append(f"BUDGET HIT: decomposition stopped at {budget / 2:g} s (pieces are a lower bound)")
    if not r["timed_out"] and not r["complete"]:
        notes.append("BUDGET HIT: certify stopped early, its interval is widened by the undecided mass")
    if r["timed_out"] and "pieces" in r:
        stage = "measures" if "cones" in r else "outcome cones"
        notes.append(f"BUDGET HIT ({budget:g} s): {stage} not finished, certify time > budget")
    if not r["timed_out"] and not r["certified"]:
        notes.append("n >= 4: measures are QMC estimates" if n >= 4 else "estimated")
    return "; ".join(notes) or "ok"


def format_row(group: str, label: str, model: Model | None, r: dict | None, budget: float, missing=None) -> list[str]:
    if model is None:
        return [group, label, "", "", "", "", "", "", "", "", "", "", "", f"skipped: {missing}"]
    done = not r["timed_out"]
    pieces = r.get("pieces")
    cones = r.get("cones")
    decomp = r.get("decomp_s")
    rate = pieces / decomp if pieces and decomp else None
    return [
        group, label, str(model.d), str(model.n),
        "" if pieces is None else f"{pieces}{'' if r['decomposition_complete'] else '+'}",
        "" if cones is None else str(cones),
        "" if decomp is None else f"{decomp:.3f}",
        f"{r['certify_s']:.3f}" if done else f">{budget:g}",
        str(len(r["certify_runs"])) if done else "0",
        "" if rate is None else f"{rate:.0f}",
        f"{r['accuracy_lo']:.6f}" if done else "",
        f"{r['width']:.1e}" if done else "",
        ("certified" if r["certified"] else "estimated") if done else "",
        row_note(r, budget, model.n),
    ]


WIDTHS = (10, 20, 2, 2, 7, 6, 8, 9, 4, 8, 11, 7, 9, 0)  # fixed, so rows line up as they are printed


def line(cells) -> str:
    return "  ".join(str(c).ljust(w) if i in (0, 1, 12, 13) else str(c).rjust(w)
                     for i, (c, w) in enumerate(zip(cells, WIDTHS))).rstrip()


def render(table: list[list[str]]) -> str:
    return "\n".join([line(COLUMNS), line(["-" * max(w, 1) for w in WIDTHS])] + [line(r) for r in table])


def targets(records: list[dict]) -> list[str]:
    """Lines comparing the measured times with the issues' targets."""
    lines = []
    def check(what, value, target):
        verdict = "met" if value is not None and value < target else "MISSED"
        shown = "n/a" if value is None else f"{value:.3f} s"
        lines.append(f"{what}: {shown} (target < {target:g} s): {verdict}")
    m22 = [r for r in records if r["model"] == "M2,2 (real)" and "decomp_s" in r]
    if m22:
        check("M2,2 decomposition", m22[0]["decomp_s"], M22_DECOMPOSE_TARGET)
    d4n3 = [r for r in records if (r["d"], r["n"]) == (4, 3) and r.get("certify_s") is not None]
    if d4n3:
        worst_dec = max(d4n3, key=lambda r: r["decomp_s"])
        worst_cert = max(d4n3, key=lambda r: r["certify_s"])
        check(f"d=4,n=3 decomposition, slowest of {len(d4n3)} models ({worst_dec['model']})",
              worst_dec["decomp_s"], D4N3_DECOMPOSE_TARGET)
        check(f"d=4,n=3 full certify, slowest of {len(d4n3)} models ({worst_cert['model']})",
              worst_cert["certify_s"], D4N3_CERTIFY_TARGET)
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=None,
                        help="wall-clock seconds per row (default 60; 20 with --quick)")
    parser.add_argument("--reps", type=int, default=None, help="certify runs per row, median reported (default 3)")
    parser.add_argument("--quick", action="store_true", help="a few small rows, one run each (checks the script)")
    parser.add_argument("--out", type=Path, default=None,
                        help="write certify.txt/.json here (default benchmarks/results; none with --quick)")
    args = parser.parse_args(argv)
    budget = args.budget or (20.0 if args.quick else 60.0)
    reps = args.reps or (1 if args.quick else 3)
    out = args.out if args.out is not None or args.quick else REPO / "benchmarks" / "results"
    if budget <= 0 or reps < 1:
        parser.error("--budget must be positive and --reps at least 1")

    header = [f"certify benchmark: budget {budget:g} s per row, median of up to {reps} runs", machine()]
    print("\n".join(header + ["", render([])]), flush=True)
    table, records = [], []
    for group, label, model, missing in rows(args.quick):
        r = None if model is None else measure_row(model, budget, reps)
        cells = format_row(group, label, model, r, budget, missing)
        table.append(cells)
        print(line(cells), flush=True)
        if model is not None:
            records.append({"group": group, "model": label, "d": model.d, "n": model.n, **r,
                            "note": cells[-1], "certify_s": None if r["timed_out"] else r["certify_s"]})
    summary = targets(records)
    text = "\n".join(header + ["", render(table), "", *summary])
    print("\n" + "\n".join(summary))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "certify.txt").write_text(text + "\n")
        (out / "certify.json").write_text(json.dumps({"budget_s": budget, "reps": reps, "machine": machine(),
                                                      "rows": records, "targets": summary}, indent=1) + "\n")
        print(f"wrote {out / 'certify.txt'} and {out / 'certify.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
