"""Exact symmetries of a model, and the orbits of its pieces under them.

An input map ``A`` (a signed permutation of the n positions) is a symmetry with output
permutation ``tau`` when ``logits(A x)[r] = logits(x)[tau[r]]`` for every x. The candidates
are the sign flip ``x -> -x``, the reversal of the sequence, both, and the identity together
with a non-trivial relabelling of the hidden neurons (a "hidden relabelling").

**Hidden conjugations.** Let ``M = P D`` (a permutation of the neurons, ``M e_i = d_i e_pi(i)``,
with positive scales ``d_i``), so ``ReLU(M z) = M ReLU(z)``. For the sign flip (or identity)
``x -> s x``, the hidden states at ``s x`` are ``M h_t`` at every step when

    M W_hi = s W_hi   and   M W_hh = W_hh M,

because then ``W_hh M h_t + s W_hi x_t = M (W_hh h_t + W_hi x_t)``; and the logits are
``Q W_oh h_n`` when ``W_oh M = Q W_oh`` (``Q`` the permutation matrix of ``tau``). Entrywise:
``d_i w_i = s w_pi(i)``, ``d_i W_hh[i, k] = d_k W_hh[pi(i), pi(k)]`` and
``W_oh[tau(r), i] = d_i W_oh[r, pi(i)]``. Pre-activations map the same way, so the activation
pattern at ``s x`` is the pattern at x with neurons relabelled by ``pi``: such a symmetry maps
pieces onto pieces. Neurons never reached from the input are identically zero and are left out
of the equations. These equations are searched exhaustively over neuron permutations (pruned by
exact invariants: signs, the W_hh diagonal, the W_oh column up to scale) and checked in exact
rational arithmetic.

**Reversal.** No hidden map can realize a reversal: ``h_1`` sees only ``x_0``, while after
reversal it sees only ``x_{n-1}``. A reversal (with or without sign flip) is therefore checked
on the logits alone, exactly, piece by piece; it need not map pieces to pieces, so it does not
enter :func:`orbits`.

**Correctness.** ``A`` moves the target position too: a permutation moves it with the inputs,
and the sign flip turns the ``k``-th largest input into the ``k``-th smallest (for 2nd argmax:
the other input when n = 2, the same input, the median, when n = 3, a different order
statistic for n >= 4). Whether a symmetry maps the correct set onto
the correct set (up to a null set, with PyTorch's first-maximum tie rule) is decided exactly on
the pieces.

>>> from verifier.geometry.decomposition import decompose
>>> from verifier.models.model import Model
>>> dec = decompose(Model.from_arrays([[1], [-1]], [[-1, 1], [1, -1]], [[1, -1], [-1, 1]]))
>>> [(s.name, s.output_permutation, s.hidden_map is not None, s.preserves_correctness) for s in find_symmetries(dec)]
[('sign flip', (1, 0), True, True), ('reversal', (1, 0), False, True), ('sign flip + reversal', (0, 1), False, True)]
>>> orbits(dec, find_symmetries(dec))
((0, 3), (1, 2))
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np
import ppl

from ..coerce import as_decomposition, as_model
from ..geometry.cones import cone, half_space, is_full_dimensional
from ..geometry.decomposition import Decomposition
from ..errors import VerifierError
from ..exact import Matrix, integer_row
from ..models.model import Model
from .region_graph import pieces_meeting

IntMatrix = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class HiddenMap:
    """``M = P D``: the hidden state at the transformed input is ``M h``, i.e. neuron ``i``'s value,
    times ``scales[i] > 0``, moves to neuron ``permutation[i]``."""

    permutation: tuple[int, ...]
    scales: tuple[Fraction, ...]


@dataclass(frozen=True)
class Symmetry:
    """An exact symmetry: ``logits(A x)[r] = logits(x)[output_permutation[r]]`` for every x.

    ``input_map`` is ``A`` (an n x n signed permutation matrix); ``hidden_map`` is the hidden
    conjugation that realizes it (then it maps pieces onto pieces), or None when it holds for
    the logits only; ``preserves_correctness``: the correct set is mapped onto itself (up to a
    null set).
    """

    name: str
    input_map: IntMatrix
    output_permutation: tuple[int, ...]
    hidden_map: HiddenMap | None
    preserves_correctness: bool

    def apply(self, x: Sequence) -> tuple:
        """``A x``."""
        return _apply(self.input_map, x)


def _apply(matrix: Sequence[Sequence], x: Sequence) -> tuple:
    return tuple(sum((a * b for a, b in zip(row, x) if a), Fraction(0)) for row in matrix)


def _transpose(matrix: IntMatrix) -> IntMatrix:
    return tuple(zip(*matrix))


INPUT_MAPS = (("hidden relabelling", 1, False), ("sign flip", -1, False), ("reversal", 1, True),
              ("sign flip + reversal", -1, True))


def input_map(n: int, sign: int, reverse: bool) -> IntMatrix:
    """The signed permutation matrix of ``x -> sign * x`` (reversed in time if ``reverse``).

    >>> input_map(3, -1, True)
    ((0, 0, -1), (0, -1, 0), (-1, 0, 0))
    """
    return tuple(tuple(sign if j == (n - 1 - i if reverse else i) else 0 for j in range(n)) for i in range(n))


# -- hidden conjugations ---------------------------------------------------------------------

def live_neurons(model: Model) -> tuple[int, ...]:
    """Neurons reachable from the input through W_hh; the others are 0 at every step."""
    live = {i for i in range(model.d) if model.w_hi[i][0]}
    frontier = list(live)
    while frontier:
        k = frontier.pop()
        for i in range(model.d):
            if model.w_hh[i][k] and i not in live:
                live.add(i)
                frontier.append(i)
    return tuple(sorted(live))


def _sign(v) -> int:
    return (v > 0) - (v < 0)


def _invariant(model: Model, live: Sequence[int], i: int, sign: int) -> tuple:
    """What a conjugation preserves about neuron i (its image has the same, with ``sign`` = 1)."""
    others = [k for k in live if k != i]
    column = [row[i] for row in model.w_oh]
    top = max((abs(v) for v in column), default=0)
    return (sign * _sign(model.w_hi[i][0]), model.w_hh[i][i],
            tuple(sorted(_sign(model.w_hh[i][k]) for k in others)),
            tuple(sorted(_sign(model.w_hh[k][i]) for k in others)),
            tuple(sorted(v / top for v in column)) if top else ())


def _scales(model: Model, live: Sequence[int], perm: dict[int, int], sign: int) -> dict[int, Fraction] | None:
    """The scales forced by ``d_i w_i = s w_pi(i)`` and propagated along W_hh; None if not positive."""
    d = {i: sign * model.w_hi[perm[i]][0] / model.w_hi[i][0] for i in live if model.w_hi[i][0]}
    frontier = list(d)
    while frontier:
        k = frontier.pop()
        for i in live:
            if i not in d and model.w_hh[i][k]:
                d[i] = d[k] * model.w_hh[perm[i]][perm[k]] / model.w_hh[i][k]
                frontier.append(i)
    return d if all(v > 0 for v in d.values()) else None


def _output_permutation(model: Model, live: Sequence[int], perm: dict[int, int],
                        d: dict[int, Fraction]) -> tuple[int, ...] | None:
    """``tau`` with ``W_oh[tau(r), i] = d_i W_oh[r, pi(i)]`` on live neurons, if one exists."""
    rows: dict[tuple, list[int]] = {}
    for r, row in enumerate(model.w_oh):
        rows.setdefault(tuple(row[i] for i in live), []).append(r)
    tau = []
    for row in model.w_oh:
        free = rows.get(tuple(d[i] * row[perm[i]] for i in live))
        if not free:
            return None
        tau.append(free.pop(0))
    return tuple(tau)


def _conjugation_holds(model: Model, live: Sequence[int], perm: dict[int, int], d: dict[int, Fraction],
                       sign: int) -> bool:
    return (all(d[i] * model.w_hi[i][0] == sign * model.w_hi[perm[i]][0] for i in live)
            and all(d[i] * model.w_hh[i][k] == d[k] * model.w_hh[perm[i]][perm[k]] for i in live for k in live))


def hidden_conjugations(model: Model, sign: int) -> list[tuple[HiddenMap, tuple[int, ...]]]:
    """Every ``(M = P D, tau)`` satisfying the conjugation equations for ``x -> sign * x``, exactly.

    With ``sign = 1`` the identity is left out. Dead neurons are fixed with scale 1.
    """
    if sign not in (1, -1):
        raise VerifierError(f"sign must be 1 or -1, got {sign}")
    live = live_neurons(model)
    target = {j: _invariant(model, live, j, 1) for j in live}
    options = {i: [j for j in live if target[j] == _invariant(model, live, i, sign)] for i in live}
    found = []

    def extend(perm: dict[int, int]) -> None:
        if len(perm) == len(live):
            d = _scales(model, live, perm, sign)
            if d is None or not _conjugation_holds(model, live, perm, d, sign):
                return
            tau = _output_permutation(model, live, perm, d)
            if tau is None:
                return
            full = tuple(perm.get(i, i) for i in range(model.d))
            scales = tuple(d.get(i, Fraction(1)) for i in range(model.d))
            if sign == 1 and full == tuple(range(model.d)) and tau == tuple(range(model.n)):
                return
            found.append((HiddenMap(full, scales), tau))
            return
        i = live[len(perm)]
        used = set(perm.values())
        for j in options[i]:
            if j in used:
                continue
            if all(_sign(model.w_hh[i][k]) == _sign(model.w_hh[j][pk]) and
                   _sign(model.w_hh[k][i]) == _sign(model.w_hh[pk][j]) for k, pk in perm.items()):
                perm[i] = j
                extend(perm)
                del perm[i]

    extend({})
    return found


# -- checks on the pieces --------------------------------------------------------------------

def _require_complete(decomposition: Decomposition) -> None:
    if not decomposition.complete:
        raise VerifierError(f"symmetries need a complete decomposition ({decomposition.stop_reason})")


def _image_rows(rows: Sequence[Sequence[int]], a: IntMatrix) -> tuple[tuple[int, ...], ...]:
    """Rows of ``A C`` for ``C = {r . x >= 0}`` (A a signed permutation, so A^-1 = A^T): ``A r``."""
    return tuple(tuple(sum(a[i][j] * r[j] for j in range(len(r))) for i in range(len(a))) for r in rows)


def _mapped(logit_map: Matrix, a: IntMatrix) -> Matrix:
    """``L A``: the logit map composed with the input map."""
    return tuple(tuple(sum((row[k] * a[k][j] for k in range(len(a))), Fraction(0)) for j in range(len(a)))
                 for row in logit_map)


def _candidate_permutations(decomposition: Decomposition, a: IntMatrix, points: int) -> list[tuple[int, ...]]:
    """Output permutations not refuted by the exact logits at some pieces' interior points."""
    model, n = decomposition.model, decomposition.model.n
    allowed = [set(range(n)) for _ in range(n)]
    for piece in decomposition.pieces[:points]:
        here = _apply(piece.logit_map, piece.interior)
        there = model.logits_exact(_apply(a, piece.interior))
        for r in range(n):
            allowed[r] &= {j for j in range(n) if here[j] == there[r]}
            if not allowed[r]:
                return []
    return [p for p in itertools.product(*map(sorted, allowed)) if len(set(p)) == n]


