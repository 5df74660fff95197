"""Benchmark: the certified verifier against Monte Carlo sampling, with ARC's protocol.

ARC judges an accuracy estimator by its root mean squared error versus compute, averaged over
noisy copies of a model (i.i.d. ``N(0, sigma^2)`` noise on every weight; they used 256 copies of
M4,3 with sigma = 0.05). For each parent model this script

1. makes K noisy float32 copies (``verifier.models.perturb``) and certifies each one; the certified
   accuracy is the truth up to its interval width (the verifier's error: zero up to the width);
2. estimates each copy's accuracy by sampling (``verifier.estimate.sampling.estimate_accuracy``) at
   log-spaced budgets, several seeds per copy, and reports the RMS error against the certified
   value, the wall time per estimate, and the binomial prediction ``sqrt(mean p(1-p) / N)``;
3. gives sampling exactly the verifier's wall time on each copy (it draws batches until the
   clock runs out) and compares the two RMS errors.

At large budgets the total number of samples per budget is capped (``--max-samples``): fewer
(copy, seed) estimates are drawn there, spread over distinct copies first; the table says how
many. ARC's mechanistic estimates for M4,3 are counted in operations, not seconds: the table
lists them, and the plot's right panel converts operations to samples at one forward pass of
M4,3 = n (d^2 + d) + n d = 72 multiply-adds per sample (ARC's own sampling figures, 0.8% and
2.3% RMS at the same operation counts, are consistent with that rate).

    python benchmarks/bench_vs_sampling.py                  # full run, K = 64 (about 10 min)
    python benchmarks/bench_vs_sampling.py --copies 256     # ARC's number of copies
    python benchmarks/bench_vs_sampling.py --quick          # K = 8, budgets up to 1e5

BLAS runs single-threaded (the verifier is single-threaded too). Full runs write
``vs_sampling.txt``, ``vs_sampling.json`` and ``error_vs_compute.png`` to ``--out``
(default ``benchmarks/results``).
"""

from __future__ import annotations

from benchmark_env import machine  # first: it pins BLAS to one thread before numpy loads

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from verifier.certify import certify  # noqa: E402
from verifier.errors import VerifierError  # noqa: E402
from verifier.models.loading import load_model  # noqa: E402
from verifier.models.model import Model  # noqa: E402
from verifier.models.perturb import perturb  # noqa: E402
from verifier.estimate.sampling import correct, estimate_accuracy  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
M22_FILE = "2nd_argmax_2_2_1073741824_2.pth"
DEFAULT_PARENTS = ("m22", "trained:4:3", "handcrafted:3")
FALLBACK_D4N3 = "handcrafted:3"
DEFAULT_BUDGETS = tuple(10**k for k in range(2, 8))
QUICK_BUDGETS = tuple(10**k for k in range(2, 6))
# ARC's mechanistic estimators for M4,3 on 256 noisy copies (sigma 0.05), from the AlgZoo post:
# (label, operations, RMS error of the estimator, RMS error of sampling at the same operations).
ARC_M43 = (("ARC mechanistic, larger", 71_000, 0.03, 0.008), ("ARC mechanistic, smaller", 7_680, 0.05, 0.023))
M43_OPS_PER_SAMPLE = 3 * (4 * 4 + 4) + 3 * 4  # multiply-adds of one forward pass of M4,3
TABLE_COLUMNS = ("parent", "method", "samples", "estimates", "wall s", "RMS error", "predicted RMS", "note")


def parent_label(spec: str, model: Model) -> str:
    return "M2,2 real" if spec == "m22" else model.name


def parent_model(spec: str) -> Model:
    """``m22`` is the real M2,2 in ``$ALGZOO_DIR``; ``trained:4:3`` falls back to handcrafted:3 if not shipped."""
    if spec == "m22":
        path = Path(os.environ.get("ALGZOO_DIR", REPO.parent / "shared" / "algzoo")) / M22_FILE
        if not path.is_file():
            raise VerifierError(f"real M2,2 not found: {path} (set ALGZOO_DIR)")
        return load_model(str(path))
    try:
        return load_model(spec)
    except VerifierError:
        if spec != "trained:4:3":
            raise
        print(f"note: trained:4:3 is not shipped yet; using {FALLBACK_D4N3} as the d=4, n=3 parent", flush=True)
        return load_model(FALLBACK_D4N3)


@dataclass(frozen=True)
class CopyTruth:
    """One noisy copy's certified accuracy: midpoint, interval width, wall seconds of certify."""

    model: Model
    accuracy: float
    width: float
    certified: bool
    seconds: float


