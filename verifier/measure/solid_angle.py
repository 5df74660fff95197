"""Gaussian measure of a polyhedral cone (its normalized solid angle), certified where possible.

The standard Gaussian measure of a closed convex cone ``C`` in R^n equals the fraction of the
unit sphere it covers. Write ``C = L + C'`` with ``L`` its lineality space and ``C'`` pointed in
the orthogonal complement of ``L``; the measure of ``C`` is the measure of ``C'`` inside that
k-dimensional complement, ``k = n - dim L``. Every facet normal of a full-dimensional ``C`` is
orthogonal to ``L``, so angles between facet normals can be read in R^n directly:

* ``dim C < n``: exactly 0 (method ``lower-dimensional``);
* ``k = 0``: the whole space, exactly 1; ``k = 1``: a half-space, exactly 1/2;
* ``k = 2`` (a wedge): ``1/2 - theta / (2 pi)``, theta the angle between the two facet normals;
* ``k = 3``: Girard's theorem for the spherical polygon cut out by ``C'``, written with the
  polar polygon's perimeter: ``1/2 - sum(theta_v) / (4 pi)``, summing over the extreme rays
  ``v`` the angle between the normals of the two facets that meet along ``v``
  (method ``spherical-excess``).

For k <= 3 all arithmetic before the transcendental step is exact (Python/flint integers), each
``theta = atan2(sqrt(|a|^2 |b|^2 - (a.b)^2), a.b)`` is evaluated as an arb ball, and the ball's
dyadic endpoints become exact :class:`~fractions.Fraction` bounds: a rigorous enclosure
(width about 2e-38 at the default 128 bits).

For k >= 4 there is no closed form. ``C'`` is cut into simplicial cones by a pulling
triangulation (built from exact ray/facet incidences); a simplicial cone spanned by rays with
Gram matrix ``G`` (rays projected orthogonally to ``L``, computed exactly) has the measure of
the orthant ``P(lambda >= 0)`` with ``lambda ~ N(0, G^-1)``. With ``plackett=True`` and
k = 4 or 5 each orthant gets a rigorous enclosure from Plackett's integral
(:mod:`~verifier.measure.orthant`; method ``plackett``, or ``plackett-wide`` when some simplex's
integral failed within its work limit and got a wider enclosure) -- certified, 5-50 ms per
simplex. A 5-dimensional cone is first measured without a triangulation, from the tangent
cones along its faces (:mod:`~verifier.measure.tangent_cones`: one 4-dimensional integral per
extreme ray, closed forms for the rest; method ``plackett-faces``), 12 times faster on the
cones of ``trained:5:5``; a 4-dimensional cone with fewer facets than rays through its polar
cone (:mod:`~verifier.measure.polar`, method ``plackett-polar``), whose triangulation is
smaller; the own triangulation remains the fallback of both. The suffix ``/2`` on a method
(``plackett-faces/2``) says its orthant integrals start from a block-diagonal matrix (the default
``orthant_path="blocks"``); without it they start from the identity, as in certificates made
before that path existed: :func:`route_options` turns a method name back into the options that
reproduce it.
Otherwise the orthant probability is estimated by Genz's separation of variables, with Genz and
Bretz's variable ordering, an LDL^T factorization of ``G^-1`` in 256-bit balls (exact rationals
where the balls cannot decide; so thin simplices stay well conditioned) and a scrambled Sobol
point set under independent random digital shifts. Each shift gives an unbiased estimate of
the whole cone's measure; the replicates' spread gives the standard error, and the reported
interval is estimate +- 4 standard errors clipped to [0, 1], marked ``certified=False``
(method ``qmc-estimate/2``; ``qmc-estimate`` factored exactly). Defaults (256 points x 16
shifts) give standard errors around 1e-5..1e-4 in a few milliseconds per 4D cone; ``points``
buys accuracy (error ~ 1/points). Genz's integrand collapses on thin cones, so a pointed cone
whose cross-section is thinner than 0.7 across in some direction, or whose triangulation is too
big for Genz (up to 64k rays and 1,024 simplices), is estimated over its simplices'
cross-sections instead (method ``simplex-section-estimate/2``: an error of 1e-4 to 6e-4 of the
measure, however thin). Where that does not apply (a ray more than 87 degrees from the cone's
axis, or more simplices), a cone that Genz cannot take is sampled over its whole cross-section
(``qmc-section-estimate/2``, an error of 1-10% of the measure) where that beats plain hit-or-miss
Monte Carlo over the facet inequalities (2^16 samples, method ``mc-estimate``), else by the
latter; a sampled estimate whose error exceeds 1e-5 is drawn again, 8 (section) or 16
(hit-or-miss, then ``mc-estimate/2``) times larger. Certified measures triangulate up to 64k rays
and 4,096 simplices first.

>>> m = cone_measure([(1, 0, 0), (1, 1, 0), (0, 0, 1)], 3)
>>> m.certified, m.method, m.lo <= Fraction(3, 16) <= m.hi, m.width < 1e-30
(True, 'spherical-excess', True, True)
>>> cone_measure([(1, -1, 0), (0, 1, -1), (0, 0, 1)], 3)    # x0 >= x1 >= x2 >= 0: exactly 1/48
Measure(lo=Fraction(1, 48), hi=Fraction(1, 48), certified=True, method='order-cells', estimate=0.020833333333333332, stderr=None)
>>> cone_measure([(1, -1)], 2).lo
Fraction(1, 2)
"""

from __future__ import annotations

import hashlib
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Callable, Iterable, Iterator, Sequence

import flint
import numpy as np
import ppl

from ..errors import VerifierError
from ..exact import decimal_bound, integer_row
from .order_cells import order_sign_measure
from .orthant import MAX_DIMENSION as MAX_ORTHANT_DIMENSION
from .orthant import PATHS as ORTHANT_PATHS
from .orthant import arb_bounds, orthant_probability
from .polar import polar_cone_measure, polar_triangulation
from .tangent_cones import odd_cone_measure
from .triangulation import balanced_gram, projected_gram, pulling_triangulation, simplex_covariance

_Z_INTERVAL = 4  # half-width of an estimate's interval, in standard errors


