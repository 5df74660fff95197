"""Median models: certified MSE/RMSE against long Monte Carlo runs, and what certifying costs on 1 and 2 workers.

For a few median models (AlgZoo's ScalarRNN: one output; the weights are drawn like PyTorch's
default RNN/Linear initialization, uniform in +-1/sqrt(d), seeded), each row runs
``python -m verifier certify MODEL --json --workers W [--max-seconds B]`` as its own command
(the streaming pipeline, as a user runs it; memory sampled over the process tree, workers
included, as in ``bench_certify.py``) and prints: pieces, cones, wall time, CPU time (the command
and its workers: on a shared machine the wall time also reflects other jobs), peak memory, the
certified MSE interval and its width, whether 2 workers gave exactly the 1-worker interval, and a
Monte Carlo MSE (10^7 samples by default) with its standard error and |difference| / stderr.
Cones of dimension 4 and 5 (n = 4, 5) are certified (Plackett), as ``certify`` does by default.
Writes ``median.txt`` to ``--out`` (default ``benchmarks/results``).

    python benchmarks/bench_median.py [--samples 10000000] [--max-n 5] [--timeout 1800]
    python benchmarks/bench_median.py --quick          # two small models, checks the script works
"""

from __future__ import annotations

from benchmark_env import machine, run_notes  # first: it pins BLAS to one thread before numpy loads

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from fractions import Fraction  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # this tree's package
from bench_certify import run_row  # noqa: E402
from verifier.estimate.sampling import estimate_mse  # noqa: E402
from verifier.exact import decimal_bound  # noqa: E402
from verifier.models.model import Model  # noqa: E402
from verifier.models.weightfile import save_json  # noqa: E402

# (d, n, worker counts, time budget in seconds or None)
MODELS = [(2, 2, (1, 2), None), (2, 3, (1, 2), None), (4, 3, (1, 2), None), (8, 3, (1, 2), None),
          (2, 4, (1, 2), None), (4, 4, (1, 2), None),
          (2, 5, (1, 2), 300), (4, 5, (2,), 60)]   # n = 5: over 15 CPU-minutes each, so budgeted
QUICK = [(2, 2, (1, 2), None), (4, 3, (1, 2), None)]
HEADER = ("| model | workers | pieces | cones | wall s | CPU s | peak MB | MSE (interval) | width | certified |"
          " same as 1 worker | MC MSE | MC stderr | z | note |")


def torch_like(d: int, n: int, seed: int) -> Model:
    rng = np.random.default_rng(seed)
    bound = 1 / np.sqrt(d)

    def draw(shape):
        return rng.uniform(-bound, bound, shape).astype(np.float32)
    return Model.from_arrays(draw((d, 1)), draw((d, d)), draw((1, d)), task="median", seq_len=n,
                             name=f"median d={d} n={n} seed={seed}")


def row_text(d: int, n: int, workers: int, r: dict, serial: dict | None, est) -> str:
    """One table row; ``workers``: the count asked for (the run reports how many it used: a tree
    too small to hand out subtrees runs in one process)."""
    used = workers if r.get("workers", workers) == workers else f"{workers} ({r['workers']} used)"
    if "pieces" not in r:
        return f"| d={d}, n={n} | {used} | | | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_mb']:.0f} | | | | | | | | FAILED: {r.get('error')} |"
    mse = r["mse"]
    lo, hi = Fraction(mse["lo_exact"]), Fraction(mse["hi_exact"])
    if r["complete"]:
        z = f"{(est.mse - float((lo + hi) / 2)) / est.stderr:+.2f}"
    else:   # a partial interval is not an estimate: say whether the Monte Carlo value lies inside it
        z = "MC inside" if lo <= Fraction(est.mse) <= hi else "**MC outside**"
    same = "-" if serial is None or "mse" not in serial or not (r["complete"] and serial["complete"]) else \
        "yes" if (serial["mse"]["lo_exact"], serial["mse"]["hi_exact"]) == (mse["lo_exact"], mse["hi_exact"]) else "**NO**"
    notes = run_notes(r)
    return (f"| d={d}, n={n} | {used} | {r['pieces']} | {r['cones']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} |"
            f" {r['peak_mb']:.0f} |"
            f" [{decimal_bound(lo, 12, up=False)}, {decimal_bound(hi, 12, up=True)}] | {float(hi - lo):.1e} | {'yes' if r['certified'] else 'no (estimate)'} |"
            f" {same} | {est.mse:.6f} | {est.stderr:.1e} | {z} | {'; '.join(notes) or 'ok'} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000_000)
    parser.add_argument("--max-n", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=1800, help="kill a row after this long (default 1800 s)")
    parser.add_argument("--quick", action="store_true", help="two small models, 10^5 samples (checks the script)")
    parser.add_argument("--out", type=Path, default=None,
                        help="write median.txt here (default benchmarks/results; none with --quick)")
    args = parser.parse_args(argv)
    samples = 100_000 if args.quick else args.samples
    out = args.out if args.out is not None or args.quick else Path(__file__).resolve().parent / "results"
    lines = [machine(), f"one `verifier certify --json --workers W` command per row; Monte Carlo: {samples:,} samples"
             " per model (float64)", "", HEADER, "|" + "---|" * (HEADER.count("|") - 1)]
    print("\n".join(lines), flush=True)
    speedups = []
    with tempfile.TemporaryDirectory() as tmp:
        for d, n, counts, budget in QUICK if args.quick else MODELS:
            if n > args.max_n:
                continue
            model = torch_like(d, n, seed=d * 100 + n)
            path = save_json(model, Path(tmp) / f"median_{d}_{n}.json")
            est = estimate_mse(model, samples, seed=1)
            runs = {}
            for w in counts:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                runs[w] = run_row(str(path), w, budget, args.timeout)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                runs[w]["cpu_s"] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                line = row_text(d, n, w, runs[w], runs.get(1) if w > 1 else None, est)
                lines.append(line)
                print(line, flush=True)
            if 1 in runs and 2 in runs and "pieces" in runs[1] and "pieces" in runs[2]:
                speedups.append(f"d={d}, n={n}: 2 workers {runs[1]['wall_s'] / runs[2]['wall_s']:.2f}x faster than 1"
                                f" ({runs[1]['wall_s']:.1f} s -> {runs[2]['wall_s']:.1f} s)")
    lines += ["", *speedups]
    print("\n".join(["", *speedups]))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "median.txt").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