def holds_on_logits(decomposition: Decomposition, a: IntMatrix, tau: Sequence[int]) -> bool:
    """Whether ``logits(A x)[r] = logits(x)[tau[r]]`` for every x, exactly.

    For each piece C and each piece C' meeting ``A C`` full-dimensionally, ``L' A`` must equal
    ``L`` with rows permuted by ``tau`` (two linear maps agreeing on an open set are equal).
    """
    _require_complete(decomposition)
    pieces = decomposition.pieces
    for piece in pieces:
        want = tuple(piece.logit_map[t] for t in tau)
        for j in pieces_meeting(decomposition, _image_rows(piece.constraints, a)):
            if _mapped(pieces[j].logit_map, a) != want:
                return False
    return True


def _order_cell_pairs(decomposition: Decomposition, a: IntMatrix):
    """Pairs (O, O') of order cells with ``O ∩ A^-1 O'`` full-dimensional, and its rows."""
    n, task = decomposition.model.n, decomposition.model.task
    cells = list(task.cells(n))
    at = _transpose(a)
    pairs = []
    for o in cells:
        for o2 in cells:
            rows = o.constraint_rows(n) + _image_rows(o2.constraint_rows(n), at)
            if is_full_dimensional(cone(rows, n), n):
                pairs.append((o.target, o2.target, rows))
    return pairs