@dataclass(frozen=True)
class Measure:
    """A Gaussian measure: a rigorous enclosure ``[lo, hi]`` when ``certified``, else an estimate.

    For estimates ``[lo, hi]`` is ``estimate +- 4 stderr`` clipped to [0, 1]. Sums follow
    :func:`sum_measures` (``a + b``, ``sum(measures, ZERO)``); a sum is certified only if every
    part is.
    """

    lo: Fraction
    hi: Fraction
    certified: bool
    method: str
    estimate: float
    stderr: float | None = None

    def __post_init__(self):
        if not self.lo <= self.hi:
            raise ValueError(f"measure interval is reversed: [{self.lo}, {self.hi}]")

    @classmethod
    def exact(cls, value: Fraction, method: str) -> Measure:
        """A certified measure known exactly."""
        value = Fraction(value)
        return cls(value, value, True, method, float(value))

    def ball(self) -> flint.arb:
        """An arb ball holding the interval (its exact ends rounded outward)."""
        return flint.arb(flint.fmpq(self.lo.numerator, self.lo.denominator)).union(
            flint.arb(flint.fmpq(self.hi.numerator, self.hi.denominator)))

    @property
    def width(self) -> Fraction:
        return self.hi - self.lo

    def __add__(self, other: Measure) -> Measure:
        if not isinstance(other, Measure):
            return NotImplemented
        return sum_measures((self, other))

    def lo_str(self, digits: int = 40) -> str:
        """``lo`` with ``digits`` significant digits, rounded down (so it stays a valid lower bound)."""
        return decimal_bound(self.lo, digits, up=False)

    def hi_str(self, digits: int = 40) -> str:
        """``hi`` with ``digits`` significant digits, rounded up (so it stays a valid upper bound)."""
        return decimal_bound(self.hi, digits, up=True)

    def as_dict(self, digits: int = 40) -> dict:
        """A JSON-ready summary with outward-rounded decimal endpoints."""
        return {
            "lo": self.lo_str(digits),
            "hi": self.hi_str(digits),
            "certified": self.certified,
            "method": self.method,
            "estimate": self.estimate,
            "stderr": self.stderr,
        }

    def __str__(self) -> str:
        kind = "certified" if self.certified else f"estimated, stderr {self.stderr:.2g}"
        return f"[{self.lo_str(20)}, {self.hi_str(20)}] ({kind}, {self.method})"


ZERO = Measure.exact(Fraction(0), "empty")
NOT_INTEGRATED = Measure(Fraction(0), Fraction(1, 2), True, "not-integrated", 0.25)  # a half-space holds the cone


