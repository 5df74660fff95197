"""The region graph, merging, symmetries and orbits against independent computations.

* adjacency equals a brute-force check of every pair of pieces (affine dimension of the
  intersection of their closed cones, pplpy), on random and on small-integer (degenerate) models;
* merged regions partition the pieces, are connected, maximal, and their convexity agrees with
  midpoints of random points of the members;
* symmetries are checked by exact forward passes at random rational points (logits and hidden
  states), correctness preservation by exact correctness at random points, orbits by the images
  of interior points; perturbed models have no exact symmetry;
* the real M2,2: 6 pieces in a cycle, still 6 after merging, no exact symmetry.
"""

from __future__ import annotations

import itertools
import json
from fractions import Fraction

import flint
import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verifier import cli
from verifier.geometry.cones import cone, contains
from verifier.geometry.decomposition import Decomposition, Leaf, Split, decompose
from verifier.errors import VerifierError
from verifier.models.loading import load_model
from verifier.models.model import Model
from verifier.explain.region_graph import logit_difference, merge_pieces, pieces_meeting, region_graph, union_is_convex
from verifier.explain.symmetry import find_symmetries, input_map, nearest_conjugation, orbits, piece_image


def gaussian_model(d: int, n: int, seed: int) -> Model:
    rng = np.random.default_rng(seed)
    f32 = np.float32
    return Model.from_arrays(rng.standard_normal((d, 1)).astype(f32), rng.standard_normal((d, d)).astype(f32),
                             rng.standard_normal((n, d)).astype(f32), name=f"gauss{d}x{n}#{seed}")


def symmetric_model(k: int, n: int, tau: tuple[int, ...], seed: int, scale=Fraction(3, 2)) -> Model:
    """d = 2k neurons with x -> -x symmetric weights (neuron i <-> i+k, outputs <-> tau), then
    neuron 0 rescaled by ``scale`` (an exact equivalence), so the symmetry needs scales."""
    rng = np.random.default_rng(seed)

    def quarters(rows, cols):
        return [[Fraction(int(v), 4) for v in row] for row in rng.integers(-8, 9, size=(rows, cols))]

    w = [Fraction(int(v), 4) or Fraction(1) for v in rng.integers(-8, 9, size=k)]
    a, b, c = quarters(k, k), quarters(k, k), quarters(n, k)
    w_hi = [[v] for v in w] + [[-v] for v in w]
    w_hh = [a[i] + b[i] for i in range(k)] + [b[i] + a[i] for i in range(k)]
    w_oh = [c[i] + c[tau[i]] for i in range(n)]
    w_hi[0][0] *= scale
    w_hh[0] = [v * scale for v in w_hh[0]]
    for row in w_hh + w_oh:
        row[0] /= scale
    return Model.from_arrays(w_hi, w_hh, w_oh, name=f"symmetric{2 * k}x{n}#{seed}")


def random_points(n: int, count: int, seed: int) -> list[tuple[int, ...]]:
    """Random integer points (exact arithmetic on them is fast; the model is homogeneous, so
    scale does not matter, and inputs tie with probability about 1e-6)."""
    rng = np.random.default_rng(seed)
    return [tuple(int(v) for v in row) for row in rng.integers(-10**6, 10**6, size=(count, n))]


def neg(row):
    return tuple(-v for v in row)


def brute_force_edges(dec) -> set[tuple[int, int]]:
    n = dec.model.n
    return {(i, j) for i, j in itertools.combinations(range(len(dec.pieces)), 2)
            if cone(dec.pieces[i].constraints + dec.pieces[j].constraints, n).affine_dimension() == n - 1}


def check_graph(dec) -> nx.Graph:
    graph = region_graph(dec)
    assert set(graph.nodes) == set(range(len(dec.pieces)))
    assert set(graph.edges) == brute_force_edges(dec)
    for i, j in graph.edges:
        row = graph.edges[i, j]["hyperplane"]
        assert i < j and row in dec.pieces[i].constraints and neg(row) in dec.pieces[j].constraints
    if len(dec.pieces) >= 2:
        assert nx.is_connected(graph)
    return graph


