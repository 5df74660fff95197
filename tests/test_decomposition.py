"""The exact cone decomposition against independent computations.

* partition: random Gaussian points (exact rationals of the floats) lie in exactly one piece's
  closed cone, and the split tree routes them to that piece;
* linearity: on each piece the logit map equals the exact forward pass at its interior point
  and at random points of the cone, and the pattern equals the signs the forward pass sees;
* a brute-force oracle over all 2^(d*n) activation patterns (strict inequalities, NNC
  emptiness in pplpy) finds exactly the decomposition's patterns;
* budgets leave every point of R^n in exactly one piece or unresolved cone.
"""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction

import numpy as np
import ppl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verifier import cli
from verifier.geometry.cones import (contains, cone, generators, interior_point, is_full_dimensional, minimized_rows,
                            sign_on_cone)
from verifier.geometry.decomposition import Leaf, Split, decompose, delta_forms, locate
from verifier.errors import VerifierError
from verifier.exact import integer_row
from verifier.models.loading import load_model
from verifier.models.model import Model
from verifier.models.weightfile import save_json


def gaussian_model(d: int, n: int, seed: int) -> Model:
    rng = np.random.default_rng(seed)
    f32 = np.float32
    return Model.from_arrays(rng.standard_normal((d, 1)).astype(f32), rng.standard_normal((d, d)).astype(f32),
                             rng.standard_normal((n, d)).astype(f32), task="argmax", name=f"gauss{d}x{n}#{seed}")


def gaussian_points(n: int, count: int, seed: int) -> list[tuple[Fraction, ...]]:
    rng = np.random.default_rng(seed)
    return [tuple(Fraction(float(v)) for v in row) for row in rng.standard_normal((count, n))]


def apply(matrix, x):
    return tuple(sum((a * b for a, b in zip(row, x)), Fraction(0)) for row in matrix)


def oracle_patterns(model: Model) -> set:
    """Every activation pattern whose cone has an interior, found by brute force.

    A pattern's cone has an interior iff its strict version (active forms > 0, inactive < 0)
    is non-empty; an identically-zero form can only be inactive (ReLU(0) = 0).
    """
    d, n = model.d, model.n
    found = set()
    for bits in itertools.product((False, True), repeat=d * n):
        pattern = tuple(tuple(bits[t * d:(t + 1) * d]) for t in range(n))
        poly = ppl.NNC_Polyhedron(n, "universe")
        hidden = [[Fraction(0)] * n for _ in range(d)]  # h_t = hidden @ x
        feasible = True
        for t in range(n):
            pre = [[sum((model.w_hh[i][k] * hidden[k][j] for k in range(d)), Fraction(0))
                    + (model.w_hi[i][0] if j == t else 0) for j in range(n)] for i in range(d)]
            for i in range(d):
                if not any(pre[i]):
                    feasible = feasible and not pattern[t][i]
                    continue
                expr = ppl.Linear_Expression(list(integer_row(pre[i])), 0)
                poly.add_constraint(expr > 0 if pattern[t][i] else expr < 0)
            hidden = [pre[i] if pattern[t][i] else [Fraction(0)] * n for i in range(d)]
        if feasible and not poly.is_empty():
            found.add(pattern)
    return found


def points_in(piece, rng, count):
    """Random points of a piece's cone: positive combinations of rays plus any multiple of lines."""
    for _ in range(count):
        coef = [Fraction(int(rng.integers(1, 50))) for _ in piece.rays]
        lin = [Fraction(int(rng.integers(-50, 51))) for _ in piece.lines]
        gens = list(piece.rays) + list(piece.lines)
        yield tuple(sum((c * g[j] for c, g in zip(coef + lin, gens)), Fraction(0)) for j in range(len(gens[0])))