def certify_copies(copies: list[Model]) -> list[CopyTruth]:
    truths = []
    for c in copies:
        start = time.perf_counter()
        cert = certify(c)
        seconds = time.perf_counter() - start
        acc = cert.accuracy
        truths.append(CopyTruth(c, float((acc.lo + acc.hi) / 2), float(acc.width), cert.certified, seconds))
    return truths


def rms(values) -> float:
    values = list(values)
    return math.sqrt(sum(v * v for v in values) / len(values))


def sample_errors(truths: list[CopyTruth], plan: list[tuple[int, int, int]]) -> tuple[list[float], list[float]]:
    """Errors and wall seconds of the estimates ``plan = [(copy index, samples, seed)]``."""
    errors, seconds = [], []
    for k, samples, seed in plan:
        est = estimate_accuracy(truths[k].model, samples, seed=seed)
        errors.append(est.accuracy - truths[k].accuracy)
        seconds.append(est.seconds)
    return errors, seconds


def predicted_rms(truths: list[CopyTruth], samples_per_copy: list[float]) -> float:
    """Expected RMS error of sampling from the certified accuracies: sqrt(mean p(1-p)/N)."""
    return math.sqrt(sum(t.accuracy * (1 - t.accuracy) / n for t, n in zip(truths, samples_per_copy)) / len(truths))


