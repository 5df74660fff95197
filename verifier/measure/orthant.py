"""Rigorous orthant probabilities ``P(Z >= 0)``, ``Z ~ N(0, S)``, for an exact covariance ``S``.

The orthant probability depends only on the correlation matrix ``R`` of ``S``. Closed forms cover
``k <= 3`` coordinates (``1``, ``1/2``, ``1/4 + asin(r)/(2 pi)``, ``1/8 + sum asin(r_ij)/(4 pi)``).
For ``k = 4, 5`` Plackett's identity along a straight path from a reference correlation matrix
``R0`` with a closed-form orthant to ``R`` gives a one-dimensional integral. ``R0`` keeps the
entries of ``R`` inside blocks of at most 3 coordinates and zeroes the others, so
``P(R0) = prod over blocks P_|b|(R_b)``. Written with ``tau = 1 - t``, the path is
``R(tau) = tau R0 + (1 - tau) R`` (``tau = 1`` at ``R0``, ``tau = 0`` at ``R``); only the cross-block
entries move, and

    P_k(R) = P(R0) + 1/(2 pi) integral_0^1 sum_{i<j across blocks} r_ij / w_ij(tau) P_{k-2}(C_ij(tau)) dtau,

with ``w_ij^2 = 1 - (1 - tau)^2 r_ij^2`` and ``P_{k-2}`` the closed-form orthant (dimension 2 or 3)
of the other coordinates given ``Z_i = Z_j = 0``. Each of its arcsines is written as
``asin(c_xy) = atan(T_xy / (w_ij sqrt(p_xyij)))``: ``T_xy`` is a cubic (a bordered minor of ``R(tau)``)
and ``p_S(tau) = det R_S(tau)``. Every principal-minor polynomial is evaluated as
``p_S = sum_j tau^(|S|-j) (1 - tau)^j D_j``, where ``D_j`` (exact rationals) sums the determinants
that take ``j`` rows from ``R_S`` and the others from ``R0_S``: a mixed discriminant of two positive
definite matrices, so ``D_j >= 0``. All terms are nonnegative on the path and nothing cancels,
even for a thin cone whose ``det R`` is 1e-20.

Two paths (the checker recomputes a certificate's measures by the path it names):

* ``"identity"``: every block a single coordinate, ``R0 = I``, ``P(R0) = 2^-k``, ``D_j`` the sums of
  ``j x j`` principal minors of ``R`` (certificate methods without a version suffix);
* ``"blocks"`` (the default): the blocks that minimise ``det R0`` (exactly, over every partition
  into blocks of at most 3; ties go to fewer moving entries). A thin cone's correlation matrix is
  nearly singular because a few of its coordinates nearly align; putting those in one block keeps
  the path's branch points away from its end, so the integral needs fewer subintervals
  (``benchmarks/bench_measure.py``: 2.9x faster on simplices of ``trained:6:4``, 1.8x and 1.5x on
  random 4- and 5-dimensional ones; certificate methods with suffix ``/2``).

A thin cone (``R`` nearly singular, or some ``|r_ij|`` near 1) puts the integrand's branch points
at ``tau`` just below 0: about ``-lambda_min`` and ``-(1 - r_ij^2) / 2``. The integral is split into
``tau`` in ``[1/2, 1]``, ``tau = exp(-u)`` for ``u`` in ``[ln 2, c ln 2]`` (the substitution moves
those branch points to ``Im u = +-pi``, so the integrand is analytic in a wide strip around every
scale of ``tau``), and ``tau`` in ``[0, 2^-c]`` with ``2^-c`` well inside the nearest branch point
(a float estimate only picks ``c``; it never enters a bound).

Each part is python-flint's ``acb.integral`` (rigorous Gauss-Legendre, error bounds from analytic
continuation). The integrand returns a non-finite ball wherever it may not be analytic on its input
ball: reciprocal square roots are checked against their cut ``(-inf, 0]``, arctangents against
theirs (the imaginary axis beyond ``+-i``). Should an integral still fail within its evaluation
budget (the per-cone work limit), even at four times the precision, the enclosure is ``[0, min over 3-coordinate marginals P_3(R_S)]``
(dropping constraints can only grow the orthant): rigorous, only wider, never NaN.

For odd ``k`` the parity identity ``P_k = 1/2 sum_{S proper subset} (-1)^(k-1-|S|) P_|S|(R_S)``
(``P_0 = 1``) gives an independent route through lower marginals (:func:`parity_orthant`,
used in tests).

>>> value = orthant_probability(flint.fmpq_mat(4, 4, [2 if i == j else 1 for i in range(4) for j in range(4)]))
>>> lo, hi = arb_bounds(value.enclosure)
>>> lo <= Fraction(1, 5) <= hi, hi - lo < 1e-16, value.fallback
(True, True, False)
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from fractions import Fraction

import flint

MAX_DIMENSION = 5
_DEFAULT_PREC = 80
_TOLERANCE_BITS = 56  # acb.integral's absolute and relative tolerance, 2^-56
_EVAL_LIMIT = 20000   # integrand evaluations per part (the per-cone work limit)
_ACCEPT = 2.0**-40    # an integral's radius up to which it is kept (else more precision, then the fallback)
_ATTEMPTS = 3         # precisions tried: prec_bits, twice and four times that


@dataclass(frozen=True)
class OrthantValue:
    """An enclosure of an orthant probability; ``fallback``: the integral failed within its work
    limit and the enclosure is the wide ``[0, smallest 3-coordinate marginal]``."""

    enclosure: flint.arb
    fallback: bool


PATHS = ("identity", "blocks")


def orthant_probability(cov: flint.fmpq_mat, *, prec_bits: int = _DEFAULT_PREC, path: str = "blocks") -> OrthantValue:
    """Enclosure of ``P(Z >= 0)`` for ``Z ~ N(0, cov)``; ``cov`` exact, positive definite, k <= 5.

    ``path``: the reference matrix the integral starts from (see the module docstring). A thin
    cone can need more precision than ``prec_bits`` (its conditional correlations come from sums
    that cancel to 1e-15 and less): an integral that fails is retried at twice and four times the
    precision before the wide fallback enclosure.
    """
    k = cov.nrows()
    if cov.ncols() != k or k > MAX_DIMENSION:
        raise ValueError(f"need a square covariance of size <= {MAX_DIMENSION}, got {k} x {cov.ncols()}")
    if path not in PATHS:
        raise ValueError(f"unknown Plackett path {path!r}; expected one of {PATHS}")
    blocks = reference_blocks(cov) if path == "blocks" and k > 3 else [(a,) for a in range(k)]
    saved = flint.ctx.prec
    try:
        for attempt in range(_ATTEMPTS):
            flint.ctx.prec = prec_bits << attempt
            corr = _correlations(cov)
            if k <= 3:
                return OrthantValue(_closed_form(corr, list(range(k))), False)
            value = _plackett(cov, corr, blocks)
            if value is not None:
                return OrthantValue(value, False)
        marginal = min(_closed_form(corr, list(s)).upper() for s in itertools.combinations(range(k), 3))
        return OrthantValue(_hull(flint.arb(0), flint.arb(marginal)), True)
    finally:
        flint.ctx.prec = saved


def signed_orthant_probability(cov: flint.fmpq_mat, negative: frozenset, *, prec_bits: int = _DEFAULT_PREC,
                               path: str = "blocks") -> OrthantValue:
    """Enclosure of ``P(Z_i <= 0 for i in negative, Z_i >= 0 for the others)``, ``Z ~ N(0, cov)``,
    ``k <= 4``, from the one orthant ``P(Z >= 0)`` and closed-form marginals.

    Writing ``1{Z_i <= 0} = 1 - 1{Z_i > 0}`` for the ``i`` in ``N = negative`` gives
    ``sum_{T subset of N} (-1)^|T| P(Z_i >= 0 for i not in N or in T)``: every term but ``T = N``
    (the full orthant, whose integral is memoised per covariance) has at most ``k - 1 <= 3``
    coordinates. So the ``2^k`` orthants of one covariance cost one integral: the tangent cones of
    neighbouring cones at a shared ray differ only in their facets' signs.

    >>> cov = flint.fmpq_mat(4, 4, [2 if i == j else 1 for i in range(4) for j in range(4)])
    >>> lo, hi = arb_bounds(signed_orthant_probability(cov, frozenset({0})).enclosure)
    >>> lo <= Fraction(1, 4) - Fraction(1, 5) <= hi    # P(Z_1, Z_2, Z_3 >= 0) - P(Z >= 0), equicorrelated 1/2
    True
    """
    k = cov.nrows()
    if cov.ncols() != k or k > 4 or not negative <= set(range(k)):
        raise ValueError(f"need a square covariance of size <= 4 and flipped coordinates among its {k}")
    upper = tuple(int(q.p) if q.q == 1 else (int(q.p), int(q.q)) for q in (cov[i, j] for i in range(k) for j in range(i, k)))
    full = _memoised_orthant(upper, k, prec_bits, path)
    if not negative:
        return full
    saved = flint.ctx.prec
    flint.ctx.prec = prec_bits
    try:
        corr = _correlations(cov)
        total = flint.arb(0)
        flipped = sorted(negative)
        for size in range(len(flipped) + 1):
            for kept in itertools.combinations(flipped, size):
                coords = [a for a in range(k) if a not in negative or a in kept]
                value = full.enclosure if len(coords) == k else _closed_form(corr, coords)
                total += value if size % 2 == 0 else -value
        return OrthantValue(total, full.fallback)
    finally:
        flint.ctx.prec = saved


@functools.lru_cache(maxsize=1 << 15)   # about 0.5 kB an entry
def _memoised_orthant(upper: tuple, k: int, prec_bits: int, path: str) -> OrthantValue:
    """:func:`orthant_probability` of the symmetric covariance with upper triangle ``upper``
    (row by row; integers, or ``(p, q)`` for the fraction ``p/q``)."""
    values = iter(flint.fmpq(*v) if isinstance(v, tuple) else flint.fmpq(v) for v in upper)
    cov = flint.fmpq_mat(k, k)
    for i in range(k):
        for j in range(i, k):
            cov[i, j] = cov[j, i] = next(values)
    return orthant_probability(cov, prec_bits=prec_bits, path=path)


def parity_orthant(cov: flint.fmpq_mat, *, prec_bits: int = _DEFAULT_PREC, path: str = "blocks") -> flint.arb:
    """``P_k`` for odd ``k`` from its proper marginals by the parity identity (an independent route)."""
    k = cov.nrows()
    if k % 2 == 0:
        raise ValueError("the parity identity expresses odd-dimensional orthants")
    total = flint.arb(0)
    for size in range(k):
        for subset in itertools.combinations(range(k), size):
            sub = flint.fmpq_mat(size, size, [cov[a, b] for a in subset for b in subset])
            value = orthant_probability(sub, prec_bits=prec_bits, path=path).enclosure if size else flint.arb(1)
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
        value = fmpq_ball(s * s / (cov[i, i] * cov[j, j])).sqrt()
        corr[i][j] = corr[j][i] = value if s >= 0 else -value
    return corr


def fmpq_ball(q: flint.fmpq) -> flint.arb:
    """An arb ball holding the exact rational ``q`` (one rounding, at the current precision)."""
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


def reference_blocks(cov: flint.fmpq_mat) -> list[tuple[int, ...]]:
    """The partition of the coordinates into blocks of at most 3 whose block-diagonal correlation
    matrix has the smallest determinant (exact rationals decide; ties: fewer nonzero entries
    across blocks, then the first partition enumerated).

    >>> cov = flint.fmpq_mat(4, 4, [4, 0, 0, 1,  0, 4, 3, 0,  0, 3, 4, 0,  1, 0, 0, 4])
    >>> reference_blocks(cov)   # coordinates 1 and 2 correlate 3/4, 0 and 3 only 1/4
    [(0, 3), (1, 2)]
    """
    k = cov.nrows()
    best = None
    for partition in _partitions(tuple(range(k))):
        det = flint.fmpq(1)
        for block in partition:
            det *= _block_minor(cov, block)
        crossing = sum(1 for i, j in itertools.combinations(range(k), 2)
                       if cov[i, j] != 0 and not any(i in block and j in block for block in partition))
        if best is None or (det, crossing) < best[0]:
            best = ((det, crossing), partition)
    return sorted(best[1])


def _partitions(items: tuple[int, ...]):
    """Set partitions of ``items`` into blocks of at most 3 (sorted tuples)."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for smaller in _partitions(rest):
        yield [(first,)] + smaller
        for position, block in enumerate(smaller):
            if len(block) < 3:
                yield smaller[:position] + [(first,) + block] + smaller[position + 1:]