SMALL = [(2, 2, 0), (2, 2, 1), (3, 2, 2), (3, 3, 0), (3, 3, 1), (4, 3, 0), (2, 4, 0)]


# -- the graph -------------------------------------------------------------------------------

@pytest.mark.parametrize("d,n,seed", SMALL)
def test_adjacency_equals_brute_force_and_graph_is_connected(d, n, seed):
    dec = decompose(gaussian_model(d, n, seed))
    graph = check_graph(dec)
    assert graph.number_of_edges() >= len(dec.pieces) - 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 3), st.integers(2, 3), st.data())
def test_adjacency_on_small_integer_models(d, n, data):
    """Zeros, repeated rows and identically-zero forms: the degenerate cases of exact adjacency."""
    entry = st.integers(-2, 2)
    w_hi = data.draw(st.lists(st.lists(entry, min_size=1, max_size=1), min_size=d, max_size=d))
    w_hh = data.draw(st.lists(st.lists(entry, min_size=d, max_size=d), min_size=d, max_size=d))
    w_oh = data.draw(st.lists(st.lists(entry, min_size=d, max_size=d), min_size=n, max_size=n))
    check_graph(decompose(Model.from_arrays(w_hi, w_hh, w_oh)))


def test_node_attributes_and_pieces_meeting():
    dec = decompose(gaussian_model(3, 3, 1))
    graph = region_graph(dec)
    for k, piece in enumerate(dec.pieces):
        node = graph.nodes[k]
        assert node["pattern"] == piece.pattern and node["logit_map"] == piece.logit_map
        assert node["logit_difference"] == tuple(tuple(a - b for a, b in zip(row, piece.logit_map[0]))
                                                 for row in piece.logit_map[1:])
        assert pieces_meeting(dec, piece.constraints) == [k]  # a piece meets only itself in full dimension
        neighbours = {j for row in piece.constraints
                      for j in pieces_meeting(dec, piece.constraints + (neg(row),))} - {k}
        assert neighbours == set(graph.neighbors(k))


def test_pieces_meeting_cuts_at_crossing_forms():
    """A hand-made split tree where a leaf passes every split's sign test on its own, but meets
    the cone only in a ray: pieces_meeting must cut the cone at each crossing form."""
    x_ge_y, z_ge_0, tilted = (1, -1, 0), (0, 0, 1), (-1, 1, -1)
    tree = Split(z_ge_0, 0, 0, Leaf(0),
                 Split(x_ge_y, 1, 0, Split(tilted, 2, 0, Leaf(1), Leaf(2)), Leaf(3)))
    dec = Decomposition(gaussian_model(1, 3, 0), (), tree, True, None, (), 0.0)
    paths = {0: [z_ge_0], 1: [neg(z_ge_0), x_ge_y, tilted], 2: [neg(z_ge_0), x_ge_y, neg(tilted)],
             3: [neg(z_ge_0), neg(x_ge_y)]}
    quarter_plane = [(1, 0, 0), (0, 1, 0), z_ge_0, neg(z_ge_0)]
    expected = [k for k, rows in paths.items() if cone(quarter_plane + rows, 3).affine_dimension() == 2]
    assert 1 not in expected and sorted(pieces_meeting(dec, quarter_plane)) == expected


# -- merging ---------------------------------------------------------------------------------

def scaled_generators(pieces) -> list[tuple[int, ...]]:
    """All rays and both directions of all lines, each scaled by a power of 2 to about the same size."""
    gens = [g for p in pieces for g in p.rays + p.lines + tuple(tuple(-v for v in line) for line in p.lines)]
    top = max(max(abs(v) for v in g).bit_length() for g in gens)
    return [tuple(v << (top - max(abs(u) for u in g).bit_length()) for v in g) for g in gens]