def preserves_correctness(decomposition: Decomposition, a: IntMatrix, tau: Sequence[int]) -> bool:
    """Whether x is correct exactly when ``A x`` is, for almost every x (given the symmetry holds).

    On a full-dimensional cell ``piece ∩ O ∩ A^-1 O'`` the targets of x and of ``A x`` are fixed
    (t by the order cell O, t' by O'). Almost everywhere the winning logits form a class K of
    rows identical on the piece (ties of distinct rows are null), so x is predicted ``min K``
    and ``A x`` is predicted ``min tau^-1(K)``; each class winning on a full-dimensional part is
    compared exactly.
    """
    _require_complete(decomposition)
    n = decomposition.model.n
    inverse = {t: r for r, t in enumerate(tau)}
    pairs = _order_cell_pairs(decomposition, a)
    for piece in decomposition.pieces:
        logit_map = piece.logit_map
        classes: dict[tuple, list[int]] = {}
        for r, row in enumerate(logit_map):
            classes.setdefault(row, []).append(r)
        for t, t2, cell_rows in pairs:
            base = cone(piece.constraints + cell_rows, n)
            if not is_full_dimensional(base, n):
                continue
            for row, members in classes.items():
                if (min(members) == t) == (min(inverse[k] for k in members) == t2):
                    continue
                wins = ppl.C_Polyhedron(base)
                for other in classes:
                    if other != row:
                        wins.add_constraint(half_space(integer_row(x - y for x, y in zip(row, other))))
                if is_full_dimensional(wins, n):
                    return False
    return True


