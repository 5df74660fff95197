"""Gaussian moments of polyhedral cones: ``E[x 1_C]``, ``E[x x^T 1_C]`` and ``E[(c . x)^2 1_C]``.

For a closed convex cone ``C = {x : a_i . x >= 0}`` in R^n (full-dimensional, facet normals
``a_i``, inward unit normals ``u_i = a_i / |a_i|``) and a standard Gaussian ``x``, Gaussian
integration by parts, ``E[x_j f(x)] = E[d_j f(x)]``, applied to ``f = 1_C`` and to
``f = x_k 1_C`` gives (the derivative of ``1_C`` is the surface measure of the boundary times
the inward normal, and the Gaussian density on a hyperplane through 0 is the hyperplane's own
(n-1)-dimensional density divided by ``sqrt(2 pi)``):

* ``E[x 1_C] = (2 pi)^(-1/2) sum_i gamma(F_i) u_i``, with ``F_i`` the facet on ``a_i . x = 0``
  and ``gamma(F_i)`` its Gaussian measure inside its own (n-1)-dimensional span;
* ``E[x x^T 1_C] = gamma(C) I + (2 pi)^(-1/2) sum_i u_i m_i^T`` where ``m_i`` is the first moment
  of ``F_i`` inside its hyperplane, which by the same rule is a sum over the ridges
  ``R_ij = F_i & F_j`` (the (n-2)-dimensional faces) of ``(2 pi)^(-1/2) gamma(R_ij) w_ij``,
  ``w_ij`` the unit normal of ``R_ij`` inside the hyperplane of ``F_i``, pointing into ``F_i``:
  ``w_ij`` is the direction of ``|a_i|^2 a_j - (a_i . a_j) a_i``.

So, with ``G_ij = |a_i|^2 |a_j|^2 - (a_i . a_j)^2`` (a Gram determinant, an integer),

    E[(c . x)^2 1_C] = gamma(C) |c|^2 + 1/(2 pi) sum over ridges {i, j} of gamma(R_ij) / sqrt(G_ij)
                       * (2 (c . a_i)(c . a_j) - (a_i . a_j) ((c . a_i)^2/|a_i|^2 + (c . a_j)^2/|a_j|^2)).

Every face's measure inside its span is the measure of the full-dimensional cone ``face +
span(normals of the hyperplanes holding it)`` (the two parts are orthogonal), measured by
:func:`~verifier.measure.solid_angle.generators_measure`. A ridge of an n-dimensional cone has
pointed dimension at most n - 2, so for n <= 5 every ridge and facet measure is certified by the
closed forms of k <= 3, and the result is certified exactly when ``gamma(C)`` is. Everything
before the transcendental step is exact integer arithmetic; ``sqrt(G_ij)`` and ``pi`` are arb
balls; an estimated measure (no certified enclosure) makes the result an estimate with a
standard error, labelled ``certified=False``.

>>> m = quadratic_moment([(1, 0), (0, 1)], 2, (1, 1))   # E[(x0 + x1)^2; x0, x1 >= 0] = 1/2 + 1/pi
>>> m.certified, abs(float(m.lo) - (0.5 + 1 / math.pi)) < 1e-15, float(m.width) < 1e-30
(True, True, True)
>>> quadratic_moment([], 3, (1, 2, 2)).lo     # the whole space: E[(c . x)^2] = |c|^2
Fraction(9, 1)
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Sequence

import flint
import ppl

from ..errors import VerifierError
from ..exact import decimal_bound, integer_row
from .orthant import arb_bounds
from .solid_angle import IntervalSum, Measure, _arb_precision, generators_measure

_Z_INTERVAL = 4  # half-width of an estimate's interval, in standard errors (as for measures)


@dataclass(frozen=True)
class Expectation:
    """An expectation (a nonnegative real, not a probability): ``[lo, hi]`` is a rigorous
    enclosure when ``certified``, else ``estimate +- 4 stderr`` (clipped at 0)."""

    lo: Fraction
    hi: Fraction
    certified: bool
    estimate: float
    stderr: float | None = None

    def __post_init__(self):
        if not self.lo <= self.hi:
            raise ValueError(f"expectation interval is reversed: [{self.lo}, {self.hi}]")

    @property
    def width(self) -> Fraction:
        return self.hi - self.lo

    def lo_str(self, digits: int = 40) -> str:
        return decimal_bound(self.lo, digits, up=False)

    def hi_str(self, digits: int = 40) -> str:
        return decimal_bound(self.hi, digits, up=True)

    def __str__(self) -> str:
        kind = "certified" if self.certified else f"estimated, stderr {self.stderr:.2g}"
        return f"[{self.lo_str(20)}, {self.hi_str(20)}] ({kind})"


ZERO_EXPECTATION = Expectation(Fraction(0), Fraction(0), True, 0.0)


def expectation_total(total: IntervalSum) -> Expectation:
    """A running sum of expectations (:class:`~verifier.measure.solid_angle.IntervalSum`) as an
    :class:`Expectation`: certified parts as an interval, estimates in quadrature (+-4 standard errors)."""
    return Expectation(*total.interval())


def sum_expectations(parts: Iterable[Expectation]) -> Expectation:
    """Expectations over disjoint sets add: certified parts as intervals, estimates in quadrature."""
    total = IntervalSum()
    for p in parts:
        total.add(p)
    return expectation_total(total)


def widened(e: Expectation, extra: Fraction, certified: bool = True) -> Expectation:
    """``e`` with ``extra`` (a proved bound on an unknown nonnegative share) added to its upper end;
    ``certified=False`` marks the result an estimate (when the bound's inputs are)."""
    if extra == 0 and (certified or not e.certified):
        return e
    return Expectation(e.lo, e.hi + extra, e.certified and certified, e.estimate, e.stderr)


def square_root(e: Expectation, prec_bits: int = 128) -> Expectation:
    """``sqrt`` of a nonnegative interval, rounded outward (an RMSE from an MSE); an estimate's
    standard error follows by the delta method."""
    with _arb_precision(prec_bits):
        lo = _enclosure(flint.arb(_fmpq(e.lo)).sqrt())[0]
        hi = _enclosure(flint.arb(_fmpq(e.hi)).sqrt())[1]
    estimate = math.sqrt(max(e.estimate, 0.0))
    stderr = None if e.stderr is None else (e.stderr / (2 * estimate) if estimate > 0 else math.sqrt(e.stderr))
    return Expectation(max(lo, Fraction(0)), max(hi, Fraction(0)), e.certified, estimate, stderr)


@dataclass(frozen=True)
class Ridge:
    """The face ``F_i & F_j`` of a cone, of dimension n - 2, and its measure inside its span."""

    i: int
    j: int
    measure: Measure


@dataclass(frozen=True)
class ConeFaces:
    """What the moments of a cone need: its measure, facet normals, facet and ridge measures."""

    n: int
    measure: Measure
    normals: tuple[tuple[int, ...], ...]
    facets: tuple[Measure, ...]        # gamma(F_i) inside span(F_i), one per normal
    ridges: tuple[Ridge, ...]


def cone_faces(rows: Sequence[Sequence], n: int, *, facets: bool = True, **options) -> ConeFaces | None:
    """The faces of ``{x : r . x >= 0}`` that enter its moments, or None if the cone is lower-dimensional
    (every moment is then 0). ``facets=False`` skips the facet measures (the second moment needs
    only ridges). ``options`` go to the measure of the cone itself."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise VerifierError(f"cone dimension must be a positive integer, got {n!r}")
    poly = ppl.C_Polyhedron(n, "universe")
    for row in rows:
        ints = integer_row(row)
        if len(ints) != n:
            raise VerifierError(f"row {tuple(row)!r} has length {len(ints)}, expected {n}")
        if any(ints):
            poly.add_constraint(ppl.Linear_Expression(list(ints), 0) >= 0)
    if poly.affine_dimension() < n:
        return None
    normals = tuple(tuple(int(v) for v in c.coefficients()) for c in poly.minimized_constraints())
    from .solid_angle import polyhedron_measure

    whole = polyhedron_measure(poly, **options)
    facet_measures = tuple(_face_measure(poly, (a,), n) for a in normals) if facets else ()
    ridges = []
    for i, j in itertools.combinations(range(len(normals)), 2):
        m = _face_measure(poly, (normals[i], normals[j]), n)
        if m is not None:
            ridges.append(Ridge(i, j, m))
    return ConeFaces(n, whole, normals, facet_measures, tuple(ridges))


def _face_measure(poly: ppl.C_Polyhedron, normals, n: int) -> Measure | None:
    """Measure of the face of ``poly`` on the hyperplanes ``a . x = 0`` (a in ``normals``) inside its
    own span, when the face has dimension n - len(normals); else None."""
    face = ppl.C_Polyhedron(poly)
    for a in normals:
        face.add_constraint(ppl.Linear_Expression(list(a), 0) == 0)
    if face.affine_dimension() != n - len(normals):
        return None
    rays, lines = [], []
    for g in face.minimized_generators():
        coefficients = tuple(int(v) for v in g.coefficients())
        if g.is_ray():
            rays.append(coefficients)
        elif g.is_line():
            lines.append(coefficients)
    return generators_measure(rays, lines + [tuple(a) for a in normals], n)


def _dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def _fmpq(q: Fraction) -> flint.fmpq:
    return flint.fmpq(q.numerator, q.denominator)


def _enclosure(value: flint.arb) -> tuple[Fraction, Fraction]:
    """Exact dyadic bounds of an arb ball."""
    return arb_bounds(value)


def _combine(terms: Sequence[tuple[Measure, flint.arb]]) -> Expectation:
    """``sum_k weight_k * measure_k``: certified parts as an arb sum, estimated ones with stderrs."""
    total = flint.arb(0)
    guess, variance, certified = 0.0, 0.0, True
    for m, weight in terms:
        if m.certified:
            total += weight * m.ball()
        else:
            certified = False
            w = float(weight.mid())
            guess += w * m.estimate
            variance += (w * m.stderr) ** 2
    lo, hi = _enclosure(total)  # the certified part alone may be negative: ridge weights have signs
    point = float(total.mid()) + guess
    stderr = math.sqrt(variance) if not certified else None
    if not certified:
        lo += Fraction(guess - _Z_INTERVAL * stderr)
        hi += Fraction(guess + _Z_INTERVAL * stderr)
    lo = max(lo, Fraction(0))  # every moment assembled here is an expectation of a square: >= 0
    return Expectation(lo, max(hi, lo), certified, point, stderr)


def quadratic_moment(rows: Sequence[Sequence], n: int, form: Sequence, *, faces: ConeFaces | None = None,
                     prec_bits: int = 128, **options) -> Expectation:
    """``E[(form . x)^2 1_C(x)]`` for ``C = {x : r . x >= 0}`` and x standard Gaussian on R^n (see the
    module docstring). ``form`` has exact (int/Fraction) coefficients; ``faces`` may be passed
    when already computed for this cone."""
    c = [Fraction(v) for v in form]
    if len(c) != n:
        raise VerifierError(f"form has length {len(c)}, expected {n}")
    faces = faces if faces is not None else cone_faces(rows, n, facets=False, prec_bits=prec_bits, **options)
    if faces is None:
        return ZERO_EXPECTATION
    with _arb_precision(prec_bits):
        terms = [(faces.measure, flint.arb(_fmpq(_dot(c, c))))]
        two_pi = 2 * flint.arb.pi()
        for ridge in faces.ridges:
            a, b = faces.normals[ridge.i], faces.normals[ridge.j]
            aa, bb, ab = _dot(a, a), _dot(b, b), _dot(a, b)
            ca, cb = _dot(c, a), _dot(c, b)
            coefficient = 2 * ca * cb - ab * (ca * ca / aa + cb * cb / bb)
            if coefficient:
                weight = flint.arb(_fmpq(coefficient)) / (flint.arb(aa * bb - ab * ab).sqrt() * two_pi)
                terms.append((ridge.measure, weight))
        return _combine(terms)


def first_moment(rows: Sequence[Sequence], n: int, *, prec_bits: int = 128) -> tuple[flint.arb, ...]:
    """``E[x 1_C(x)]`` as arb balls (certified facet measures only: n <= 4, or simpler cones)."""
    faces = cone_faces(rows, n, prec_bits=prec_bits)
    with _arb_precision(prec_bits):
        out = [flint.arb(0)] * n
        if faces is None:
            return tuple(out)
        root = (2 * flint.arb.pi()).sqrt()
        for a, m in zip(faces.normals, faces.facets):
            _require_certified(m)
            norm = flint.arb(_dot(a, a)).sqrt()
            out = [o + m.ball() * a_k / (norm * root) for o, a_k in zip(out, a)]
        return tuple(out)


def second_moment(rows: Sequence[Sequence], n: int, *, prec_bits: int = 128) -> tuple[tuple[flint.arb, ...], ...]:
    """``E[x x^T 1_C(x)]`` as an n x n matrix of arb balls (certified measures only)."""
    faces = cone_faces(rows, n, facets=False, prec_bits=prec_bits)
    with _arb_precision(prec_bits):
        zero = flint.arb(0)
        if faces is None:
            return tuple(tuple(zero for _ in range(n)) for _ in range(n))
        _require_certified(faces.measure)
        gamma = faces.measure.ball()
        matrix = [[gamma if r == s else zero for s in range(n)] for r in range(n)]
        two_pi = 2 * flint.arb.pi()
        for ridge in faces.ridges:
            _require_certified(ridge.measure)
            for i, j in ((ridge.i, ridge.j), (ridge.j, ridge.i)):
                a, b = faces.normals[i], faces.normals[j]
                aa, ab = _dot(a, a), _dot(a, b)
                scale = ridge.measure.ball() / ((flint.arb(aa * _dot(b, b) - ab * ab)).sqrt() * two_pi * aa)
                v = [aa * bk - ab * ak for ak, bk in zip(a, b)]  # |a|^2 b - (a.b) a, the direction of w
                for r in range(n):
                    for s in range(n):
                        if a[r] and v[s]:
                            matrix[r][s] += scale * (a[r] * v[s])
        return tuple(tuple(row) for row in matrix)


def _require_certified(m: Measure) -> None:
    if not m.certified:
        raise VerifierError(f"a face measure is only an estimate ({m.method}); moments as arb balls need"
                            " certified measures")