def check_decomposition(model: Model, points: int = 60, seed: int = 0):
    """Every property that must hold for a complete decomposition of any model."""
    dec = decompose(model)
    assert dec.complete and dec.stop_reason is None and dec.unresolved == ()
    n = model.n
    rng = np.random.default_rng(seed)
    for k, piece in enumerate(dec.pieces):
        assert len(piece.pattern) == n and all(len(s) == model.d for s in piece.pattern)
        for row in piece.constraints:
            assert math.gcd(*row) == 1
        assert all(contains(piece.constraints, r) for r in piece.rays)
        assert all(contains(piece.constraints, l) and contains(piece.constraints, tuple(-v for v in l))
                   for l in piece.lines)
        x = piece.interior
        assert all(sum(a * b for a, b in zip(row, x)) > 0 for row in piece.constraints), "interior not strict"
        assert locate(dec, x) == Leaf(k)
        hidden = model.hidden_exact(x)
        assert piece.pattern == tuple(tuple(h > 0 for h in state) for state in hidden)
        for y in [x, *points_in(piece, rng, 3)]:
            assert apply(piece.logit_map, y) == model.logits_exact(y)
    for x in gaussian_points(n, points, seed):
        holders = [k for k, p in enumerate(dec.pieces) if contains(p.constraints, x)]
        assert len(holders) == 1
        assert locate(dec, x) == Leaf(holders[0])
    assert_no_empty_sides(dec.tree)
    return dec


def assert_no_empty_sides(node):
    """Exact sign tests split only cones a form crosses, so both sides always have an interior."""
    if isinstance(node, Split):
        assert node.positive is not None and node.negative is not None
        assert_no_empty_sides(node.positive)
        assert_no_empty_sides(node.negative)


# -- cones --------------------------------------------------------------------------------

def test_cone_primitives():
    line = cone([(1, -1), (-1, 1)], 2)  # the line x0 = x1
    assert not is_full_dimensional(line, 2)
    assert generators(line) == ((), ((1, 1),)) or generators(line) == ((), ((-1, -1),))
    assert set(minimized_rows(line)) == {(1, -1), (-1, 1)}
    half = cone([(2, 4, 0)], 3)
    rays, lines = generators(half)
    assert minimized_rows(half) == ((1, 2, 0),) and len(rays) == 1 and len(lines) == 2
    assert sign_on_cone((0, 0, 1), rays, lines) == 0  # crosses along a line
    assert sign_on_cone((3, 6, 0), rays, lines) == 1
    assert sign_on_cone((-1, -2, 0), rays, lines) == -1
    p = interior_point(rays, lines)
    assert p[0] + 2 * p[1] > 0
    whole_rays, whole_lines = generators(cone((), 2))
    assert whole_rays == () and interior_point(whole_rays, whole_lines) != (0, 0)
    with pytest.raises(ValueError):
        cone([(1, 2)], 3)


# -- properties on concrete models -----------------------------------------------------------

@pytest.mark.parametrize("d,n,seed", [(2, 2, 0), (3, 3, 1), (4, 3, 2), (2, 4, 3), (1, 3, 4), (3, 1, 5)])
def test_partition_and_linearity_gaussian_models(d, n, seed):
    check_decomposition(gaussian_model(d, n, seed), seed=seed)


@pytest.mark.parametrize("d,n,seed", [(1, 2, 0), (2, 2, 1), (2, 3, 2), (2, 3, 3), (1, 3, 4), (2, 1, 5)])
def test_brute_force_oracle_agrees(d, n, seed):
    model = gaussian_model(d, n, seed)
    assert {p.pattern for p in decompose(model).pieces} == oracle_patterns(model)


def test_oracle_on_a_model_solved_by_hand():
    """h1 = (x0, 0) or (0, -x0); both give step-1 forms (x1 - x0, x0 - x1): 4 of the 16 patterns."""
    toy = Model.from_arrays([[1], [-1]], [[-1, 1], [1, -1]], [[1, -1], [-1, 1]])
    one_of_two = [(True, False), (False, True)]
    assert oracle_patterns(toy) == set(itertools.product(one_of_two, repeat=2))


