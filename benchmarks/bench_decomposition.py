"""Benchmark: exact cone decomposition, pieces and wall time per model.

Rows: the real M2,2 (from $ALGZOO_DIR, default ../shared/algzoo beside the repo), the
handcrafted models, every trained model shipped with the package, and seeded random Gaussian
models of zoo sizes. Each model gets a time budget, so the run always finishes; rows that
hit it say so (their pieces are a lower bound).

    python benchmarks/bench_decomposition.py [--max-seconds 60] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from verifier.geometry.decomposition import decompose
from verifier.errors import VerifierError
from verifier.models.loading import load_model, trained_models
from verifier.models.model import Model

REPO = Path(__file__).resolve().parent.parent
M22_FILE = "2nd_argmax_2_2_1073741824_2.pth"
RANDOM_SIZES = [(4, 3), (4, 4), (5, 4), (6, 4), (8, 4), (4, 5), (8, 5)]
HANDCRAFTED_SPECS = ["handcrafted:2", "handcrafted:3", "handcrafted:10"]


def gaussian_model(d: int, n: int, rng: np.random.Generator) -> Model:
    """Standard-normal float32 weights (the scale does not change the pieces: the model is homogeneous)."""
    shapes = [(d, 1), (d, d), (n, d)]
    return Model.from_arrays(*(rng.standard_normal(s).astype(np.float32) for s in shapes), name=f"gaussian d={d} n={n}")


def models(seed: int):
    """(label, model or None, why it is missing) for every row."""
    m22 = Path(os.environ.get("ALGZOO_DIR", REPO.parent / "shared" / "algzoo")) / M22_FILE
    yield ("M2,2 (real)", *_load(m22)) if m22.is_file() else ("M2,2 (real)", None, f"not found: {m22}")
    for spec in [*HANDCRAFTED_SPECS, *trained_models()]:
        yield (spec, *_load(spec))
    rng = np.random.default_rng(seed)
    for d, n in RANDOM_SIZES:
        yield f"gaussian seed {seed}", gaussian_model(d, n, rng), None


def _load(spec):
    try:
        return load_model(spec), None
    except VerifierError as e:
        return None, str(e)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time budget per model (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random Gaussian models")
    args = parser.parse_args(argv)
    header = f"{'model':<22} {'d':>3} {'n':>3} {'pieces':>8} {'wall s':>8} {'pieces/s':>9}  note"
    print(header)
    print("-" * len(header))
    for label, model, missing in models(args.seed):
        if model is None:
            print(f"{label:<22} {'':>3} {'':>3} {'':>8} {'':>8} {'':>9}  skipped: {missing}")
            continue
        dec = decompose(model, max_seconds=args.max_seconds)
        note = "complete" if dec.complete else f"BUDGET HIT ({args.max_seconds:g} s): pieces are a lower bound"
        print(f"{label:<22} {model.d:>3} {model.n:>3} {len(dec.pieces):>8} {dec.seconds:>8.3f}"
              f" {dec.pieces_per_second:>9.0f}  {note}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
