"""Benchmark: the streaming certify pipeline, serial and on 2 workers.

Each row runs ``python -m verifier certify MODEL --json --workers W [--max-seconds B]`` as a
separate command (so wall time includes start-up, and budgets are checked as a user sees them)
and samples the resident memory of the whole process tree (the command and its workers) every
0.2 s. Columns: pieces and outcome cones, wall time, pieces/s and cones/s over the wall time,
seconds per stage summed over workers (walk = decomposition, outcomes, measure, output), peak
memory of the tree, the accuracy interval and whether it is certified.

Rows: M2,2 (``$ALGZOO_DIR``), handcrafted:3, the shipped ``trained:D:N`` models, random models
with standard-normal float32 weights at (d, n) = (4,4), (6,4), (8,4), (4,5), (8,5), (6,6) (serial
and 2 workers for the smaller ones, 2 workers for the biggest), and ``--max-seconds 30`` on M16,10
and handcrafted:10 (the budget must hold within 10% or 2 s).

    python benchmarks/bench_certify.py                 # full run (hours: dimension 4-5 cones are certified)
    python benchmarks/bench_certify.py --qmc           # ... with them estimated (about 45 minutes on 2 shared cores)
    python benchmarks/bench_certify.py --quick         # a few small rows, checks the script works
    python benchmarks/bench_certify.py --only 'gaussian 4,4' --integrate errors   # some rows, certify's flags

Full runs write ``certify.txt`` and ``certify.json`` to ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

from benchmark_env import machine, run_notes  # first: it pins BLAS to one thread before numpy loads

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from verifier.models.model import Model  # noqa: E402
from verifier.models.weightfile import save_json  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
M22_FILE = "2nd_argmax_2_2_1073741824_2.pth"
M1610_FILE = "one_layer_16_hidden_94_acc_2nd_argmax.pth"
PAGE = os.sysconf("SC_PAGE_SIZE")
# (d, n, worker counts, time budget in seconds or None)
RANDOM = [(4, 4, (1, 2), None), (6, 4, (1, 2), None), (8, 4, (1, 2), None), (4, 5, (2,), None),
          (8, 5, (2,), 900), (6, 6, (2,), 900)]   # the two biggest with a 15-minute budget
QUICK_RANDOM = [(3, 3, (1, 2), None), (4, 3, (1, 2), None)]
BUDGET_ROWS = [("M16,10 (real)", M1610_FILE, 30), ("handcrafted:10", "handcrafted:10", 30)]
COLUMNS = ("model", "d", "n", "workers", "pieces", "cones", "wall s", "pieces/s", "cones/s", "walk s", "outcomes s",
           "measure s", "output s", "peak MB", "accuracy", "measures", "note")


def algzoo(name: str) -> Path:
    return Path(os.environ.get("ALGZOO_DIR", REPO.parent / "shared" / "algzoo")) / name


def gaussian_model(d: int, n: int, seed: int = 0) -> Model:
    """Standard-normal float32 weights from ``default_rng((seed, d, n))``."""
    rng = np.random.default_rng((seed, d, n))
    arrays = [rng.standard_normal(shape).astype(np.float32) for shape in ((d, 1), (d, d), (n, d))]
    return Model.from_arrays(*arrays, name=f"gaussian:{d}:{n} seed {seed}", precision="float32")


def trained_specs() -> list[str]:
    sizes = []
    for path in (REPO / "verifier" / "data").glob("trained_*_*.json"):
        d, n = path.stem.split("_")[1:3]
        if d.isdigit() and n.isdigit():
            sizes.append((int(n), int(d)))
    return [f"trained:{d}:{n}" for n, d in sorted(sizes)]


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (from /proc)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
            with open(f"/proc/{p}/task/{p}/children") as f:
                stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            pass
    return total


def run_row(spec: str, workers: int, budget: float | None, timeout: float, flags: tuple[str, ...] = ()) -> dict:
    """One ``verifier certify`` command: its JSON, wall time and the tree's peak memory."""
    cmd = [sys.executable, "-m", "verifier", "certify", spec, "--json", "--workers", str(workers), *flags]
    if budget is not None:
        cmd += ["--max-seconds", str(budget)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(child.pid))
            done.wait(0.2)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    row = {"spec": spec, "workers": workers, "budget_s": budget, "wall_s": wall, "peak_mb": peak[0] / 2**20,
           "exit": child.returncode}
    try:
        row.update(json.loads(out))
    except ValueError:
        row["error"] = (err or out).strip().splitlines()[-1:] or ["no output"]
    return row


