"""Benchmark: certified Gaussian measure of cones of dimension 4 and 5 (Plackett's integral).

Tables:

1. per simplicial cone, by dimension k: random integer cones (rays with entries in -4..4) and
   simplices sampled from the triangulated outcome cones of the shipped ``trained:6:4`` model
   (thin: smallest correlation eigenvalue 1e-12..1e-3) -- seconds per simplex (median, mean,
   max), cones/s, integrand evaluations, the median and widest enclosure, and how many got the
   wide fallback enclosure;
2. non-simplicial cones (not order-and-sign cones) sampled from the outcome cones of
   ``trained:6:4`` (dimension 4) and ``trained:5:5`` (dimension 5), certified by each route in the
   same run: through the polar cone (dimension 4) or the tangent cones of the faces (dimension 5,
   one 4-dimensional integral per extreme ray), or by triangulation, with the orthant integrals
   along the block or the identity path -- seconds per cone, the ratio to the first route,
   enclosure widths, and whether the intervals overlap;
3. whole models, ``certify`` (certified by default): pieces, cones, simplices, seconds, accuracy
   width; with ``--full`` also ``trained:6:4`` (about 26,000 simplices) and the shipped n = 4, 5
   trained models, on ``--workers`` processes, each compared with a ``--mc``-sample Monte Carlo
   estimate (float64, its own seed).

    python benchmarks/bench_measure.py [--samples 20] [--seed 0] [--full --workers 2 --mc 100000000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import benchmark_env  # noqa: F401  (pins BLAS threads before numpy loads)
import flint
import ppl

from verifier.certify import certify
from verifier.geometry.decomposition import decompose
from verifier.geometry.outcome import piece_outcomes
from verifier.measure import orthant, solid_angle
from verifier.measure.orthant import arb_bounds, orthant_probability
from verifier.measure.triangulation import simplex_covariance
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


def model_cones(spec: str, dimension: int):
    """A model's outcome cones (pplpy polyhedra) of that dimension that are not order-and-sign cones."""
    model = load_model(spec)
    dec = decompose(model)
    cells = tuple(model.task.cells(model.n))
    for index, piece in enumerate(dec.pieces):
        for cone in piece_outcomes(index, piece, cells, model.n):
            poly = ppl.C_Polyhedron(model.n, "universe")
            for row in cone.constraints:
                poly.add_constraint(ppl.Linear_Expression(list(row), 0) >= 0)
            gens = poly.minimized_generators()
            normals = [tuple(int(c) for c in con.coefficients()) for con in poly.minimized_constraints()]
            if model.n - sum(g.is_line() for g in gens) == dimension and \
                    solid_angle.order_sign_measure(normals, model.n) is None:
                yield poly


ROUTES_5 = (("faces, blocks", {"faces": True, "orthant_path": "blocks"}),
            ("faces, identity", {"faces": True, "orthant_path": "identity"}),
            ("simplices, identity", {"faces": False, "orthant_path": "identity"}))
ROUTES_4 = (("polar, blocks", {"faces": True, "orthant_path": "blocks"}),
            ("simplices, blocks", {"faces": False, "orthant_path": "blocks"}),
            ("simplices, identity", {"faces": False, "orthant_path": "identity"}))


def time_cone_routes(polys, routes) -> list[dict]:
    """Each route on every cone, in turn (same run); the first route's intervals are compared with
    the others'. The signed tangent-orthant memo is cleared before each cone, so a cone's time is
    its own (a certify run shares integrals between the neighbouring cones at a ray)."""
    seconds = {label: [] for label, _ in routes}
    widths = {label: [] for label, _ in routes}
    methods = {label: set() for label, _ in routes}
    overlap = True
    for poly in polys:
        first = None
        for label, options in routes:
            orthant._memoised_orthant.cache_clear()
            start = time.perf_counter()
            m = solid_angle.polyhedron_measure(poly, plackett=True, **options)
            seconds[label].append(time.perf_counter() - start)
            widths[label].append(float(m.width))
            methods[label].add(m.method)
            if first is None:
                first = m
            overlap &= first.lo <= m.hi and m.lo <= first.hi
    base = sum(seconds[routes[0][0]])
    return [{"route": label, "count": len(seconds[label]), "mean_s": statistics.mean(seconds[label]),
             "slower": sum(seconds[label]) / base, "width": statistics.median(widths[label]),
             "max_width": max(widths[label]), "methods": sorted(methods[label]), "overlap": overlap}
            for label, _ in routes]


def print_routes(label: str, results: list[dict]) -> None:
    for r in results:
        print(f"{label:<24}{r['route']:<22}{r['count']:>4}{r['mean_s']:>9.3f}{r['slower']:>9.2f}"
              f"{r['width']:>11.1e}{r['max_width']:>10.1e}  {','.join(r['methods']):<20}{str(r['overlap']):>6}",
              flush=True)


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
    tight = [frozenset(i for i, r in enumerate(rays) if sum(x * y for x, y in zip(a, r)) == 0) for a in normals]
    triangulation = solid_angle._triangulation(rays, lines, k, tight, True)
    if triangulation is not None:
        gram, simplices = triangulation
        for simplex in simplices:
            yield simplex_covariance(gram, simplex)


