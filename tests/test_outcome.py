"""Outcome cones.

The outcome split skips cuts its exact pre-tests decide and cuts copies of the walk's converted
polyhedron; here its cones are compared, piece by piece, with the independent checker's
from-scratch construction, and every pre-test decision with PPL.
"""

from __future__ import annotations

import pickle

import pytest

from test_pipeline import gaussian_model
from verifier.geometry.cones import cone, is_full_dimensional, minimized_rows
from verifier.geometry.decomposition import Piece, walk
from verifier.geometry.outcome import cell_occupancy, order_bounds, piece_outcomes
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


def test_order_bounds_by_definition():
    model = gaussian_model(6, 4, 7)
    for piece in walked_pieces(model, 60):
        le = order_bounds(piece, 4)
        assert le == [[all(g[a] <= g[b] for g in piece.rays) for b in range(4)] for a in range(4)]


def test_piece_pickles_without_its_polyhedron_and_rebuilds_it():
    piece = walked_pieces(gaussian_model(4, 4, 0), 1)[0]
    assert "polyhedron" in piece.__dict__  # the walk hands over its converted polyhedron
    copy = pickle.loads(pickle.dumps(piece))
    assert copy == piece and "polyhedron" not in copy.__dict__
    assert minimized_rows(copy.polyhedron) == minimized_rows(piece.polyhedron) == piece.constraints
    assert copy.polyhedron.contains(piece.polyhedron) and piece.polyhedron.contains(copy.polyhedron)
