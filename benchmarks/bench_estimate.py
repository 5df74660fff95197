"""Benchmark: ARC's challenge for M16,10 -- estimators against sampling at equal wall time.

ARC's protocol: K noisy copies of M16,10 (i.i.d. ``N(0, sigma^2)`` on every weight,
``verifier.models.perturb``), each estimator run at budgets 0.01 .. 10 s on every copy, and its
mean squared error against the truth averaged over copies. The truth is not known, so each copy
gets two independent reference estimates A and B (``branching``, ``--ref-seconds`` each, seeds
in the JSON) and the paired estimator ``mean (T - A)(T - B)``, unbiased for MSE(T) whenever A, B
and T are independent and unbiased, measures the error ("paired MSE"; it can come out negative
when the error is below the references' noise). Every randomized estimator also reports its
own variance (stderr^2, "self MSE"), a much less noisy measurement of the same quantity for an
unbiased method; the ratio column uses both. The deterministic ``moments`` estimator is scored
by ``mean (D - A)(D - B)`` and by the number of samples at which sampling's MSE equals its MSE.

Also printed: throughput of the project sampler (``verifier.estimate.sampling``) and of the
fast forward pass, how often float32 rounding flips a decision, the variance decompositions
(order cells, last input, branching), and the circle estimator's profile on M16,10 and on the
small certified models (variance per circle against per sample, cost per circle in samples,
linear pieces crossed per circle). Every method runs in float32 except ``conditional``,
``circle`` and ``moments`` (float64 always).

    nice -n 10 python benchmarks/bench_estimate.py          # full run (~28 min)
    python benchmarks/bench_estimate.py --quick             # seconds; checks the script runs

BLAS is single-threaded. Full runs write ``estimate.txt``, ``estimate.json`` and
``estimate.png`` to ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

from benchmark_env import machine  # first: it pins BLAS to one thread before numpy loads

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from verifier.estimate import branching, conditional, kernel, stratified  # noqa: E402
from verifier.estimate.api import estimate  # noqa: E402
from verifier.estimate.sampling import correct, estimate_accuracy  # noqa: E402
from verifier.models.loading import load_model  # noqa: E402
from verifier.models.perturb import perturb  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
M1610 = "one_layer_16_hidden_94_acc_2nd_argmax.pth"
M22 = "2nd_argmax_2_2_1073741824_2.pth"
BUDGETS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
METHODS = ("sampling", "branching", "stratified", "conditional", "circle")
SMALL = ("M2,2", "trained:4:3", "handcrafted:3", "trained:6:4")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def throughput(model, seconds: float) -> dict:
    """Samples per second of the project sampler and of the fast forward pass; float32 decision flips."""
    out = {}
    for dtype in ("float64", "float32"):
        n = 1 << 14
        while True:
            est = estimate_accuracy(model, n, seed=1, dtype=dtype)
            if est.seconds > seconds / 4 or n > 1 << 24:
                break
            n *= 2
        out[f"project sampler {dtype}"] = est.samples_per_second
    for dtype in ("float32", "float64"):
        e = estimate(model, seconds=seconds, method="sampling", seed=1, dtype=dtype)
        out[f"fast forward {dtype} (estimate --method sampling)"] = e.units / e.seconds
    x = np.random.default_rng(2).standard_normal((200_000, model.n))
    flips = int(np.count_nonzero(kernel.correct(kernel.Weights.of(model, np.float32), x) != correct(model, x)))
    out["float32 decisions != sampling.correct (float64)"] = f"{flips} in {len(x):,}"
    return out


def decompositions(model, quick: bool) -> dict:
    """Shares of p(1-p) removed by the cells, by integrating the last input, by branching trees."""
    rng = np.random.default_rng(3)
    w32, w64 = kernel.Weights.of(model, np.float32), kernel.Weights.of(model, np.float64)
    per_cell = 200 if quick else 4000
    cell_p = stratified.cell_accuracies(w32, rng, per_cell) / per_cell
    dec = stratified.variance_decomposition(cell_p)
    q = conditional.prefix_correct_mass(w64, rng.standard_normal((5000 if quick else 50_000, model.n - 1)))
    p = float(q.mean())
    total = p * (1 - p)
    trees = branching.batch(w32, (2, 2))(rng, 20_000 if quick else 400_000)
    return {"p": p, "p(1-p)": total,
            "cells: removed, proportional allocation": dec.removed_proportional,
            "cells: removed, Neyman allocation": dec.removed_neyman,
            "cells: accuracy range": [float(cell_p.min()), float(cell_p.max())],
            "last input: E q(1-q) (variance removed per prefix)": float(np.mean(q * (1 - q))),
            "last input: removed share": float(np.mean(q * (1 - q))) / total,
            "branching (2,2): variance of one tree of 4 leaves": float(trees.var()),
            "branching (2,2): removed share vs one sample": 1 - float(trees.var()) / total}


def circle_profile(model, seconds: float, compare: tuple[str, ...] = ()) -> dict:
    """The circle estimator against plain sampling on one model, per unit and per second.

    Each method runs once for ``seconds`` through ``estimate`` (float64 circles, float32 samples).
    Sampling's variance per sample is p(1-p) with p the circle mean (the most precise estimate
    here); a unit's variance is stderr^2 * units. Efficiency = (p(1-p) / samples per s) /
    (variance per unit / units per s): above 1 the method beats sampling at equal wall time.
    """
    rate = estimate(model, seconds=seconds, method="sampling", seed=7, dtype="float32")
    samples_per_s = rate.units / rate.seconds
    c = estimate(model, seconds=seconds, method="circle", seed=8)
    p = c.accuracy
    pq = p * (1 - p)
    out = {"samples per s (fast forward float32)": samples_per_s, "p (circle mean)": p, "p(1-p)": pq}
    for e in [c] + [estimate(model, seconds=seconds, method=m, seed=9, dtype="float32") for m in compare]:
        var = e.stderr ** 2 * e.units
        per_s = e.units / e.seconds
        out[f"{e.method}: units"] = e.units
        out[f"{e.method}: variance per unit"] = var
        out[f"{e.method}: removed share of p(1-p)"] = 1 - var / pq if pq > 0 else float("nan")
        out[f"{e.method}: cost per unit (samples)"] = samples_per_s / per_s
        out[f"{e.method}: efficiency vs sampling"] = (pq / samples_per_s) / (var / per_s) if var > 0 else float("inf")
        if e.method == "circle":
            out["circle: arcs (linear pieces) per circle"] = e.forward_passes / 2 / e.units
            out["circle: forward-pass equivalents per circle"] = e.forward_passes / e.units
            out["circle: wall ms per circle"] = 1e3 / per_s
    return out


def run_model(model, budgets, methods, reps, ref_seconds, tag, index) -> dict:
    """References A, B and every method at every budget on one model (number ``index``).

    Every estimate has its own seed: shared seeds would give the copies (nearly the same function)
    the same inputs, correlating their errors and making the average over copies far noisier.
    """
    refs = [estimate(model, seconds=ref_seconds, method="branching", seed=1_000_000 + 2 * index + k, dtype="float32")
            for k in (0, 1)]
    rows = []
    for b, budget in enumerate(budgets):
        for rep in range(reps(budget)):
            for method in methods:
                seed = ((index * len(budgets) + b) * 8 + rep) * len(methods) + methods.index(method)
                e = estimate(model, seconds=budget, method=method, seed=seed, dtype="float32")
                rows.append({"budget": budget, "method": method, "rep": rep, "seed": seed, "accuracy": e.accuracy,
                             "stderr": e.stderr, "seconds": e.seconds, "forward_passes": e.forward_passes,
                             "units": e.units})
    det = estimate(model, method="moments")
    log(f"{tag}: refs {refs[0].accuracy:.5f} {refs[1].accuracy:.5f}, moments {det.accuracy:.4f} ({det.seconds:.2f} s)")
    return {"model": model.name, "refs": [{"accuracy": r.accuracy, "stderr": r.stderr, "seed": r.seed,
                                             "seconds": r.seconds} for r in refs],
            "moments": {"accuracy": det.accuracy, "seconds": det.seconds}, "rows": rows}


def summarize(runs, budgets, methods) -> tuple[list[dict], dict]:
    table = []
    for budget in budgets:
        for method in methods:
            paired, self_mse, secs = [], [], []
            for run in runs:
                a, b = (r["accuracy"] for r in run["refs"])
                for row in run["rows"]:
                    if row["budget"] == budget and row["method"] == method:
                        paired.append((row["accuracy"] - a) * (row["accuracy"] - b))
                        self_mse.append(row["stderr"] ** 2)
                        secs.append(row["seconds"])
            table.append({"budget": budget, "method": method, "estimates": len(paired),
                          "paired_mse": float(np.mean(paired)), "paired_mse_se": float(np.std(paired) / math.sqrt(len(paired))),
                          "self_mse": float(np.mean(self_mse)), "mean_seconds": float(np.mean(secs))})
    base = {(r["budget"]): r for r in table if r["method"] == "sampling"}
    for r in table:
        s = base[r["budget"]]
        r["ratio_self"] = s["self_mse"] / r["self_mse"] if r["self_mse"] > 0 else float("inf")
        r["ratio_paired"] = s["paired_mse"] / r["paired_mse"] if r["paired_mse"] > 0 else float("nan")
    det = [(run["moments"]["accuracy"] - run["refs"][0]["accuracy"]) * (run["moments"]["accuracy"] - run["refs"][1]["accuracy"])
           for run in runs]
    bias = [run["moments"]["accuracy"] - (run["refs"][0]["accuracy"] + run["refs"][1]["accuracy"]) / 2 for run in runs]
    pq = np.mean([(lambda p: p * (1 - p))(np.mean([r["accuracy"] for r in run["refs"]])) for run in runs])
    det_mse = float(np.mean(det))
    return table, {"mse": det_mse, "rms": math.sqrt(max(det_mse, 0)), "mean_error": float(np.mean(bias)),
                   "seconds": float(np.mean([run["moments"]["seconds"] for run in runs])),
                   "samples_matching": float(pq / det_mse) if det_mse > 0 else float("inf")}


def format_table(table, det, rate) -> str:
    head = (f"{'budget s':>8}  {'method':<12} {'n':>3} {'wall s':>7}  {'RMS (paired)':>12}  {'RMS (self)':>10}"
            f"  {'ratio self':>10}  {'ratio paired':>12}")
    lines = [head, "-" * len(head)]
    for r in table:
        rms_p = f"{math.sqrt(r['paired_mse']):.2e}" if r["paired_mse"] > 0 else f"<0 ({r['paired_mse']:.0e})"
        lines.append(f"{r['budget']:>8g}  {r['method']:<12} {r['estimates']:>3} {r['mean_seconds']:>7.3f}"
                     f"  {rms_p:>12}  {math.sqrt(r['self_mse']):>10.2e}  {r['ratio_self']:>10.2f}"
                     f"  {r['ratio_paired']:>12.2f}")
    lines.append(f"{'-':>8}  {'moments':<12} {'':>3} {det['seconds']:>7.3f}  {det['rms']:>12.2e}  {'(deterministic)':>10}"
                 f"  mean error {det['mean_error']:+.3f}; sampling matches its MSE with {det['samples_matching']:.2g}"
                 f" samples ({det['samples_matching'] / rate:.1e} s at {rate:,.0f}/s)")
    return "\n".join(lines)


def circle_work(runs, budgets) -> str:
    """Circles per estimate and linear pieces per circle at each budget (the circle rows' work)."""
    lines = ["circle at each budget: circles per estimate, arcs (linear pieces) per circle, wall s per estimate"]
    for budget in budgets:
        rows = [r for run in runs for r in run["rows"] if r["budget"] == budget and r["method"] == "circle"]
        if rows:
            units = sum(r["units"] for r in rows)
            lines.append(f"  {budget:>6g} s: {units / len(rows):8.1f} circles, {sum(r['forward_passes'] for r in rows) / 2 / units:6.1f}"
                         f" arcs/circle, {np.mean([r['seconds'] for r in rows]):.3f} s")
    return "\n".join(lines)


def verdict(table, budgets) -> str:
    wins = []
    for method in METHODS[1:]:
        rs = [r for r in table if r["method"] == method and 0.1 <= r["budget"] <= 10]
        if rs and all(r["ratio_self"] > 1 for r in rs):
            wins.append(f"{method} (self-MSE ratio {min(r['ratio_self'] for r in rs):.2f}-{max(r['ratio_self'] for r in rs):.2f})")
    if wins:
        return "beats sampling at every budget 0.1-10 s: " + ", ".join(wins)
    best = max((r for r in table if r["method"] != "sampling" and (0.1 <= r["budget"] <= 10 or max(budgets) < 0.1)),
               key=lambda r: r["ratio_self"])
    return (f"NO estimator beats sampling at every budget 0.1-10 s; the best ratio is {best['ratio_self']:.2f}"
            f" ({best['method']} at {best['budget']:g} s)")


def plot(table, det, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.8))
    for method in METHODS:
        rs = [r for r in table if r["method"] == method]
        if not rs:
            continue
        t = [r["mean_seconds"] for r in rs]
        line, = ax.plot(t, [math.sqrt(r["self_mse"]) for r in rs], "o-", label=f"{method} (self)")
        ax.plot([x for x, r in zip(t, rs) if r["paired_mse"] > 0],
                [math.sqrt(r["paired_mse"]) for r in rs if r["paired_mse"] > 0], "x--", color=line.get_color(),
                label=f"{method} (paired)")
        if method != "sampling":
            bx.plot([r["budget"] for r in rs], [r["ratio_self"] for r in rs], "o-", color=line.get_color(), label=method)
    ax.axhline(det["rms"], color="k", ls=":", label=f"moments (deterministic) {det['rms']:.2g}")
    ax.set(xscale="log", yscale="log", xlabel="wall time per estimate (s)", ylabel="RMS error", title=title)
    ax.legend(fontsize=7)
    bx.axhline(1, color="k", lw=0.8)
    bx.set(xscale="log", yscale="log", xlabel="budget (s)", ylabel="MSE(sampling) / MSE(method)",
           title="ratio at equal wall time (self-reported variances)")
    bx.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def stand_in_paths() -> list[Path]:
    """The d=16, n=10 models trained here on AlgZoo's schedule: the built-in ``trained:16:10`` and
    other seeds kept with the benchmarks (``benchmarks/models/standin_16_10_*.json``)."""
    return sorted((REPO / "verifier" / "data").glob("trained_16_10.json")) + \
        sorted((REPO / "benchmarks" / "models").glob("standin_16_10_*.json"))


