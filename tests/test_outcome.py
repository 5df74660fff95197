"""Outcome cones and the exact sign filter behind them.

The outcome split skips cuts its exact pre-tests decide and cuts copies of the walk's converted
polyhedron; here its cones are compared, piece by piece, with the independent checker's
from-scratch construction, every pre-test decision with PPL, and every filtered sign with exact
integer arithmetic.
"""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_pipeline import gaussian_model
from verifier.geometry.cones import cone, is_full_dimensional, minimized_rows, sign_on_cone
from verifier.geometry.decomposition import Piece, walk
from verifier.geometry.outcome import cell_occupancy, logit_order_signs, order_bounds, piece_outcomes
from verifier.geometry.signs import difference_signs, dot_signs, scaled
from verifier.models.model import Model
from verifier.proof.checker import outcome_cones


def walked_pieces(model: Model, count: int) -> list[Piece]:
    pieces = []
    for event in walk(model):
        if isinstance(event, Piece):
            pieces.append(event)
            if len(pieces) == count:
                break
    return pieces


MODELS = [(4, 4, 0), (6, 4, 1), (5, 5, 2), (8, 5, 0), (3, 3, 4), (2, 2, 5)]


@pytest.mark.parametrize("d,n,seed", MODELS)
def test_outcome_cones_equal_the_checkers(d, n, seed):
    model = gaussian_model(d, n, seed)
    cells = tuple(model.task.cells(n))
    above = model.task.above(n)
    pieces = walked_pieces(model, 120)
    assert pieces
    for index, piece in enumerate(pieces):
        ours = [(( o.cell.target, o.cell.above), o.correct, o.loses_to, o.constraints)
                for o in piece_outcomes(index, piece, cells, n)]
        theirs = [(cell, ok, j, tuple(sorted(rows))) for cell, ok, j, rows in
                  outcome_cones(piece.constraints, piece.logit_map, n, above)]
        assert ours == theirs


def test_pieces_with_lines_are_split_like_the_checker():
    # no input reaches a neuron: one piece, all of R^2 (two lines), all logits tied at 0
    model = Model.from_arrays([[0], [0]], [[1, 0], [0, 1]], [[1, -1], [-1, 2]])
    pieces = walked_pieces(model, 10)
    assert [len(p.lines) for p in pieces] == [2]
    cells = tuple(model.task.cells(2))
    for index, piece in enumerate(pieces):
        ours = [((o.cell.target, o.cell.above), o.correct, o.loses_to, o.constraints)
                for o in piece_outcomes(index, piece, cells, 2)]
        theirs = [(cell, ok, j, tuple(sorted(rows))) for cell, ok, j, rows in
                  outcome_cones(piece.constraints, piece.logit_map, 2, model.task.above(2))]
        assert ours == theirs


@pytest.mark.parametrize("d,n,seed", [(8, 5, 0), (6, 4, 1), (4, 5, 3)])
def test_cell_occupancy_never_contradicts_ppl(d, n, seed):
    model = gaussian_model(d, n, seed)
    cells = tuple(model.task.cells(n))
    decided = {True: 0, False: 0, None: 0}
    for piece in walked_pieces(model, 150):
        for cell, occupied in zip(cells, cell_occupancy(piece, cells, n)):
            decided[occupied] += 1
            if occupied is not None:
                assert is_full_dimensional(cone(piece.constraints + cell.constraint_rows(n), n), n) == occupied
    assert decided[False] > 10 * decided[None]  # the pre-tests decide almost every pair


def test_order_bounds_and_logit_signs_by_definition():
    model = gaussian_model(6, 4, 7)
    n = 4
    for piece in walked_pieces(model, 60):
        le = order_bounds(piece, n)
        signs = logit_order_signs(piece, n)
        for a in range(n):
            for b in range(n):
                assert le[a][b] == all(g[a] <= g[b] for g in piece.rays)
                if a != b:
                    diff = [x - y for x, y in zip(piece.logits[a], piece.logits[b])]
                    assert signs[a][b] == sign_on_cone(diff, piece.rays, piece.lines)


def test_piece_pickles_without_its_polyhedron_and_rebuilds_it():
    piece = walked_pieces(gaussian_model(4, 4, 0), 1)[0]
    assert "polyhedron" in piece.__dict__  # the walk hands over its converted polyhedron
    copy = pickle.loads(pickle.dumps(piece))
    assert copy == piece and "polyhedron" not in copy.__dict__
    assert minimized_rows(copy.polyhedron) == minimized_rows(piece.polyhedron) == piece.constraints
    assert copy.polyhedron.contains(piece.polyhedron) and piece.polyhedron.contains(copy.polyhedron)


# -- the sign filter ---------------------------------------------------------------------------

def exact_sign(f, g) -> int:
    value = sum(a * b for a, b in zip(f, g))
    return (value > 0) - (value < 0)


big = st.integers(min_value=-(2 ** 1300), max_value=2 ** 1300)
small = st.integers(min_value=-3, max_value=3)


@st.composite
def forms_and_vectors(draw):
    """Integer forms and vectors of hundreds of bits, with exact zeros and near cancellations."""
    n = draw(st.integers(1, 5))
    bits = draw(st.sampled_from([4, 60, 300, 1100]))
    entry = st.integers(-(2 ** bits), 2 ** bits) | small
    vectors = draw(st.lists(st.tuples(*[entry] * n), min_size=1, max_size=6))
    forms = draw(st.lists(st.tuples(*[entry] * n), min_size=1, max_size=5))
    if n >= 2:  # a form orthogonal to a vector, and one off by one from orthogonal
        g = vectors[0]
        forms.append((g[1], -g[0]) + (0,) * (n - 2))
        forms.append((g[1] + 1, -g[0]) + (0,) * (n - 2))
    return forms, vectors


@settings(max_examples=300, deadline=None)
@given(forms_and_vectors())
def test_dot_signs_are_exact(case):
    forms, vectors = case
    signs = dot_signs(scaled(forms), scaled(vectors))
    assert signs.tolist() == [[exact_sign(f, g) for g in vectors] for f in forms]


@settings(max_examples=300, deadline=None)
@given(forms_and_vectors())
def test_difference_signs_are_exact(case):
    rows, vectors = case
    signs = difference_signs(rows, scaled(vectors))
    for s, a in enumerate(rows):
        for t, b in enumerate(rows):
            if s != t:
                diff = [x - y for x, y in zip(a, b)]
                assert signs[s, t].tolist() == [exact_sign(diff, g) for g in vectors]


def test_sign_filter_on_cancelling_giants():
    # (h + 1, h) . (h + k, -(h + k + 1)) = k for h = 2^1200: -1, 0, 1 against terms of 2^2400
    h = 2 ** 1200
    vectors = [(h + k, -(h + k + 1)) for k in (-1, 0, 1)]
    assert dot_signs(scaled([(h + 1, h)]), scaled(vectors)).tolist() == [[-1, 0, 1]]
    assert difference_signs([(h + 1, h), (0, 0)], scaled(vectors))[0, 1].tolist() == [-1, 0, 1]
