"""The exact decomposition of input space into cones on which the model is linear.

No biases make the model positively homogeneous, so each activation pattern holds on a
polyhedral cone through the origin. Walking the time steps, the hidden state on the current
cone is an exact linear map ``h_t = H_t x``; the pre-activation of neuron ``i`` at step ``t``
is the linear form ``row_i(W_hh H_t + W_hi e_t^T)``. A cone the form crosses is split into
``form >= 0`` (active) and ``form <= 0`` (inactive); otherwise the sign is implied and no split
is made. The split tree records every real split, so its leaves cover R^n by construction and
overlap only on boundaries. A leaf's logits are ``W_oh H_n x``.

>>> from verifier.models.model import Model
>>> m = Model.from_arrays([[1], [-1]], [[-1, 1], [1, -1]], [[1, -1], [-1, 1]])
>>> dec = decompose(m)
>>> dec.complete, len(dec.pieces)
(True, 4)
>>> [(str(p.a0), str(p.a1), p.angles) for p in delta_forms(dec)][:2]  # Delta = 2*x0 - 2*x1 everywhere
[('2', '2', (45.0, 90.0)), ('2', '2', (270.0, 45.0))]
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence, Union

import flint
import ppl
from tqdm import tqdm

from .cones import cone, cut, generators, interior_point, is_full_dimensional, minimized_rows, sign_on_cone
from ..errors import VerifierError
from ..exact import Matrix, fraction_matrix, integer_row
from ..coerce import as_model
from ..models.model import Model

Pattern = tuple[tuple[bool, ...], ...]
IntRows = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Piece:
    """A full-dimensional cone with one activation pattern, on which logits are linear."""

    pattern: Pattern                 # pattern[t][i]: neuron i active at step t (pre-activation >= 0 on the cone)
    constraints: IntRows             # minimized primitive integer rows r, meaning r . x >= 0
    rays: IntRows
    lines: IntRows
    logit_map: Matrix                # n x n: logits = logit_map @ x on this cone
    interior: tuple[Fraction, ...]   # a point strictly inside


@dataclass(frozen=True)
class Split:
    """A node of the split tree: children on ``form . x >= 0`` and ``form . x <= 0``.

    A child is None when its side is not full-dimensional inside the parent (with exact sign
    tests this does not happen: a form that crosses a full-dimensional cone leaves both sides
    full-dimensional; the check guards the invariant).
    """

    form: tuple[int, ...]
    step: int
    neuron: int
    positive: "Node | None"
    negative: "Node | None"


@dataclass(frozen=True)
class Leaf:
    piece: int                       # index into Decomposition.pieces


@dataclass(frozen=True)
class Unresolved:
    """A cone left unfinished by a budget: resume at (step, neuron) with the decided pattern prefix."""

    constraints: IntRows
    step: int
    neuron: int
    pattern: Pattern = ()            # decided bits: complete steps, then the current step's first `neuron`


Node = Union[Split, Leaf, Unresolved]


@dataclass(frozen=True)
class Decomposition:
    model: Model
    pieces: tuple[Piece, ...]
    tree: Node
    complete: bool
    stop_reason: str | None
    unresolved: tuple[Unresolved, ...]
    seconds: float

    @property
    def pieces_per_second(self) -> float:
        return len(self.pieces) / self.seconds if self.seconds > 0 else math.inf


@dataclass
class _Cone:
    poly: ppl.C_Polyhedron
    rays: IntRows
    lines: IntRows


class _Walk:
    """One run of the decomposition: weights in flint form, budgets, and the pieces found."""

    def __init__(self, model: Model, max_pieces: int | None, max_seconds: float | None, progress: bool):
        self.model = model
        self.n, self.d = model.n, model.d
        w_hi, self.w_hh, self.w_oh = model.flint_weights
        # W_hi e_t^T: the input's contribution to the pre-activations at step t.
        self.input_maps = [
            flint.fmpq_mat(self.d, self.n, [w_hi[i, 0] if j == t else 0 for i in range(self.d) for j in range(self.n)])
            for t in range(self.n)
        ]
        self.max_pieces = max_pieces
        self.deadline = None if max_seconds is None else time.perf_counter() + max_seconds
        self.stop_reason: str | None = None
        self.pieces: list[Piece] = []
        self.unresolved: list[Unresolved] = []
        # tqdm's first bar costs ~30 ms even when disabled: make one only when asked
        self.bar = tqdm(unit=" pieces", file=sys.stderr, desc="decompose") if progress else None

    def out_of_budget(self) -> bool:
        if self.stop_reason is None:
            if self.max_pieces is not None and len(self.pieces) >= self.max_pieces:
                self.stop_reason = f"stopped at the piece budget (max_pieces={self.max_pieces})"
            elif self.deadline is not None and time.perf_counter() >= self.deadline:
                self.stop_reason = f"stopped at the time budget after {len(self.pieces)} pieces"
        return self.stop_reason is not None

    def preactivations(self, hidden: flint.fmpq_mat, step: int) -> tuple[flint.fmpq_mat, list[list[int]]]:
        """Pre-activation map at ``step`` (d x n) and its rows as integer forms (scaled by a common
        positive denominator: same signs everywhere; made primitive only when a split records one)."""
        pre = self.w_hh * hidden + self.input_maps[step]
        return pre, [[int(v) for v in row] for row in pre.numer_denom()[0].tolist()]

    def unresolved_node(self, c: _Cone, step: int, neuron: int, bits: Pattern) -> Unresolved:
        node = Unresolved(minimized_rows(c.poly), step, neuron, bits)
        self.unresolved.append(node)
        return node

    def walk(self, c: _Cone, step: int, neuron: int, bits: Pattern, current: tuple[bool, ...],
             pre: flint.fmpq_mat, forms: list[list[int]]) -> Node:
        """Resolve the neurons from (step, neuron) on, on cone ``c``: a subtree of the split tree."""
        while True:
            if neuron == self.d:  # step complete: advance the hidden map
                bits = bits + (current,)
                hidden = flint.fmpq_mat(pre)
                for i, active in enumerate(current):
                    if not active:
                        for j in range(self.n):
                            hidden[i, j] = 0
                step, neuron, current = step + 1, 0, ()
                if step == self.n:
                    return self.leaf(c, bits, hidden)
                pre, forms = self.preactivations(hidden, step)
            form = forms[neuron]
            sign = sign_on_cone(form, c.rays, c.lines)
            if sign == 0:
                break
            current += (sign > 0,)
            neuron += 1
        if self.out_of_budget():
            return self.unresolved_node(c, step, neuron, bits + (current,))
        form = integer_row(form)
        children = []
        for side, row in ((True, form), (False, tuple(-v for v in form))):
            poly = cut(c.poly, row)
            if not is_full_dimensional(poly, self.n):
                children.append(None)
                continue
            child = _Cone(poly, *generators(poly))
            children.append(self.walk(child, step, neuron + 1, bits, current + (side,), pre, forms))
        return Split(form, step, neuron, children[0], children[1])

    def leaf(self, c: _Cone, bits: Pattern, hidden: flint.fmpq_mat) -> Node:
        if self.out_of_budget():
            return self.unresolved_node(c, self.n, 0, bits)
        self.pieces.append(Piece(
            pattern=bits,
            constraints=minimized_rows(c.poly),
            rays=c.rays,
            lines=c.lines,
            logit_map=fraction_matrix(self.w_oh * hidden),
            interior=interior_point(c.rays, c.lines),
        ))
        if self.bar is not None:
            self.bar.update(1)
        return Leaf(len(self.pieces) - 1)


def decompose(model, *, max_pieces: int | None = None, max_seconds: float | None = None,
              progress: bool = False) -> Decomposition:
    """Split R^n into the model's activation-pattern cones, exactly.

    Budgets stop the walk cleanly: every unfinished cone is returned as :class:`Unresolved`
    (in the tree and in ``unresolved``), ``complete`` is False and ``stop_reason`` says why.
    """
    model = as_model(model)
    if max_pieces is not None and max_pieces < 0:
        raise VerifierError(f"max_pieces must be >= 0, got {max_pieces}")
    if max_seconds is not None and not max_seconds >= 0:
        raise VerifierError(f"max_seconds must be >= 0, got {max_seconds}")
    start = time.perf_counter()
    run = _Walk(model, max_pieces, max_seconds, progress)
    try:
        whole = cone((), model.n)
        root = _Cone(whole, *generators(whole))
        pre, forms = run.preactivations(flint.fmpq_mat(model.d, model.n), 0)
        tree = run.walk(root, 0, 0, (), (), pre, forms)
    finally:
        if run.bar is not None:
            run.bar.close()
    stop = None
    if run.unresolved:
        stop = (f"{run.stop_reason}: {len(run.pieces)} pieces resolved, "
                f"{len(run.unresolved)} cones left unresolved")
    return Decomposition(model, tuple(run.pieces), tree, not run.unresolved, stop, tuple(run.unresolved),
                         time.perf_counter() - start)


def locate(decomposition: Decomposition, x: Sequence) -> Leaf | Unresolved:
    """The tree node holding point ``x`` (exact numbers); on a boundary ``form . x = 0`` the
    inactive side is taken (ReLU(0) = 0, so both sides agree there)."""
    node = decomposition.tree
    while isinstance(node, Split):
        value = sum(f * v for f, v in zip(node.form, x))
        node = node.positive if value > 0 else node.negative
        if node is None:
            raise ValueError("point lies in a side of the split tree that is not full-dimensional")
    return node


# -- n = 2: the logit difference on each piece ------------------------------------------

@dataclass(frozen=True)
class DeltaPiece:
    """On piece ``piece`` (n = 2): Delta = logit_1 - logit_0 = a0*x0 - a1*x1.

    ``bounding_rays`` are the sector's two edges in counter-clockwise order (for a half-plane,
    a line's two directions; empty for the whole plane); ``angles`` are their directions in
    degrees in [0, 360), for display only.
    """

    piece: int
    a0: Fraction
    a1: Fraction
    bounding_rays: tuple[tuple[int, int], ...]
    angles: tuple[float, ...]


def _cross(u, v) -> int:
    return u[0] * v[1] - u[1] * v[0]


def _sector_edges(piece: Piece) -> tuple[tuple[int, int], ...]:
    if len(piece.lines) == 2 or not piece.rays and not piece.lines:
        return ()
    if piece.lines:  # a half-plane: the line's two directions, ordered so the ray lies between them
        (line,), (ray,) = piece.lines, piece.rays
        first = line if _cross(line, ray) > 0 else tuple(-v for v in line)
        return first, tuple(-v for v in first)
    first, second = piece.rays
    return (first, second) if _cross(first, second) > 0 else (second, first)


def delta_forms(decomposition: Decomposition) -> tuple[DeltaPiece, ...]:
    """For a model with n = 2: each piece's Delta = a0*x0 - a1*x1 (exact) and its bounding rays."""
    if decomposition.model.n != 2:
        raise VerifierError(f"delta forms are defined for n = 2, this model has n = {decomposition.model.n}")
    out = []
    for k, p in enumerate(decomposition.pieces):
        (l00, l01), (l10, l11) = p.logit_map
        edges = _sector_edges(p)
        angles = tuple(math.degrees(math.atan2(r[1], r[0])) % 360.0 for r in edges)
        out.append(DeltaPiece(k, l10 - l00, l01 - l11, edges, angles))
    return tuple(out)