def _block_minor(cov: flint.fmpq_mat, block: tuple[int, ...]) -> flint.fmpq:
    """``det R_b`` for the correlation matrix ``R``, exactly: ``det S_b / prod s_ii``."""
    value = flint.fmpq_mat(len(block), len(block), [cov[a, b] for a in block for b in block]).det()
    for a in block:
        value /= cov[a, a]
    return value


def _plackett(cov: flint.fmpq_mat, corr, blocks: list[tuple[int, ...]]) -> flint.arb | None:
    """``P(R0) + 1/(2 pi) int_0^1 F(tau) dtau`` in three parts (see the module docstring), or None
    when a part fails (non-finite, or wider than ``2^-40``) within its evaluation budget."""
    integrand = _Integrand(cov, corr, blocks)
    start = flint.arb(1)
    for block in blocks:
        start *= _closed_form(corr, list(block))
    if not integrand.terms:
        return start
    cut = _near_end_bits(cov, corr, blocks)
    tol = flint.arb(2) ** -_TOLERANCE_BITS
    log2 = flint.arb(2).log()
    parts = ((integrand.in_tau, flint.arb(1) / 2, flint.arb(1)),
             (integrand.in_log, log2, cut * log2),
             (integrand.in_tau, flint.arb(0), flint.arb(2) ** -cut))
    total = flint.arb(0)
    for function, a, b in parts:
        part = flint.acb.integral(function, a, b, abs_tol=tol, rel_tol=tol, eval_limit=_EVAL_LIMIT)
        if not part.is_finite() or part.real.rad() > _ACCEPT:
            return None
        total += part.real
    return start + total / (2 * flint.arb.pi())


