"""Median models: certified MSE/RMSE against long Monte Carlo runs, and what certifying costs.

For a few median models (AlgZoo's ScalarRNN: one output; the weights are drawn like PyTorch's
default RNN/Linear initialization, uniform in +-1/sqrt(d), seeded), print: pieces, cones,
certify wall time, the certified MSE interval and its width, a Monte Carlo MSE with 10^7 samples
(by default) and its standard error, and |difference| / stderr. Writes results/median.txt.

    python benchmarks/bench_median.py [--samples 10000000] [--plackett]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import benchmark_env  # noqa: F401  (before numpy: one BLAS thread)

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from verifier import certify  # noqa: E402
from verifier.estimate.sampling import estimate_mse  # noqa: E402
from verifier.models.model import Model  # noqa: E402

MODELS = ((2, 2), (2, 3), (4, 3), (8, 3), (2, 5))


def torch_like(d: int, n: int, seed: int) -> Model:
    rng = np.random.default_rng(seed)
    bound = 1 / np.sqrt(d)
    def draw(shape):
        return rng.uniform(-bound, bound, shape).astype(np.float32)
    return Model.from_arrays(draw((d, 1)), draw((d, d)), draw((1, d)), task="median", seq_len=n,
                             name=f"median d={d} n={n} seed={seed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000_000)
    parser.add_argument("--plackett", action="store_true", help="certify n = 4, 5 cones too (slow)")
    parser.add_argument("--max-n", type=int, default=5)
    args = parser.parse_args()
    lines = [benchmark_env.machine(), f"Monte Carlo: {args.samples:,} samples per model (float64)", "",
             "| model | pieces | cones | certify s | MSE (certified interval) | width | certified | MC MSE | MC stderr | z |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for d, n in MODELS:
        if n > args.max_n:
            continue
        model = torch_like(d, n, seed=d * 100 + n)
        start = time.perf_counter()
        cert = certify(model, plackett=args.plackett)
        seconds = time.perf_counter() - start
        est = estimate_mse(model, args.samples, seed=1)
        centre = float((cert.mse.lo + cert.mse.hi) / 2)
        z = (est.mse - centre) / est.stderr
        row = (f"| d={d}, n={n} | {len(cert.decomposition.pieces)} | {len(cert.cones)} | {seconds:.2f} |"
               f" [{cert.mse.lo_str(12)}, {cert.mse.hi_str(12)}] | {float(cert.mse.width):.1e} |"
               f" {'yes' if cert.certified else 'no (estimate)'} | {est.mse:.6f} | {est.stderr:.1e} | {z:+.2f} |")
        lines.append(row)
        print(row, flush=True)
    out = Path(__file__).resolve().parent / "results" / "median.txt"
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
