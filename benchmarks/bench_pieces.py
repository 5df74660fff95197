"""Benchmark: CPU time per piece of the decomposition and of the outcome-cone split, this tree
against an earlier commit, in one run.

For each random model (standard-normal float32 weights, as in ``bench_certify.py``) a child
process of each tree walks the first ``--pieces`` pieces and splits each into outcome cones as
the walk yields it, as the pipeline does (a tree from before the streaming walk decomposes
first, then splits), timing both with ``time.process_time`` (CPU time: less sensitive to a shared machine than wall
time). The trees alternate, ``--reps`` times, and the median is reported, with the ratio
old / new. The two trees must produce the same outcome cones (checked by a digest).

    python benchmarks/bench_pieces.py                       # against 116f967 (before the streaming pipeline)
    python benchmarks/bench_pieces.py --against HEAD~1 --pieces 500 --reps 1
"""

from __future__ import annotations

from benchmark_env import machine  # first: it pins BLAS to one thread before numpy loads

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BASELINE = "116f967"
MODELS = [(8, 5), (4, 5), (6, 4)]

CHILD = r"""
import hashlib, json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from verifier.models.model import Model
from verifier.geometry.decomposition import decompose
from verifier.geometry.outcome import piece_outcomes
d, n, count = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng((0, d, n))
model = Model.from_arrays(*[rng.standard_normal(s).astype(np.float32) for s in ((d, 1), (d, d), (n, d))],
                          precision="float32")
cells = tuple(model.task.cells(n))
try:
    from verifier.geometry.decomposition import Piece, walk
except ImportError:  # a tree before the streaming walk: decompose, then split
    t = time.process_time()
    dec = decompose(model, max_pieces=count)
    t_dec = time.process_time() - t
    t = time.process_time()
    cones = [piece_outcomes(i, p, cells, n) for i, p in enumerate(dec.pieces)]
    t_out = time.process_time() - t
else:  # each piece split as the walk yields it, as the pipeline does
    cones, t_dec, t_out = [], 0.0, 0.0
    events = walk(model)
    while len(cones) < count:
        t = time.process_time()
        event = next(events, None)
        t_dec += time.process_time() - t
        if event is None:
            break
        if isinstance(event, Piece):
            t = time.process_time()
            cones.append(piece_outcomes(len(cones), event, cells, n))
            t_out += time.process_time() - t
digest = hashlib.sha256(repr([[(o.cell, o.correct, o.loses_to, o.constraints) for o in c] for c in cones]).encode())
print(json.dumps({"pieces": len(cones), "decompose": t_dec, "outcomes": t_out,
                  "cones": sum(map(len, cones)), "digest": digest.hexdigest()}))
"""


def measure(tree: Path, d: int, n: int, pieces: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(tree), str(d), str(n), str(pieces)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default=BASELINE, help=f"the earlier commit (default {BASELINE})")
    parser.add_argument("--pieces", type=int, default=2000, help="pieces per model (default 2000)")
    parser.add_argument("--reps", type=int, default=3, help="alternating runs per tree (default 3)")
    parser.add_argument("--out", type=Path, default=None, help="write pieces.txt/.json here")
    args = parser.parse_args(argv)
    lines = [f"CPU ms per piece, decomposition + outcome cones: this tree vs {args.against} "
             f"(first {args.pieces} pieces, median of {args.reps} alternating runs)", machine(), ""]
    header = (f"{'model':>8}  {'pieces':>6}  {'old dec':>8}  {'old out':>8}  {'old sum':>8}  "
              f"{'new dec':>8}  {'new out':>8}  {'new sum':>8}  {'ratio':>6}  same cones")
    lines += [header, "-" * len(header)]
    print("\n".join(lines), flush=True)
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.against, "verifier"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        for d, n in MODELS:
            runs = {"old": [], "new": []}
            for _ in range(args.reps):
                runs["old"].append(measure(old, d, n, args.pieces))
                runs["new"].append(measure(REPO, d, n, args.pieces))
            per = {k: {s: statistics.median(r[s] / r["pieces"] * 1e3 for r in v) for s in ("decompose", "outcomes")}
                   for k, v in runs.items()}
            old_sum = per["old"]["decompose"] + per["old"]["outcomes"]
            new_sum = per["new"]["decompose"] + per["new"]["outcomes"]
            same = runs["old"][0]["digest"] == runs["new"][0]["digest"]
            row = (f"{f'{d},{n}':>8}  {runs['new'][0]['pieces']:>6}  {per['old']['decompose']:8.3f}  "
                   f"{per['old']['outcomes']:8.3f}  {old_sum:8.3f}  {per['new']['decompose']:8.3f}  "
                   f"{per['new']['outcomes']:8.3f}  {new_sum:8.3f}  {old_sum / new_sum:6.2f}  {'yes' if same else 'NO'}")
            print(row, flush=True)
            lines.append(row)
            records.append({"d": d, "n": n, "pieces": runs["new"][0]["pieces"], "old_ms": per["old"],
                            "new_ms": per["new"], "ratio": old_sum / new_sum, "same_cones": same})
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "pieces.txt").write_text("\n".join(lines) + "\n")
        (args.out / "pieces.json").write_text(json.dumps({"against": args.against, "machine": machine(),
                                                          "rows": records}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