def random_hull_points(pieces, n: int, count: int, rng) -> list[tuple[int, ...]]:
    """Random points of the convex hull of a union of cones: positive combinations of at most n of
    the pooled generators (by Caratheodory, every hull point is one)."""
    gens = scaled_generators(pieces)
    points = []
    for _ in range(count):
        chosen = rng.choice(len(gens), size=min(len(gens), int(rng.integers(2, n + 1))), replace=False)
        weights = rng.integers(1, 9, size=len(chosen))
        points.append(tuple(sum(int(w) * gens[c][i] for w, c in zip(weights, chosen)) for i in range(n)))
    return points


@pytest.mark.parametrize("model", [gaussian_model(4, 3, 0), symmetric_model(2, 3, (2, 1, 0), 0),
                                   symmetric_model(2, 4, (0, 1, 2, 3), 0)], ids=lambda m: m.name)
def test_merged_regions_partition_and_convexity(model):
    dec = decompose(model)
    graph = region_graph(dec)
    merged = merge_pieces(graph)
    members = [k for r in merged.regions for k in r.pieces]
    assert sorted(members) == list(range(len(dec.pieces))) and merged.before == len(dec.pieces)
    assert merged.after == len(merged.regions) <= merged.before
    region_of = {k: i for i, r in enumerate(merged.regions) for k in r.pieces}
    for region in merged.regions:
        assert nx.is_connected(graph.subgraph(region.pieces))
        assert all(logit_difference(dec.pieces[k].logit_map) == region.shared_map for k in region.pieces)
    for i, j in graph.edges:  # maximal: equal maps across an edge are in one region
        if graph.nodes[i]["logit_difference"] == graph.nodes[j]["logit_difference"]:
            assert region_of[i] == region_of[j]
    assert merge_pieces(graph, key="logit_map").after >= merged.after
    rng = np.random.default_rng(0)
    for region in merged.regions:
        cones = [dec.pieces[k] for k in region.pieces]
        if len(cones) == 1:
            assert region.convex and region.constraints == cones[0].constraints
            continue
        points = random_hull_points(cones, dec.model.n, 300, rng)
        outside = [x for x in points if not any(contains(p.constraints, x) for p in cones)]
        if region.convex:
            assert not outside
            assert all(contains(region.constraints, x) for x in points)
        else:
            assert region.constraints is None and outside


def test_union_is_convex_small_cases():
    q = {(1, 1): [(1, 0), (0, 1)], (-1, 1): [(-1, 0), (0, 1)], (-1, -1): [(-1, 0), (0, -1)], (1, -1): [(1, 0), (0, -1)]}
    assert union_is_convex([q[1, 1], q[-1, 1]], 2)[0]                       # a half-plane
    assert not union_is_convex([q[1, 1], q[-1, -1]], 2)[0]                  # opposite quadrants
    assert not union_is_convex([q[1, 1], q[-1, 1], q[-1, -1]], 2)[0]        # three quadrants
    assert union_is_convex(list(q.values()), 2)[1].is_universe()            # the plane
    octants = [[(s0, 0, 0), (0, s1, 0), (0, 0, 1)] for s0 in (1, -1) for s1 in (1, -1)]
    assert union_is_convex(octants, 3)[0]                                   # x2 >= 0
    assert not union_is_convex(octants[:3], 3)[0]


def test_merging_rejects_an_unknown_key():
    graph = region_graph(decompose(gaussian_model(2, 2, 0)))
    with pytest.raises(VerifierError, match="unknown merge key"):
        merge_pieces(graph, key="colour")


# -- symmetries ------------------------------------------------------------------------------

def forward(model: Model, x) -> tuple[list[list[flint.fmpq]], list[flint.fmpq]]:
    """Exact hidden states and logits in python-flint (fast; independent of the Fraction code)."""
    w_hi, w_hh, w_oh = model.flint_weights
    h = flint.fmpq_mat(model.d, 1)
    states = []
    for xt in x:
        xt = Fraction(xt)
        pre = w_hh * h + w_hi * flint.fmpq(xt.numerator, xt.denominator)
        h = flint.fmpq_mat(model.d, 1, [max(pre[i, 0], 0) for i in range(model.d)])
        states.append([h[i, 0] for i in range(model.d)])
    logits = w_oh * h
    return states, [logits[r, 0] for r in range(model.n)]


