"""The exact decomposition of input space into cones on which the model is linear.

No biases make the model positively homogeneous, so each activation pattern holds on a
polyhedral cone through the origin. Walking the time steps, the hidden state on the current
cone is an exact linear map ``h_t = H_t x``; the pre-activation of neuron ``i`` at step ``t``
is the linear form ``row_i(W_hh H_t + W_hi e_t^T)``. A cone the form crosses is split into
``form >= 0`` (active) and ``form <= 0`` (inactive); otherwise the sign is implied and no split
is made. The split tree records every real split, so its leaves cover R^n by construction and
overlap only on boundaries. A leaf's logits are ``W_oh H_n x``.

The walk (:func:`walk`) is a depth-first generator: it yields the tree in preorder (a
:class:`SplitEvent`, then its positive subtree, then its negative one; a :class:`Piece` per
leaf; an :class:`Unresolved` per cone a budget or a depth limit left open), so a consumer can
measure each piece as soon as it is found and keep nothing else. Any :class:`Unresolved` cone
can be walked on its own later (that is how subtrees are handed to other processes), and the
result is the same subtree the whole walk would have produced there. :func:`decompose` keeps
everything in memory as a :class:`Decomposition` (for small models and the explain tools).

Exactness where it is cheap: pre-activation maps are python-flint rational matrices, turned
into integer forms once per step; a neuron's sign on a cone is tested on the cone's rays one
at a time, so a form that crosses the cone usually shows it within a few rays (measured: 1.5x
faster than one flint product of all forms with all rays, which pays to convert every ray). A
split copies the parent polyhedron once (the positive side) and cuts the parent itself for the
negative side; both convert incrementally. A form that takes both signs on a full-dimensional
cone leaves both sides full-dimensional, so no dimension test is needed. A piece hands its
converted polyhedron on to the outcome split (:attr:`Piece.polyhedron`).

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
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import Callable, Iterator, Sequence, Union

import flint
import ppl

from .cones import cone, generators, half_space, interior_point, minimized_rows, sign_on_cone
from ..errors import VerifierError
from ..exact import Matrix
from ..coerce import as_model
from ..models.model import Model, check_size
from ..resources import StopRule

Pattern = tuple[tuple[bool, ...], ...]
IntRows = tuple[tuple[int, ...], ...]


def primitive(row: Sequence[int]) -> tuple[int, ...]:
    """An integer row divided by the gcd of its entries (same half-space, canonical scale).

    >>> primitive([4, -6, 0])
    (2, -3, 0)
    """
    g = math.gcd(*row)
    return tuple(v // g for v in row) if g > 1 else tuple(row)


@dataclass(frozen=True)
class Piece:
    """A full-dimensional cone with one activation pattern, on which logits are linear.

    The logit map is stored as integers over one positive denominator (``logits / denominator``);
    :attr:`logit_map` gives it as Fractions.
    """

    pattern: Pattern                 # pattern[t][i]: neuron i active at step t (pre-activation >= 0 on the cone)
    constraints: IntRows             # minimized primitive integer rows r, meaning r . x >= 0
    rays: IntRows
    lines: IntRows
    logits: IntRows                  # n x n integers: logits = (logits / denominator) @ x on this cone
    denominator: int
    interior: tuple[int, ...]        # a point strictly inside (the sum of the generators)

    @cached_property
    def logit_map(self) -> Matrix:
        """The exact n x n logit map (Fractions)."""
        return tuple(tuple(Fraction(v, self.denominator) for v in row) for row in self.logits)

    @cached_property
    def polyhedron(self) -> ppl.C_Polyhedron:
        """The piece as a PPL polyhedron with both systems minimized, so that a copy of it converts
        incrementally when cut (the walk hands over its own; do not modify it, copy it)."""
        poly = cone(self.constraints, len(self.interior))
        poly.minimized_generators()
        return poly

    def __getstate__(self) -> dict:
        """Pickled without the cached polyhedron (rebuilt on demand)."""
        return {k: v for k, v in self.__dict__.items() if k != "polyhedron"}


@dataclass(frozen=True)
class Split:
    """A node of the split tree: children on ``form . x >= 0`` and ``form . x <= 0``.

    A child is None when its side is not full-dimensional inside the parent (exact sign tests
    never produce one; certificates allow it).
    """

    form: tuple[int, ...]
    step: int
    neuron: int
    positive: "Node | None"
    negative: "Node | None"


@dataclass(frozen=True)
class SplitEvent:
    """A split as the walk yields it: its positive subtree follows, then its negative one."""

    form: tuple[int, ...]
    step: int
    neuron: int


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
Event = Union[SplitEvent, Piece, Unresolved]


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


# -- the walk --------------------------------------------------------------------------------

@dataclass
class _Frame:
    """A cone still to walk: ``poly`` (owned; ``pending``, if set, is a row still to add),
    the neuron to decide next, and the maps of the current step."""

    poly: ppl.C_Polyhedron
    pending: tuple[int, ...] | None
    step: int
    neuron: int
    bits: Pattern                    # complete steps
    current: tuple[bool, ...]        # the current step's decided neurons
    pre: flint.fmpq_mat | None       # pre-activation map of the current step (d x n)
    forms: IntRows | None            # its rows scaled to integers by one positive denominator
    depth: int                       # splits above this cone
    rays: IntRows = field(default=())
    lines: IntRows = field(default=())

    def materialize(self) -> None:
        if self.pending is not None:
            self.poly.add_constraint(half_space(self.pending))
            self.pending = None
        self.rays, self.lines = generators(self.poly)


class _Maps:
    """The model's weights in flint form, and the maps the walk derives from them."""

    def __init__(self, model: Model):
        self.n, self.d = model.n, model.d
        w_hi, self.w_hh, self.w_oh = model.flint_weights
        self.input_maps = [
            flint.fmpq_mat(self.d, self.n, [w_hi[i, 0] if j == t else 0 for i in range(self.d) for j in range(self.n)])
            for t in range(self.n)
        ]

    def step_maps(self, hidden: flint.fmpq_mat, step: int) -> tuple[flint.fmpq_mat, IntRows]:
        """Pre-activation map at ``step`` and its rows as integer forms (common positive denominator:
        the same signs everywhere; made primitive only when a split records one)."""
        pre = self.w_hh * hidden + self.input_maps[step]
        return pre, tuple(tuple(int(v) for v in row) for row in pre.numer_denom()[0].tolist())

    def hidden_after(self, pre: flint.fmpq_mat, active: Sequence[bool]) -> flint.fmpq_mat:
        hidden = flint.fmpq_mat(pre)
        for i, on in enumerate(active):
            if not on:
                for j in range(self.n):
                    hidden[i, j] = 0
        return hidden

    def resume_maps(self, bits: Pattern, step: int) -> tuple[flint.fmpq_mat, IntRows]:
        """The maps at ``step`` after the complete steps ``bits``."""
        hidden = flint.fmpq_mat(self.d, self.n)
        for t in range(step):
            pre, _ = self.step_maps(hidden, t)
            hidden = self.hidden_after(pre, bits[t])
        return self.step_maps(hidden, step)