class _Integrand:
    """``F(tau) = sum_{i<j across blocks} r_ij / w_ij (1/2^m + sum_xy atan(T_xy / (w_ij sqrt(p_xyij))) / (2^(m-1) pi))``,
    ``m = k - 2``, built once per covariance from exact mixed minors and correlation balls."""

    def __init__(self, cov: flint.fmpq_mat, corr, blocks: list[tuple[int, ...]]):
        k = cov.nrows()
        self.k = k
        self.cov = cov
        self.block_of = {a: position for position, block in enumerate(blocks) for a in block}
        self.polynomials = {}  # subset -> [D_0, ..., D_|S|] (arb balls of exact rationals)
        self.terms = []        # (r_ij, (i, j), [(cubic T_xy in tau, subset xyij)], m)
        for i, j in itertools.combinations(range(k), 2):
            if cov[i, j] == 0 or self.block_of[i] == self.block_of[j]:
                continue
            rest = [a for a in range(k) if a not in (i, j)]
            self._polynomial((i, j))
            parts = []
            for x, y in itertools.combinations(rest, 2):
                subset = tuple(sorted((x, y, i, j)))
                self._polynomial(subset)
                cubic = (_identity_minor_cubic(corr, i, j, x, y) if len(blocks) == k
                         else _path_minor_cubic(corr, self.block_of, i, j, x, y))
                parts.append((cubic, subset))
            self.terms.append((corr[i][j], (i, j), parts, len(rest)))
        # the evaluation plan: polynomials by position, and each term's r_ij / 2^m and r_ij / (2^(m-1) pi)
        index = {subset: position for position, subset in enumerate(self.polynomials)}
        self.coefficients = [(len(subset), c) for subset, c in self.polynomials.items()]
        pi = flint.arb.pi()
        self.plan = [(index[pair], [(cubic, index[subset]) for cubic, subset in parts], r / 2**m, r / (2 ** (m - 1) * pi))
                     for r, pair, parts, m in self.terms]

    def _polynomial(self, subset: tuple[int, ...]) -> None:
        if subset not in self.polynomials:
            self.polynomials[subset] = [fmpq_ball(d) for d in _mixed_minors(self.cov, self.block_of, subset)]

    def in_tau(self, tau: flint.acb, analytic: bool) -> flint.acb:
        return self._value(tau, analytic)

    def in_log(self, u: flint.acb, analytic: bool) -> flint.acb:
        """The integrand after ``tau = exp(-u)``, ``dtau = -tau du`` (the orientation flips back)."""
        tau = (-u).exp()
        return self._value(tau, analytic) * tau

    def _value(self, tau: flint.acb, analytic: bool) -> flint.acb:
        if not analytic and tau.imag.is_zero():
            return flint.acb(self._sum(tau.real, False))  # a quadrature node: real arithmetic, twice as fast
        return self._sum(tau, analytic)

    def _sum(self, tau, analytic: bool):
        """``F(tau)`` for an ``acb`` ball or, at a real node, an ``arb`` ball (same operations)."""
        rest = 1 - tau
        tau_powers, rest_powers = [1, tau], [1, rest]
        for _ in range(self.k - 1):
            tau_powers.append(tau_powers[-1] * tau)
            rest_powers.append(rest_powers[-1] * rest)
        inverse_roots = []  # 1 / sqrt(p_S(tau)), in the order of self.polynomials
        for size, coefficients in self.coefficients:
            value = tau_powers[size] * coefficients[0]
            for j in range(1, size + 1):
                value += tau_powers[size - j] * rest_powers[j] * coefficients[j]
            if analytic and not (value.real.lower() > 0 or not value.imag.contains(0)):
                return flint.acb("nan")  # the ball may meet the cut of the square root
            inverse_roots.append(value.rsqrt())
        total = 0
        for pair, parts, constant, slope in self.plan:
            inverse_w = inverse_roots[pair]
            arctangents = 0
            for (c0, c1, c2, c3), subset in parts:
                z = (c0 + tau * (c1 + tau * (c2 + tau * c3))) * inverse_w * inverse_roots[subset]
                if not z.is_finite() or analytic and z.real.contains(0) and not z.imag.abs_upper() < 1:
                    return flint.acb("nan")  # the ball may meet a cut of the arctangent
                arctangents += z.atan()
            total += inverse_w * (constant + slope * arctangents)
        return total


