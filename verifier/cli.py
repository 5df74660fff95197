"""The ``verifier`` command line: a thin layer over the Python API.

Each subcommand is a function returning a :class:`Outcome` (data for ``--json``, text for
people, an exit code). User errors (:class:`VerifierError`) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from fractions import Fraction

from . import __version__
from .display import one_in, percent
from .errors import VerifierError
from .loading import load_model


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
    m = load_model(args.model)
    data = {"name": m.name, "task": m.task.name, "d": m.d, "n": m.n, "params": m.n_params,
            "precision": m.precision, "sha256_exact": m.content_hash}
    text = f"{m.describe()}\nsha256 of exact weights: {m.content_hash}"
    return Outcome(data, text)


def _add_info(sub):
    p = sub.add_parser("info", help="describe a model (size, task, hash of its exact weights)")
    p.add_argument("model", help="model spec: a file, handcrafted:N, zoo:2nd_argmax:D:N[:SEED], trained:D:N")
    p.set_defaults(run=_info)


def _sample(args) -> Outcome:
    from .sampling import estimate_accuracy

    m = load_model(args.model)
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
    ])
    return Outcome(est.to_json(), text)


def _add_sample(sub):
    p = sub.add_parser("sample", help="estimate accuracy by Monte Carlo (the sampling baseline)")
    p.add_argument("model", help="model spec")
    p.add_argument("-n", type=int, default=1_000_000, help="number of Gaussian input sequences (default 10^6)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.set_defaults(run=_sample)


def _progress(args) -> bool:
    """Progress bars go to stderr, only for people at a terminal."""
    return not args.json and sys.stderr.isatty()


SUBCOMMANDS = [_add_info, _add_sample]


def _decompose(args) -> Outcome:
    from .decomposition import decompose, delta_forms
    from .exact import rational_str

    m = load_model(args.model)
    dec = decompose(m, max_pieces=args.max_pieces, max_seconds=args.max_seconds, progress=_progress(args))
    pieces = [{"pattern": [[int(b) for b in step] for step in p.pattern], "constraints": p.constraints,
               "rays": p.rays, "lines": p.lines,
               "logit_map": [[rational_str(v) for v in row] for row in p.logit_map]} for p in dec.pieces]
    data = {"model": m.name, "sha256_exact": m.content_hash, "d": m.d, "n": m.n, "piece_count": len(dec.pieces),
            "complete": dec.complete, "stop_reason": dec.stop_reason, "unresolved": len(dec.unresolved),
            "seconds": dec.seconds, "pieces_per_second": dec.pieces_per_second, "pieces": pieces}
    status = "complete" if dec.complete else f"INCOMPLETE: {dec.stop_reason}"
    lines = [m.describe(),
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
    p.add_argument("--max-pieces", type=int, default=None, help="stop after this many pieces")
    p.add_argument("--max-seconds", type=float, default=None, help="stop after this long")
    p.set_defaults(run=_decompose)


SUBCOMMANDS += [_add_decompose]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="verifier", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"verifier {__version__}")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    for p in sub.choices.values():  # allow --json after the subcommand too
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        outcome = args.run(args)
    except VerifierError as e:
        print(f"verifier: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("verifier: interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(outcome.data, indent=2, default=_json_default))
    else:
        print(outcome.text)
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
