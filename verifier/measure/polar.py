"""A 4-dimensional cone's measure from its polar cone and the angles at its 2-faces.

The conic intrinsic volumes ``nu_0 .. nu_k`` of a pointed polyhedral cone ``C`` of dimension ``k``
are ``nu_j = sum over j-faces F of alpha(F) gamma(F)``: ``alpha(F)`` is the Gaussian measure of
``F`` inside its own span and ``gamma(F)`` that of ``F``'s normal cone inside its span. They sum
to 1 and their alternating sum is 0, so the even ones sum to 1/2. For ``k = 4``,
``nu_4 = alpha(C)``, ``nu_0 = alpha(C polar)``, and each 2-face ``F`` (spanned by two extreme
rays at angle ``theta_F``, lying on exactly two facets whose normals meet at angle ``phi_F``)
contributes ``theta_F phi_F / (4 pi^2)``:

    alpha(C) = 1/2 - sum_F theta_F phi_F / (4 pi^2) - alpha(C polar).

``alpha(C polar)`` is the measure of the cone spanned by the facet normals (the polar cone,
reflected through the origin). It has one extreme ray per facet of ``C`` and one facet per
extreme ray of ``C``, so a cone with fewer facets than rays has a smaller polar triangulation:
the cones of ``trained:6:4`` need 7,052 simplices this way against 12,129 (1.7x fewer
4-dimensional integrals). The polar triangulation pulls whichever ray gives the fewest simplices.

>>> from fractions import Fraction
>>> from verifier.measure.orthant import arb_bounds
>>> normals = [(-1, 0, 1, 0), (1, 0, 1, 0), (0, -1, 1, 0), (0, 1, 1, 0), (0, 0, 0, 1)]
>>> rays = [(1, 1, 1, 0), (1, -1, 1, 0), (-1, 1, 1, 0), (-1, -1, 1, 0), (0, 0, 0, 1)]
>>> tight = [frozenset(r for r, ray in enumerate(rays) if sum(a * b for a, b in zip(n, ray)) == 0) for n in normals]
>>> gram, simplices = polar_triangulation(normals, tight, len(rays))
>>> lo, hi = arb_bounds(polar_cone_measure(normals, rays, tight))  # x2 >= max(|x0|, |x1|), x3 >= 0
>>> len(simplices), lo <= Fraction(1, 12) <= hi, hi - lo < 1e-15   # a sixth of R^3 (a cube face), times 1/2
(2, True, True)
"""

from __future__ import annotations

from typing import Callable, Sequence

import flint

from .orthant import fmpq_ball, orthant_probability
from .tangent_cones import faces_by_dimension
from .triangulation import balanced_gram, projected_gram, pulling_triangulation, simplex_covariance


def polar_cone_measure(normals: Sequence[tuple[int, ...]], rays: Sequence[tuple[int, ...]],
                       tight: Sequence[frozenset], *, lines: Sequence[tuple[int, ...]] = (),
                       triangulation: tuple[flint.fmpq_mat, list[tuple[int, ...]]] | None = None,
                       stop: Callable[[], object] | None = None, prec_bits: int = 128,
                       path: str = "blocks") -> flint.arb | None:
    """Enclosure of a pointed 4-dimensional cone's measure, or None when one of its
    4-dimensional integrals failed (got only the wide fallback enclosure).

    ``normals``: its facets' integer normals; ``rays``: its extreme rays and ``lines`` its
    lineality space (rays are projected off it for their angles); ``tight[f]``: the indices of the
    rays on facet ``f``; ``triangulation``: :func:`polar_triangulation`'s, if already made. ``stop``
    is asked before each integral (see :func:`~verifier.measure.solid_angle.polyhedron_measure`);
    ``path``: the orthant integrals' Plackett path (:func:`~verifier.measure.orthant.orthant_probability`).
    """
    if triangulation is None:
        triangulation = polar_triangulation(normals, tight, len(rays))
    saved = flint.ctx.prec
    flint.ctx.prec = max(saved, prec_bits)
    try:
        ray_gram = projected_gram(rays, list(lines))
        normal_gram = projected_gram(normals, [])
        excess = flint.arb(0)
        for f, g in faces_by_dimension(normals, tight, len(rays), 4)[2]:
            i, j = sorted(tight[f] & tight[g])
            excess += _angle(ray_gram, i, j) * _angle(normal_gram, f, g)
        polar = flint.arb(0)
        gram, simplices = triangulation
        for simplex in simplices:
            if stop is not None and stop():
                from .solid_angle import MeasureStopped
                raise MeasureStopped
            value = orthant_probability(simplex_covariance(gram, simplex), path=path)
            if value.fallback:
                return None
            polar += value.enclosure
        return flint.arb(1) / 2 - excess / (4 * flint.arb.pi() ** 2) - polar
    finally:
        flint.ctx.prec = saved


def polar_triangulation(normals: Sequence[tuple[int, ...]], tight: Sequence[frozenset],
                        rays: int) -> tuple[flint.fmpq_mat, list[tuple[int, ...]]]:
    """``(gram, simplices)``: the smallest pulling triangulation of the cone spanned by the facet
    normals over the choice of the pulled normal (the first such on ties)."""
    gram = balanced_gram(projected_gram(normals, []))
    on_ray = [frozenset(f for f, on in enumerate(tight) if r in on) for r in range(rays)]  # the polar's facets
    best = None
    for apex in range(len(normals)):
        order = [apex] + [f for f in range(len(normals)) if f != apex]
        position = {f: p for p, f in enumerate(order)}
        facets = [frozenset(position[f] for f in s) for s in on_ray]
        simplices = pulling_triangulation(frozenset(range(len(order))), 4, facets)
        if best is None or len(simplices) < len(best):
            best = [tuple(order[p] for p in simplex) for simplex in simplices]
    return gram, best


def _angle(gram: flint.fmpq_mat, i: int, j: int) -> flint.arb:
    """The angle between vectors ``i`` and ``j`` of an exact Gram matrix, as an arb ball."""
    g = gram[i, j]
    cos2 = g * g / (gram[i, i] * gram[j, j])
    sin = fmpq_ball(1 - cos2).sqrt()
    cos = fmpq_ball(cos2).sqrt()
    return flint.arb.atan2(sin, cos if g >= 0 else -cos)