def _mixed_minors(cov: flint.fmpq_mat, block_of: dict[int, int], subset: tuple[int, ...]) -> list[flint.fmpq]:
    """``[D_0, ..., D_s]`` with ``det(tau R0_S + (1 - tau) R_S) = sum_j tau^(s-j) (1 - tau)^j D_j``,
    exactly (``R0``: ``R`` with its cross-block entries zeroed). The determinant is linear in each
    row, so ``D_j`` sums the determinants taking the rows in ``J`` from ``R`` and the others from
    ``R0``, over the ``j``-subsets ``J`` (computed from the covariance, then scaled)."""
    s = len(subset)
    scale = flint.fmpq(1)
    for a in subset:
        scale *= cov[a, a]
    out = []
    for j in range(s + 1):
        total = flint.fmpq(0)
        for rows in itertools.combinations(range(s), j):
            total += flint.fmpq_mat(s, s, [cov[a, b] if r in rows or block_of[a] == block_of[b] else 0
                                           for r, a in enumerate(subset) for b in subset]).det()
        out.append(total / scale)
    return out


def _path_minor_cubic(corr, block_of: dict[int, int], i: int, j: int, x: int, y: int):
    """``T_xy``: the minor of ``R(t)`` with rows ``x, i, j`` and columns ``y, i, j`` (``t = 1 - tau``;
    the cross-block entries of ``R(t)`` are ``t r_ab``), a cubic in ``t`` rewritten as
    ``(c0, c1, c2, c3)`` in ``tau``. ``T_xy / sqrt(T_xx T_yy)`` is the correlation of ``Z_x, Z_y``
    given ``Z_i = Z_j = 0``, and ``T_xx T_yy - T_xy^2 = p_ij p_xyij``."""
    rows, cols = (x, i, j), (y, i, j)
    in_t = [flint.arb(0)] * 4
    for permutation, sign in _PERMUTATIONS:
        term, power = flint.arb(sign), 0
        for a, column in zip(rows, permutation):
            b = cols[column]
            if a != b:
                term *= corr[a][b]
                power += block_of[a] != block_of[b]
        in_t[power] += term
    return tuple(sum((in_t[d] * (math.comb(d, e) * (-1) ** e) for d in range(e, 4)), flint.arb(0)) for e in range(4))


