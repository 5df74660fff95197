"""Rigorous orthant probabilities ``P(Z >= 0)``, ``Z ~ N(0, S)``, for an exact covariance ``S``.

The orthant probability depends only on the correlations ``r_ij`` of ``S`` (balls from exact
``s_ij^2 / (s_ii s_jj)``). Closed forms cover ``k <= 3`` coordinates (``1``, ``1/2``,
``1/4 + asin(r)/(2 pi)``, ``1/8 + sum asin(r_ij)/(4 pi)``). For ``k = 4, 5`` Plackett's
identity along the path ``R(t) = I + t (R - I)`` from the identity (orthant ``2^-k``) gives

    P_k(R) = 2^-k + integral_0^1 sum_{i<j} r_ij phi2(t r_ij) P_{k-2}(C_ij(t)) dt,

``phi2(rho) = 1 / (2 pi sqrt(1 - rho^2))`` the bivariate density at the origin and ``C_ij(t)``
the correlation of the other ``k - 2`` coordinates given ``Z_i = Z_j = 0`` under ``R(t)``,
whose orthant is a closed form of dimension 2 or 3. Multiplied by ``1 - t^2 r_ij^2`` the
conditional covariances are cubics in ``t``; their coefficients are computed once, and each
evaluation expands them around the ball's midpoint (plain Horner on a wide complex ball
overestimates so much that the integrator needs ten times more evaluations).

The integral is python-flint's ``acb.integral`` (rigorous Gauss-Legendre, error bounds from
analytic continuation). The integrand reports a non-finite ball wherever it is not analytic
on its input ball: square roots use the ``analytic`` flag, arcsines are checked against their
cuts ``(-inf, -1]`` and ``[1, inf)``. ``R(t)`` is singular at ``t = 1 / (1 - lambda)`` for each
eigenvalue ``lambda`` of ``R``, so a thin cone (small ``lambda``) puts a branch point just past
the end of the path.

Thin cones: the integral then runs over ``[0, 1 - delta]`` only. On the last stretch each
term's ``r phi2(t r)`` integrates in closed form to ``(asin r - asin((1 - delta) r)) / (2 pi)``
and its ``P_{k-2}`` is enclosed by evaluating it on the real interval ``[1 - delta, 1]``
(arcsines clamped to their domain, ``[0, 1]`` if that fails). The path is split at
``delta = 2^-40`` (shorter, at higher precision, when a pair has ``|r_ij|`` within ``2^-30`` of
1) at once when ``R``'s smallest eigenvalue is below ``2^-20``, or after the
whole path failed within its evaluation budget (the per-cone work limit). If that fails too,
the last resort is ``[0, min over 3-coordinate marginals P_3(R_S)]`` (dropping constraints
can only grow the orthant), intersected with the whole path bounded as a tail. Every
answer is a rigorous enclosure, only wider for hard cones: never NaN, never an estimate.

For odd ``k`` the parity identity ``P_k = 1/2 sum_{S proper subset} (-1)^(k-1-|S|) P_|S|(R_S)``
(``P_0 = 1``) gives an independent route through lower marginals (:func:`parity_orthant`,
used in tests).

>>> value = orthant_probability(flint.fmpq_mat(4, 4, [2 if i == j else 1 for i in range(4) for j in range(4)]))
>>> lo, hi = arb_bounds(value.enclosure)
>>> lo <= Fraction(1, 5) <= hi, hi - lo < 1e-15, value.split
(True, True, False)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction

import flint

MAX_DIMENSION = 5
_DEFAULT_PREC = 64
_THIN = 2.0**-20  # smallest eigenvalue of R below this: split the path at once
_MAX_EXTRA_BITS = 60  # a split path stops at most 2^-100 before its end
_EVAL_LIMIT = 20000  # integrand evaluations per attempt (the per-cone work limit)
_ACCEPT = 2.0**-40  # an integral's radius up to which it is kept (else the next, shorter path)


@dataclass(frozen=True)
class OrthantValue:
    """An enclosure of an orthant probability; ``split``: the thin-cone path (a bounded last stretch) was used."""

    enclosure: flint.arb
    split: bool


def orthant_probability(cov: flint.fmpq_mat, *, prec_bits: int = _DEFAULT_PREC) -> OrthantValue:
    """Enclosure of ``P(Z >= 0)`` for ``Z ~ N(0, cov)``; ``cov`` exact, positive definite, k <= 5."""
    k = cov.nrows()
    if cov.ncols() != k or k > MAX_DIMENSION:
        raise ValueError(f"need a square covariance of size <= {MAX_DIMENSION}, got {k} x {cov.ncols()}")
    delta, extra = _split_point(cov)
    saved = flint.ctx.prec
    flint.ctx.prec = prec_bits + extra
    try:
        corr = _correlations(cov)
        if k <= 3:
            return OrthantValue(_closed_form(corr, list(range(k))), False)
        return _plackett(cov, corr, prec_bits, delta)
    finally:
        flint.ctx.prec = saved


def _split_point(cov: flint.fmpq_mat) -> tuple[Fraction, int]:
    """Where a split path stops, ``1 - delta``, and the extra bits of precision that needs.

    ``delta = 2^-40``, but smaller when some pair has ``1 - r_ij^2`` below ``2^-30``: then
    ``phi2(t r_ij)`` is nearly singular at t = 1 and the bounded last stretch must be shorter
    (``(asin r - asin((1 - delta) r)) / (2 pi)`` is about ``sqrt(2 delta) / (2 pi)`` as r -> 1).
    """
    k = cov.nrows()
    gap = min((1 - cov[i, j] ** 2 / (cov[i, i] * cov[j, j]) for i, j in itertools.combinations(range(k), 2)),
              default=flint.fmpq(1))
    extra = 0
    if gap < flint.fmpq(1, 2**30):
        extra = min(int(gap.q).bit_length() - int(gap.p).bit_length() - 30, _MAX_EXTRA_BITS)
    return Fraction(1, 2 ** (40 + extra)), extra


def parity_orthant(cov: flint.fmpq_mat, *, prec_bits: int = _DEFAULT_PREC) -> flint.arb:
    """``P_k`` for odd ``k`` from its proper marginals by the parity identity (an independent route)."""
    k = cov.nrows()
    if k % 2 == 0:
        raise ValueError("the parity identity expresses odd-dimensional orthants")
    total = flint.arb(0)
    for size in range(k):
        for subset in itertools.combinations(range(k), size):
            sub = flint.fmpq_mat(size, size, [cov[a, b] for a in subset for b in subset])
            value = orthant_probability(sub, prec_bits=prec_bits).enclosure if size else flint.arb(1)
            total += value if (k - 1 - size) % 2 == 0 else -value
    return total / 2


def arb_bounds(value: flint.arb) -> tuple[Fraction, Fraction]:
    """A finite arb ball's exact endpoints (its midpoint and radius are dyadic)."""
    if not value.is_finite():
        raise ValueError("arb evaluation lost all precision")
    mid, rad = _dyadic(value.mid()), _dyadic(value.rad())
    return mid - rad, mid + rad