def test_degenerate_models():
    zero = Model.from_arrays([[0], [0]], [[0, 0], [0, 0]], [[0, 0], [0, 0]])
    dec = check_decomposition(zero)
    (piece,) = dec.pieces
    assert piece.pattern == ((False, False), (False, False)) and piece.constraints == () and len(piece.lines) == 2
    assert piece.logit_map == ((0, 0), (0, 0)) and dec.tree == Leaf(0)
    # a dead neuron (zero row) and a neuron that only copies the current input
    check_decomposition(Model.from_arrays([[0], [1]], [[0, 0], [0, 0]], [[1, 1], [0, 1]]))
    one = Model.from_arrays([[1]], [[2]], [[3]], task="argmax")  # n = 1: split once on x0
    dec = check_decomposition(one)
    assert sorted(p.pattern for p in dec.pieces) == [((False,),), ((True,),)]


def test_neuron_with_implied_sign_is_not_split():
    # step 0: neuron 0 gets x0 (splits), neuron 1 gets 0 (inactive, no split)
    m = Model.from_arrays([[1], [0]], [[0, 0], [1, 0]], [[1, 1], [0, 1]], task="argmax")
    dec = check_decomposition(m)
    assert dec.tree.step == 0 and dec.tree.form == (1, 0)
    # step 1: neuron 0 gets x1 (splits), neuron 1 gets h0 = relu(x0): never split
    splits = []

    def walk(node):
        if isinstance(node, Split):
            splits.append((node.step, node.neuron))
            walk(node.positive), walk(node.negative)
    walk(dec.tree)
    assert (1, 1) not in splits and (1, 0) in splits
    assert {p.pattern[1][1] for p in dec.pieces} == {True, False}


# -- hypothesis: small integer and dyadic models -------------------------------------------

def weights(values):
    return st.integers(1, 3).flatmap(lambda d: st.integers(1, 3).flatmap(lambda n: st.tuples(
        st.lists(st.lists(values, min_size=1, max_size=1), min_size=d, max_size=d),
        st.lists(st.lists(values, min_size=d, max_size=d), min_size=d, max_size=d),
        st.lists(st.lists(values, min_size=d, max_size=d), min_size=n, max_size=n))))


INTEGERS = st.integers(-2, 2)
DYADICS = st.integers(-8, 8).map(lambda k: Fraction(k, 4))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(weights(INTEGERS), weights(DYADICS)), st.integers(0, 2**16))
def test_hypothesis_small_models(w, seed):
    model = Model.from_arrays(*w, task="argmax")
    dec = check_decomposition(model, points=20, seed=seed)
    if model.d * model.n <= 6:
        assert {p.pattern for p in dec.pieces} == oracle_patterns(model)


# -- budgets ----------------------------------------------------------------------------------

def assert_cover(dec, points):
    cones = [p.constraints for p in dec.pieces] + [u.constraints for u in dec.unresolved]
    for x in points:
        holders = [k for k, rows in enumerate(cones) if contains(rows, x)]
        assert len(holders) == 1
        node = locate(dec, x)
        expected = Leaf(holders[0]) if holders[0] < len(dec.pieces) else dec.unresolved[holders[0] - len(dec.pieces)]
        assert node == expected


def test_piece_budget_stops_cleanly_and_still_covers():
    model = gaussian_model(4, 3, 2)
    full = decompose(model)
    assert len(full.pieces) > 10
    dec = decompose(model, max_pieces=4)
    assert not dec.complete and len(dec.pieces) == 4 and dec.unresolved
    assert "max_pieces=4" in dec.stop_reason and f"{len(dec.unresolved)} cones left unresolved" in dec.stop_reason
    assert {p.pattern for p in dec.pieces} <= {p.pattern for p in full.pieces}
    for u in dec.unresolved:
        assert 0 <= u.step <= model.n and 0 <= u.neuron < model.d + (u.step == model.n)
        assert len(u.pattern) == u.step + (u.step < model.n)
        assert is_full_dimensional(cone(u.constraints, model.n), model.n)
    assert_cover(dec, gaussian_points(model.n, 100, 7))
    exact = decompose(model, max_pieces=len(full.pieces))
    assert exact.complete and exact.stop_reason is None and len(exact.pieces) == len(full.pieces)


def test_time_budget_zero_leaves_everything_unresolved():
    model = gaussian_model(3, 3, 1)
    dec = decompose(model, max_seconds=0)
    assert not dec.complete and dec.pieces == () and "time budget" in dec.stop_reason
    assert_cover(dec, gaussian_points(3, 30, 8))