def _identity_minor_cubic(corr, i: int, j: int, x: int, y: int):
    """``T_xy`` on the identity path: the minor of ``R(t)`` with rows ``x, i, j`` and columns ``y, i, j`` (``t = 1 - tau``),
    a cubic in ``t`` rewritten as ``(c0, c1, c2, c3)`` in ``tau``. ``T_xy / sqrt(T_xx T_yy)`` is the
    correlation of ``Z_x, Z_y`` given ``Z_i = Z_j = 0``, and ``T_xx T_yy - T_xy^2 = p_ij p_xyij``.

    The identity path's ``T_xy`` (every entry moves), in the operation order its certificates were
    made with: the enclosures must come out bit for bit the same for the checker to accept them."""
    r = corr[i][j]
    t1 = corr[x][y]
    t2 = -(corr[x][i] * corr[i][y] + corr[x][j] * corr[j][y])
    t3 = r * (corr[x][i] * corr[j][y] + corr[x][j] * corr[i][y]) - corr[x][y] * r * r
    return (t1 + t2 + t3, -(t1 + 2 * t2 + 3 * t3), t2 + 3 * t3, -t3)


_PERMUTATIONS = [(p, (-1) ** sum(p[a] > p[b] for a in range(3) for b in range(a + 1, 3)))
                 for p in itertools.permutations(range(3))]


