"""The region graph: pieces of a decomposition joined where they share a facet.

A node is a piece index; an edge joins two pieces whose closed cones meet in an
(n-1)-dimensional set. Pieces have disjoint interiors, so such a meeting lies in a
hyperplane that is a facet hyperplane of both pieces, with the pieces on opposite sides;
it is found exactly by pushing facets through the decomposition's split tree.

Merging joins connected runs of adjacent pieces with the same logit-difference map
(rows ``L_j - L_0``, which fix the prediction): such a run is one region on which the
prediction rule is a single linear comparison.

>>> from verifier.geometry.decomposition import decompose
>>> from verifier.models.model import Model
>>> m = Model.from_arrays([[1], [-1]], [[-1, 1], [1, -1]], [[1, -1], [-1, 1]])
>>> g = region_graph(decompose(m))
>>> g.number_of_nodes(), g.number_of_edges()
(4, 4)
>>> merged = merge_pieces(g)
>>> merged.before, merged.after, merged.regions[0].convex
(4, 1, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

import networkx as nx
import ppl

from ..coerce import as_decomposition, as_region_graph
from ..geometry.cones import cone, generators, half_space, is_full_dimensional, minimized_rows, sign_on_cone
from ..geometry.decomposition import Decomposition, Leaf, Node, Split
from ..errors import VerifierError
from ..exact import Matrix, integer_row

IntRow = tuple[int, ...]


def logit_difference(logit_map: Matrix) -> Matrix:
    """Rows ``L_j - L_0`` for j = 1..n-1: the part of the logit map the prediction depends on.

    >>> from fractions import Fraction
    >>> logit_difference(((Fraction(1), Fraction(2)), (Fraction(4), Fraction(0))))
    ((Fraction(3, 1), Fraction(-2, 1)),)
    """
    base = logit_map[0]
    return tuple(tuple(a - b for a, b in zip(row, base)) for row in logit_map[1:])


def _leaves(node: Node | None) -> list[int]:
    if isinstance(node, Leaf):
        return [node.piece]
    if isinstance(node, Split):
        return _leaves(node.positive) + _leaves(node.negative)
    return []


class _Part:
    """A cone ``rows`` of affine dimension ``dim``, with its generators, being pushed down the tree."""

    __slots__ = ("rows", "rays", "lines", "dim")

    def __init__(self, rows: tuple[IntRow, ...], rays: tuple[IntRow, ...], lines: tuple[IntRow, ...], dim: int):
        self.rows, self.rays, self.lines, self.dim = rows, rays, lines, dim

    def part(self, row: IntRow, n: int) -> "_Part | None":
        """The part on ``row . x >= 0``, if it keeps the full dimension ``dim``."""
        poly = cone(self.rows + (row,), n)
        if poly.affine_dimension() != self.dim:
            return None
        return _Part(self.rows + (row,), *generators(poly), self.dim)


def _push(part: _Part, node: Node | None, n: int, found: list[int]) -> None:
    """Append the pieces below ``node`` whose cone meets ``part`` in a set of dimension ``part.dim``.

    Exact: a split form that keeps one sign on the part, without vanishing on all of it, sends
    it to that side only (the other side meets it in lower dimension); a form that crosses it
    cuts it in two (pplpy); a form that vanishes on it sends it to both sides.
    """
    while isinstance(node, Split):
        sign = sign_on_cone(node.form, part.rays, part.lines)
        if sign > 0:
            node = node.positive
        elif sign < 0 and any(sum(f * v for f, v in zip(node.form, g)) for g in part.rays):
            node = node.negative
        else:
            for side, row in ((node.positive, node.form), (node.negative, tuple(-v for v in node.form))):
                piece = part.part(row, n) if sign == 0 else part
                if piece is not None:
                    _push(piece, side, n, found)
            return
    if isinstance(node, Leaf):
        found.append(node.piece)


def pieces_meeting(decomposition: Decomposition, rows: Sequence[IntRow]) -> list[int]:
    """The pieces whose cones meet the cone ``{x : r . x >= 0}`` in a set of that cone's dimension.

    >>> from verifier.geometry.decomposition import decompose
    >>> from verifier.models.model import Model
    >>> dec = decompose(Model.from_arrays([[1], [-1]], [[-1, 1], [1, -1]], [[1, -1], [-1, 1]]))
    >>> len(pieces_meeting(dec, [(1, 0)])), len(pieces_meeting(dec, [(1, 0), (-1, 0), (0, 1)]))  # x0 >= 0; a ray
    (2, 2)
    """
    n = decomposition.model.n
    rows = tuple(tuple(r) for r in rows)
    poly = cone(rows, n)
    found: list[int] = []
    _push(_Part(rows, *generators(poly), poly.affine_dimension()), decomposition.tree, n, found)
    return found


def region_graph(decomposition) -> nx.Graph:
    """The adjacency graph of the decomposition's pieces (edges: shared (n-1)-dimensional facets).

    Two adjacent pieces are separated where their paths in the split tree part, and their
    shared facet lies in that split's hyperplane ``f . x = 0``. So for every split and every
    piece below its positive side with ``f`` among its facet rows, the facet is pushed down
    the negative side, cut exactly by the forms that cross it: the pieces it reaches
    full-dimensionally are its neighbours across ``f``. Unresolved cones contribute nothing.

    Node attributes: ``pattern``, ``logit_map``, ``logit_difference``, ``constraints``, ``rays``.
    Edge attribute ``hyperplane``: the shared facet's primitive integer row, oriented so the
    lower-numbered piece lies on its non-negative side. Graph attributes: ``n``, ``complete``.
    ``decomposition`` may also be a model or a spec (decomposed here, without a budget).
    """
    decomposition = as_decomposition(decomposition)
    n = decomposition.model.n
    pieces = decomposition.pieces
    graph = nx.Graph(n=n, complete=decomposition.complete)
    for k, p in enumerate(pieces):
        graph.add_node(k, pattern=p.pattern, logit_map=p.logit_map, logit_difference=logit_difference(p.logit_map),
                       constraints=p.constraints, rays=p.rays)
    stack = [decomposition.tree]
    while stack:
        node = stack.pop()
        if not isinstance(node, Split):
            continue
        stack += [node.positive, node.negative]
        f = integer_row(node.form)
        minus_f = tuple(-v for v in f)
        for a in _leaves(node.positive):
            p = pieces[a]
            if f not in p.constraints:
                continue
            rays = tuple(r for r in p.rays if not sum(x * v for x, v in zip(f, r)))
            found: list[int] = []
            _push(_Part(p.constraints + (minus_f,), rays, p.lines, n - 1), node.negative, n, found)
            for b in found:
                graph.add_edge(min(a, b), max(a, b), hyperplane=f if a < b else minus_f)
    return graph


# -- merging ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class MergedRegion:
    """A connected run of adjacent pieces sharing one value of the merge key.

    ``convex``: whether the union of the member cones is itself a convex cone (exact);
    ``constraints``: when it is, the minimized integer rows (``r . x >= 0``) of that cone, else None.
    """

    pieces: tuple[int, ...]
    shared_map: Hashable
    convex: bool
    constraints: tuple[IntRow, ...] | None


@dataclass(frozen=True)
class Merging:
    """The result of :func:`merge_pieces`: regions in order of their smallest piece."""

    key: str
    regions: tuple[MergedRegion, ...]

    @property
    def before(self) -> int:
        return sum(len(r.pieces) for r in self.regions)

    @property
    def after(self) -> int:
        return len(self.regions)


def _subtract(poly: ppl.C_Polyhedron, rows: Sequence[IntRow], n: int) -> list[ppl.C_Polyhedron]:
    """Closed full-dimensional cones covering ``poly`` minus the cone ``rows``, up to a null set.

    ``poly \\ C`` is the union over k of ``poly, r_1 >= 0, ..., r_{k-1} >= 0, r_k < 0``; taking
    closures and dropping lower-dimensional parts changes only a nowhere-dense set.
    """
    meet = ppl.C_Polyhedron(poly)
    for r in rows:
        meet.add_constraint(half_space(r))
    if not is_full_dimensional(meet, n):
        return [poly]
    out = []
    prefix = ppl.C_Polyhedron(poly)
    for r in rows:
        outside = ppl.C_Polyhedron(prefix)
        outside.add_constraint(half_space(tuple(-v for v in r)))
        if is_full_dimensional(outside, n):
            out.append(outside)
        prefix.add_constraint(half_space(r))
    return out


def union_is_convex(cones: Sequence[Sequence[IntRow]], n: int) -> tuple[bool, ppl.C_Polyhedron]:
    """Whether a union of closed full-dimensional cones equals its convex hull; and the hull.

    Exact: the hull minus the union is cut into closed cones (see :func:`_subtract`); the union,
    being closed, equals the hull iff no full-dimensional part remains.

    >>> union_is_convex([[(1, 0), (0, 1)], [(-1, 0), (0, 1)]], 2)[0]   # two quadrants: a half-plane
    True
    >>> union_is_convex([[(1, 0), (0, 1)], [(-1, 0), (0, -1)]], 2)[0]  # opposite quadrants
    False
    """
    hull = cone(cones[0], n)
    for rows in cones[1:]:
        hull.poly_hull_assign(cone(rows, n))
    rest = [ppl.C_Polyhedron(hull)]
    for rows in cones:
        rest = [part for poly in rest for part in _subtract(poly, rows, n)]
        if not rest:
            break
    return not rest, hull


def merge_pieces(graph, key: str = "logit_difference") -> Merging:
    """Merge connected runs of adjacent pieces with equal node attribute ``key`` (exact equality).

    ``key="logit_difference"`` merges pieces on which the prediction rule is the same linear
    comparison; ``key="logit_map"`` merges only identical logit maps.
    """
    graph = as_region_graph(graph)
    first = next(iter(graph.nodes), None)
    if first is not None and key not in graph.nodes[first]:
        raise VerifierError(f"unknown merge key {key!r}; node attributes: {', '.join(graph.nodes[first])}")
    same = nx.Graph()
    same.add_nodes_from(graph.nodes)
    same.add_edges_from((i, j) for i, j in graph.edges if graph.nodes[i][key] == graph.nodes[j][key])
    n = graph.graph["n"]
    regions = []
    for members in sorted((tuple(sorted(c)) for c in nx.connected_components(same)), key=lambda c: c[0]):
        if len(members) == 1:
            convex, rows = True, graph.nodes[members[0]]["constraints"]
        else:
            convex, hull = union_is_convex([graph.nodes[k]["constraints"] for k in members], n)
            rows = minimized_rows(hull) if convex else None
        regions.append(MergedRegion(members, graph.nodes[members[0]][key], convex, rows))
    return Merging(key, tuple(regions))
