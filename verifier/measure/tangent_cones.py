"""An odd-dimensional cone's measure from the tangent cones of its faces (Sommerville's relation).

For a pointed polyhedral cone ``C`` of dimension ``k`` (after removing its lineality space),
with ``alpha`` the standard Gaussian measure and ``T_F C = {x : a . x >= 0 for the facets a
containing F}`` the tangent cone of ``C`` along its face ``F``,

    sum over faces F of C of (-1)^dim(F) alpha(T_F C) = (-1)^k alpha(C)

(the apex ``F = {0}`` contributes ``alpha(C)`` itself; ``F = C`` contributes 1). For odd ``k`` the
apex terms add up, and

    alpha(C) = 1/2 sum_{j=1}^{k} (-1)^(j+1) sum_{faces F of dimension j} alpha(T_F C).

The tangent cone along a ``j``-face has a ``(k - j)``-dimensional pointed part, so a 5-dimensional
cone needs only 4-dimensional integrals, one per extreme ray (along a ray lying on exactly 4
facets the tangent cone is simplicial: the orthant probability of ``Y = A x``, ``A`` those
facets' integer normals, covariance ``A A^T``); its 2- and 3-faces and facets have closed forms.
A triangulation instead needs one 5-dimensional integral (about 3 to 4 times the work of a
4-dimensional one) per simplex, and a cone of ``trained:5:5`` has 1.4 simplices per extreme ray.
It is the parity identity of :func:`~verifier.measure.orthant.parity_orthant` generalised from
simplicial cones to any cone.

>>> from fractions import Fraction
>>> from verifier.measure.orthant import arb_bounds
>>> rays = [tuple(int(i == j) for j in range(5)) for i in range(5)]   # the positive orthant of R^5
>>> tight = [frozenset(range(5)) - {f} for f in range(5)]   # the rays on each facet
>>> value = odd_cone_measure(rays, rays, tight, 5)
>>> lo, hi = arb_bounds(value)
>>> lo <= Fraction(1, 32) <= hi, hi - lo < 1e-20
(True, True)
"""

from __future__ import annotations

from typing import Callable, Sequence

import flint

from .orthant import MAX_DIMENSION, orthant_probability, signed_orthant_probability
from .triangulation import projected_gram


def odd_cone_measure(normals: Sequence[tuple[int, ...]], rays: Sequence[tuple[int, ...]],
                     tight: Sequence[frozenset], k: int, *, stop: Callable[[], object] | None = None,
                     measure_tangent: Callable | None = None, prec_bits: int = 128,
                     path: str = "blocks") -> flint.arb | None:
    """Enclosure of a pointed ``k``-dimensional cone's measure (``k`` odd, ``k - 1 <=`` the
    orthant module's ``MAX_DIMENSION``), or None when some tangent cone's integral failed.

    ``normals``: its facets' integer normals; ``rays``: its extreme rays (projected off the
    lineality space or not: only incidences are used); ``tight[f]``: the indices of the rays on
    facet ``f``. ``measure_tangent(normals)``: an arb enclosure of a non-simplicial tangent cone
    (several extra facets through one face), given by its facet normals. ``stop`` is asked before
    each integral (see :func:`~verifier.measure.solid_angle.polyhedron_measure`); ``path``: the
    orthant integrals' Plackett path (:func:`~verifier.measure.orthant.orthant_probability`). The
    terms are summed at ``prec_bits`` (at least).
    """
    if k % 2 == 0 or k - 1 > MAX_DIMENSION:
        raise ValueError(f"need an odd dimension k with k - 1 <= {MAX_DIMENSION}, got {k}")
    terms = []
    for j, faces in faces_by_dimension(normals, tight, len(rays), k).items():
        for containing in faces:
            if stop is not None and k - j >= 4 and stop():
                from .solid_angle import MeasureStopped
                raise MeasureStopped
            value = _tangent_measure([normals[f] for f in containing], k - j, measure_tangent, path)
            if value is None:
                return None
            terms.append(value if j % 2 else -value)
    saved = flint.ctx.prec
    flint.ctx.prec = max(saved, prec_bits)   # terms of size 1 cancel: sum them with bits to spare
    try:
        return (sum(terms, flint.arb(1)) / 2)   # the 1: F = C, the whole space, (-1)^(k + 1) = +1
    finally:
        flint.ctx.prec = saved


def faces_by_dimension(normals: Sequence[tuple[int, ...]], tight: Sequence[frozenset], rays: int,
                       k: int) -> dict[int, list[tuple[int, ...]]]:
    """The faces of dimension 1 .. k-1, each as the sorted indices of the facets containing it.

    A face is the set of rays on every facet of a set; its dimension is ``k`` minus the rank of
    those facets' normals (normals are orthogonal to the lineality space). Faces are found from
    the rays up: a ray's facets, then the facets shared by a face and one more ray.
    """
    incident = [frozenset(f for f, on in enumerate(tight) if r in on) for r in range(rays)]
    ambient = _rank([normals[f] for f in range(len(normals))])   # = k
    rank_cache: dict[frozenset, int] = {}

    def dimension(containing: frozenset) -> int:
        if containing not in rank_cache:
            rank_cache[containing] = ambient - _rank([normals[f] for f in sorted(containing)])
        return rank_cache[containing]

    out: dict[int, list[tuple[int, ...]]] = {}
    level = {c for c in incident}                       # the rays: dimension 1
    while level:
        j = dimension(next(iter(level)))
        if j >= k or j < 1:
            break
        out[j] = sorted(tuple(sorted(c)) for c in level)
        above = set()
        for containing in level:
            for r in range(rays):
                joined = containing & incident[r]
                if joined != containing and dimension(joined) == j + 1:
                    above.add(joined)
        level = above
    if ambient != k:
        raise ValueError(f"facet normals of rank {ambient}, not the cone's dimension {k}")
    return out


def _tangent_measure(normals: list[tuple[int, ...]], dim: int, measure_tangent, path: str) -> flint.arb | None:
    """The tangent cone with these facet normals and a ``dim``-dimensional pointed part.

    A simplicial one is the orthant of ``Y = A x`` (``A`` the normals, covariance ``A A^T``). On the
    block path a 4-dimensional one is computed from its canonical form (each normal's sign set so
    its first nonzero entry is positive, the normals sorted), with the flipped coordinates'
    orthant from :func:`~verifier.measure.orthant.signed_orthant_probability`: the neighbouring
    cones at a ray share that canonical form, and its integral is done once per process.
    """
    if len(normals) == dim:
        if path == "blocks" and dim == 4:
            signed = sorted(_canonical(a) for a in normals)
            flipped = frozenset(i for i, (_, flip) in enumerate(signed) if flip)
            value = signed_orthant_probability(projected_gram([a for a, _ in signed], []), flipped, path=path)
        else:
            value = orthant_probability(projected_gram(normals, []), path=path)
        return None if value.fallback else value.enclosure
    if measure_tangent is None:
        raise ValueError("a non-simplicial tangent cone needs measure_tangent")
    return measure_tangent(normals)


def _canonical(normal: tuple[int, ...]) -> tuple[tuple[int, ...], bool]:
    """``(normal, False)`` or ``(-normal, True)``, whichever has a positive first nonzero entry."""
    first = next(x for x in normal if x)
    return (normal, False) if first > 0 else (tuple(-x for x in normal), True)


def _rank(rows: list[tuple[int, ...]]) -> int:
    if not rows:
        return 0
    return flint.fmpz_mat(len(rows), len(rows[0]), [x for row in rows for x in row]).rank()