@dataclass
class IntervalSum:
    """A running sum over disjoint parts (measures, or any values with ``lo``, ``hi``,
    ``certified``, ``estimate``, ``stderr``): exact and independent of the order and grouping of
    the parts, so a parallel run's total equals a serial one's.

    Certified parts add as intervals; estimates add their values and variances (exact Fractions),
    so many estimates get ``+-4 stderr`` of their sum, not the much wider sum of the parts'
    ``+-4 stderr``. ``lo``/``hi`` are the plain sums of every part's interval (what certificates
    state).

    >>> total = IntervalSum()
    >>> total.add(Measure.exact(Fraction(1, 4), "x")); total.add(Measure.exact(Fraction(1, 8), "y"))
    >>> total.measure().hi, total.count
    (Fraction(3, 8), 2)
    """

    cert_lo: Fraction = Fraction(0)
    cert_hi: Fraction = Fraction(0)
    cert_point: Fraction = Fraction(0)
    guess: Fraction = Fraction(0)
    variance: Fraction = Fraction(0)
    lo: Fraction = Fraction(0)
    hi: Fraction = Fraction(0)
    count: int = 0
    estimated: int = 0
    methods: set = field(default_factory=set)

    def add(self, part) -> None:
        self.lo += part.lo
        self.hi += part.hi
        self.count += 1
        self.methods.add(getattr(part, "method", None))
        if part.certified:
            self.cert_lo += part.lo
            self.cert_hi += part.hi
            self.cert_point += Fraction(part.estimate)
        else:
            self.estimated += 1
            self.guess += Fraction(part.estimate)
            self.variance += Fraction(part.stderr) ** 2

    def merge(self, other: IntervalSum) -> None:
        for name in ("cert_lo", "cert_hi", "cert_point", "guess", "variance", "lo", "hi", "count", "estimated"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.methods |= other.methods

    @property
    def certified(self) -> bool:
        return self.estimated == 0

    def interval(self, ceiling: Fraction | None = None) -> tuple[Fraction, Fraction, bool, float, float | None]:
        """``(lo, hi, certified, point value, stderr)`` of the sum, clipped to ``[0, ceiling]``:
        the certified parts' interval, widened by ``+-4`` standard errors of the estimates' sum."""
        lo, hi, stderr = self.cert_lo, self.cert_hi, None
        if self.estimated:
            stderr = math.sqrt(self.variance)
            spread = _Z_INTERVAL * Fraction(stderr)
            lo, hi = max(lo + self.guess - spread, Fraction(0)), hi + self.guess + spread
        if ceiling is not None:
            hi = min(hi, ceiling)
        return lo, hi, self.certified, float(self.cert_point + self.guess), stderr

    def measure(self) -> Measure:
        """The sum as a :class:`Measure` (a measure is at most 1, however the parts' upper ends round)."""
        lo, hi, certified, point, stderr = self.interval(Fraction(1))
        methods = self.methods - {None}
        method = next(iter(methods)) if len(methods) == 1 else "sum" if methods else "empty"
        return Measure(lo, hi, certified, method, point, stderr)


def sum_measures(measures: Iterable[Measure]) -> Measure:
    """The measure of a disjoint union: certified parts add as intervals, estimates in
    quadrature (:class:`IntervalSum`).

    >>> sum_measures([Measure.exact(Fraction(1, 4), "x"), Measure.exact(Fraction(1, 8), "y")]).hi
    Fraction(3, 8)
    """
    total = IntervalSum()
    for m in measures:
        total.add(m)
    return total.measure()


def cone_measure(rows: Sequence[Sequence], n: int, **options) -> Measure:
    """Gaussian measure of ``{x in R^n : r . x >= 0 for every row r}``.

    Rows are integers (rationals are scaled exactly to integers). ``options``: ``prec_bits``
    (arb precision, default 128), ``points`` (Sobol points per replicate, a power of 2, default
    256), ``replicates`` (random shifts, default 16) and ``seed`` (default: derived from the
    cone's minimized generators, so results are reproducible and differ between cones) -- the
    last three only matter for estimates (k >= 4) -- ``plackett`` (certify k = 4, 5), ``stop`` and
    ``integrate`` (see :func:`polyhedron_measure`).

    >>> cone_measure([(1, 0), (1, 1)], 2).estimate  # 135 degrees
    0.375
    """
    n = _check_dimension(n)
    constraints = ppl.Constraint_System()
    for row in rows:
        ints = _integer_vector(row, n, "row")
        if any(ints):
            constraints.insert(ppl.Linear_Expression(ints, 0) >= 0)
    poly = ppl.C_Polyhedron(n, "universe")
    poly.add_constraints(constraints)
    return polyhedron_measure(poly, **options)


def generators_measure(rays: Sequence[Sequence], lines: Sequence[Sequence], n: int, **options) -> Measure:
    """Gaussian measure of the cone generated by ``rays`` (nonnegative combinations) and ``lines``.

    Same options as :func:`cone_measure`.

    >>> generators_measure([(1, 0, 0)], [(0, 1, 0), (0, 0, 1)], 3).estimate
    0.5
    """
    n = _check_dimension(n)
    generators = ppl.Generator_System(ppl.point(ppl.Linear_Expression([0] * n, 0)))
    for kind, make, vectors in (("ray", ppl.ray, rays), ("line", ppl.line, lines)):
        for vector in vectors:
            ints = _integer_vector(vector, n, kind)
            if any(ints):
                generators.insert(make(ppl.Linear_Expression(ints, 0)))
    return polyhedron_measure(ppl.C_Polyhedron(generators), **options)


def polyhedron_measure(
    poly: ppl.C_Polyhedron,
    *,
    prec_bits: int = 128,
    points: int = 256,
    replicates: int = 16,
    seed: int | None = None,
    plackett: bool = False,
    stop: Callable[[], object] | None = None,
    integrate: bool = True,
    faces: bool = True,
    orthant_path: str = "blocks",
    factor: str = "ball-ldl",
) -> Measure:
    """Gaussian measure of a pplpy cone (a closed polyhedron whose only vertex is the origin).

    ``plackett``: certify cones with k = 4 or 5 (each simplex of their triangulation by
    :func:`~verifier.measure.orthant.orthant_probability`, about 0.1 s per simplex) instead
    of estimating them. ``stop``: asked before each simplex; if it answers truthy the measure is
    abandoned with :class:`MeasureStopped` (a budget ran out: the cone stays undecided).
    ``integrate=False``: a cone that would need an integral or an estimate (k >= 4, not an
    order-and-sign cone) gets only the trivial certified bound ``[0, 1/2]`` (it lies in a
    half-space; method ``not-integrated``), for callers that get its mass by complement.
    ``faces=False``: certify a 5-dimensional cone by its triangulation, not by its tangent cones,
    and a 4-dimensional one by its own triangulation, not its polar cone's (the checker recomputes
    a measure by the route its certificate names: :func:`route_options`). ``orthant_path``: the
    Plackett path of every orthant integral (:func:`~verifier.measure.orthant.orthant_probability`);
    the default ``"blocks"`` marks the method with the suffix ``/2``. ``factor``: how an estimate
    factors each simplex's covariance (:data:`FACTORS`); the default ``"ball-ldl"`` marks
    ``qmc-estimate/2``, ``"exact-ldl"`` reproduces the estimates of older certificates.
    """
    if prec_bits < 32 or points < 2 or points & (points - 1) or replicates < 2:
        raise VerifierError("need prec_bits >= 32, points a power of 2 (>= 2) and replicates >= 2")
    if orthant_path not in ORTHANT_PATHS:
        raise VerifierError(f"unknown orthant path {orthant_path!r}; expected one of {ORTHANT_PATHS}")
    if factor not in FACTORS:
        raise VerifierError(f"unknown estimate factorization {factor!r}; expected one of {FACTORS}")
    n = poly.space_dimension()
    if poly.is_empty():
        raise VerifierError("not a cone: the polyhedron is empty")
    if poly.affine_dimension() < n:
        return Measure.exact(Fraction(0), "lower-dimensional")
    normals = [tuple(int(c) for c in con.coefficients()) for con in poly.minimized_constraints()]
    rays, lines = [], []
    for gen in poly.minimized_generators():
        coefficients = tuple(int(c) for c in gen.coefficients())
        if gen.is_ray():
            rays.append(coefficients)
        elif gen.is_line():
            lines.append(coefficients)
        elif gen.is_closure_point() or any(coefficients):
            raise VerifierError("not a cone: the polyhedron has a vertex other than the origin")
    k = n - len(lines)
    if k == 0:
        return Measure.exact(Fraction(1), "whole-space")
    if k == 1:
        return Measure.exact(Fraction(1, 2), "half-space")
    counted = order_sign_measure(normals, n)
    if counted is not None:
        return Measure.exact(counted, "order-cells")
    if k == 2:
        return _wedge_measure(normals, prec_bits)
    if k == 3:
        return _excess_measure(normals, rays, prec_bits)
    if not integrate:
        return NOT_INTEGRATED
    # k >= 4: certified enclosures when asked for (and the triangulation is small), else estimates
    certify = plackett and k <= MAX_ORTHANT_DIMENSION
    tight = [frozenset(i for i, r in enumerate(rays) if sum(x * y for x, y in zip(a, r)) == 0) for a in normals]
    if certify and faces and k % 2 == 1 and len(rays) <= _LIMITS[True][0] * k:
        value = odd_cone_measure(normals, rays, tight, k, stop=stop,
                                 measure_tangent=lambda tangent: _tangent_cone_measure(tangent, stop, orthant_path),
                                 prec_bits=prec_bits, path=orthant_path)
        if value is not None:
            return _certified(value, _versioned("plackett-faces", orthant_path == "blocks"))
    # a pulling triangulation, kept for per-simplex integrals unless it has too many rays or simplices
    # (_LIMITS: far more are worth it to certify than to estimate); the section samplers reuse it
    max_rays, max_simplices = _LIMITS[certify]
    simplices = pulling_triangulation(frozenset(range(len(rays))), k, tight) if len(rays) <= max_rays * k else None
    triangulation = (balanced_gram(projected_gram(rays, lines)), simplices) \
        if simplices is not None and len(simplices) <= max_simplices else None
    if certify and faces and k == 4 and len(rays) > k:
        polar = polar_triangulation(normals, tight, len(rays))
        if len(polar[1]) <= _LIMITS[True][1] and (triangulation is None or len(polar[1]) < len(triangulation[1])):
            value = polar_cone_measure(normals, rays, tight, lines=lines, triangulation=polar, stop=stop,
                                       prec_bits=prec_bits, path=orthant_path)
            if value is not None:
                return _certified(value, _versioned("plackett-polar", orthant_path == "blocks"))
    if certify and triangulation is not None:
        return _plackett_measure(*triangulation, stop, orthant_path)
    if seed is None:
        digest = hashlib.blake2b(repr((rays, lines)).encode(), digest_size=8).digest()
        seed = int.from_bytes(digest, "big")
    current = factor == "ball-ldl"
    if current and not lines and len(rays) <= _LIMITS[True][0] * k:
        if simplices is None:
            simplices = pulling_triangulation(frozenset(range(len(rays))), k, tight)
        if len(simplices) <= _SECTION_SIMPLICES:   # Genz's integrand, where it may be used, on fat cones only
            sections = _simplex_section_measure(rays, simplices, points, replicates, seed,
                                                thin_only=triangulation is not None)
            if sections is not None:
                return sections
    if current and not lines:   # thin cones defeat Genz's integrand; big ones, hit-or-miss
        thin_only = triangulation is not None
        section = _section_measure(normals, rays, replicates, seed, thin_only=thin_only)
        if section is not None and section.stderr > _REFINE_STDERR:   # a fresh, 8 times larger sample
            section = _section_measure(normals, rays, replicates, seed + 1, thin_only=thin_only,
                                       points=_SECTION_POINTS * 8) or section
        if section is not None:
            return section
    if triangulation is None:
        plain = _hit_or_miss_measure(normals, _HIT_OR_MISS_SAMPLES, seed)
        if current and plain.stderr > _REFINE_STDERR:   # a fresh, 16 times larger sample
            return _hit_or_miss_measure(normals, _HIT_OR_MISS_SAMPLES * 16, seed + 1, "mc-estimate/2")
        return plain
    return _estimated_measure(*triangulation, points, replicates, seed, factor)


FACTORS = ("exact-ldl", "ball-ldl")   # how an estimate factors a simplex's covariance
_FACE_METHODS = frozenset({"plackett-faces", "plackett-polar"})
_VERSION = "2"   # method suffix: integrals along the block path, estimates by the ball LDL^T


def route_options(method: str) -> dict:
    """The :func:`polyhedron_measure` options that reproduce a measure made by ``method``.

    >>> route_options("plackett")    # a triangulation, integrals from the identity: older certificates
    {'plackett': True, 'integrate': True, 'faces': False, 'orthant_path': 'identity', 'factor': 'exact-ldl'}
    >>> route_options("plackett-polar/2")["orthant_path"], route_options("qmc-estimate/2")["factor"]
    ('blocks', 'ball-ldl')
    """
    base, _, version = method.partition("/")
    current = version == _VERSION
    return {"plackett": base.startswith("plackett"), "integrate": base != "not-integrated",
            "faces": base in _FACE_METHODS, "orthant_path": "blocks" if current else "identity",
            "factor": "ball-ldl" if current else "exact-ldl"}


def _versioned(method: str, current: bool) -> str:
    return f"{method}/{_VERSION}" if current else method


# --- input checks ---------------------------------------------------------------------------


def _check_dimension(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise VerifierError(f"cone dimension must be a positive integer, got {n!r}")
    return int(n)


def _integer_vector(vector, n: int, kind: str) -> tuple[int, ...]:
    try:
        values = list(vector)
        if len(values) != n:
            raise VerifierError(f"{kind} {values!r} has length {len(values)}, expected {n}")
        if all(type(v) is int or isinstance(v, np.integer) for v in values):
            return tuple(int(v) for v in values)
        if any(isinstance(v, bool) for v in values):
            raise ValueError("booleans are not coefficients")
        return integer_row(values)
    except (TypeError, ValueError, OverflowError) as err:
        raise VerifierError(f"{kind} {vector!r} is not a vector of finite rationals") from err


# --- certified cases (k = 2, 3) ---------------------------------------------------------------


@contextmanager
def _arb_precision(bits: int) -> Iterator[None]:
    saved = flint.ctx.prec
    flint.ctx.prec = bits
    try:
        yield
    finally:
        flint.ctx.prec = saved


def _normal_angle(a: tuple[int, ...], b: tuple[int, ...]) -> flint.arb:
    """The angle between two integer vectors as an arb ball (exact inputs to sqrt and atan2)."""
    ab = sum(x * y for x, y in zip(a, b))
    aa = sum(x * x for x in a)
    bb = sum(y * y for y in b)
    cross2 = aa * bb - ab * ab
    return flint.arb.atan2(flint.arb(cross2).sqrt(), flint.arb(ab))


def _wedge_measure(normals: list[tuple[int, ...]], prec_bits: int) -> Measure:
    if len(normals) != 2:
        raise AssertionError(f"a pointed 2-dimensional cone has 2 facets, got {len(normals)}")
    with _arb_precision(prec_bits):
        theta = _normal_angle(normals[0], normals[1])
        value = flint.arb(1) / 2 - theta / (2 * flint.arb.pi())
        return _certified(value, "wedge")


def _excess_measure(normals: list[tuple[int, ...]], rays: list[tuple[int, ...]], prec_bits: int) -> Measure:
    with _arb_precision(prec_bits):
        total = flint.arb(0)
        for ray in rays:
            tight = [a for a in normals if sum(x * y for x, y in zip(a, ray)) == 0]
            if len(tight) != 2:
                raise AssertionError(f"an extreme ray of a pointed 3-dimensional cone lies on 2 facets, not {len(tight)}")
            total += _normal_angle(tight[0], tight[1])
        value = flint.arb(1) / 2 - total / (4 * flint.arb.pi())
        return _certified(value, "spherical-excess")


def _certified(value: flint.arb, method: str) -> Measure:
    lo, hi = arb_bounds(value)
    return Measure(max(lo, Fraction(0)), min(hi, Fraction(1)), True, method, float(value.mid()))


# --- certified case k = 4, 5: Plackett's integral per simplex -----------------------------------


class MeasureStopped(Exception):
    """A measure was abandoned because its ``stop`` callback fired."""


def _plackett_measure(gram: flint.fmpq_mat, simplices: list[tuple[int, ...]], stop, orthant_path: str) -> Measure:
    """Sum of rigorous orthant enclosures over the simplices (method ``plackett``, or
    ``plackett-wide`` when some simplex got the wide fallback enclosure)."""
    total, wide = flint.arb(0), False
    for simplex in simplices:
        if stop is not None and stop():
            raise MeasureStopped
        value = orthant_probability(simplex_covariance(gram, simplex), path=orthant_path)
        total += value.enclosure
        wide |= value.fallback
    return _certified(total, _versioned("plackett-wide" if wide else "plackett", orthant_path == "blocks"))


# --- estimated case (k >= 4) ------------------------------------------------------------------

_SOBOL_BITS = 32
_BALL_BITS = 256          # precision of the estimates' ball LDL^T
_BALL_TOLERANCE = 2.0**-40   # a ball entry's relative radius that still pins its float


# Estimates: beyond k * 4 extreme rays or 64 simplices Genz's integrals cost more than plain sampling.
# Certified (Plackett) measures triangulate up to 64 k rays and 4,096 simplices (minutes of work).
_LIMITS = {False: (4, 64), True: (64, 4096)}  # certify -> (rays per dimension, simplices)
_HIT_OR_MISS_SAMPLES = 1 << 16
_SECTION_POINTS = 1 << 11          # per random shift, for qmc-section-estimate
_SIMPLEX_SECTION_COSINE = math.cos(math.radians(87))
_SECTION_SIMPLICES = 1024   # the most simplices a simplex-section estimate sums
_REFINE_STDERR = 1e-5   # a sampled estimate with a larger error is drawn again, 8-16 times larger
_SECTION_COSINE = math.cos(math.radians(85))   # the widest ray from the axis the section sampler takes
_THIN_SECTION = 0.7   # a section narrower than this (in its thinnest direction) is sampled, not Genz-integrated


def _tangent_cone_measure(normals: list[tuple[int, ...]], stop, orthant_path: str) -> flint.arb | None:
    """A tangent cone given by its facet normals, measured by triangulation (None unless certified
    without a wide enclosure): for :func:`~verifier.measure.tangent_cones.odd_cone_measure`."""
    m = cone_measure(normals, len(normals[0]), plackett=True, faces=False, stop=stop, orthant_path=orthant_path)
    return m.ball() if m.certified and not m.method.startswith("plackett-wide") else None


def _estimated_measure(gram, simplices, points: int, replicates: int, seed: int, factor: str) -> Measure:
    make = _ball_ldl_factors if factor == "ball-ldl" else _exact_ldl_factors
    uniform = _shifted_points(_sobol_digits(len(simplices[0]) - 1, points), replicates, np.random.default_rng(seed))
    totals = _genz_orthant(np.array(make(gram, simplices)), uniform).mean(axis=-1).sum(axis=0)
    estimate = float(totals.mean())
    stderr = float(totals.std(ddof=1) / math.sqrt(replicates))
    return _sampled(_versioned("qmc-estimate", factor == "ball-ldl"), estimate, stderr)


def _exact_ldl_factors(gram, simplices) -> list[np.ndarray]:
    """Genz factors by an exact rational LDL^T of each simplex's covariance (``qmc-estimate``)."""
    k = len(simplices[0])
    factors = []
    for simplex in simplices:
        cov = simplex_covariance(gram, simplex)
        order = _priority_order([[_to_float(cov[i, j]) for j in range(k)] for i in range(k)])
        factors.append(_scaled_ldl_factor(flint.fmpq_mat(k, k, [cov[i, j] for i in order for j in order])))
    return factors


def _ball_ldl_factors(gram, simplices) -> list[np.ndarray]:
    """Genz factors by an LDL^T in 256-bit ball arithmetic (``qmc-estimate/2``), 6-7 times faster.

    Every pivot must be proved positive and every entry's ball must be within ``2^-40`` of its
    value (relatively, for entries above 1); a simplex where they are not (a nearly degenerate
    one) gets the exact rational LDL^T of :func:`_exact_ldl_factors` instead. Either way each
    entry is within 1e-12 of the exact one's, which moves Genz's bounds by far less than the
    estimate's standard error.

    >>> g = flint.fmpq_mat(4, 4, [3, -1, 0, 1, -1, 2, -1, 0, 0, -1, 2, -1, 1, 0, -1, 5])
    >>> bool(np.allclose(_ball_ldl_factors(g, [(0, 1, 2, 3)]), _exact_ldl_factors(g, [(0, 1, 2, 3)]), 0, 1e-15))
    True
    """
    k = len(simplices[0])
    factors = []
    with _arb_precision(_BALL_BITS):
        table = [[flint.arb(gram[i, j]) for j in range(gram.ncols())] for i in range(gram.nrows())]
        for simplex in simplices:
            try:
                cov = flint.arb_mat(k, k, [table[i][j] for i in simplex for j in simplex]).inv()
            except ZeroDivisionError:   # the balls do not prove the Gram matrix invertible
                factor = None
            else:
                order = _priority_order([[float(cov[i, j].mid()) for j in range(k)] for i in range(k)])
                factor = _ball_ldl(flint.arb_mat(k, k, [cov[i, j] for i in order for j in order]))
            factors.append(factor if factor is not None else _exact_ldl_factors(gram, [simplex])[0])
    return factors


def _ball_ldl(cov: flint.arb_mat) -> np.ndarray | None:
    """The scaled factor of :func:`_scaled_ldl_factor` from a ball matrix, or None when the balls
    do not decide a positive pivot or do not pin an entry's float closely enough."""
    k = cov.nrows()
    low = [[None] * k for _ in range(k)]
    diag = []
    for i in range(k):
        for j in range(i):
            value = cov[i, j]
            for m in range(j):
                value -= low[i][m] * low[j][m] * diag[m]
            low[i][j] = value / diag[j]
        value = cov[i, i]
        for m in range(i):
            value -= low[i][m] * low[i][m] * diag[m]
        if not value > 0:
            return None
        diag.append(value)
    factor = np.eye(k)
    for i in range(k):
        for j in range(i):
            entry = low[i][j] * (diag[j] / diag[i]).sqrt()
            if not entry.rad() <= max(abs(entry.mid()), 1) * _BALL_TOLERANCE:
                return None
            factor[i, j] = float(entry.mid())
    return factor


def _simplex_section_measure(rays, simplices, points: int, replicates: int, seed: int, *,
                             thin_only: bool) -> Measure | None:
    """Monte Carlo over the cross-sections of the cone's simplices (``simplex-section-estimate/2``).

    On the plane ``{c + Q w}`` (``c`` the cone's axis, the sum of its unit rays; ``Q`` an
    orthonormal basis of its complement) the cone's section is the union of its simplices'
    sections, each a simplex ``S_i`` whose vertices are its rays' sections, and the measure is
    ``sum_i vol(S_i) E[g(w)]``, ``w`` uniform on ``S_i``, ``g(w) = Gamma(n/2) / (2 pi^(n/2))
    (1 + |w|^2)^(-n/2)`` (see :func:`_section_measure`). ``g`` is smooth and positive, so there is
    no indicator to miss and no thin simplex to defeat the estimate: its error is a few 1e-4 of
    the measure. The ray sections and the volumes are computed in 256-bit balls; the points are
    floats (``points`` per replicate, shared by the simplices), the replicates' spread giving the
    standard error. None unless every ray lies within 87 degrees of the axis, and, with
    ``thin_only`` (a cone Genz's integrand may take), unless the section is thinner than 0.7 across
    in some direction: on a fat cone ``g`` varies more and Genz's integrand is far more precise
    (an orthant: 1e-16 against 6e-3 of the measure).
    """
    n = len(rays[0])
    directions, axis, basis = _section_frame(rays)
    heights = directions @ axis
    if heights.min() < _SIMPLEX_SECTION_COSINE:
        return None
    if thin_only:   # the rays' sections along their principal axes, roughly (floats)
        spread = directions @ basis / heights[:, None]
        spread -= spread.mean(axis=0)
        if np.ptp(spread @ np.linalg.svd(spread)[2].T, axis=0).min() > _THIN_SECTION:
            return None
    with _arb_precision(_BALL_BITS):
        sections = _plane_coordinates(axis, basis, rays)
        if sections is None:
            return None
        volumes = []
        for simplex in simplices:
            base = sections[simplex[0]]
            edges = flint.arb_mat(n - 1, n - 1, [sections[j][i] - base[i] for j in simplex[1:] for i in range(n - 1)])
            volumes.append(abs(float(edges.det().mid())) / math.factorial(n - 1))
        vertices = np.array([[float(x.mid()) for x in point] for point in sections])
    rng = np.random.default_rng(seed)
    spacings = np.sort(rng.random((replicates, points, n - 1)), axis=-1)
    weights = np.diff(spacings, axis=-1, prepend=0.0, append=1.0)   # uniform barycentric weights
    scale = math.gamma(n / 2) / (2 * math.pi ** (n / 2)) * abs(np.linalg.det(np.column_stack([axis, basis])))
    totals = np.zeros(replicates)
    for simplex, volume in zip(simplices, volumes):
        w = weights @ vertices[list(simplex)]
        totals += volume * (scale * (1.0 + (w * w).sum(axis=-1)) ** (-n / 2)).mean(axis=-1)
    estimate = float(totals.mean())
    stderr = float(totals.std(ddof=1) / math.sqrt(replicates))
    return _sampled(_versioned("simplex-section-estimate", True), estimate, stderr)


def _section_measure(normals, rays, replicates: int, seed: int, *, thin_only: bool,
                     points: int = _SECTION_POINTS) -> Measure | None:
    """Quasi-Monte Carlo over the cone's cross-section (``qmc-section-estimate/2``): for a pointed
    cone, about its axis ``c`` (the sum of its unit rays).

    With ``x = t (c + Q w)`` (``Q`` an orthonormal basis of ``c``'s complement), a standard
    Gaussian's ``w`` has the density ``g(w) = Gamma(n/2) / (2 pi^(n/2)) (1 + |w|^2)^(-n/2)`` on
    ``t > 0``, and the cone is ``t > 0, w`` in the polytope ``P`` spanned by its rays' sections.
    ``P`` lies in the box of those sections along their principal axes; the measure is the box's
    volume times the mean of ``g(w) [w in P]`` over points uniform in the box (a scrambled Sobol
    set under random shifts, whose spread gives the standard error). The error is relative: a
    thin cone gets one as small as its measure, where hit-or-miss over all of R^n states 1.5e-5
    whatever the cone's size. Floor: the box's volume times the largest ``g`` at a hit (``g(0)``
    if none) times the binomial error of the hit rate with one hit added, so a cone no point hits
    keeps a nonzero error. Floats: an estimate.

    Two uses, both after :func:`_simplex_section_measure` declined the cone. ``thin_only``: a cone
    Genz's integrand would otherwise take (a triangulation of at most 64 simplices), if its
    section is thinner than 0.7 across: on thin simplices that integrand's weights are
    heavy-tailed and its estimate and error collapse (a cone of measure 2.5e-9 came out as
    2e-30 +- 2e-30), while the section's error stays about 1% of the measure. Otherwise, in place
    of hit-or-miss; None where hit-or-miss does better: a ray more than 85 degrees from the axis,
    or an error here above the binomial error of 2^16 hit-or-miss samples at this estimate.
    """
    n = len(normals[0])
    directions, axis, basis = _section_frame(rays)
    if (directions @ axis).min() < _SECTION_COSINE:
        return None
    with _arb_precision(_BALL_BITS):   # the section's geometry in balls: a thin cone's differences cancel
        first = _plane_coordinates(axis, basis, rays)
        if first is None:
            return None
        middle = np.array([float(sum(c[i] for c in first).mid()) / len(rays) for i in range(n - 1)])
        spread = np.array([[float((c[i] - middle[i]).mid()) for i in range(n - 1)] for c in first])
        origin = axis + basis @ middle          # the section plane {origin + frame y}, along the
        frame = basis @ np.linalg.svd(spread)[2].T   # principal axes of the rays' sections
        coordinates = _plane_coordinates(origin, frame, rays)
        if coordinates is None:
            return None
        low = np.array([min(float(c[i].mid() - c[i].rad()) for c in coordinates) for i in range(n - 1)])
        high = np.array([max(float(c[i].mid() + c[i].rad()) for c in coordinates) for i in range(n - 1)])
        low, width = np.nextafter(low, -np.inf), np.nextafter(np.nextafter(high, np.inf) - low, np.inf)
        if not width.min() > 0 or (thin_only and width.min() > _THIN_SECTION):
            return None
        # facet a at origin + frame (low + width s): a.origin + (frame^T a).low + ((frame^T a) width).s
        tests = []
        for a in normals:
            slope = [sum((flint.arb(frame[r, i]) * a[r] for r in range(n)), flint.arb(0)) for i in range(n - 1)]
            level = sum((flint.arb(origin[r]) * a[r] for r in range(n)), flint.arb(0)) + \
                sum((slope[i] * flint.arb(low[i]) for i in range(n - 1)), flint.arb(0))
            row = [level] + [slope[i] * flint.arb(width[i]) for i in range(n - 1)]
            size = max(abs(float(x.mid())) for x in row)
            if not all(x.rad() <= size * _BALL_TOLERANCE for x in row):
                return None
            tests.append([float(x.mid()) for x in row])
        base = np.array([float((flint.arb(origin[r]) + sum((flint.arb(frame[r, i]) * flint.arb(low[i])
                                                              for i in range(n - 1)), flint.arb(0))).mid())
                         for r in range(n)])
    tests = np.array(tests)
    tests /= np.abs(tests).max(axis=1, keepdims=True)
    uniform = _shifted_points(_sobol_digits(n - 1, points), replicates, np.random.default_rng(seed))
    hit = (tests[:, 0] + uniform @ tests[:, 1:].T >= 0).all(axis=-1)
    on_plane = base + uniform @ (frame * width).T   # (replicates, points, n)
    scale = math.gamma(n / 2) / (2 * math.pi ** (n / 2)) * abs(np.linalg.det(np.column_stack([origin, frame])))
    density = scale * (on_plane * on_plane).sum(axis=-1) ** (-n / 2)
    volume = float(np.prod(width))
    totals = volume * (density * hit).mean(axis=-1)
    estimate = float(totals.mean())
    count = hit.size
    smoothed = (int(np.count_nonzero(hit)) + 1) / (count + 2)
    peak = float(density[hit].max()) if hit.any() else float(density.max())
    stderr = max(float(totals.std(ddof=1) / math.sqrt(replicates)),
                 volume * peak * math.sqrt(smoothed * (1 - smoothed) / count))
    plain = max(estimate, 1 / _HIT_OR_MISS_SAMPLES)
    if not thin_only and stderr > math.sqrt(plain * (1 - plain) / _HIT_OR_MISS_SAMPLES):
        return None   # hit-or-miss does better
    return _sampled(_versioned("qmc-section-estimate", True), estimate, stderr)


def _section_frame(rays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(unit rays, axis, basis)``: the axis is the unit sum of the unit rays, the basis (n x n-1)
    an orthonormal one of its complement (the rows of a Householder reflection mapping it to
    -+e_0), in floats."""
    directions = _unit_vectors(rays)
    axis = directions.sum(axis=0)
    axis /= np.linalg.norm(axis)
    mirror = axis.copy()
    mirror[0] += 1.0 if axis[0] >= 0 else -1.0
    return directions, axis, (np.eye(len(axis)) - 2.0 * np.outer(mirror, mirror) / (mirror @ mirror))[1:].T


def _unit_vectors(vectors) -> np.ndarray:
    """Integer vectors as float unit vectors, however many bits they have (rays of M16,10's
    pieces have ~600): each is first shifted to at most 64 significant bits."""
    out = []
    for v in vectors:
        shift = max(max(abs(x) for x in v).bit_length() - 64, 0)
        out.append([float(x >> shift) if x >= 0 else -float(-x >> shift) for x in v])
    out = np.array(out)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _plane_coordinates(origin: np.ndarray, frame: np.ndarray, rays) -> list[list] | None:
    """Each ray's point ``y`` (balls) on the plane ``{origin + frame y}``: ``t (origin + frame y)``
    is the ray; None unless every ray provably crosses the plane (``t > 0``)."""
    n = len(origin)
    plane = flint.arb_mat(n, n, [flint.arb(origin[r] if c == 0 else frame[r, c - 1]) for r in range(n) for c in range(n)])
    try:
        solved = plane.solve(flint.arb_mat(n, len(rays), [flint.arb(ray[r]) for r in range(n) for ray in rays]))
    except ZeroDivisionError:
        return None
    out = []
    for j in range(len(rays)):
        t = solved[0, j]
        if not t > 0:
            return None
        out.append([solved[i, j] / t for i in range(1, n)])
    return out


def _hit_or_miss_measure(normals, samples: int, seed: int, method: str = "mc-estimate") -> Measure:
    """Plain Monte Carlo for cones with very many extreme rays (e.g. 512 in R^10): the share of
    Gaussian points satisfying every facet inequality, drawn 2^16 at a time. The standard error
    uses (h+1)/(N+2) so that a cone no sample hits still gets an honest, nonzero error bar."""
    rows = np.array([[float(v) for v in a] for a in normals])
    rows /= np.abs(rows).max(axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, samples, _HIT_OR_MISS_SAMPLES):
        x = rng.standard_normal((min(_HIT_OR_MISS_SAMPLES, samples - start), rows.shape[1]))
        hits += int(np.count_nonzero((x @ rows.T >= 0).all(axis=1)))
    estimate = hits / samples
    smoothed = (hits + 1) / (samples + 2)
    stderr = math.sqrt(smoothed * (1 - smoothed) / samples)
    return _sampled(method, estimate, stderr)


def _sampled(method: str, estimate: float, stderr: float) -> Measure:
    """A labelled estimate: the interval ``estimate +- 4 stderr`` clipped to [0, 1], not certified."""
    lo = max(Fraction(estimate - _Z_INTERVAL * stderr), Fraction(0))
    hi = min(Fraction(estimate + _Z_INTERVAL * stderr), Fraction(1))
    return Measure(lo, hi, False, method, estimate, stderr)


def _to_float(q: flint.fmpq) -> float:
    return int(q.p) / int(q.q)


def _priority_order(cov: list[list[float]]) -> list[int]:
    """Genz and Bretz's variable order for ``P(Y <= 0)``: least likely condition first.

    Greedy on a float Cholesky of the covariance: at each step take the variable whose
    condition is least probable given the earlier ones at their conditional means. Only the
    order comes from floats; a numerically singular remainder keeps its current order.
    """
    k = len(cov)
    corr = [[cov[i][j] / math.sqrt(cov[i][i] * cov[j][j]) for j in range(k)] for i in range(k)]
    order = list(range(k))
    chol = [[0.0] * k for _ in range(k)]
    means = []
    for i in range(k):
        best = None
        for j in range(i, k):
            var = corr[j][j] - sum(c * c for c in chol[j][:i])
            if var > 1e-12:
                bound = -sum(c * m for c, m in zip(chol[j], means)) / math.sqrt(var)
                if best is None or bound < best[0]:
                    best = (bound, j, var)
        if best is None:
            break
        bound, j, var = best
        for row in corr:
            row[i], row[j] = row[j], row[i]
        corr[i], corr[j] = corr[j], corr[i]
        chol[i], chol[j] = chol[j], chol[i]
        order[i], order[j] = order[j], order[i]
        pivot = math.sqrt(var)
        chol[i][i] = pivot
        for m in range(i + 1, k):
            chol[m][i] = (corr[m][i] - sum(x * y for x, y in zip(chol[m][:i], chol[i][:i]))) / pivot
        prob = 0.5 * math.erfc(-bound / math.sqrt(2))
        means.append(-math.exp(-bound * bound / 2) / math.sqrt(2 * math.pi) / max(prob, 1e-300))
    return order


def _scaled_ldl_factor(cov: flint.fmpq_mat) -> np.ndarray:
    """Lower-triangular ``M`` (unit diagonal) with ``cov = D^1/2 M M^T D^1/2`` for a diagonal ``D > 0``.

    The LDL^T factorization is exact; only the final entries ``L_ij sqrt(D_j / D_i)`` are
    rounded, so ill-conditioned covariances do not break the factorization.
    """
    k = cov.nrows()
    zero = flint.fmpq(0)
    low = [[zero] * k for _ in range(k)]
    diag = [zero] * k
    for i in range(k):
        for j in range(i):
            low[i][j] = (cov[i, j] - sum((low[i][m] * low[j][m] * diag[m] for m in range(j)), zero)) / diag[j]
        diag[i] = cov[i, i] - sum((low[i][m] ** 2 * diag[m] for m in range(i)), zero)
        if diag[i] <= 0:
            raise AssertionError("simplicial cone with a degenerate Gram matrix")
    factor = np.eye(k)
    for i in range(k):
        for j in range(i):
            factor[i, j] = _to_float(low[i][j]) * math.sqrt(_to_float(diag[j] / diag[i]))
    return factor


def _genz_orthant(factors: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Genz's integrand for ``P(M z <= 0)``, z standard normal, per factor ``M`` and uniform point.

    ``factors`` is (S, k, k), ``u`` is (..., k-1); the result is (S, ...). Row i of ``M z <= 0``
    reads ``z_i <= -sum_{j<i} M_ij z_j``; the integrand is the product of these conditional
    probabilities, each earlier ``z_j`` drawn from its truncated normal by inversion.
    """
    from scipy.special import ndtr, ndtri  # here, like qmc: certified measures never need scipy

    count, k, _ = factors.shape
    shape = (count,) + u.shape[:-1]
    value = np.full(shape, 0.5)   # P(z_0 <= 0)
    z = [ndtri(np.clip(u[..., 0] * 0.5, 1e-300, 1.0))]   # the same z_0 for every factor
    columns = factors.reshape((count, k, k) + (1,) * (len(shape) - 1))
    for i in range(1, k):
        bound = columns[:, i, 0] * z[0]
        for j in range(1, i):   # in this order: the sums of every certificate so far
            bound += columns[:, i, j] * z[j]
        probability = ndtr(-bound)
        value = value * probability
        if i < k - 1:
            z.append(ndtri(np.clip(u[..., i] * probability, 1e-300, 1.0)))
    return value


@lru_cache(maxsize=None)
def _sobol_digits(dim: int, points: int) -> np.ndarray:
    """A fixed scrambled Sobol point set as ``_SOBOL_BITS``-bit integers (randomized per use)."""
    from scipy.stats import qmc  # here: importing scipy.stats costs ~1.5 s and only estimates need it

    unit = qmc.Sobol(dim, scramble=True, bits=_SOBOL_BITS, seed=20240601).random_base2(points.bit_length() - 1)
    digits = np.floor(unit * 2.0**_SOBOL_BITS).astype(np.uint64)
    digits.setflags(write=False)
    return digits


def _shifted_points(digits: np.ndarray, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """Independent randomizations of a digital net: a random digital shift per replicate.

    Each replicate XORs every point's binary digits with one random mask per coordinate (which
    keeps the net's equidistribution), then places the point uniformly inside its
    ``2^-_SOBOL_BITS`` cell, so every point is exactly uniform on the unit cube.
    """
    masks = rng.integers(0, 2**_SOBOL_BITS, size=(replicates, 1, digits.shape[1]), dtype=np.uint64)
    jitter = rng.random((replicates,) + digits.shape)
    return ((digits[None] ^ masks).astype(np.float64) + jitter) * 2.0**-_SOBOL_BITS
