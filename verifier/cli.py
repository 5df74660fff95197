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


SUBCOMMANDS = [_add_info]


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