def format_row(label: str, d: int, n: int, r: dict) -> list[str]:
    if "pieces" not in r:
        return [label, str(d), str(n), str(r["workers"])] + [""] * 12 + [f"FAILED: {r.get('error')}"]
    stages = r.get("stages", {})
    acc = r["accuracy"]
    notes = run_notes(r)
    return [label, str(d), str(n), str(r["workers"]), str(r["pieces"]), str(r["cones"]), f"{r['wall_s']:.1f}",
            f"{r['pieces'] / r['wall_s']:.1f}", f"{r['cones'] / r['wall_s']:.1f}",
            *(f"{stages.get(k, 0.0):.1f}" for k in ("walk", "outcomes", "measure", "output")),
            f"{r['peak_mb']:.0f}", f"[{float(acc['lo']):.5f}, {float(acc['hi']):.5f}]",
            "certified" if r["certified"] else "estimated", "; ".join(notes) or "ok"]


def render(table: list[list[str]]) -> str:
    widths = [max(len(str(row[k])) for row in [COLUMNS, *table]) for k in range(len(COLUMNS))]
    lines = ["  ".join(str(c).ljust(w) if k in (0, 14, 15, 16) else str(c).rjust(w)
                       for k, (c, w) in enumerate(zip(row, widths))).rstrip() for row in [COLUMNS, *table]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def rows(quick: bool, tmp: Path):
    """(label, spec, d, n, workers, budget) for every row: the budget rows and the biggest models
    first (so a long run that is cut short has what matters), then the named and smaller ones."""
    if not quick:
        for label, spec, budget in BUDGET_ROWS:
            path = algzoo(spec) if spec.endswith(".pth") else spec
            if spec.endswith(".pth") and not Path(path).is_file():
                continue
            yield label, str(path), (16 if "16" in label else 22), 10, 2, budget
    for d, n, counts, budget in sorted(QUICK_RANDOM if quick else RANDOM, key=lambda r: -(r[0] * r[1] ** 2)):
        path = save_json(gaussian_model(d, n), tmp / f"gaussian_{d}_{n}.json")
        for w in counts:
            yield f"gaussian {d},{n}", str(path), d, n, w, budget
    if algzoo(M22_FILE).is_file():
        yield "M2,2 (real)", str(algzoo(M22_FILE)), 2, 2, 2, None
    yield "handcrafted:3", "handcrafted:3", 4, 3, 2, None
    if not quick:
        for spec in trained_specs():
            d, n = map(int, spec.split(":")[1:])
            yield spec, spec, d, n, 2, None


def summary(records: list[dict]) -> list[str]:
    lines = []
    by = {}
    for r in records:
        by.setdefault(r["model"], {})[r["workers"]] = r
    for model, runs in by.items():
        if 1 in runs and 2 in runs and "pieces" in runs[1] and "pieces" in runs[2]:
            ratio = runs[1]["wall_s"] / runs[2]["wall_s"]
            lines.append(f"{model}: 2 workers {ratio:.2f}x faster than 1 ({runs[1]['wall_s']:.1f} s -> "
                         f"{runs[2]['wall_s']:.1f} s)")
    peak = max((r["peak_mb"] for r in records), default=0)
    lines.append(f"peak memory of any run (command + workers): {peak:.0f} MB")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few small rows (checks the script)")
    parser.add_argument("--timeout", type=float, default=1800, help="kill a row after this long (default 1800 s)")
    parser.add_argument("--qmc", action="store_true", help="certify --qmc: estimate cones of dimension 4 and 5")
    parser.add_argument("--integrate", choices=("both", "errors", "correct"), default="both",
                        help="certify --integrate: which side's cones to integrate")
    parser.add_argument("--only", metavar="TEXT", default=None,
                        help="only the rows whose label contains TEXT (e.g. 'gaussian 4,4'); writes no files unless --out")
    parser.add_argument("--out", type=Path, default=None,
                        help="write certify.txt/.json here (default benchmarks/results; none with --quick or --only)")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None or args.quick or args.only else REPO / "benchmarks" / "results"
    flags = ("--qmc",) * args.qmc + ("--integrate", args.integrate) * (args.integrate != "both")
    header = [f"certify benchmark: one `verifier certify --json{''.join(' ' + f for f in flags)}` command per row,"
              " memory of the process tree",
              machine()]
    print("\n".join(header), flush=True)
    table, records = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for label, spec, d, n, workers, budget in rows(args.quick, Path(tmp)):
            if args.only is not None and args.only not in label:
                continue
            r = run_row(spec, workers, budget, args.timeout, flags)
            cells = format_row(label, d, n, r)
            table.append(cells)
            records.append({**{k: v for k, v in r.items() if k != "breakdown"}, "model": label, "d": d, "n": n,
                            "note": cells[-1]})
            print("  ".join(cells), flush=True)
    lines = summary(records)
    text = "\n".join(header + ["", render(table), "", *lines])
    print("\n" + text)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "certify.txt").write_text(text + "\n")
        (out / "certify.json").write_text(json.dumps({"machine": machine(), "rows": records, "summary": lines},
                                                     indent=1, default=str) + "\n")
        print(f"wrote {out / 'certify.txt'} and {out / 'certify.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
