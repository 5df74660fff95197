"""Benchmark: memory of the streaming pipeline does not grow with the number of pieces.

Runs :func:`verifier.pipeline.run` serially on a big random model (default (8,5), about 60,000
pieces) with a certificate being written, but with a placeholder measure (every cone gets the
interval [0, 1], labelled as such) so that the run takes minutes instead of hours: the walk, the
outcome cones, the running totals and the certificate's spill files are all the real ones. The
resident memory is sampled as the pieces stream by and printed against the piece count.

    python benchmarks/bench_memory.py                # (8,5): ~60,000 pieces
    python benchmarks/bench_memory.py --d 6 --n 4    # a small check
"""

from __future__ import annotations

from benchmark_env import machine  # first: it pins BLAS to one thread before numpy loads

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from fractions import Fraction  # noqa: E402

from bench_certify import gaussian_model  # noqa: E402

from verifier.measure import Measure  # noqa: E402
from verifier.pipeline import ACCURACY, run  # noqa: E402
from verifier.resources import rss_bytes  # noqa: E402

SAMPLES: list[tuple[int, float]] = []
_count = [0]


def placeholder_measure(cone, n, stop=None) -> Measure:
    """[0, 1] for every cone (not a measure: this benchmark only watches memory); samples RSS."""
    _count[0] += 1
    if _count[0] % 2000 == 0:
        SAMPLES.append((_count[0], rss_bytes() / 2**20))
    return Measure(Fraction(0), Fraction(1), False, "placeholder", 0.5, 0.0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=8)
    parser.add_argument("--n", type=int, default=5)
    args = parser.parse_args(argv)
    model = gaussian_model(args.d, args.n)
    print(f"streaming memory: gaussian {args.d},{args.n}, serial, certificate spilled, placeholder measure")
    print(machine())
    start = time.perf_counter()
    before = rss_bytes() / 2**20
    with tempfile.TemporaryDirectory() as spill:
        r = run(model, certificate=True, spill=spill, scoring=replace(ACCURACY, score=placeholder_measure))
    wall = time.perf_counter() - start
    print(f"{r.tally.pieces} pieces, {r.tally.correct.count + r.tally.errors.count} cones in {wall:.0f} s; "
          f"RSS before the run {before:.0f} MB")
    print("cones   RSS MB")
    for cones, mb in SAMPLES[:: max(1, len(SAMPLES) // 12)] + SAMPLES[-1:]:
        print(f"{cones:>7}  {mb:6.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