def test_progress_bar_goes_to_stderr_and_changes_nothing(capsys):
    model = gaussian_model(3, 3, 1)
    quiet, loud = decompose(model), decompose(model, progress=True)
    out, err = capsys.readouterr()
    assert out == "" and "decompose" in err and f"{len(quiet.pieces)}" in err
    assert loud.pieces == quiet.pieces and loud.tree == quiet.tree


def test_bad_budgets_are_user_errors():
    model = gaussian_model(2, 2, 0)
    with pytest.raises(VerifierError):
        decompose(model, max_pieces=-1)
    with pytest.raises(VerifierError):
        decompose(model, max_seconds=float("nan"))


# -- n = 2: Delta = a0*x0 - a1*x1 -------------------------------------------------------------

def test_delta_forms_and_sectors():
    model = gaussian_model(3, 2, 11)
    dec = decompose(model)
    deltas = delta_forms(dec)
    assert [p.piece for p in deltas] == list(range(len(dec.pieces)))
    total = 0.0
    for dp in deltas:
        piece = dec.pieces[dp.piece]
        x = piece.interior
        logits = model.logits_exact(x)
        assert logits[1] - logits[0] == dp.a0 * x[0] - dp.a1 * x[1]
        first, second = dp.bounding_rays
        cross = lambda u, v: u[0] * v[1] - u[1] * v[0]
        assert cross(first, x) > 0 and cross(x, second) > 0  # counter-clockwise: first, interior, second
        total += (dp.angles[1] - dp.angles[0]) % 360.0
    assert total == pytest.approx(360.0)
    with pytest.raises(VerifierError):
        delta_forms(decompose(gaussian_model(2, 3, 0)))


def test_delta_forms_whole_plane():
    zero = Model.from_arrays([[0]], [[0]], [[0], [0]])
    (dp,) = delta_forms(decompose(zero))
    assert dp.bounding_rays == () and dp.a0 == dp.a1 == 0


# -- the real M2,2 ----------------------------------------------------------------------------

def test_real_m22_six_sectors(m22_path):
    model = load_model(m22_path)
    dec = check_decomposition(model, points=200)
    deltas = delta_forms(dec)
    assert len(deltas) == 6 and all(p.a0 > 0 and p.a1 > 0 for p in deltas)
    ratios = sorted(p.a0 / p.a1 for p in deltas)
    assert ratios[1] < 1 - Fraction(1, 2**10) and ratios[4] > 1 + Fraction(1, 2**10)
    assert all(abs(r - 1) < Fraction(1, 2**10) for r in ratios[2:4])  # the two near-equal sectors
    assert sum((p.angles[1] - p.angles[0]) % 360 for p in deltas) == pytest.approx(360.0)


# -- command line -----------------------------------------------------------------------------

def test_cli_decompose_json(tmp_path, capsys):
    path = save_json(gaussian_model(3, 2, 11), tmp_path / "m.json")
    assert cli.main(["decompose", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    dec = decompose(load_model(path))
    assert data["complete"] and data["piece_count"] == len(dec.pieces) and data["stop_reason"] is None
    first = data["pieces"][0]
    assert first["logit_map"] == [[str(v) for v in row] for row in dec.pieces[0].logit_map]
    assert [d["a0"] for d in data["delta"]] == [str(p.a0) for p in delta_forms(dec)]
    assert cli.main(["decompose", str(path), "--max-pieces", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert not data["complete"] and data["piece_count"] == 1 and data["unresolved"] >= 1
    assert cli.main(["decompose", str(path), "--max-pieces", "-3"]) == 2
    assert "max_pieces" in capsys.readouterr().err


def test_python_api_refuses_models_beyond_the_exact_limits():
    """decompose() and certify() refuse n > 64 before building any d x n map (not only the CLI)."""
    import time

    from verifier import certify
    from verifier.errors import LoadError

    model = gaussian_model(2, 100, 0)
    for run in (decompose, certify):
        start = time.perf_counter()
        with pytest.raises(LoadError, match=r"too large for exact verification.*n <= 64"):
            run(model, max_seconds=5)
        assert time.perf_counter() - start < 2