def walk(model: Model, start: Unresolved | None = None, *, stop: Callable[[float], str | None] = lambda r: None,
         max_depth: int | None = None) -> Iterator[Event]:
    """The split tree below ``start`` (default: all of R^n), in preorder (see the module docstring).

    ``stop(reserve)`` is asked before every split and every leaf, ``reserve`` being the seconds the
    walk expects to need to close the cones still open (their count times a decaying maximum of
    the time per cone); once it returns a reason, every cone still open is yielded as
    :class:`Unresolved` (after deciding its implied neurons, so it names a neuron that crosses
    it). A KeyboardInterrupt inside the walk stops it the same way.
    ``max_depth``: cones below this many splits are yielded as :class:`Unresolved` too (the
    subtrees a parallel run hands out).
    """
    check_size(model.d, model.n, exact=True, what=model.name)  # before the d x n input maps are built
    maps = _Maps(model)
    n = maps.n
    if start is None:
        start = Unresolved((), 0, 0, ())
    step, neuron = start.step, start.neuron
    bits = tuple(start.pattern[:step])
    current = tuple(start.pattern[step]) if step < n and len(start.pattern) > step else ()
    pre, forms = maps.resume_maps(bits, step) if step < n else (None, None)
    stack = [_Frame(cone(start.constraints, n), None, step, neuron, bits, current, pre, forms, 0)]
    stopped = False
    per_cone = 0.0
    while stack:
        f = stack.pop()
        try:
            began = time.perf_counter()
            f.materialize()
            leaf_hidden = _advance(f, maps)
            per_cone = max(0.9 * per_cone, time.perf_counter() - began)
            if not stopped and stop(per_cone * (len(stack) + 1)):
                stopped = True
        except KeyboardInterrupt:
            stopped = True
            f.materialize()
            leaf_hidden = _advance(f, maps)
        if stopped or (leaf_hidden is None and max_depth is not None and f.depth >= max_depth):
            pattern = f.bits if f.step == n else f.bits + (f.current,)
            yield Unresolved(minimized_rows(f.poly), f.step, f.neuron, pattern)
            continue
        if leaf_hidden is not None:
            yield _piece(f, maps, leaf_hidden)
            continue
        form = primitive(f.forms[f.neuron])
        yield SplitEvent(form, f.step, f.neuron)
        positive = ppl.C_Polyhedron(f.poly)
        positive.add_constraint(half_space(form))
        neg = _Frame(f.poly, tuple(-v for v in form), f.step, f.neuron + 1, f.bits, f.current + (False,),
                     f.pre, f.forms, f.depth + 1)
        pos = _Frame(positive, None, f.step, f.neuron + 1, f.bits, f.current + (True,), f.pre, f.forms, f.depth + 1)
        stack.append(neg)
        stack.append(pos)