def _dyadic(exact: flint.arb) -> Fraction:
    mantissa, exponent = (int(v) for v in exact.man_exp())
    return Fraction(mantissa << exponent) if exponent >= 0 else Fraction(mantissa, 1 << -exponent)


# --- closed forms ------------------------------------------------------------------------------


def _correlations(cov: flint.fmpq_mat) -> list[list[flint.arb]]:
    """Correlation balls ``s_ij / sqrt(s_ii s_jj)`` from exact entries (one rounding each)."""
    k = cov.nrows()
    corr = [[flint.arb(1)] * k for _ in range(k)]
    for i, j in itertools.combinations(range(k), 2):
        s = cov[i, j]
        if cov[i, i] <= 0 or cov[j, j] <= 0:
            raise ValueError("covariance with a nonpositive variance")
        value = _arb(s * s / (cov[i, i] * cov[j, j])).sqrt()
        corr[i][j] = corr[j][i] = value if s >= 0 else -value
    return corr


def _arb(q: flint.fmpq) -> flint.arb:
    return flint.arb(flint.fmpz(q.p)) / flint.fmpz(q.q)


def _closed_form(corr, coords) -> flint.arb:
    """``P_m`` for ``m = len(coords) <= 3`` from the correlations among ``coords``."""
    m = len(coords)
    if m == 0:
        return flint.arb(1)
    if m == 1:
        return flint.arb(1) / 2
    asins = sum((corr[a][b].asin() for a, b in itertools.combinations(coords, 2)), flint.arb(0))
    return flint.arb(1) / 2**m + asins / (2 ** (m - 1) * flint.arb.pi())