def correct(model: Model, x, logits) -> bool:
    """PyTorch's rule: the first maximal logit must sit at the target (2nd largest input)."""
    prediction = max(range(model.n), key=lambda r: (logits[r], -r))
    return prediction == sorted(range(model.n), key=lambda i: x[i])[model.n - 1 - model.task.above(model.n)]


def check_symmetry_at_points(model: Model, sym, points) -> None:
    """Exact forward passes: logits(A x)[r] = logits(x)[tau[r]]; with a hidden map, also every
    hidden state; with preserved correctness, x and A x are both right or both wrong."""
    agree = []
    for x in points:
        y = sym.apply(x)
        (hx, lx), (hy, ly) = forward(model, x), forward(model, y)
        assert ly == [lx[t] for t in sym.output_permutation]
        if sym.hidden_map is not None:
            perm, scales = sym.hidden_map.permutation, sym.hidden_map.scales
            for h, g in zip(hx, hy):
                assert all(g[perm[i]] == flint.fmpq(scales[i].numerator, scales[i].denominator) * h[i]
                           for i in range(model.d))
        agree.append(correct(model, x, lx) == correct(model, y, ly))
    assert all(agree) == sym.preserves_correctness


def test_handcrafted_2_sign_flip_swaps_neurons_and_outputs():
    model = load_model("handcrafted:2")
    dec = decompose(model)
    syms = {s.name: s for s in find_symmetries(dec)}
    flip = syms["sign flip"]
    assert flip.input_map == ((-1, 0), (0, -1)) and flip.output_permutation == (1, 0)
    assert flip.hidden_map.permutation == (1, 0) and flip.hidden_map.scales == (1, 1)
    assert flip.preserves_correctness
    assert syms["reversal"].hidden_map is None  # holds on the logits, does not map pieces
    for sym in syms.values():
        check_symmetry_at_points(model, sym, random_points(2, 200, 1))
    with pytest.raises(VerifierError, match="logits only"):
        piece_image(dec, syms["reversal"], 0)


@pytest.mark.parametrize("k,n,tau,seed", [(2, 3, (2, 1, 0), 0), (2, 2, (1, 0), 0), (2, 2, (1, 0), 1),
                                          (3, 3, (0, 1, 2), 1), (2, 4, (0, 1, 2, 3), 1)])
def test_constructed_sign_flip_symmetry_with_scales(k, n, tau, seed):
    model = symmetric_model(k, n, tau, seed)
    dec = decompose(model)
    flips = [s for s in find_symmetries(dec) if s.hidden_map is not None]
    assert [s.name for s in flips] == ["sign flip"]
    flip = flips[0]
    assert flip.output_permutation == tau
    assert flip.hidden_map.permutation == tuple(range(k, 2 * k)) + tuple(range(k))
    assert flip.hidden_map.scales[0] == Fraction(2, 3) and flip.hidden_map.scales[k] == Fraction(3, 2)
    check_symmetry_at_points(model, flip, random_points(n, 300, seed))
    check_orbits(dec, find_symmetries(dec))


def check_orbits(dec, syms) -> None:
    orbit_list = orbits(dec, syms)
    assert sorted(k for o in orbit_list for k in o) == list(range(len(dec.pieces)))
    piece_maps = [s for s in syms if s.hidden_map is not None]
    for orbit in orbit_list:
        first = dec.pieces[orbit[0]]
        for k in orbit:  # same shape across an orbit
            assert len(dec.pieces[k].constraints) == len(first.constraints)
            assert len(dec.pieces[k].rays) == len(first.rays)
        for k in orbit:
            for sym in piece_maps:
                y = sym.apply(dec.pieces[k].interior)
                (j,) = [j for j in orbit if all(sum(r * v for r, v in zip(row, y)) > 0
                                                for row in dec.pieces[j].constraints)]
                assert j == piece_image(dec, sym, k)
    if not piece_maps:
        assert len(orbit_list) == len(dec.pieces)


