"""The ``verifier`` command line: a thin layer over the Python API.

Each subcommand is a function returning a :class:`Outcome` (data for ``--json``, text for
people, an exit code). User errors (:class:`VerifierError`) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from fractions import Fraction

from . import __version__
from .display import one_in, percent
from .errors import VerifierError
from .models.loading import load_model
from .models.model import check_size, printable_name
from .models.tasks import TASKS


@dataclass(frozen=True)
class Outcome:
    data: object
    text: str
    exit_code: int = 0


def _json_default(obj):
    if isinstance(obj, Fraction):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot serialize {type(obj).__name__}")


# -- subcommands --------------------------------------------------------------------------

def _info(args) -> Outcome:
    m = load_model(args.model, seq_len=args.seq_len, task=args.task)
    data = {"name": m.name, "task": m.task.name, "task_source": m.task_source or "given", "d": m.d, "n": m.n, "params": m.n_params,
            "precision": m.precision, "sha256_exact": m.content_hash}
    text = f"{m.describe()}\nsha256 of exact weights: {m.content_hash}"
    return Outcome(data, text)


def _add_info(sub):
    p = sub.add_parser("info", help="describe a model (size, task, hash of its exact weights)")
    p.add_argument("model", help="model spec: a file, handcrafted:N, zoo:2nd_argmax:D:N[:SEED], trained:D:N")
    p.set_defaults(run=_info)


def _sample(args) -> Outcome:
    from .estimate.sampling import estimate_accuracy

    m = load_model(args.model, seq_len=args.seq_len, task=args.task)
    if m.task.outputs_value:
        return _sample_median(m, args)
    est = estimate_accuracy(m, args.n, seed=args.seed, dtype=args.dtype, progress=_progress(args))
    lo, hi = est.ci95
    text = "\n".join([
        f"{m.describe()}",
        f"Monte Carlo ({est.dtype}, seed {est.seed}): {est.n:,} Gaussian sequences in {est.seconds:.2f} s"
        f" ({est.samples_per_second:,.0f} samples/s)",
        f"accuracy   {percent(est.accuracy)}  (stderr {est.stderr:.2e}; 95% Wilson [{percent(lo)}, {percent(hi)}])",
        f"error rate {est.error_rate:.3e}  ("
        + (one_in(est.error_rate) if est.correct < est.n else f"no error in {est.n:,} samples")
        + "; an estimate, not a proof)",
        *([f"{est.float_decided:,} near-ties were decided by float rounding (exact re-evaluation ran out of"
           " time), so this estimates the float64 forward pass there, not the exact model"]
          if est.float_decided else []),
    ])
    return Outcome(est.to_json(), text)


def _sample_median(m, args) -> Outcome:
    from .estimate.sampling import estimate_mse

    est = estimate_mse(m, args.n, seed=args.seed, dtype=args.dtype, progress=_progress(args))
    text = "\n".join([
        m.describe(),
        f"Monte Carlo ({est.dtype}, seed {est.seed}): {est.n:,} Gaussian sequences in {est.seconds:.2f} s"
        f" ({est.samples_per_second:,.0f} samples/s)",
        f"MSE  {est.mse:.6g}  (stderr {est.stderr:.2e}; an estimate, not a proof)",
        f"RMSE {est.rmse:.6g}  (stderr {est.rmse_stderr:.2e}, delta method)",
    ])
    return Outcome(est.to_json(), text)


def _add_sample(sub):
    p = sub.add_parser("sample", help="estimate accuracy by Monte Carlo (the sampling baseline)")
    p.add_argument("model", help="model spec")
    p.add_argument("-n", type=int, default=1_000_000, help="number of Gaussian input sequences (default 10^6)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.set_defaults(run=_sample)


def _estimate(args) -> Outcome:
    from .estimate.api import estimate

    m = load_model(args.model, seq_len=args.seq_len, task=args.task)
    est = estimate(m, seconds=args.seconds, method=args.method, seed=args.seed, dtype=args.dtype)
    error = "bias not stated (deterministic)" if est.stderr is None else f"stderr {est.stderr:.2e}"
    text = "\n".join([
        m.describe(),
        f"{est.method} ({est.dtype}{'' if est.deterministic else f', seed {est.seed}'}): {est.seconds:.3f} s,"
        f" {est.forward_passes:,.0f} forward-pass equivalents, {est.units:,} units",
        f"accuracy   {percent(est.accuracy)}  ({error}; a {est.kind.split(' (')[0]}, not a proof)",
    ])
    data = {"model": m.name, "sha256_exact": m.content_hash, **est.to_json()}
    return Outcome(data, text)


def _add_estimate(sub):
    from .estimate import METHODS

    p = sub.add_parser("estimate", help="estimate accuracy within a time budget (sampling and structured estimators)")
    p.add_argument("model", help="model spec")
    p.add_argument("--seconds", type=float, default=1.0, help="wall-clock budget (default 1)")
    p.add_argument("--method", choices=METHODS, default="auto",
                   help="estimator (default auto: a short pilot of sampling, conditional and branching on this"
                        " model picks the most efficient; below 0.1 s, by the model's size)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.set_defaults(run=_estimate)


def _certify(args) -> Outcome:
    from .certify import certify, default_workers
    from .resources import process_start

    m = load_model(args.model, seq_len=args.seq_len, task=args.task)
    max_seconds, note = _budget(args, m)
    workers = default_workers() if args.workers is None else args.workers
    cert = certify(m, max_pieces=args.max_pieces, max_seconds=max_seconds, progress=_progress(args),
                   workers=workers, scheduler=args.scheduler, keep=m.n == 2 and not m.task.outputs_value,
                   certificate=args.certificate, started=process_start(), plackett=not args.qmc,
                   integrate=args.integrate)
    if m.task.outputs_value:
        return _certify_median(cert, note)
    m, acc, err = cert.model, cert.accuracy, cert.error_rate

    by_cell = cert.breakdown()
    breakdown = [{"above": list(cell.above), "target": cell.target, "error": interval(meas)}
                 for cell, meas in by_cell.items()]
    kind = "certified" if cert.certified else ("ESTIMATED (not certified: cones of dimension >= 6, or with more"
                                               " than 64 simplices, or (--qmc) of dimension 4-5 were estimated)")
    data = {"model": m.name, "task": m.task.name, "sha256_exact": m.content_hash, "d": m.d, "n": m.n,
            "accuracy": interval(acc), "error_rate": interval(err), "certified": cert.certified,
            "complete": cert.complete, "stop_reason": cert.stop_reason,
            "pieces": cert.pieces, "cones": cert.cones, "error_cones": cert.error_cones,
            "unresolved": cert.unresolved_cones, "seconds": cert.seconds, "workers": cert.workers,
            "integrated": args.integrate, "stages": cert.stages, "breakdown": breakdown}
    lines = [
        m.describe(),
        *([note] if note else []),
        f"{cert.pieces} linear pieces, {cert.cones} correct/error cones"
        f" ({cert.error_cones} error), {cert.seconds:.3f} s"
        + (f" on {cert.workers} workers" if cert.workers > 1 else ""),
        f"accuracy   in [{acc.lo_str(17)}, {acc.hi_str(17)}]  ({kind})",
        f"error rate in [{err.lo_str(17)}, {err.hi_str(17)}]"
        + (f"  = {one_in(float(err.hi + err.lo) / 2)}" if err.hi - err.lo < (err.hi + err.lo) / 20 else "")
        + f"  (width {float(err.hi - err.lo):.1e})",
    ]
    if args.closed_form and m.n == 2 and cert.complete:
        from .measure.closed_form import error_closed_form  # sympy: about a second to import

        form = error_closed_form(cert)
        data["closed_form"] = {"error_rate": str(form.expression),
                               "values": {str(k): str(v) for k, v in form.values.items()},
                               "value": str(form.evaluate(40))}
        lines.append(f"closed form: error rate = {form.expression}")
        if form.values:
            lines.append("  with " + ", ".join(f"{k} = {float(v):.10g}" for k, v in form.values.items())
                         + f"  ->  {form.evaluate(20)}")
    if not cert.complete:
        lines.append(f"PARTIAL: {cert.stop_reason}; the undecided mass (<= {float(cert.unresolved.hi):.3g})"
                     " widens both intervals")
    if any("not-integrated" in s.methods for s in cert.tally.by_cell.values()):
        lines.append("error mass by order cell: not integrated (--integrate correct); only the total, 1 - accuracy")
    elif breakdown:
        lines.append("error mass by order cell (which inputs lie above the target, and the target's position):")
        for cell, meas in by_cell.items():
            above = "nothing" if not cell.above else ",".join(f"x{a}" for a in cell.above)
            lines.append(f"  {above:>9} above target x{cell.target}: {meas.lo_str(7)} .. {meas.hi_str(7)}")
    if cert.certificate is not None:
        data["certificate"] = str(cert.certificate)
        lines.append(f"certificate written to {data['certificate']}; check it with: verifier check {data['certificate']}")
    return Outcome(data, "\n".join(lines))


def interval(value) -> dict:
    """A certified (or estimated) interval as JSON: outward-rounded decimals and exact endpoints;
    a measure also says whether it is certified, and an estimate gives its point value and stderr."""
    from .measure import Measure

    out = {"lo": value.lo_str(40), "hi": value.hi_str(40), "lo_exact": str(value.lo), "hi_exact": str(value.hi)}
    if isinstance(value, Measure):
        out["certified"] = value.certified
        if not value.certified:
            out.update(estimate=value.estimate, stderr=value.stderr)
    return out


def _certify_median(cert, note: str | None) -> Outcome:
    """``certify`` on a median model: the MSE and RMSE as intervals."""
    m, mse, rmse = cert.model, cert.mse, cert.rmse
    kind = "certified" if cert.certified else ("ESTIMATED (not certified: some cone measures have no enclosure:"
                                               " dimension >= 6, or (--qmc) 4-5)")
    data = {"model": m.name, "task": m.task.name, "sha256_exact": m.content_hash, "d": m.d, "n": m.n,
            "mse": interval(mse), "rmse": interval(rmse), "certified": cert.certified,
            "complete": cert.complete, "stop_reason": cert.stop_reason,
            "pieces": cert.pieces, "cones": cert.cone_count, "unresolved": cert.unresolved_cones,
            "seconds": cert.seconds, "workers": cert.workers, "stages": cert.stages,
            "breakdown": [{"middle": list(cell.middle), "above": list(cell.above), "mse": interval(e)}
                          for cell, e in cert.breakdown().items()]}
    if not cert.certified:
        data["mse"].update(estimate=mse.estimate, stderr=mse.stderr)
        data["rmse"].update(estimate=rmse.estimate, stderr=rmse.stderr)
    lines = [
        m.describe(),
        *([note] if note else []),
        f"{cert.pieces} linear pieces, {cert.cone_count} cones (piece x median cell), {cert.seconds:.3f} s"
        + (f" on {cert.workers} workers" if cert.workers > 1 else ""),
        f"MSE  = E[(y(x) - median(x))^2] in [{mse.lo_str(17)}, {mse.hi_str(17)}]  ({kind})",
        f"RMSE in [{rmse.lo_str(17)}, {rmse.hi_str(17)}]  (width {float(rmse.width):.1e})",
    ]
    if not cert.complete:
        lines.append(f"PARTIAL: {cert.stop_reason}; the undecided cones (mass <= {float(cert.undecided_mass):.3g})"
                     f" add at most {float(cert.tail_bound):.3g} to the MSE, a proved bound")
    if cert.certificate is not None:
        data["certificate"] = str(cert.certificate)
        lines.append(f"certificate written to {data['certificate']}; check it with: verifier check {data['certificate']}")
    return Outcome(data, "\n".join(lines))


def _add_certify(sub):
    p = sub.add_parser("certify", help="prove the accuracy: exact decomposition + certified Gaussian measure")
    p.add_argument("model", help="model spec")
    _add_budget(p)
    p.add_argument("--certificate", metavar="FILE.json", default=None,
                   help="also write a self-contained proof certificate (check it with: verifier check FILE.json)")
    p.add_argument("--closed-form", action="store_true",
                   help="n = 2: also print the error rate as a formula (sympy)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes walking independent subtrees (default: all cores)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run the subtrees on a dask.distributed cluster (e.g. tcp://host:8786; needs the "
                        "[distributed] extra) instead of local processes")
    p.add_argument("--qmc", action="store_true",
                   help="estimate cones of dimension 4 and 5 by quasi-Monte Carlo (milliseconds per cone, labelled"
                        " estimates) instead of certifying them by Plackett's integral (about 0.1 s per simplex)")
    p.add_argument("--integrate", choices=("both", "errors", "correct"), default="both",
                   help="integrate both sides (default) or only the error or only the correct cones (the other"
                        " side's rate is 1 minus this one's: the same interval for a complete run with less work,"
                        " wider for a budgeted one; with 'correct' the per-cell error breakdown is only bounded)")
    p.set_defaults(run=_certify)


def _add_budget(p):
    """Budget options: a long run stops cleanly and reports what it could not resolve."""
    p.add_argument("--max-pieces", type=int, default=None, help="stop after this many pieces")
    p.add_argument("--max-seconds", type=float, default=None,
                   help="stop after this long (the whole run); models with d*n > 48 get 300 s by default")


def _budget(args, model) -> tuple[float | None, str | None]:
    """Checked budget options, and the default budget for models too big to enumerate."""
    from .resources import default_budget
    check_size(model.d, model.n, exact=True, what=model.name)
    if args.max_seconds is not None and not args.max_seconds >= 0:
        raise VerifierError(f"--max-seconds must be >= 0, got {args.max_seconds}")
    if getattr(args, "workers", None) is not None and args.workers < 1:
        raise VerifierError(f"--workers must be >= 1, got {args.workers}")
    return default_budget(model, args.max_seconds, args.max_pieces)


def _progress(args) -> bool:
    """Progress bars go to stderr, only for people at a terminal."""
    return not args.json and sys.stderr.isatty()


def _train(args) -> Outcome:
    import shlex
    from pathlib import Path

    from .models.training import SCHEDULES, best_of, sampled_score, save_trained, train_seeds

    out = Path(args.output)
    if out.suffix != ".json":
        raise VerifierError(f"{out}: the output must be a .json file")
    if not out.parent.is_dir():
        raise VerifierError(f"{out}: folder {out.parent} does not exist")
    if out.is_dir():
        raise VerifierError(f"{out}: is a folder, expected a .json file name")
    if args.eval_samples < 0:
        raise VerifierError(f"--eval-samples must be >= 0, got {args.eval_samples}")
    if args.best_of < 1:
        raise VerifierError(f"--best-of must be >= 1, got {args.best_of}")
    if args.best_of > 1 and not args.eval_samples:
        raise VerifierError("--best-of needs --eval-samples > 0 to compare the seeds")
    if args.seed < 0:
        raise VerifierError(f"--seed must be >= 0, got {args.seed}")
    if args.schedule not in SCHEDULES:
        raise VerifierError(f"unknown --schedule {args.schedule!r}; known: {', '.join(SCHEDULES)}")
    words = ["verifier", "train", str(args.d), str(args.n), "--steps", str(args.steps), "--seed", str(args.seed)]
    if args.best_of > 1:
        words += ["--best-of", str(args.best_of)]
    words += ["--schedule", args.schedule, "--task", args.task, "--batch", str(args.batch), "-o", str(out)]
    seeds = list(range(args.seed, args.seed + args.best_of))
    runs = train_seeds(args.d, args.n, seeds=seeds, steps=args.steps, task=args.task, schedule=args.schedule,
                       batch=args.batch, progress=_progress(args), threads=args.threads, log_every=args.log_every)
    scored = [(run, sampled_score(run, args.eval_samples, seed=args.eval_seed) if args.eval_samples else {})
              for run in runs]
    best, score = best_of(scored) if len(scored) > 1 else scored[0]
    screen = [{"seed": run.info.seed, "final_loss": run.info.final_loss, **s} for run, s in scored] \
        if len(scored) > 1 else None
    meta = save_trained(best, out, command=shlex.join(words), eval_samples=args.eval_samples,
                        eval_seed=args.eval_seed, screen=screen, score=score)
    info = best.info
    lines = [f"{args.task} RNN d={info.d} n={info.n}",
             f"trained {info.steps:,} steps ({info.schedule} schedule, seed {info.seed}"
             + (f", best of seeds {seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else "")
             + f", batch {info.batch}) in {info.seconds:.1f} s; loss {info.first_loss:.4f} -> {info.final_loss:.4f}"]
    if "accuracy" in meta:
        lines.append(f"accuracy {percent(meta['accuracy'])} (stderr {meta['accuracy_stderr']:.1e},"
                     f" {meta['accuracy_samples']:,} Gaussian samples; a randomized estimate)")
    if "mse" in meta:
        lines.append(f"mean squared error {meta['mse']:.4g} (stderr {meta['mse_stderr']:.1e}, RMSE {meta['rmse']:.4g},"
                     f" {meta['mse_samples']:,} Gaussian samples; a randomized estimate)")
    lines.append(f"saved {out}")
    return Outcome({"file": str(out), "sha256_exact": best.to_model().content_hash, "meta": meta}, "\n".join(lines))


def _add_train(sub):
    from .models.training import ALGZOO_STEPS

    p = sub.add_parser("train", help="train an RNN with AlgZoo's training schedule (needs the torch extra)")
    p.add_argument("d", type=int, help="hidden size")
    p.add_argument("n", type=int, help="sequence length")
    p.add_argument("-o", "--output", required=True, help="weight file to write (.json)")
    p.add_argument("--steps", type=int, default=ALGZOO_STEPS, help="optimizer steps (batches); default 2^20, AlgZoo's")
    p.add_argument("--schedule", default="algzoo",
                   help="learning-rate schedule: algzoo (2^14-step warm-up, decay floor at half the run; default)"
                        " or short (warm-up over 5%% of the steps, decay until the last step)")
    p.add_argument("--seed", type=int, default=0, help="seed for initialization and data (default 0)")
    p.add_argument("--best-of", type=int, default=1, metavar="K",
                   help="train seeds SEED..SEED+K-1 together and keep the best by sampled score (AlgZoo: 5)")
    p.add_argument("--task", default="2nd_argmax", help="task: 2nd_argmax (default), argmax, argmedian, median")
    p.add_argument("--batch", type=int, default=1024, help="sequences per batch (default 1024)")
    p.add_argument("--threads", type=int, default=1, help="PyTorch threads (default 1)")
    p.add_argument("--log-every", type=int, default=0, metavar="STEPS",
                   help="print each seed's mean loss to stderr every STEPS steps (default: never)")
    p.add_argument("--eval-samples", type=int, default=1_000_000,
                   help="Gaussian samples for the recorded accuracy/MSE estimate (default 10^6; 0 to skip)")
    p.add_argument("--eval-seed", type=int, default=0, help="seed of the accuracy/MSE estimate (default 0)")
    p.set_defaults(run=_train)


def _perturb(args) -> Outcome:
    import re
    from pathlib import Path

    from .models.perturb import perturb
    from .models.weightfile import save_json

    parent = load_model(args.model, seq_len=args.seq_len, task=args.task)
    spec_path = Path(args.model)
    base = spec_path.stem if spec_path.exists() else re.sub(r"[^A-Za-z0-9._-]+", "_", args.model).strip("_")
    copies = perturb(parent, args.sigma, args.count, args.seed, prefix=base or "model")
    out = Path(args.output)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise VerifierError(f"{out}: cannot create folder ({e.strerror or e})") from None
    files = []
    for i, copy in enumerate(copies):
        meta = {"parent": args.model, "parent_sha256_exact": parent.content_hash, "sigma": args.sigma,
                "seed": args.seed, "index": i}
        path = out / f"{copy.name}.json"
        try:
            save_json(copy, path, meta)
        except OSError as e:
            raise VerifierError(f"{path}: cannot write ({e.strerror or e})") from None
        files.append(str(path))
    data = {"parent": args.model, "parent_sha256_exact": parent.content_hash, "sigma": args.sigma,
            "seed": args.seed, "count": args.count, "files": files}
    text = (f"{len(files)} noisy copies of {parent.describe()} (sigma {args.sigma}, seed {args.seed}):\n"
            + "\n".join(files))
    return Outcome(data, text)


def _add_perturb(sub):
    p = sub.add_parser("perturb", help="write noisy copies of a model (i.i.d. Gaussian noise on every weight)")
    p.add_argument("model", help="model spec")
    p.add_argument("--sigma", type=float, default=0.05, help="noise standard deviation (default 0.05, as ARC)")
    p.add_argument("--count", type=int, required=True, help="number of copies")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.add_argument("-o", "--output", required=True, help="folder for the copies (created if needed)")
    p.set_defaults(run=_perturb)



def _decompose(args) -> Outcome:
    from .geometry.decomposition import decompose, delta_forms
    from .exact import rational_str

    m = load_model(args.model, seq_len=args.seq_len, task=args.task)
    max_seconds, note = _budget(args, m)
    dec = decompose(m, max_pieces=args.max_pieces, max_seconds=max_seconds, progress=_progress(args))
    pieces = [{"pattern": [[int(b) for b in step] for step in p.pattern], "constraints": p.constraints,
               "rays": p.rays, "lines": p.lines,
               "logit_map": [[rational_str(v) for v in row] for row in p.logit_map]} for p in dec.pieces]
    data = {"model": m.name, "sha256_exact": m.content_hash, "d": m.d, "n": m.n, "piece_count": len(dec.pieces),
            "complete": dec.complete, "stop_reason": dec.stop_reason, "unresolved": len(dec.unresolved),
            "seconds": dec.seconds, "pieces_per_second": dec.pieces_per_second, "pieces": pieces}
    status = "complete" if dec.complete else f"INCOMPLETE: {dec.stop_reason}"
    lines = [m.describe(), *([note] if note else []),
             f"{len(dec.pieces)} linear pieces ({status}) in {dec.seconds:.3f} s, {dec.pieces_per_second:,.0f} pieces/s"]
    if m.n == 2:
        deltas = delta_forms(dec)
        data["delta"] = [{"piece": p.piece, "a0": rational_str(p.a0), "a1": rational_str(p.a1),
                          "bounding_rays": p.bounding_rays, "angles_degrees": p.angles} for p in deltas]
        lines.append("Delta = logit_1 - logit_0 = a0*x0 - a1*x1 on each piece (angles in degrees, counter-clockwise):")
        for p in deltas:
            sector = " -> ".join(f"{a:7.3f}" for a in p.angles) or "whole plane"
            lines.append(f"  piece {p.piece}: a0 = {float(p.a0):.8g}, a1 = {float(p.a1):.8g},"
                         f" a0/a1 = {float(p.a0) / float(p.a1) if p.a1 else float('nan'):.8g}, sector {sector}")
    return Outcome(data, "\n".join(lines))


def _add_decompose(sub):
    p = sub.add_parser("decompose", help="split input space into the exact linear pieces (activation-pattern cones)")
    p.add_argument("model", help="model spec")
    _add_budget(p)
    p.set_defaults(run=_decompose)



def _surprise(args) -> Outcome:
    from .certify import certify
    from .explain.surprise import EXPLANATIONS, check_explanation, default_explanation

    m = load_model(args.model, seq_len=args.seq_len, task=args.task)
    explanation = args.explanation or default_explanation(m)
    check_explanation(explanation, m)
    max_seconds, _ = _budget(args, m)
    cert = certify(m, max_pieces=args.max_pieces, max_seconds=max_seconds, progress=_progress(args))
    ledger = EXPLANATIONS[explanation](cert)
    others = {name: build(cert) for name, build in EXPLANATIONS.items()
              if name != explanation and (name != "post" or m.n == 2)}
    data = ledger.as_dict()
    data["alternatives"] = {name: {k: other.as_dict()[k] for k in ("total_bits", "explanation_bits",
                                                                     "given_explanation_bits")}
                            for name, other in others.items()}
    chosen = "" if args.explanation else f" (the default for n = {m.n})"
    lines = [m.describe(), f"surprise ledger, {ledger.explanation} explanation{chosen}:",
             f"{'bits':>7}  {'group':<24} check -> outcome"]
    lines += [f"{i.bits:7.2f}  {i.group:<24} {i.check} -> {i.outcome}" for i in ledger.items]
    lines.append("by group: " + ", ".join(f"{g} {b:.2f}" for g, b in ledger.groups().items()))
    err = ledger.error_rate
    lines += [f"explanation        {ledger.explanation_bits:7.2f} bits",
              f"given explanation  {ledger.given_explanation_bits:7.2f} bits  (error rate in [{float(err.lo):.6e},"
              f" {float(err.hi):.6e}], {'certified' if err.certified else 'estimated'})",
              f"total              {ledger.total_bits:7.2f} bits"
              + "".join(f"   | {name}: {o.total_bits:.2f} bits" for name, o in others.items()),
              f"weights            {ledger.weight_bits if ledger.weight_bits is not None else 'n/a (exact)'} bits"
              " (32 per float32 parameter: the upper reference)"]
    lines.append("pricing rules:")
    lines += [f"  [{group}] {rule}" for group, rule in sorted({(i.group, i.rule) for i in ledger.items})]
    return Outcome(data, "\n".join(lines))


def _add_surprise(sub):
    p = sub.add_parser("surprise", help="surprise accounting: an itemized ledger in bits for an explanation")
    p.add_argument("model", help="model spec")
    p.add_argument("--explanation", choices=["post", "brute-force"], default=None,
                   help="post: the AlgZoo post's style (n = 2 only, the default there); brute-force: the full"
                        " certified decomposition (the default for n != 2)")
    _add_budget(p)
    p.set_defaults(run=_surprise)


def _claims(args) -> Outcome:
    from .present.claims import DEFAULT_CLAIMS, check_claims, load_claims

    results = check_claims(load_claims(args.file or DEFAULT_CLAIMS))
    data = [r.as_dict() for r in results]
    rows = [(r.claim.id, r.claim.expected_text, r.measured_text,
             r.verdict if r.verdict != "skipped" else f"skipped ({r.reason})") for r in results]
    widths = [min(36, max(len(row[k]) for row in rows + [("claim", "expected", "measured", "")])) for k in range(3)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(("claim", "expected", "measured"), widths)) + "  verdict"]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) + "  " + row[3] for row in rows]
    counts = {v: sum(r.verdict == v for r in results) for v in ("pass", "fail", "skipped")}
    lines.append(", ".join(f"{n} {v}" for v, n in counts.items()))
    return Outcome(data, "\n".join(lines), 1 if counts["fail"] else 0)


def _add_claims(sub):
    p = sub.add_parser("claims", help="check every claim of ARC's AlgZoo post (proofs/claims.toml)")
    p.add_argument("file", nargs="?", default=None, help="a claims TOML file (default: proofs/claims.toml)")
    p.set_defaults(run=_claims)



def _graph(args) -> Outcome:
    from collections import Counter

    import networkx as nx

    from .geometry.decomposition import decompose
    from .exact import rational_str
    from .explain.region_graph import merge_pieces, region_graph
    from .explain.symmetry import MAX_APPROXIMATE_NEURONS, find_symmetries, nearest_conjugation, orbits

    m = load_model(args.model, seq_len=args.seq_len, task=args.task)
    max_seconds, note = _budget(args, m)
    dec = decompose(m, max_pieces=args.max_pieces, max_seconds=max_seconds, progress=_progress(args))
    graph = region_graph(dec)
    merged = merge_pieces(graph)
    status = "complete" if dec.complete else f"INCOMPLETE: {dec.stop_reason}"
    connected = graph.number_of_nodes() > 0 and nx.is_connected(graph)
    data = {"model": m.name, "sha256_exact": m.content_hash, "d": m.d, "n": m.n, "complete": dec.complete,
            "stop_reason": dec.stop_reason, "pieces": graph.number_of_nodes(), "edge_count": graph.number_of_edges(),
            "connected": connected,
            "edges": [[i, j, list(graph.edges[i, j]["hyperplane"])] for i, j in sorted(graph.edges)],
            "merged": {"key": merged.key, "before": merged.before, "after": merged.after,
                       "regions": [{"pieces": list(r.pieces), "convex": r.convex} for r in merged.regions]}}
    convex = sum(r.convex for r in merged.regions)
    lines = [m.describe(), *([note] if note else []),
             f"{graph.number_of_nodes()} pieces ({status}), {graph.number_of_edges()} shared facets;"
             f" graph {'connected' if connected else 'NOT connected'}",
             f"merged by logit difference: {merged.before} pieces -> {merged.after} regions"
             f" ({convex} convex, {merged.after - convex} not convex)"]
    if dec.complete and not m.task.outputs_value:
        syms = find_symmetries(dec)
        orbit_list = orbits(dec, syms)
        data["symmetries"] = [{
            "name": s.name, "input_map": [list(r) for r in s.input_map],
            "output_permutation": list(s.output_permutation),
            "hidden_map": None if s.hidden_map is None else {
                "permutation": list(s.hidden_map.permutation),
                "scales": [rational_str(v) for v in s.hidden_map.scales]},
            "maps_pieces": s.hidden_map is not None, "preserves_correctness": s.preserves_correctness,
        } for s in syms]
        data["orbits"] = [list(o) for o in orbit_list]
        lines.append(f"exact symmetries: {len(syms) or 'none'}")
        for s in syms:
            how = ("hidden map: neurons -> " + str(list(s.hidden_map.permutation)) + ", scales "
                   + ", ".join(rational_str(v) for v in s.hidden_map.scales)) if s.hidden_map else "on the logits only"
            lines.append(f"  {s.name}: outputs -> {list(s.output_permutation)}; {how};"
                         f" {'preserves' if s.preserves_correctness else 'does NOT preserve'} correctness")
        sizes = Counter(len(o) for o in orbit_list)
        lines.append(f"orbits of pieces: {len(orbit_list)} ("
                     + ", ".join(f"{count} of size {size}" for size, count in sorted(sizes.items())) + ")")
    else:
        data["symmetries"] = data["orbits"] = None
        lines.append("symmetries and orbits skipped: " + ("a median model has one output, nothing to permute"
                                                          if m.task.outputs_value else "they need a complete decomposition"))
    if m.d <= MAX_APPROXIMATE_NEURONS:
        near = nearest_conjugation(m, -1)
        data["approximate_sign_flip"] = None if near is None else {
            "permutation": list(near.permutation), "scales": list(near.scales),
            "output_permutation": list(near.output_permutation),
            "max_relative_deviation": near.max_relative_deviation}
        if near is not None:
            lines.append(f"APPROXIMATE (floats, not a symmetry): nearest sign-flip conjugation, neurons ->"
                         f" {list(near.permutation)}, outputs -> {list(near.output_permutation)},"
                         f" max relative deviation {near.max_relative_deviation:.3g}")
    return Outcome(data, "\n".join(lines))


def _add_graph(sub):
    p = sub.add_parser("graph", help="region graph of the pieces, merged regions, exact symmetries and orbits")
    p.add_argument("model", help="model spec")
    _add_budget(p)
    p.set_defaults(run=_graph)



def _check(args) -> Outcome:
    from .proof.checker import check_certificate

    report = check_certificate(args.file)
    return Outcome(report.as_dict(), report.text(), 0 if report.valid else 1)


def _add_check(sub):
    p = sub.add_parser("check", help="check a proof certificate independently (exit 0 only if it is valid)")
    p.add_argument("file", help="a certificate written by: verifier certify MODEL --certificate FILE.json")
    p.set_defaults(run=_check)



def _report(args) -> Outcome:
    from .present.report import render_report

    m = load_model(args.model, seq_len=args.seq_len, task=args.task)
    max_seconds, _ = _budget(args, m)
    files = render_report(m, args.output, samples=args.samples, seed=args.seed,
                          max_pieces=args.max_pieces, max_seconds=max_seconds)
    paths = [str(p) for p in (files.markdown, files.html, *files.figures)]
    return Outcome({"files": paths}, "\n".join(paths))


def _add_report(sub):
    p = sub.add_parser("report", help="write a proof report with figures (report.md, standalone report.html, PNGs)")
    p.add_argument("model", help="model spec")
    p.add_argument("-o", "--output", required=True, help="folder for the report (created if needed)")
    p.add_argument("--samples", type=int, default=1_000_000,
                   help="Monte Carlo samples for the comparison (default 10^6)")
    p.add_argument("--seed", type=int, default=0, help="Monte Carlo seed (default 0)")
    _add_budget(p)
    p.set_defaults(run=_report)



NO_MODEL_COMMANDS = ("check", "claims", "train")  # the others take a model spec (and --seq-len)
SUBCOMMANDS = [_add_info, _add_sample, _add_estimate, _add_decompose, _add_graph, _add_certify, _add_check, _add_report,
               _add_surprise, _add_claims, _add_train, _add_perturb]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verifier",
        description="Exact polyhedral verifier for small ReLU RNNs (ARC's AlgZoo): certified accuracy, "
                    "proof certificates, reports and surprise accounting.")
    parser.add_argument("--version", action="version", version=f"verifier {__version__}")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    for name, p in sub.choices.items():  # allow --json after the subcommand too
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
        if name not in NO_MODEL_COMMANDS:
            p.add_argument("--seq-len", type=int, default=None, metavar="N",
                           help="sequence length of a one-output (median) model whose file does not record it")
            p.add_argument("--task", choices=sorted(TASKS), default=None,
                           help="the model's task, overriding the one its spec implies (a .pth file's task is"
                                " otherwise guessed from its AlgZoo-style file name, else from its output size)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        outcome = args.run(args)
    except VerifierError as e:
        print(f"verifier: error: {printable_name(str(e), limit=2000)}", file=sys.stderr)  # always one line
        return 2
    except KeyboardInterrupt:
        print("verifier: interrupted", file=sys.stderr)
        return 130
    try:
        print(json.dumps(outcome.data, indent=2, default=_json_default) if args.json else outcome.text)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into `head`: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