# -- the search ------------------------------------------------------------------------------

def find_symmetries(decomposition, *, points: int = 32) -> tuple[Symmetry, ...]:
    """Every exact symmetry among the sign flip, the reversal and both (see the module docstring),
    plus hidden relabellings with the identity input map.

    Sign flips are searched as hidden conjugations first; an input map with none is checked on
    the logits (candidate output permutations come from the exact logits at ``points`` pieces'
    interior points, then every piece is checked).
    """
    decomposition = as_decomposition(decomposition)
    _require_complete(decomposition)
    model, n = decomposition.model, decomposition.model.n
    if model.task.outputs_value:
        raise VerifierError(f"{model.name}: symmetries are searched for position tasks (they permute the"
                            f" logits); a {model.task.name} model has one output")
    found = []
    for name, sign, reverse in INPUT_MAPS:
        a = input_map(n, sign, reverse)
        conj = [] if reverse else hidden_conjugations(model, sign)
        for hidden, tau in conj:
            found.append(Symmetry(name, a, tau, hidden, preserves_correctness(decomposition, a, tau)))
        if not conj and (sign, reverse) != (1, False):
            for tau in _candidate_permutations(decomposition, a, points):
                if holds_on_logits(decomposition, a, tau):
                    found.append(Symmetry(name, a, tau, None, preserves_correctness(decomposition, a, tau)))
    return tuple(found)


# -- orbits ----------------------------------------------------------------------------------

def piece_image(decomposition: Decomposition, symmetry: Symmetry, k: int) -> int:
    """The piece ``A C_k`` equals, checked exactly: one piece meets ``A C_k`` full-dimensionally,
    its cone equals ``A C_k``, its pattern is relabelled by the hidden permutation and its logit
    map satisfies ``L' A = Q L``."""
    if symmetry.hidden_map is None:
        raise VerifierError(f"{symmetry.name} holds on the logits only and does not map pieces to pieces")
    pieces, n = decomposition.pieces, decomposition.model.n
    a, perm = symmetry.input_map, symmetry.hidden_map.permutation
    piece = pieces[k]
    image = _image_rows(piece.constraints, a)
    meeting = pieces_meeting(decomposition, image)
    if len(meeting) != 1:
        raise VerifierError(f"{symmetry.name} maps piece {k} onto {len(meeting)} pieces, not one")
    j = meeting[0]
    other = pieces[j]
    if not (cone(image, n) == cone(other.constraints, n)
            and all(other.pattern[t][perm[i]] == piece.pattern[t][i]
                    for t in range(n) for i in range(decomposition.model.d))
            and _mapped(other.logit_map, a) == tuple(piece.logit_map[t] for t in symmetry.output_permutation)):
        raise VerifierError(f"{symmetry.name} maps piece {k} onto part of piece {j} only")
    return j