def stand_ins_only(budgets, ref_seconds, out, lines) -> int:
    paths = stand_in_paths()
    if not paths:
        log("no d=16, n=10 stand-in: neither verifier/data/trained_16_10.json nor benchmarks/models/standin_16_10_*.json")
        return 1
    reps = lambda b: 4 if b <= 0.3 else 1  # noqa: E731
    runs = [run_model(load_model(p), budgets, METHODS, reps, ref_seconds, p.name, 1000 + i) for i, p in enumerate(paths)]
    table, det = summarize(runs, budgets, METHODS)
    rate = estimate(load_model(paths[0]), seconds=2.0, method="sampling", dtype="float32")
    text = "\n".join(lines + ["", f"trained d=16, n=10 stand-ins ({', '.join(p.name for p in paths)}), each as one model:",
                              format_table(table, det, rate.units / rate.seconds), "", verdict(table, budgets)])
    print(text)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "estimate_standins.txt").write_text(text + "\n")
        (out / "estimate_standins.json").write_text(json.dumps({"table": table, "moments": det, "runs": runs},
                                                               indent=1, default=str))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", "-K", type=int, default=16)
    parser.add_argument("--sigma", type=float, default=0.003)
    parser.add_argument("--seed", type=int, default=0, help="seed of the noisy copies")
    parser.add_argument("--ref-seconds", type=float, default=10.0, help="wall time of each reference estimate")
    parser.add_argument("--stand-ins-only", action="store_true",
                        help="run only the trained d=16, n=10 stand-ins (stand_in_paths; writes estimate_standins.*)")
    parser.add_argument("--quick", action="store_true", help="K=2, budgets 0.01 and 0.03 (checks the script runs)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    algzoo = Path(os.environ.get("ALGZOO_DIR", REPO.parent / "shared" / "algzoo"))
    parent = load_model(algzoo / M1610)
    budgets = (0.01, 0.03) if args.quick else BUDGETS
    copies = 2 if args.quick else args.copies
    ref_seconds = 0.2 if args.quick else args.ref_seconds
    out = args.out if args.out is not None or args.quick else REPO / "benchmarks" / "results"
    start = time.time()
    lines = [f"bench_estimate: {machine()}",
             f"M16,10 noisy copies: K = {copies}, sigma = {args.sigma}, seed {args.seed}; references: 2 x branching"
             f" {ref_seconds:g} s per copy"]
    log(lines[0])
    if args.stand_ins_only:
        return stand_ins_only(budgets, ref_seconds, out, lines)
    speed = throughput(parent, 0.2 if args.quick else 2.0)
    lines += ["", "throughput on M16,10 (samples/s, one thread):"] + [f"  {k:<48} {v:,.0f}" if isinstance(v, float)
                                                                        else f"  {k:<48} {v}" for k, v in speed.items()]
    dec = decompositions(parent, args.quick)
    lines += ["", "variance decomposition on M16,10 (shares of p(1-p)):"] + [f"  {k:<56} {v}" for k, v in dec.items()]
    circ = {"M16,10": circle_profile(parent, 0.3 if args.quick else 5.0)}
    for spec in SMALL[:1] if args.quick else SMALL:
        circ[spec] = circle_profile(load_model(algzoo / M22 if spec == "M2,2" else spec), 0.1 if args.quick else 2.0,
                                    ("conditional",))
    for name, prof in circ.items():
        lines += ["", f"circle estimator on {name} (one estimate per method, equal wall time):"]
        lines += [f"  {k:<56} {v:.4g}" if isinstance(v, float) else f"  {k:<56} {v}" for k, v in prof.items()]
    log("\n".join(lines))
    reps = (lambda b: 1) if args.quick else (lambda b: 4 if b <= 0.3 else 1)
    runs = []
    for i, model in enumerate(perturb(parent, args.sigma, copies, args.seed, prefix="M16_10")):
        runs.append(run_model(model, budgets, METHODS, reps, ref_seconds, f"copy {i}", i))
    extra = stand_in_paths()
    extra_runs = [run_model(load_model(p), budgets, METHODS, reps, ref_seconds, p.name, 1000 + i)
                  for i, p in enumerate(extra)]
    table, det = summarize(runs, budgets, METHODS)
    rate = speed["fast forward float32 (estimate --method sampling)"]
    accs = [np.mean([r["accuracy"] for r in run["refs"]]) for run in runs]
    lines += ["", f"noisy copies' accuracies (reference means): min {min(accs):.4f}, mean {np.mean(accs):.4f},"
              f" max {max(accs):.4f}", "", format_table(table, det, rate), "", circle_work(runs, budgets), "",
              verdict(table, budgets)]
    if extra_runs:
        t2, d2 = summarize(extra_runs, budgets, METHODS)
        lines += ["", f"trained d=16, n=10 stand-ins ({', '.join(p.name for p in extra)}):", format_table(t2, d2, rate)]
    else:
        lines += ["", "trained d=16, n=10 stand-ins: none when this run started"]
    lines.append(f"\ntotal wall time {time.time() - start:.0f} s")
    text = "\n".join(lines)
    print(text)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "estimate.txt").write_text(text + "\n")
        (out / "estimate.json").write_text(json.dumps({"sigma": args.sigma, "copies": copies, "seed": args.seed,
                                                       "throughput": speed, "decomposition": dec, "circle": circ,
                                                       "table": table, "moments": det, "runs": runs,
                                                       "stand_ins": extra_runs}, indent=1, default=str))
        plot(table, det, out / "estimate.png", f"M16,10, {copies} noisy copies, sigma {args.sigma}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