def _near_end_bits(cov: flint.fmpq_mat, corr, blocks: list[tuple[int, ...]]) -> int:
    """``c`` with ``2^-c`` about an eighth of the distance from ``tau = 0`` to the nearest branch point.

    A float estimate (the smallest eigenvalue of ``R`` relative to ``R0``, and ``(1 - r_ij^2) / 2``
    for the moving entries): it picks where the substitution ends and never enters a bound.
    """
    import numpy as np

    k = len(corr)
    block_of = {a: position for position, block in enumerate(blocks) for a in block}
    matrix = np.array([[float(c.mid()) for c in row] for row in corr])
    smallest = float(np.linalg.eigvalsh(matrix)[0])
    if len(blocks) < k:
        reference = np.where([[block_of[a] == block_of[b] for b in range(k)] for a in range(k)], matrix, 0.0)
        try:
            inverse = np.linalg.inv(np.linalg.cholesky(reference))
            smallest = float(np.linalg.eigvalsh(inverse @ matrix @ inverse.T)[0])
        except np.linalg.LinAlgError:   # R0 numerically singular: keep R's own smallest eigenvalue
            pass
    gaps = [float(_block_minor(cov, (a, b))) / 2 for a, b in itertools.combinations(range(k), 2)
            if block_of[a] != block_of[b]]
    distance = max(min([smallest] + gaps), 1e-300)
    return max(2, math.ceil(math.log2(8 / distance)))


def _hull(a: flint.arb, b: flint.arb) -> flint.arb:
    return a.union(b)