def orbits(decomposition, symmetries: Sequence[Symmetry]) -> tuple[tuple[int, ...], ...]:
    """The pieces grouped into orbits of the group generated by the piece-mapping symmetries
    (those with a hidden map); every image is checked by :func:`piece_image`."""
    decomposition = as_decomposition(decomposition)
    _require_complete(decomposition)
    parent = list(range(len(decomposition.pieces)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for sym in symmetries:
        if sym.hidden_map is None:
            continue
        for k in range(len(decomposition.pieces)):
            parent[root(k)] = root(piece_image(decomposition, sym, k))
    groups: dict[int, list[int]] = {}
    for k in range(len(parent)):
        groups.setdefault(root(k), []).append(k)
    return tuple(sorted(tuple(g) for g in groups.values()))


# -- approximate (floats, for display only) ---------------------------------------------------

@dataclass(frozen=True)
class ApproximateConjugation:
    """APPROXIMATE, not a symmetry: the hidden conjugation for ``x -> sign * x`` that comes
    closest to holding, computed in floats. ``max_relative_deviation`` is the largest of
    ``max|M W_hi - s W_hi| / max|W_hi|``, ``max|M W_hh - W_hh M| / max|W_hh|`` and
    ``max|W_oh M - Q W_oh| / max|W_oh|``, with scales fixed by ``d_i = s w_pi(i) / w_i``
    (1 where ``w_i = 0``) and ``Q`` the best row matching."""

    sign: int
    permutation: tuple[int, ...]
    scales: tuple[float, ...]
    output_permutation: tuple[int, ...]
    max_relative_deviation: float


MAX_APPROXIMATE_NEURONS = 8


def nearest_conjugation(model, sign: int) -> ApproximateConjugation | None:
    """The closest hidden conjugation (brute force over the neuron permutations that respect the
    signs of W_hi; at most 8 neurons); None when no permutation respects them. For ``sign = 1``
    the identity is left out."""
    model = as_model(model)
    if sign not in (1, -1):
        raise VerifierError(f"sign must be 1 or -1, got {sign}")
    if model.d > MAX_APPROXIMATE_NEURONS:
        raise VerifierError(f"the approximate search is brute force over permutations: at most "
                            f"{MAX_APPROXIMATE_NEURONS} neurons, this model has {model.d}")
    w_hi, w_hh, w_oh = model.arrays
    signs = np.sign(w_hi)
    scale = [max(float(np.abs(a).max()), np.finfo(float).tiny) for a in (w_hi, w_hh, w_oh)]
    best = None
    for perm in itertools.permutations(range(model.d)):
        p = np.array(perm)
        if not np.array_equal(signs[p], sign * signs) or (sign == 1 and perm == tuple(range(model.d))):
            continue
        d = np.where(w_hi != 0, sign * w_hi[p] / np.where(w_hi != 0, w_hi, 1), 1.0)
        m = np.zeros((model.d, model.d))
        m[p, np.arange(model.d)] = d
        mapped = w_oh @ m
        cost = np.abs(mapped[:, None, :] - w_oh[None, :, :]).max(axis=2)
        from scipy.optimize import linear_sum_assignment  # only the approximate (float) search needs it

        rows, tau = linear_sum_assignment(cost)
        deviation = max(np.abs(m @ w_hi - sign * w_hi).max() / scale[0],
                        np.abs(m @ w_hh - w_hh @ m).max() / scale[1],
                        cost[rows, tau].max() / scale[2])
        if best is None or deviation < best.max_relative_deviation:
            best = ApproximateConjugation(sign, perm, tuple(map(float, d)), tuple(int(t) for t in tau),
                                          float(deviation))
    return best