def _advance(f: _Frame, maps: _Maps) -> flint.fmpq_mat | None:
    """Decide the neurons whose sign the cone implies, up to the first that crosses it (``f``
    then names it) or to the end of the walk (returns the final hidden map)."""
    n, d = maps.n, maps.d
    while f.step < n:
        if f.neuron < d:
            for form in f.forms[f.neuron:]:  # one at a time: a crossing form usually shows in a few rays
                sign = sign_on_cone(form, f.rays, f.lines)
                if sign == 0:
                    return None
                f.current += (sign > 0,)
                f.neuron += 1
        hidden = maps.hidden_after(f.pre, f.current)
        f.bits, f.current, f.neuron = f.bits + (f.current,), (), 0
        f.step += 1
        if f.step == n:
            f.pre = f.forms = None
            return hidden
        f.pre, f.forms = maps.step_maps(hidden, f.step)
    return maps.hidden_after(maps.resume_maps(f.bits, n - 1)[0], f.bits[-1])  # resumed at a leaf


def _piece(f: _Frame, maps: _Maps, hidden: flint.fmpq_mat) -> Piece:
    numer, denom = (maps.w_oh * hidden).numer_denom()
    piece = Piece(
        pattern=f.bits,
        constraints=minimized_rows(f.poly),
        rays=f.rays,
        lines=f.lines,
        logits=tuple(tuple(int(v) for v in row) for row in numer.tolist()),
        denominator=int(denom),
        interior=interior_point(f.rays, f.lines),
    )
    piece.__dict__["polyhedron"] = f.poly  # already converted; the walk drops its frame
    return piece


# -- the whole tree in memory ---------------------------------------------------------------

def build_tree(events: Iterator[Event], pieces: list, unresolved: list) -> Node:
    """The nested split tree from a preorder event stream (pieces and unresolved cones are
    appended to the given lists, leaves refer to them by index). The pieces kept drop the walk's
    polyhedron (about 13 KB each at n = 5; :attr:`Piece.polyhedron` rebuilds it on demand)."""
    def node() -> Node:
        event = next(events)
        if isinstance(event, Piece):
            event.__dict__.pop("polyhedron", None)
            pieces.append(event)
            return Leaf(len(pieces) - 1)
        if isinstance(event, Unresolved):
            unresolved.append(event)
            return event
        positive = node()
        return Split(event.form, event.step, event.neuron, positive, node())
    return node()


def decompose(model, *, max_pieces: int | None = None, max_seconds: float | None = None,
              progress: bool = False) -> Decomposition:
    """Split R^n into the model's activation-pattern cones, exactly, keeping all of them.

    Budgets stop the walk cleanly: every unfinished cone is returned as :class:`Unresolved`
    (in the tree and in ``unresolved``), ``complete`` is False and ``stop_reason`` says why.
    """
    model = as_model(model)
    if max_pieces is not None and max_pieces < 0:
        raise VerifierError(f"max_pieces must be >= 0, got {max_pieces}")
    if max_seconds is not None and not max_seconds >= 0:
        raise VerifierError(f"max_seconds must be >= 0, got {max_seconds}")
    start = time.perf_counter()
    deadline = None if max_seconds is None else start + max_seconds
    pieces: list[Piece] = []
    unresolved: list[Unresolved] = []
    # tqdm's first bar costs ~30 ms even when disabled: make one only when asked
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(unit=" pieces", file=sys.stderr, desc="decompose")
    rule = StopRule(deadline=deadline, clock=time.perf_counter, max_pieces=max_pieces, pieces=lambda: len(pieces))

    def stop(reserve: float = 0.0) -> str | None:
        if bar is not None and len(pieces) > bar.n:
            bar.update(len(pieces) - bar.n)
        return rule(reserve)

    try:
        tree = build_tree(walk(model, stop=stop), pieces, unresolved)
    finally:
        if bar is not None:
            bar.update(len(pieces) - bar.n)
            bar.close()
    stop_reason = None
    if unresolved:
        why = rule.reason or "stopped"
        stop_reason = f"{why}: {len(pieces)} pieces resolved, {len(unresolved)} cones left unresolved"
    return Decomposition(model, tuple(pieces), tree, not unresolved, stop_reason, tuple(unresolved),
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
