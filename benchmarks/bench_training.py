"""Training throughput: steps/s of ``train_seeds`` with K seeds trained as one batch of models.

Prints a table (and writes it to results/training.txt unless --quick): for each (task, d, n) and K,
the wall time of a fixed number of AlgZoo steps (batch 1024, one torch thread), steps/s, model-steps/s,
the projected wall time of AlgZoo's 2^20-step run, and the cost of K seeds relative to one.
The machine is shared, so the load average is printed; run it when the machine is otherwise idle
for numbers that transfer.

    python benchmarks/bench_training.py              # ~1 min
    python benchmarks/bench_training.py --quick      # a few seconds
"""

import benchmark_env  # noqa: F401  (before numpy/torch: one BLAS thread)

import argparse
import time
from pathlib import Path

from verifier.models.training import ALGZOO_STEPS, train_seeds

CASES = [("2nd_argmax", 3, 3), ("median", 2, 2), ("2nd_argmax", 5, 5), ("2nd_argmax", 16, 10)]


def measure(task: str, d: int, n: int, k: int, steps: int) -> float:
    start = time.perf_counter()
    train_seeds(d, n, seeds=list(range(k)), steps=steps, task=task, progress=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="steps per measurement (default 2000)")
    parser.add_argument("--ks", default="1,5", help="models per batch to compare (default 1,5)")
    parser.add_argument("--quick", action="store_true", help="50 steps, first case only, write nothing")
    parser.add_argument("--out", default=None, help="folder for the results (default benchmarks/results)")
    args = parser.parse_args()
    steps = 50 if args.quick else args.steps
    cases = CASES[:1] if args.quick else CASES
    ks = [int(k) for k in args.ks.split(",")]
    measure("2nd_argmax", 2, 2, 1, 10)  # untimed warm-up: PyTorch's first calls pay one-off set-up costs
    lines = [benchmark_env.machine(), f"{steps} steps per measurement, batch 1024, 1 torch thread", "",
             f"{'task':<11} {'d':>3} {'n':>3} {'K':>3} {'wall s':>8} {'steps/s':>8} {'model-steps/s':>14}"
             f" {'2^20 steps':>11} {'cost vs K=1':>12}"]
    for task, d, n in cases:
        base = None
        for k in ks:
            seconds = measure(task, d, n, k, steps)
            rate = steps / seconds
            base = base or seconds
            lines.append(f"{task:<11} {d:>3} {n:>3} {k:>3} {seconds:>8.2f} {rate:>8.0f} {k * rate:>14.0f}"
                         f" {ALGZOO_STEPS / rate / 60:>9.1f} m {seconds / base:>11.2f}x")
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if not args.quick or args.out:
        out = Path(args.out) if args.out else Path(__file__).parent / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "training.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
