"""Benchmark: certified Gaussian measure of cones of dimension 4 and 5 (Plackett's integral).

Three tables:

1. per simplicial cone, by dimension k: random integer cones (rays with entries in -4..4) and
   simplices sampled from the triangulated outcome cones of the shipped ``trained:6:4`` model
   -- seconds per simplex (median, mean, max), cones/s, the widest enclosure, and how many
   needed the thin-cone path;
2. whole models with ``certify --plackett`` (one worker): pieces, cones, seconds, accuracy width;
3. the estimate for ``trained:6:4``: its number of simplices times the mean seconds per
   simplex of table 1 (an extrapolation, labelled as such).

    python benchmarks/bench_measure.py [--samples 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import collections
import random
import statistics
import time

import benchmark_env  # noqa: F401  (pins BLAS threads before numpy loads)
import flint
import ppl

from verifier.certify import certify
from verifier.geometry.decomposition import decompose
from verifier.geometry.outcome import piece_outcomes
from verifier.measure import solid_angle
from verifier.measure.orthant import arb_bounds, orthant_probability
from verifier.models.loading import load_model
from verifier.models.model import Model

SMALL_MODELS = {
    "n=4 d=1 (W_hh=-1)": Model.from_arrays([[1]], [[-1]], [[1], [2], [-1], [3]], name="n4"),
    "n=5 d=1 (W_hh=-1)": Model.from_arrays([[1]], [[-1]], [[1], [2], [-1], [3], [1]], name="n5"),
}


def random_simplex(k: int, rng: random.Random) -> flint.fmpq_mat:
    while True:
        v = flint.fmpq_mat(k, k, [rng.randint(-4, 4) for _ in range(k * k)])
        if v.rank() == k:
            return (v.transpose() * v).inv()


def model_simplices(spec: str):
    """Every simplex (as its covariance) of the triangulated k = 4 outcome cones of a model."""
    model = load_model(spec)
    dec = decompose(model)
    cells = tuple(model.task.cells(model.n))
    for index, piece in enumerate(dec.pieces):
        for cone in piece_outcomes(index, piece, cells, model.n):
            yield from _cone_simplices(cone.constraints, model.n)


def _cone_simplices(rows, n):
    poly = ppl.C_Polyhedron(n, "universe")
    for row in rows:
        poly.add_constraint(ppl.Linear_Expression(list(row), 0) >= 0)
    rays, lines = [], []
    for g in poly.minimized_generators():
        (rays if g.is_ray() else lines if g.is_line() else []).append(tuple(int(c) for c in g.coefficients()))
    k = n - len(lines)
    normals = [tuple(int(c) for c in con.coefficients()) for con in poly.minimized_constraints()]
    if k < 4 or solid_angle.order_sign_measure(normals, n) is not None:
        return
    triangulation = solid_angle._triangulation(rays, lines, normals, k)
    if triangulation is not None:
        gram, simplices = triangulation
        for simplex in simplices:
            yield solid_angle._simplex_covariance(gram, simplex)


def time_simplices(covs) -> dict:
    seconds, widths, thin, thin_widths = [], [], 0, []
    for cov in covs:
        start = time.perf_counter()
        value = orthant_probability(cov)
        seconds.append(time.perf_counter() - start)
        lo, hi = arb_bounds(value.enclosure)
        widths.append(float(hi - lo))
        if value.split:
            thin += 1
            thin_widths.append(float(hi - lo))
    return {"count": len(seconds), "median_s": statistics.median(seconds), "mean_s": statistics.fmean(seconds),
            "max_s": max(seconds), "per_s": len(seconds) / sum(seconds), "max_width": max(widths),
            "median_width": statistics.median(widths), "thin": thin,
            "thin_max_width": max(thin_widths) if thin_widths else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20, help="simplices per row of table 1")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(benchmark_env.machine())

    print("\n1. one simplicial cone (an orthant probability), certified by Plackett's integral at 64 bits")
    print(f"{'cones':<28}{'k':>3}{'n':>5}{'median s':>10}{'mean s':>9}{'max s':>8}{'cones/s':>9}"
          f"{'median width':>14}{'max width':>11}{'thin':>6}{'thin max width':>16}")
    rows = [("random integer rays", k, [random_simplex(k, rng) for _ in range(args.samples)]) for k in (4, 5)]
    real = list(model_simplices("trained:6:4"))
    rows.append(("trained:6:4 (sampled)", 4, rng.sample(real, min(args.samples, len(real)))))
    mean_real = None
    for label, k, covs in rows:
        r = time_simplices(covs)
        if label.startswith("trained"):
            mean_real = r["mean_s"]
        print(f"{label:<28}{k:>3}{r['count']:>5}{r['median_s']:>10.3f}{r['mean_s']:>9.3f}{r['max_s']:>8.2f}"
              f"{r['per_s']:>9.2f}{r['median_width']:>14.1e}{r['max_width']:>11.1e}{r['thin']:>6}"
              f"{r['thin_max_width']:>16.1e}")

    print("\n2. whole models, certify --plackett (1 worker)")
    print(f"{'model':<22}{'pieces':>7}{'cones':>7}{'seconds':>9}  methods; accuracy width")
    for label, model in SMALL_MODELS.items():
        start = time.perf_counter()
        cert = certify(model, plackett=True)
        seconds = time.perf_counter() - start
        methods = collections.Counter(m.method for m in cert.measures)
        print(f"{label:<22}{cert.pieces:>7}{cert.cones:>7}{seconds:>9.1f}  {dict(methods)};"
              f" {float(cert.accuracy.width):.1e} ({'certified' if cert.certified else 'NOT certified'})")

    print("\n3. trained:6:4 with --plackett, extrapolated (not run)")
    print(f"  {len(real)} simplices in its dimension-4 cones (not order-and-sign, at most 16 rays)"
          f" x {mean_real:.2f} s mean = about {len(real) * mean_real / 3600:.1f} CPU hours")


if __name__ == "__main__":
    main()