# --- the Plackett integral ----------------------------------------------------------------------


def _plackett(cov: flint.fmpq_mat, corr, prec_bits: int, split: Fraction) -> OrthantValue:
    """``2^-k + int_0^1 sum_{i<j} r_ij phi2(t r_ij) P_{k-2}(C_ij(t)) dt``, with a split path if needed."""
    k = cov.nrows()
    terms = []
    for i, j in itertools.combinations(range(k), 2):
        if cov[i, j] != 0:
            rest = [a for a in range(k) if a not in (i, j)]
            terms.append((corr[i][j], _conditional_polynomials(corr, i, j, rest)))
    start = flint.arb(1) / 2**k
    if not terms:
        return OrthantValue(start, False)
    m = k - 2
    pairs = list(itertools.combinations(range(m), 2))
    pi = flint.arb.pi()

    def conditional_orthants(t: flint.acb, analytic: bool, clamp: bool = False):
        """``P_{k-2}(C_ij(t))`` per term, or None where an arcsine or square root is not analytic."""
        mid = flint.acb(t.mid())
        h = t - mid
        out = []
        for _, poly in terms:
            total = flint.acb(0)
            for a, b in pairs:
                c = _correlation(poly[(a, b)], poly[(a, a)], poly[(b, b)], mid, h, analytic)
                if c is None or analytic and not _asin_analytic(c):
                    return None
                total += _clamped(c.real).asin() if clamp else c.asin()
            out.append(flint.acb(1) / 2**m + total / (2 ** (m - 1) * pi))
        return out

    def integrand(t: flint.acb, analytic: bool) -> flint.acb:
        values = conditional_orthants(t, analytic)
        if values is None:
            return flint.acb("nan")
        total = flint.acb(0)
        for (r, _), p in zip(terms, values):
            total += r * p / (1 - r * r * t * t).sqrt(analytic=analytic)
        return total

    tol = flint.arb(2) ** -(prec_bits - 12)
    attempts = (split,) if _smallest_eigenvalue(corr) < _THIN else (Fraction(0), split)
    for delta in attempts:
        end = 1 - _arb(flint.fmpq(delta.numerator, delta.denominator))
        body = flint.acb.integral(integrand, 0, end, abs_tol=tol, rel_tol=tol, eval_limit=_EVAL_LIMIT)
        if body.is_finite() and body.real.rad() < _ACCEPT:
            value = start + body.real / (2 * pi)
            if delta:
                value += _tail(conditional_orthants, terms, end)
            return OrthantValue(value, bool(delta))
    # last resort: the whole path as one "tail", and the smallest 3-coordinate marginal
    whole = start + _tail(conditional_orthants, terms, flint.arb(0))
    marginal = min((_closed_form(corr, list(s)).upper() for s in itertools.combinations(range(k), 3)))
    lo, hi = max(whole.lower(), flint.arb(0)), min(whole.upper(), marginal)
    return OrthantValue(_hull(flint.arb(lo), flint.arb(hi)), True)


def _correlation(off, diag_a, diag_b, mid: flint.acb, h: flint.acb, analytic: bool):
    """``c = T_ab / sqrt(T_aa T_bb)`` on the ball ``mid + h``, or None where it is not finite or (if
    ``analytic``) the square root is not analytic on the ball. Analytic calls bound the integrand
    on a wide complex ball and use the mean value form ``c(mid) + h c'(ball)``.

    Near a thin cone's end ``T_aa, T_bb`` are tiny and move together with ``T_ab``: evaluating
    the quotient on the ball directly overestimates its range about a hundredfold; the
    derivative times ``h`` is tight (valid: the ball is convex and ``c`` analytic on it).
    """
    if not analytic:  # a quadrature node (a tiny ball) or a crude real bound: the direct quotient
        c = _centered(off, mid, h) / (_centered(diag_a, mid, h) * _centered(diag_b, mid, h)).sqrt()
        return c if c.is_finite() else None
    n0, n1 = _centered_with_derivative(off, mid, h)
    a0, a1 = _centered_with_derivative(diag_a, mid, h)
    b0, b1 = _centered_with_derivative(diag_b, mid, h)
    q = a0 * b0
    root = q.sqrt(analytic=True)
    if not root.is_finite() or 0 in root:
        return None
    at_mid = _centered(off, mid, 0) / (_centered(diag_a, mid, 0) * _centered(diag_b, mid, 0)).sqrt()
    slope = (2 * n1 * q - n0 * (a1 * b0 + a0 * b1)) / (2 * q * root)
    return at_mid + h * slope