def time_simplices(covs, path: str) -> dict:
    seconds, widths, evaluations, fallback = [], [], [], 0
    for cov in covs:
        counter = _count_evaluations()
        start = time.perf_counter()
        value = orthant_probability(cov, path=path)
        seconds.append(time.perf_counter() - start)
        evaluations.append(counter.stop())
        lo, hi = arb_bounds(value.enclosure)
        widths.append(float(hi - lo))
        fallback += value.fallback
    return {"count": len(seconds), "median_s": statistics.median(seconds), "mean_s": statistics.fmean(seconds),
            "max_s": max(seconds), "per_s": len(seconds) / sum(seconds), "max_width": max(widths),
            "median_width": statistics.median(widths), "evaluations": statistics.median(evaluations),
            "fallback": fallback}


class _count_evaluations:
    """Counts integrand evaluations by wrapping ``acb.integral`` until ``stop``."""

    def __init__(self):
        self.count, self.original = 0, flint.acb.integral

        def counted(f, a, b, **options):
            def g(t, analytic):
                self.count += 1
                return f(t, analytic)
            return self.original(g, a, b, **options)

        flint.acb.integral = counted

    def stop(self) -> int:
        flint.acb.integral = self.original
        return self.count


def certify_row(label: str, model, workers: int, mc: int | None) -> None:
    start = time.perf_counter()
    cert = certify(model, workers=workers, keep=False)
    seconds = time.perf_counter() - start
    acc = cert.accuracy
    line = (f"{label:<24}{cert.pieces:>7}{cert.cones:>7}{workers:>8}{seconds:>10.1f}"
            f"  [{acc.lo_str(12)}, {acc.hi_str(12)}] width {float(acc.width):.1e}"
            f" ({'certified' if cert.certified else 'NOT certified'};"
            f" methods {sorted(cert.tally.correct.methods | cert.tally.errors.methods)})")
    if mc:
        from verifier.estimate.sampling import estimate_accuracy

        t0 = time.perf_counter()
        sampled = estimate_accuracy(model, mc, seed=12345)
        mid = float(acc.lo + acc.hi) / 2
        line += (f"\n{'':<24}Monte Carlo {mc:.0e} samples ({time.perf_counter() - t0:.0f} s): {sampled.accuracy:.8f}"
                 f" +- {sampled.stderr:.1e}; certified midpoint is {(mid - sampled.accuracy) / sampled.stderr:+.2f} stderr away")
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20, help="simplices per row of table 1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--full", action="store_true", help="also certify trained:6:4 and the trained n = 4, 5 models")
    parser.add_argument("--workers", type=int, default=1, help="processes for the --full certify runs")
    parser.add_argument("--mc", type=int, default=None, help="Monte Carlo samples to compare each --full model with")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(benchmark_env.machine())

    print("\n1. one simplicial cone (an orthant probability), certified by Plackett's integral at 80 bits,"
          " along the identity path and the block path (same cones, same run)")
    print(f"{'cones':<28}{'k':>3}{'n':>5}{'path':>10}{'median s':>10}{'mean s':>9}{'max s':>8}{'cones/s':>9}"
          f"{'evals':>7}{'median width':>14}{'max width':>11}{'fallback':>10}")
    rows = [("random integer rays", k, [random_simplex(k, rng) for _ in range(args.samples)]) for k in (4, 5)]
    real = list(model_simplices("trained:6:4"))
    rows.append(("trained:6:4 (sampled)", 4, rng.sample(real, min(args.samples, len(real)))))
    for label, k, covs in rows:
        results = {path: time_simplices(covs, path) for path in ("identity", "blocks")}
        for path, r in results.items():
            print(f"{label:<28}{k:>3}{r['count']:>5}{path:>10}{r['median_s']:>10.3f}{r['mean_s']:>9.3f}{r['max_s']:>8.2f}"
                  f"{r['per_s']:>9.2f}{r['evaluations']:>7.0f}{r['median_width']:>14.1e}{r['max_width']:>11.1e}"
                  f"{r['fallback']:>10}", flush=True)
        print(f"{'':<28}block path {results['identity']['mean_s'] / results['blocks']['mean_s']:.2f}x faster (mean)")
    print(f"trained:6:4 has {len(real)} simplices in its dimension-4 cones that are not order-and-sign cones")

    print("\n2. whole cones by each route (same cones, same run; 'x slower' is against the first route;"
          " 'overlap': every route's interval meets the first's)")
    print(f"{'cones':<24}{'route':<22}{'n':>4}{'mean s':>9}{'x slower':>9}{'width':>11}{'max':>10}  {'methods':<20}{'overlap':>6}")
    for spec, k, routes in (("trained:6:4", 4, ROUTES_4), ("trained:5:5", 5, ROUTES_5)):
        cones = [poly for poly in model_cones(spec, k) if sum(g.is_ray() for g in poly.minimized_generators()) > k]
        print_routes(f"{spec} (sampled)", time_cone_routes(rng.sample(cones, min(args.samples, len(cones))), routes))
        print(f"{spec} has {len(cones)} non-simplicial such cones of dimension {k}")

    print("\n3. whole models, certify (cones of dimension 4 and 5 certified)")
    print(f"{'model':<24}{'pieces':>7}{'cones':>7}{'workers':>8}{'seconds':>10}  accuracy")
    for label, model in SMALL_MODELS.items():
        certify_row(label, model, 1, None)
    if args.full:
        for spec in ("trained:6:4", "trained:4:4", "trained:5:5"):
            try:
                model = load_model(spec)
            except Exception as exc:  # a trained model not shipped yet
                print(f"{spec:<24}not available: {exc}")
                continue
            certify_row(spec, model, args.workers, args.mc)


if __name__ == "__main__":
    main()