def test_handcrafted_3_orbits():
    dec = decompose(load_model("handcrafted:3"))
    syms = find_symmetries(dec)
    assert [(s.name, s.output_permutation, s.preserves_correctness) for s in syms] == [("sign flip", (0, 1, 2), True)]
    check_orbits(dec, syms)
    assert len(orbits(dec, syms)) == len(dec.pieces) // 2


def test_duplicate_neurons_give_a_hidden_relabelling():
    model = Model.from_arrays([[1], [2], [2]], [[1, -1, -1], [3, 1, -2], [3, -2, 1]], [[1, 2, 2], [0, -1, -1], [2, 1, 1]])
    dec = decompose(model)
    (sym,) = find_symmetries(dec)
    assert sym.name == "hidden relabelling" and sym.hidden_map.permutation == (0, 2, 1)
    check_symmetry_at_points(model, sym, random_points(3, 100, 0))
    assert orbits(dec, (sym,)) == tuple((k,) for k in range(len(dec.pieces)))  # each piece maps to itself


@pytest.mark.parametrize("model", [load_model("handcrafted:2"), symmetric_model(2, 3, (2, 1, 0), 0)],
                         ids=lambda m: m.name)
def test_a_perturbed_model_has_no_exact_symmetry(model):
    w_hh = [list(row) for row in model.w_hh]
    w_hh[0][0] += Fraction(1, 1000)
    nudged = Model.from_arrays(model.w_hi, w_hh, model.w_oh)
    dec = decompose(nudged)
    assert find_symmetries(dec) == ()
    assert orbits(dec, ()) == tuple((k,) for k in range(len(dec.pieces)))
    near = nearest_conjugation(nudged, -1)
    assert 0 < near.max_relative_deviation < 0.01


def test_symmetries_need_a_complete_decomposition():
    dec = decompose(gaussian_model(3, 3, 0), max_pieces=2)
    with pytest.raises(VerifierError, match="complete decomposition"):
        find_symmetries(dec)


def test_input_maps():
    assert input_map(2, -1, False) == ((-1, 0), (0, -1))
    assert input_map(3, 1, True) == ((0, 0, 1), (0, 1, 0), (1, 0, 0))


# -- the real M2,2 ---------------------------------------------------------------------------

def test_real_m22(m22_path):
    model = load_model(m22_path)
    dec = decompose(model)
    graph = check_graph(dec)
    assert len(dec.pieces) == 6 and graph.number_of_edges() == 6
    assert sorted(d for _, d in graph.degree) == [2] * 6  # six sectors around the origin: a cycle
    merged = merge_pieces(graph)
    assert (merged.before, merged.after) == (6, 6) and all(r.convex for r in merged.regions)
    assert len({r.shared_map for r in merged.regions}) == 6  # six different Delta maps
    assert find_symmetries(dec) == ()
    assert nearest_conjugation(model, -1).max_relative_deviation > 0.5


# -- command line ----------------------------------------------------------------------------

def test_cli_graph_json(capsys):
    assert cli.main(["--json", "graph", "handcrafted:2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["pieces"], data["edge_count"], data["connected"]) == (4, 4, True)
    assert (data["merged"]["before"], data["merged"]["after"]) == (4, 1)
    assert [(s["name"], s["maps_pieces"]) for s in data["symmetries"]] == [
        ("sign flip", True), ("reversal", False), ("sign flip + reversal", False)]
    assert data["orbits"] == [[0, 3], [1, 2]]
    assert cli.main(["graph", "handcrafted:3", "--max-pieces", "3", "--json"]) == 0
    partial = json.loads(capsys.readouterr().out)
    assert partial["complete"] is False and partial["symmetries"] is None and partial["pieces"] == 3