def _centered_with_derivative(coefficients, mid: flint.acb, h: flint.acb) -> tuple[flint.acb, flint.acb]:
    """The cubic and its derivative on the ball ``mid + h`` (both expanded around ``mid``)."""
    c0, c1, c2, c3 = coefficients
    return _centered(coefficients, mid, h), _centered((c1, 2 * c2, 3 * c3, flint.arb(0)), mid, h)


def _centered(coefficients, mid: flint.acb, h) -> flint.acb:
    """The cubic ``c0 + c1 t + c2 t^2 + c3 t^3`` at ``t = mid + h``, expanded around the point ``mid``
    (so a wide ball ``h`` costs only the polynomial's true variation, not Horner's overestimate)."""
    c0, c1, c2, c3 = coefficients
    p0 = c0 + mid * (c1 + mid * (c2 + mid * c3))
    p1 = c1 + mid * (2 * c2 + 3 * c3 * mid)
    p2 = c2 + 3 * c3 * mid
    return p0 + h * (p1 + h * (p2 + h * c3))


def _tail(conditional_orthants, terms, start: flint.arb) -> flint.arb:
    """The integral over ``t`` in ``[start, 1]``: each term's ``r phi2(t r)`` integrates to
    ``(asin r - asin(start r)) / (2 pi)``, times an enclosure of its ``P_{k-2}`` on that interval
    (evaluated on the real ball, arcsines clamped to their domain; ``[0, 1]`` if that fails)."""
    t = flint.acb(_hull(start, flint.arb(1)))
    values = conditional_orthants(t, False, clamp=True) or [flint.acb("nan")] * len(terms)
    total = flint.arb(0)
    for (r, _), p in zip(terms, values):
        p = p.real if p.is_finite() else _hull(flint.arb(0), flint.arb(1))
        p = _hull(flint.arb(max(p.lower(), 0)), flint.arb(min(p.upper(), 1)))
        total += (r.asin() - (start * r).asin()) * p
    return total / (2 * flint.arb.pi())


def _clamped(c: flint.arb) -> flint.arb:
    """The part of a real ball inside [-1, 1] (the correlations it encloses lie there)."""
    one = flint.arb(1)
    if c.lower() >= -one and c.upper() <= one:
        return c
    return _hull(flint.arb(max(c.lower(), -one)), flint.arb(min(c.upper(), one)))


def _asin_analytic(c: flint.acb) -> bool:
    """``asin`` is analytic on the ball unless it meets the cuts (-inf, -1] and [1, inf) of the real line."""
    return c.real.abs_upper() < 1 or not c.imag.contains(0)


def _hull(a: flint.arb, b: flint.arb) -> flint.arb:
    return a.union(b)


def _conditional_polynomials(corr, i: int, j: int, rest: list[int]) -> dict:
    """Cubic coefficients of ``T_ab(t) = (1 - t^2 r_ij^2) Cov(Z_a, Z_b | Z_i = Z_j = 0)`` under ``R(t)``.

    Keys ``(x, y)``, ``x <= y``, index into ``rest``. The conditional correlations are
    ``T_ab / sqrt(T_aa T_bb)``.
    """
    rij = corr[i][j]
    out = {}
    for x, a in enumerate(rest):
        for y, b in enumerate(rest):
            if y < x:
                continue
            cross = corr[a][i] * corr[b][i] + corr[a][j] * corr[b][j]
            mixed = rij * (corr[a][i] * corr[b][j] + corr[a][j] * corr[b][i])
            if x == y:
                out[(x, x)] = (flint.arb(1), flint.arb(0), -rij * rij - cross, mixed)
            else:
                out[(x, y)] = (flint.arb(0), corr[a][b], -cross, mixed - rij * rij * corr[a][b])
    return out


def _smallest_eigenvalue(corr) -> float:
    """A float estimate of ``R``'s smallest eigenvalue: it only picks a strategy, never a bound.

    ``R(t)`` is singular at ``t = 1 / (1 - lambda)``, a branch point just past the path's end
    when ``lambda`` is small.
    """
    import numpy as np

    matrix = np.array([[float(c.mid()) for c in row] for row in corr])
    return float(np.linalg.eigvalsh(matrix)[0])