def sweep(truths: list[CopyTruth], budgets, seeds: int, max_samples: int, base_seed: int) -> list[dict]:
    """Sampling at each budget: up to ``seeds`` estimates per copy, at most ``max_samples`` samples per budget."""
    k = len(truths)
    rows = []
    for b, n in enumerate(budgets):
        count = min(k * seeds, max(1, max_samples // n))
        plan = [(j % k, n, _seed(base_seed, b, j)) for j in range(count)]
        errors, seconds = sample_errors(truths, plan)
        rows.append({"samples": n, "estimates": count, "copies_used": min(count, k),
                     "wall_s": statistics.median(seconds), "samples_per_s": n * count / sum(seconds),
                     "rms_error": rms(errors), "predicted_rms": predicted_rms(truths, [n] * k)})
        print(f"  sampling {n:>9,} samples x {count:>3} estimates: RMS error {rows[-1]['rms_error']:.2e}"
              f" ({rows[-1]['wall_s']:.3g} s each)", flush=True)
    return rows


def sample_for(model: Model, seconds: float, seed: int, batch: int = 4096) -> tuple[float, int, float]:
    """Sample batches until ``seconds`` of wall time are spent: (accuracy, samples, seconds used).

    The same estimator as ``estimate_accuracy`` (seeded float64 Gaussian inputs, the reference
    forward pass and tie rule), stopped by the clock instead of a sample count.
    """
    rng = np.random.default_rng(seed)
    hits = samples = 0
    start = time.perf_counter()
    while samples == 0 or time.perf_counter() - start < seconds:
        x = rng.standard_normal((batch, model.n))
        hits += int(np.count_nonzero(correct(model, x)))
        samples += batch
    return hits / samples, samples, time.perf_counter() - start


def equal_time(truths: list[CopyTruth], seeds: int, base_seed: int) -> dict:
    """Sampling given exactly each copy's certify wall time, ``seeds`` estimates per copy."""
    errors, counts, seconds = [], [], []
    for k, t in enumerate(truths):
        for s in range(seeds):
            accuracy, samples, used = sample_for(t.model, t.seconds, _seed(base_seed, 99, k * seeds + s))
            errors.append(accuracy - t.accuracy)
            counts.append(samples)
            seconds.append(used)
    per_copy = [sum(counts[k * seeds:(k + 1) * seeds]) / seeds for k in range(len(truths))]
    return {"samples": sum(counts) / len(counts), "estimates": len(errors), "wall_s": sum(seconds) / len(seconds),
            "rms_error": rms(errors), "predicted_rms": predicted_rms(truths, per_copy)}


def _seed(base: int, budget_index: int, j: int) -> int:
    return (base * 100 + budget_index) * 1_000_000 + j


def run_parent(spec: str, args) -> dict:
    parent = parent_model(spec)
    print(f"\n{parent.describe()}: {args.copies} noisy copies, sigma {args.sigma:g}, seed {args.seed}", flush=True)
    copies = perturb(parent, args.sigma, args.copies, args.seed)
    truths = certify_copies(copies)
    verifier = {"wall_s": sum(t.seconds for t in truths) / len(truths), "rms_width": rms(t.width for t in truths),
                "max_width": max(t.width for t in truths), "certified": all(t.certified for t in truths)}
    accs = [t.accuracy for t in truths]
    print(f"  certified {len(truths)} copies: accuracy {min(accs):.4f}..{max(accs):.4f}, "
          f"RMS width {verifier['rms_width']:.1e}, {verifier['wall_s']:.3f} s each", flush=True)
    estimate_accuracy(copies[0], 1000, seed=0)  # warm-up, so the first timed estimate pays no first-call costs
    rows = sweep(truths, args.budgets, args.seeds, args.max_samples, args.seed)
    big = [r for r in rows if r["samples"] >= 10_000] or rows
    rate = sum(r["samples"] * r["estimates"] for r in big) / sum(r["wall_s"] * r["estimates"] for r in big)
    same = equal_time(truths, args.seeds, args.seed)
    print(f"  equal time: {same['samples']:,.0f} samples per copy, RMS error {same['rms_error']:.2e}", flush=True)
    return {"parent": parent.name, "label": parent_label(spec, parent), "spec": spec, "d": parent.d, "n": parent.n, "copies": len(truths),
            "sigma": args.sigma, "seed": args.seed, "seeds": args.seeds, "parent_accuracy_copies": {"min": min(accs), "max": max(accs),
            "mean": sum(accs) / len(accs)}, "verifier": verifier, "sampling": rows, "equal_time": same,
            "sampling_rate": rate, "per_copy": [{"name": t.model.name, "accuracy": t.accuracy, "width": t.width,
                                                 "certified": t.certified, "seconds": t.seconds} for t in truths]}


def table_rows(result: dict) -> list[list[str]]:
    label = f"{result['label']} (d={result['d']},n={result['n']})"
    v, same = result["verifier"], result["equal_time"]
    kind = "certified" if v["certified"] else "ESTIMATED measures"
    out = [[label, "verifier", "-", str(result["copies"]), f"{v['wall_s']:.3g}", f"<= {v['rms_width']:.1e}", "0",
            f"{kind}; error <= interval width"]]
    out.append([label, "sampling, equal time", f"{same['samples']:,.0f}", str(same["estimates"]), f"{same['wall_s']:.3g}",
                f"{same['rms_error']:.2e}", f"{same['predicted_rms']:.2e}",
                f"{orders(same['rms_error'], v['rms_width'])} orders of magnitude above the verifier"])
    for r in result["sampling"]:
        full = result["copies"] * result["seeds"]
        note = "" if r["estimates"] >= full else (f"capped: {r['estimates']} of {full} estimates"
                                                   + (", 1 per copy" if r["estimates"] <= result["copies"] else ""))
        out.append([label, "sampling", f"{r['samples']:,}", str(r["estimates"]), f"{r['wall_s']:.3g}",
                    f"{r['rms_error']:.2e}", f"{r['predicted_rms']:.2e}", note])
    return out


def orders(a: float, b: float) -> str:
    return "inf" if b == 0 else f"{math.log10(a / b):.0f}"


def arc_rows(results: list[dict]) -> list[list[str]]:
    """ARC's published M4,3 figures (operations), with our sampling prediction at the same samples-equivalent."""
    d4n3 = next((r for r in results if (r["d"], r["n"]) == (4, 3)), None)
    out = []
    for label, ops, est_rms, samp_rms in ARC_M43:
        samples = ops / M43_OPS_PER_SAMPLE
        ours = "" if d4n3 is None else (f"our sampling on {d4n3['label']} copies at {samples:,.0f} samples: "
                                        f"{_predicted_at(d4n3, samples):.2%} RMS")
        out.append(["M4,3 (ARC, 256 copies)", label, f"~{samples:,.0f} (={ops:,} ops)", "256", "-",
                    f"~{est_rms:.0%}", f"sampling ~{samp_rms:.1%}", ours])
    return out


def _predicted_at(result: dict, samples: float) -> float:
    p = [c["accuracy"] for c in result["per_copy"]]
    return math.sqrt(sum(a * (1 - a) for a in p) / len(p) / samples)


def render(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [list(TABLE_COLUMNS), *rows]) for i in range(len(TABLE_COLUMNS))]
    def line(cells):
        return "  ".join(c.ljust(w) if i in (0, 1, 7) else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([line(TABLE_COLUMNS), line(["-" * w for w in widths])] + [line(r) for r in rows])


def plot(results: list[dict], path: Path) -> None:
    """Log-log RMS error vs compute: wall seconds (left), samples-equivalent with ARC's points (right).

    The y axis is broken: sampling's errors above, the verifier's (its interval widths) below.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(2, 2, figsize=(13, 7.5), sharex="col", gridspec_kw={"height_ratios": [3, 1]})
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:purple"]
    widths = [r["verifier"]["rms_width"] for r in results if r["verifier"]["rms_width"] > 0] or [1e-40]
    handles = [[], []]
    for i, r in enumerate(results):
        c = colors[i % len(colors)]
        v, same = r["verifier"], r["equal_time"]
        xs_by_col = ([s["wall_s"] for s in r["sampling"]], [s["samples"] for s in r["sampling"]])
        verifier_x = (v["wall_s"], same["samples"])
        same_x = (same["wall_s"], same["samples"])
        for col in range(2):
            if col == 1 and (r["d"], r["n"]) != (4, 3):
                continue
            top, bottom = axes[0, col], axes[1, col]
            handles[col] += top.plot(xs_by_col[col], [s["rms_error"] for s in r["sampling"]], "o-", color=c,
                                     label=f"sampling, {r['label']}")
            top.plot(xs_by_col[col], [s["predicted_rms"] for s in r["sampling"]], ":", color=c, alpha=0.8)
            top.plot([same_x[col]], [same["rms_error"]], "s", color=c, markersize=11, markerfacecolor="none",
                     markeredgewidth=2)
            y = max(v["rms_width"], min(widths))
            bottom.plot([verifier_x[col]], [y], "*", color=c, markersize=16)
            dx, dy, align = ((-10, 10, "right"), (10, 10, "left"), (-10, -16, "right"))[i % 3]
            bottom.annotate(f"<= {v['rms_width']:.1e}", (verifier_x[col], y), textcoords="offset points",
                            xytext=(dx, dy), ha=align, fontsize=8.5, color=c, fontweight="bold")
            for ax in (top, bottom):
                ax.axvline(verifier_x[col], color=c, lw=0.8, ls="--", alpha=0.6)
    for label, ops, est_rms, samp_rms in ARC_M43:
        x = ops / M43_OPS_PER_SAMPLE
        axes[0, 1].plot([x], [est_rms], "D", color="crimson", markersize=8)
        axes[0, 1].plot([x], [samp_rms], "x", color="crimson", markersize=9, markeredgewidth=2)
        axes[0, 1].annotate(f"{ops:,} ops: ~{est_rms:.0%}", (x, est_rms), textcoords="offset points",
                            xytext=(9, -3), fontsize=8, color="crimson")
    handles[1] += [Line2D([], [], marker="D", color="crimson", ls="none",
                          label=f"ARC's mechanistic estimates, M4,3 ({M43_OPS_PER_SAMPLE} ops = 1 sample)"),
                   Line2D([], [], marker="x", color="crimson", ls="none", markeredgewidth=2,
                          label="ARC's sampling at the same operations")]
    common = [Line2D([], [], ls=":", color="gray", label="binomial prediction sqrt(p(1-p)/N)"),
              Line2D([], [], marker="s", ls="none", color="gray", markerfacecolor="none", markeredgewidth=2,
                     markersize=9, label="sampling given the verifier's wall time"),
              Line2D([], [], marker="*", ls="none", color="gray", markersize=12,
                     label="certified verifier (error <= interval width)"),
              Line2D([], [], ls="--", color="gray", lw=0.8, label="verifier's cost")]
    for col in range(2):
        top, bottom = axes[0, col], axes[1, col]
        for ax in (top, bottom):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(True, which="major", alpha=0.3)
        top.set_ylim(1e-6, 0.3)
        bottom.set_ylim(min(widths) / 1e3, max(widths) * 1e3)
        top.spines["bottom"].set_visible(False)
        bottom.spines["top"].set_visible(False)
        top.tick_params(bottom=False)
        for ax, ys in ((top, (-0.012, 0.012)), (bottom, (0.964, 1.036))):
            for x0 in (0, 1):
                ax.plot((x0 - 0.008, x0 + 0.008), ys, transform=ax.transAxes, color="k", clip_on=False, lw=1)
        top.set_ylabel("RMS error of the accuracy")
        bottom.set_ylabel("axis broken")
        top.legend(handles=handles[col] + common, fontsize=8, loc="lower left")
    axes[0, 0].set_title("Error vs wall time per copy (this machine, one thread)")
    axes[0, 1].set_title(f"d=4, n=3: error vs compute in samples (ARC's operations / {M43_OPS_PER_SAMPLE})")
    axes[1, 0].set_xlabel("wall seconds per noisy copy")
    axes[1, 1].set_xlabel("samples (verifier: the samples drawn in its wall time on this machine)")
    first = results[0]
    fig.suptitle(f"Certified verifier vs Monte Carlo sampling on noisy copies "
                 f"({first['copies']} per parent, sigma {first['sigma']:g})", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_budgets(text: str) -> tuple[int, ...]:
    try:
        budgets = tuple(int(float(b)) for b in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"budgets must be comma-separated numbers, got {text!r}") from None
    if not budgets or min(budgets) < 1:
        raise argparse.ArgumentTypeError("budgets must be positive")
    return budgets


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parents", default=",".join(DEFAULT_PARENTS),
                        help="comma-separated model specs; m22 = the real M2,2 (default: m22,trained:4:3,handcrafted:3)")
    parser.add_argument("--copies", "-K", type=int, default=None, help="noisy copies per parent (default 64; 8 quick)")
    parser.add_argument("--sigma", type=float, default=0.05, help="noise standard deviation (default 0.05, as ARC)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noisy copies and of the sampling")
    parser.add_argument("--budgets", type=parse_budgets, default=None,
                        help="comma-separated sampling budgets (default 1e2,...,1e7; up to 1e5 quick)")
    parser.add_argument("--seeds", type=int, default=None, help="sampling estimates per copy (default 4; 2 quick)")
    parser.add_argument("--max-samples", type=float, default=4e7,
                        help="cap on the total samples per budget across copies and seeds (default 4e7)")
    parser.add_argument("--quick", action="store_true", help="K=8, budgets up to 1e5 (checks the script runs)")
    parser.add_argument("--replot", action="store_true",
                        help="only redraw error_vs_compute.png from the vs_sampling.json in --out")
    parser.add_argument("--out", type=Path, default=None,
                        help="write vs_sampling.txt/.json and error_vs_compute.png here "
                             "(default benchmarks/results; nothing with --quick)")
    args = parser.parse_args(argv)
    args.copies = args.copies or (8 if args.quick else 64)
    args.budgets = args.budgets or (QUICK_BUDGETS if args.quick else DEFAULT_BUDGETS)
    args.seeds = args.seeds or (2 if args.quick else 4)
    args.max_samples = int(args.max_samples)
    if args.copies < 1 or args.seeds < 1 or args.max_samples < 1 or args.seed < 0:
        parser.error("--copies, --seeds and --max-samples must be positive, --seed non-negative")
    out = args.out if args.out is not None or args.quick else REPO / "benchmarks" / "results"

    if args.replot:
        out = out or REPO / "benchmarks" / "results"
        plot(json.loads((out / "vs_sampling.json").read_text())["results"], out / "error_vs_compute.png")
        print(f"wrote {out / 'error_vs_compute.png'}")
        return 0
    start = time.perf_counter()
    header = [f"verifier vs sampling: {args.copies} noisy copies per parent, sigma {args.sigma:g}, seed {args.seed}, "
              f"{args.seeds} sampling seeds per copy, at most {args.max_samples:.0e} samples per budget", machine()]
    print("\n".join(header), flush=True)
    results = []
    for spec in args.parents.split(","):
        try:
            results.append(run_parent(spec.strip(), args))
        except VerifierError as e:
            print(f"skipped {spec}: {e}", flush=True)
    if not results:
        print("no parent model could be loaded", file=sys.stderr)
        return 2
    rows = [row for r in results for row in table_rows(r)] + arc_rows(results)
    lines = ["", render(rows), "",
             "RMS error: root mean square over (copy, seed) estimates of (estimate - certified accuracy).",
             "wall s: per copy; for sampling budgets the median over the estimates (robust to other jobs on the"
             " machine), for equal time and the verifier the mean.",
             "predicted RMS: sqrt(mean over copies of p(1-p)/N), p the certified accuracy.",
             f"ARC's rows: published figures for M4,3, operations converted at {M43_OPS_PER_SAMPLE} multiply-adds"
             " per sample.", f"total benchmark time {time.perf_counter() - start:.0f} s"]
    print("\n".join(lines))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "vs_sampling.txt").write_text("\n".join(header + lines) + "\n")
        settings = {k: v for k, v in vars(args).items() if k != "out"}
        (out / "vs_sampling.json").write_text(json.dumps({"settings": settings, "machine": machine(),
                                                          "results": results}, indent=1) + "\n")
        plot(results, out / "error_vs_compute.png")
        print(f"wrote {out / 'vs_sampling.txt'}, {out / 'vs_sampling.json'} and {out / 'error_vs_compute.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
