"""Exact triangulations of pointed polyhedral cones into simplicial cones.

A pulling triangulation joins one ray to a triangulation of every facet that does not contain it.
It needs only which rays lie on each facet: the faces of a pointed cone correspond to their ray
sets. A simplicial cone spanned by rays with Gram matrix ``G`` (exact, after projecting off the
lineality space) has the Gaussian measure of the orthant ``P(lambda >= 0)``,
``lambda ~ N(0, G^-1)`` (:func:`simplex_covariance`).

>>> square = [frozenset({0, 1}), frozenset({1, 2}), frozenset({2, 3}), frozenset({3, 0})]  # a 3-cone over a square
>>> sorted(pulling_triangulation(frozenset(range(4)), 3, square))   # two triangles, both through ray 0
[(1, 2, 0), (2, 3, 0)]
"""

from __future__ import annotations

import flint


def projected_gram(rays, lines) -> flint.fmpq_mat:
    """Exact Gram matrix of the rays after projecting them orthogonally to the lines."""
    n = len(rays[0])
    r = flint.fmpq_mat(len(rays), n, [x for ray in rays for x in ray])
    gram = r * r.transpose()
    if lines:
        b = flint.fmpq_mat(len(lines), n, [x for line in lines for x in line])
        rb = r * b.transpose()
        gram -= rb * (b * b.transpose()).inv() * rb.transpose()
    return gram


def balanced_gram(gram: flint.fmpq_mat) -> flint.fmpq_mat:
    """The Gram matrix of the same rays, each rescaled by a power of 2 to a norm near 1 (exact).

    Rescaling a ray does not change the cone; it keeps later float conversions in range.
    """
    k = gram.nrows()
    shifts = []
    for i in range(k):
        g = gram[i, i]
        shifts.append((int(g.p).bit_length() - int(g.q).bit_length()) // 2)
    return flint.fmpq_mat(
        k, k, [gram[i, j] * flint.fmpq(2) ** -(shifts[i] + shifts[j]) for i in range(k) for j in range(k)]
    )


def pulling_triangulation(face: frozenset, dim: int, tight: list[frozenset]) -> list[tuple[int, ...]]:
    """Simplicial cones (tuples of ray indices) covering ``face``, a ``dim``-dimensional face.

    Pulls the lowest-numbered ray: the face is the union of the cones joining it to the
    (recursively triangulated) facets of the face that do not contain it.
    """
    if len(face) == dim:
        return [tuple(sorted(face))]
    apex = min(face)
    simplices = []
    for sub in _facets_of_face(face, tight):
        if apex not in sub:
            simplices.extend(simplex + (apex,) for simplex in pulling_triangulation(sub, dim - 1, tight))
    return simplices


def _facets_of_face(face: frozenset, tight: list[frozenset]) -> set[frozenset]:
    """Facets of a face of a pointed cone, by incidence alone: the inclusion-maximal proper subsets
    among its intersections with the cone's facets (faces correspond to their ray sets)."""
    candidates = {face & s for s in tight}
    facets = set()
    for candidate in candidates:
        if candidate != face and not any(candidate < other != face for other in candidates):
            facets.add(candidate)
    return facets


def simplex_covariance(gram: flint.fmpq_mat, simplex: tuple[int, ...]) -> flint.fmpq_mat:
    """``G^-1`` for the simplex's rays: the covariance of their coefficients ``lambda`` (exact)."""
    k = len(simplex)
    return flint.fmpq_mat(k, k, [gram[i, j] for i in simplex for j in simplex]).inv()
