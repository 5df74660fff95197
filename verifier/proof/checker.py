"""The independent checker of proof certificates (the format is defined here).

A certificate (``format: "verifier-certificate"``) claims a model's accuracy on standard
Gaussian inputs. This module re-proves every claim from the weights up and trusts only exact
arithmetic (:mod:`verifier.exact`), pplpy's exact constraint/generator conversion (through the
thin wrappers of :mod:`verifier.geometry.cones`), the measure enclosures of :mod:`verifier.measure`, the
task definitions (:mod:`verifier.models.tasks`) and the weight parser (:mod:`verifier.models.weightfile`).
It shares no code with the decomposition, outcome or certify modules. What it proves:

1. the weights hash to the stated sha256 and are written canonically;
2. the task's order cells are all of them (so they cover R^n);
3. the split tree covers R^n: every node is reached once from the root, and each missing child
   (``null``) is a side of its split with empty interior;
4. on each leaf's cone (the intersection of the half-spaces on its tree path, which must equal
   the leaf's stated constraints) every neuron has the sign its activation pattern says, shown on
   the cone's generators (``f >= 0`` on a cone iff ``f . r >= 0`` on its rays and ``f . l = 0`` on
   its lines); each split's form is the pre-activation of the neuron it names and its sides agree
   with the pattern; the logit map is ``W_oh H_n`` derived from the pattern;
5. per leaf and order cell, the correct and error cones follow from the logit map and the tie rule
   (the first maximal logit wins), in the canonical order below; every measure interval and the
   totals (exact rational sums) are recomputed. A cone whose stored method is ``not-integrated``
   is recomputed as the bound ``[0, 1/2]``; each rate is then bounded both by its own cones and by
   the complement of the other side's (:func:`rate_bounds`; version 2 of the format).

A median model (one output, AlgZoo's ScalarRNN) has a certificate of the same shape whose
claim is its mean squared error: step 2 checks the median cells (which inputs are the middle
ones), and step 5 cuts each leaf cone by every cell in order, re-derives the error form ``c =
(output map) - (the cell's median form)``, and recomputes each cone's measure and
``E[(c . x)^2 1_cone]`` (:mod:`verifier.measure.moments`); the totals (MSE, RMSE, and the bound on
cones a budget left undecided) are recomputed from those.

Canonical outcome cones of a leaf cone ``P``, cell ``C`` with target ``s``, logit rows ``L``: if
some ``j < s`` has ``L_j = L_s`` as rows, all of ``P & C`` is an error (ties go to ``j``, the first
such). Otherwise, for ``j != s`` ascending with ``D = L_s - L_j`` not zero: the part of the current
cone with ``D . x <= 0`` loses to ``j`` (an error cone when full-dimensional), and the current cone
becomes its part with ``D . x >= 0``; what remains is the correct cone. Only full-dimensional cones
are listed; every cone is given by its minimized primitive integer rows (``r . x >= 0``), sorted.

On the perfect n = 2 model's piece ``x0 >= 0, x0 >= x1`` (pattern 10, 01), logit 1 is ``x0 - x1``:

>>> perfect = Model.from_arrays([[1], [-1]], [[-1, 1], [1, -1]], [[1, -1], [-1, 1]])
>>> [[str(v) for v in row] for row in piece_maps(perfect, [(True, False), (False, True)])[1]]
[['-1', '1'], ['1', '-1']]
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Sequence

from ..geometry.cones import cone, generators, is_full_dimensional, minimized_rows
from ..errors import VerifierError
from ..exact import Matrix, decimal_bound, exact_rational, integer_row, rational_str
from ..measure import Measure, cone_measure
from ..measure.solid_angle import route_options
from ..measure.moments import Expectation, cone_faces, quadratic_moment, square_root, sum_expectations, widened
from ..models.model import Model, check_size
from ..models.tasks import MedianCell, get_task, median_cells
from ..models.weightfile import model_from_json, model_to_json, read_limited, strict_json

FORMAT = "verifier-certificate"
VERSION = 2  # 2: rates from both sides (rate_bounds), not-integrated cones
MAX_FILE_BYTES = 256 * 2**20
MAX_FAILURES = 1000  # listed in a report; more are counted as one "truncated" entry
DECIMAL_DIGITS = 20
SEMANTICS = {
    "network": "h_0 = 0; h_{t+1} = ReLU(W_hh h_t + W_hi x_t) for t = 0..n-1; logits = W_oh h_n",
    "input_law": "standard Gaussian on R^n",
    "tie_rule": "first maximal logit",
    "correct_iff": "the predicted position is the target position",
    "arithmetic": "exact rationals (the exact values of the stored weights)",
}
# A median model (one output) is scored by its squared error instead of a tie rule and a target.
MEDIAN_SEMANTICS = {
    "network": "h_0 = 0; h_{t+1} = ReLU(W_hh h_t + W_hi x_t) for t = 0..n-1; y = W_oh h_n (one output)",
    "input_law": "standard Gaussian on R^n",
    "score": "mean squared error E[(y(x) - median(x))^2]; for even n the median is the mean of the middle two",
    "arithmetic": "exact rationals (the exact values of the stored weights)",
}
MEDIAN_OUTCOME_KEYS = ("cell", "constraints", "form", "squared_error", "measure")
TOP_KEYS = ("format", "version", "semantics", "model", "tree", "pieces", "unresolved", "totals", "meta")
MODEL_KEYS = ("format", "version", "task", "precision", "W_hi", "W_hh", "W_oh", "sha256_exact")
PIECE_KEYS = ("pattern", "constraints", "logit_map", "outcomes")
OUTCOME_KEYS = ("cell", "correct", "loses_to", "constraints", "measure")
UNRESOLVED_KEYS = ("step", "neuron", "pattern", "constraints", "measure")

# Kinds of failure, each naming the part of the proof that did not hold.
STRUCTURE, WEIGHTS, SEMANTIC, TREE, PATTERN, CONSTRAINTS, LOGITS, OUTCOMES, MEASURE, TOTALS = (
    "structure", "weights", "semantics", "tree", "pattern", "constraints", "logit map", "outcomes",
    "measure", "totals")


# -- the format's rendering of exact objects (the writer uses these too) -----------------

def pattern_text(bits: Sequence[Sequence[bool]]) -> list[str]:
    """An activation pattern as one string of 0/1 per step (``"10"``: neuron 0 active, 1 inactive)."""
    return ["".join("1" if b else "0" for b in step) for step in bits]


def interval_json(lo: Fraction, hi: Fraction) -> dict:
    """Exact endpoints as ``"p/q"`` plus outward-rounded decimals for people."""
    return {"lo": rational_str(lo), "hi": rational_str(hi),
            "decimal": [decimal_bound(lo, DECIMAL_DIGITS, up=False), decimal_bound(hi, DECIMAL_DIGITS, up=True)]}


def measure_json(m: Measure) -> dict:
    """A cone's Gaussian measure; estimates (not proofs) also carry their estimate and stderr."""
    out = {**interval_json(m.lo, m.hi), "certified": m.certified, "method": m.method}
    if not m.certified:
        out["estimate"] = m.estimate
        out["stderr"] = m.stderr
    return out


def cell_json(target: int, above: Sequence[int]) -> list:
    return [target, list(above)]


def median_cell_json(cell: MedianCell) -> list:
    """A median cell as ``[middle, above]`` (the middle inputs, and the inputs above them)."""
    return [list(cell.middle), list(cell.above)]


def expectation_json(e: Expectation) -> dict:
    """An expectation's interval; estimates (not proofs) also carry their estimate and stderr."""
    out = {**interval_json(e.lo, e.hi), "certified": e.certified}
    if not e.certified:
        out["estimate"] = e.estimate
        out["stderr"] = e.stderr
    return out


def output_gain_squared(model: Model) -> Fraction:
    """``K^2`` with ``|y(x)| <= K |x|``: ``|W_oh|^2 |W_hi|^2 sum_{s<n} |W_hh|^(2s)`` (Frobenius norms)."""
    def frobenius(matrix):
        return sum((v * v for row in matrix for v in row), Fraction(0))
    recurrent = frobenius(model.w_hh)
    return frobenius(model.w_oh) * frobenius(model.w_hi) * sum((recurrent ** s for s in range(model.n)), Fraction(0))


def median_mse(total: Expectation, masses: Sums, unresolved: int, model: Model) -> tuple[Expectation, Fraction, Fraction]:
    """The MSE implied by the decided cones' squared-error integrals (their sum ``total``), with the
    bound on the undecided mass and the tail bound that widens the MSE's upper end. Cones a budget
    left undecided have mass at most ``1 - (the decided cones' mass)``, and on them the squared
    error is at most ``2 (K^2 + 1) |x|^2`` (with ``E[|x|^2 1_U] = n gamma(U)`` on a cone)."""
    undecided = max(Fraction(1) - masses.lo, Fraction(0)) if unresolved else Fraction(0)
    tail = 2 * (output_gain_squared(model) + 1) * model.n * undecided
    return widened(total, tail, masses.certified), undecided, tail


def median_totals_json(total: Expectation, masses: Sums, unresolved: int, pieces: int, model: Model) -> dict:
    """The totals of a median certificate: MSE and RMSE (:func:`median_mse`), decided mass, counts."""
    mse, undecided, tail = median_mse(total, masses, unresolved, model)
    return {
        "mse": expectation_json(mse), "rmse": expectation_json(square_root(mse)),
        "decided_mass": interval_json(masses.lo, masses.hi), "undecided_mass_bound": rational_str(undecided),
        "tail_bound": rational_str(tail), "certified": mse.certified, "complete": not unresolved,
        "pieces": pieces, "cones": masses.count, "unresolved_cones": unresolved,
    }


@dataclass(frozen=True)
class Sums:
    """Exact sums of measure intervals: ``lo``, ``hi``, how many, and whether all are certified."""

    lo: Fraction = Fraction(0)
    hi: Fraction = Fraction(0)
    count: int = 0
    certified: bool = True

    @classmethod
    def of(cls, measures: Sequence[Measure]) -> Sums:
        return cls(sum((m.lo for m in measures), Fraction(0)), sum((m.hi for m in measures), Fraction(0)),
                   len(measures), all(m.certified for m in measures))

    @classmethod
    def of_total(cls, total) -> Sums:
        """From a running sum (``lo``, ``hi``, ``count``, ``certified``), e.g. a certify run's."""
        return cls(total.lo, total.hi, total.count, total.certified)


def rate_bounds(own: Sums | Measure, other: Sums | Measure, slack: Fraction) -> tuple[Fraction, Fraction]:
    """Bounds on a rate (accuracy, or error rate) from its own cones' mass, the other side's mass and
    the unresolved mass ``slack``: the cones and the unresolved part cover R^n, so the rate is both
    ``own + (part of slack)`` and ``1 - other - (part of slack)``; each gives an interval, and the
    rate lies in both (in the first alone when the other side is only estimated). (With ``certify --integrate errors`` the correct cones are only bounded, and
    the accuracy comes from the second.)

    >>> rate_bounds(Sums(Fraction(0), Fraction(1, 2)), Sums(Fraction(1, 4), Fraction(1, 4)), Fraction(0))
    (Fraction(3, 4), Fraction(3, 4))
    """
    lo, hi = own.lo, min(own.hi + slack, Fraction(1))
    if other.certified:  # an estimate of the other side (+-4 standard errors) does not bound this one
        lo, hi = max(lo, 1 - other.hi - slack), min(hi, 1 - other.lo)
    return lo, max(lo, hi)  # hi < lo only if some enclosure is wrong: the tiling checks report that


def totals_json(correct: Sums, errors: Sums, unresolved: Sums, pieces: int) -> dict:
    """The totals implied by the per-cone measures (given as their exact sums): each rate from
    :func:`rate_bounds`, the unresolved mass widening it."""
    slack = unresolved.hi
    return {
        "accuracy": interval_json(*rate_bounds(correct, errors, slack)),
        "error_rate": interval_json(*rate_bounds(errors, correct, slack)),
        "correct_mass": interval_json(correct.lo, correct.hi),
        "error_mass": interval_json(errors.lo, errors.hi),
        "unresolved_mass": interval_json(unresolved.lo, slack),
        "certified": correct.certified and errors.certified and unresolved.certified,
        "complete": not unresolved.count,
        "pieces": pieces, "outcome_cones": correct.count + errors.count, "unresolved_cones": unresolved.count,
    }


# -- independent derivations ---------------------------------------------------------------

def piece_maps(model: Model, pattern: Sequence[Sequence[bool]]) -> tuple[list[Matrix], Matrix | None]:
    """Pre-activation maps and logit map implied by an activation pattern (exact).

    ``pattern[t][i]`` says neuron ``i`` is active at step ``t``; the last step may be partial.
    Returns the d x n pre-activation maps ``P_t`` (pre-activations = ``P_t x``) for every step whose
    earlier steps are complete, and the n x n logit map ``W_oh H_n`` when all n steps are complete
    (else None).
    """
    d, n = model.d, model.n
    zero = Fraction(0)
    hidden = [[zero] * n for _ in range(d)]
    maps: list[Matrix] = []
    for t in range(n):
        pre = tuple(
            tuple(sum((w * hidden[k][j] for k, w in enumerate(model.w_hh[i])), zero)
                  + (model.w_hi[i][0] if j == t else zero) for j in range(n))
            for i in range(d))
        maps.append(pre)
        if t >= len(pattern) or len(pattern[t]) < d:
            return maps, None
        hidden = [list(pre[i]) if pattern[t][i] else [zero] * n for i in range(d)]
    logits = tuple(tuple(sum((w * hidden[k][j] for k, w in enumerate(row)), zero) for j in range(n))
                   for row in model.w_oh)
    return maps, logits


def _values(form: Sequence, vectors) -> list:
    return [sum(f * v for f, v in zip(form, vec)) for vec in vectors]


def sign_holds(form: Sequence, active: bool, rays, lines) -> bool:
    """Whether a neuron with pre-activation ``form . x`` has the stated state on a cone (generators).

    Active: ``form >= 0`` on the cone and ``form`` is not the zero form; inactive: ``form <= 0`` on
    the cone (a zero pre-activation is recorded inactive, so every pattern bit is determined).

    >>> sign_holds((1, 0), True, [(1, 0), (1, 1)], []), sign_holds((1, -1), True, [(1, 0), (1, 1)], [])
    (True, True)
    >>> sign_holds((0, 1), True, [(1, 0)], [(0, 1)]), sign_holds((0, 0), False, [(1, 0)], [(0, 1)])
    (False, True)
    """
    if any(_values(form, lines)):
        return False
    values = _values(form, rays)
    return any(form) and all(v >= 0 for v in values) if active else all(v <= 0 for v in values)


def crosses(form: Sequence, rays, lines) -> bool:
    """Whether a linear form takes both signs on a cone (so a split by it has two full sides).

    >>> crosses((1, -1), [(1, 0), (0, 1)], []), crosses((1, 1), [(1, 0), (0, 1)], [])
    (True, False)
    """
    values = _values(form, rays)
    return any(_values(form, lines)) or (any(v > 0 for v in values) and any(v < 0 for v in values))


def order_cells(task_above: int, n: int) -> list[tuple[int, tuple[int, ...]]]:
    """Every ``(target, above)`` with ``len(above) == task_above``: each x with distinct coordinates
    lies in the cell of its element of rank ``task_above`` (from the top), so these cover R^n."""
    return [(s, above) for s in range(n)
            for above in itertools.combinations([i for i in range(n) if i != s], task_above)]


def cell_rows(target: int, above: Sequence[int], n: int) -> tuple[tuple[int, ...], ...]:
    """Rows of ``x[a] >= x[target]`` (a above) and ``x[target] >= x[b]`` (b below)."""
    def unit(i, j):
        return tuple(1 if k == i else -1 if k == j else 0 for k in range(n))
    return tuple(unit(a, target) if a in above else unit(target, a) for a in range(n) if a != target)


def canonical_rows(rows, n: int) -> tuple[tuple[int, ...], ...]:
    return minimized_rows(cone(rows, n))


def outcome_cones(leaf_rows, logit_map: Matrix, n: int, task_above: int) -> list[tuple]:
    """The canonical ``(cell, correct, loses_to, rows)`` of a leaf cone (see the module docstring)."""
    out = []
    for target, above in order_cells(task_above, n):
        current = tuple(leaf_rows) + cell_rows(target, above, n)
        if not is_full_dimensional(cone(current, n), n):
            continue
        cell = (target, above)
        diffs = {j: [a - b for a, b in zip(logit_map[target], logit_map[j])] for j in range(n) if j != target}
        tie = next((j for j in range(target) if not any(diffs[j])), None)
        if tie is not None:
            out.append((cell, False, tie, canonical_rows(current, n)))
            continue
        for j, diff in diffs.items():
            if not any(diff):
                continue
            row = integer_row(diff)
            losing = cone(current + (tuple(-v for v in row),), n)
            if is_full_dimensional(losing, n):
                out.append((cell, False, j, minimized_rows(losing)))
            current = current + (row,)
            if not is_full_dimensional(cone(current, n), n):
                break
        else:
            out.append((cell, True, None, canonical_rows(current, n)))
    return out


# -- the report ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Failure:
    kind: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind} at {self.where}: {self.message}" if self.where else f"{self.kind}: {self.message}"


@dataclass(frozen=True)
class CheckReport:
    """The checker's verdict: ``valid`` iff no failure; ``summary`` says what was proved."""

    valid: bool
    failures: tuple[Failure, ...]
    summary: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def kinds(self) -> set[str]:
        return {f.kind for f in self.failures}

    def as_dict(self) -> dict:
        return {"valid": self.valid, "failures": [{"kind": f.kind, "where": f.where, "message": f.message}
                                                 for f in self.failures],
                "summary": self.summary, "seconds": self.seconds}

    def text(self, limit: int = 20) -> str:
        s = self.summary
        if self.valid and "mse" in s:
            status = "certified" if s["certified"] else "NOT certified: some measures are estimates"
            mse, rmse = s["mse"], s["rmse"]
            return "\n".join([
                f"VALID certificate for {s['task']} model d={s['d']}, n={s['n']} (sha256 {s['sha256']})",
                f"proved: MSE in [{mse['decimal'][0]}, {mse['decimal'][1]}], RMSE in "
                f"[{rmse['decimal'][0]}, {rmse['decimal'][1]}] ({status})",
                f"{s['pieces']} pieces, {s['cones']} squared-error cones, {s['unresolved_cones']} unresolved cones;"
                f" checked in {self.seconds:.2f} s"])
        if self.valid:
            status = "certified" if s["certified"] else "NOT certified: some measures are estimates"
            acc, err = s["accuracy"], s["error_rate"]
            lines = [
                f"VALID certificate for {s['task']} model d={s['d']}, n={s['n']} (sha256 {s['sha256']})",
                f"proved: accuracy in [{acc['decimal'][0]}, {acc['decimal'][1]}], error rate in "
                f"[{err['decimal'][0]}, {err['decimal'][1]}] ({status})",
                f"{s['pieces']} pieces, {s['correct_cones']} correct and {s['error_cones']} error cones, "
                f"{s['unresolved_cones']} unresolved cones; checked in {self.seconds:.2f} s",
            ]
            return "\n".join(lines)
        lines = [f"INVALID certificate: {len(self.failures)} failure(s)"]
        lines += [f"  {f}" for f in self.failures[:limit]]
        if len(self.failures) > limit:
            lines.append(f"  ... and {len(self.failures) - limit} more")
        return "\n".join(lines)


# -- reading ---------------------------------------------------------------------------------

class _Malformed(Exception):
    def __init__(self, where: str, message: str):
        super().__init__(message)
        self.where, self.message = where, message


def _as_json(value):
    """A JSON value as the checker reads it from a file (floats as Decimals)."""
    return strict_json(json.dumps(value, allow_nan=False))


def _object(value, keys: Sequence[str], where: str) -> dict:
    if not isinstance(value, dict):
        raise _Malformed(where, f"expected an object with keys {', '.join(keys)}")
    missing = [k for k in keys if k not in value]
    extra = [k for k in value if k not in keys]
    if missing or extra:
        raise _Malformed(where, "; ".join(filter(None, [
            missing and f"missing keys {', '.join(missing)}", extra and f"unexpected keys {', '.join(extra)}"])))
    return value


def _int(value, where: str, lo: int = 0, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        bound = f"an integer in [{lo}, {hi}]" if hi is not None else f"an integer >= {lo}"
        raise _Malformed(where, f"expected {bound}, found {value!r}")
    return value


def _list(value, where: str, length: int | None = None) -> list:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        raise _Malformed(where, "expected a list" + (f" of length {length}" if length is not None else ""))
    return value


def _rows(value, n: int, where: str) -> tuple[tuple[int, ...], ...]:
    rows = []
    for k, row in enumerate(_list(value, where)):
        row = _list(row, f"{where}[{k}]", n)
        if any(isinstance(v, bool) or not isinstance(v, int) for v in row):
            raise _Malformed(f"{where}[{k}]", "expected integer coefficients")
        rows.append(tuple(row))
    return tuple(rows)


def _rational(value, where: str) -> Fraction:
    try:
        q = exact_rational(value) if isinstance(value, str) else None
    except ValueError:
        q = None
    if q is None or rational_str(q) != value:
        raise _Malformed(where, f"expected a rational as canonical text 'p/q', found {value!r}")
    return q


def _matrix(value, n: int, where: str, rows: int | None = None) -> Matrix:
    """A ``rows`` x n (default n x n) matrix of canonical rational strings."""
    return tuple(tuple(_rational(x, f"{where}[{i}][{j}]") for j, x in enumerate(_list(row, f"{where}[{i}]", n)))
                 for i, row in enumerate(_list(value, where, n if rows is None else rows)))


def _pattern(value, d: int, where: str, bits: int | None = None) -> list[tuple[bool, ...]]:
    """A pattern: strings of 0/1, all of length d except a shorter non-empty last one (if ``bits``)."""
    steps = _list(value, where)
    out = []
    for t, s in enumerate(steps):
        full = bits is None or t < len(steps) - 1
        if not isinstance(s, str) or set(s) - {"0", "1"} or (len(s) != d if full else not 0 < len(s) <= d):
            raise _Malformed(f"{where}[{t}]", f"expected a string of {d} bits 0/1, found {s!r}")
        out.append(tuple(c == "1" for c in s))
    total = sum(map(len, out))
    if bits is not None and total != bits:
        raise _Malformed(where, f"holds {total} bits, the stated step and neuron need {bits}")
    return out


# -- the checker -----------------------------------------------------------------------------

def _same(stored, expected) -> bool:
    """JSON equality that also tells ``true`` from ``1`` (both sides as read from a file)."""
    if type(stored) is not type(expected):
        return False
    if isinstance(expected, list):
        return len(stored) == len(expected) and all(map(_same, stored, expected))
    if isinstance(expected, dict):
        return stored.keys() == expected.keys() and all(_same(stored[k], expected[k]) for k in expected)
    return stored == expected


@dataclass(frozen=True)
class _Path:
    """The tree path to a leaf or unresolved node: its half-space rows and the splits it takes."""

    rows: tuple[tuple[int, ...], ...] = ()
    splits: tuple[tuple[int, tuple[int, ...], int, int, bool], ...] = ()   # (node, form, step, neuron, side)


_MISSING = object()


class _Checker:
    def __init__(self, doc):
        self.doc = doc
        self.failures: list[Failure] = []
        self.model: Model | None = None
        self.task_above: int | None = None
        self.leaf_paths: dict[int, _Path] = {}
        self.splits_checked: set[int] = set()
        self.unresolved_paths: dict[int, _Path] = {}
        self.correct: list[Measure] = []
        self.errors: list[Measure] = []
        self.unresolved: list[Measure] = []
        self.contributions: list[Expectation] = []   # median models: E[(y - median)^2 1_cone] per cone
        self.masses: list[Measure] = []

    def fail(self, kind: str, where: str, message: str) -> None:
        """Record a failure; past MAX_FAILURES only count them, and cut long messages (bounded output)."""
        if len(self.failures) < MAX_FAILURES:
            self.failures.append(Failure(kind, where[:200], message if len(message) <= 500 else message[:497] + "..."))
        elif len(self.failures) == MAX_FAILURES:
            self.failures.append(Failure("truncated", "", f"more failures not listed (at most {MAX_FAILURES})"))

    def attempt(self, kind: str, check, *args):
        """Run one check; a malformed field becomes a failure of this kind (and returns _MISSING)."""
        try:
            return check(*args)
        except _Malformed as e:
            self.fail(kind, e.where, e.message)
            return _MISSING

    def run(self) -> None:
        doc = self.attempt(STRUCTURE, self.check_top)
        if doc is _MISSING:
            return
        self.model = self.attempt(WEIGHTS, self.check_model, doc["model"])
        if self.model is _MISSING:
            return
        self.task_above = self.attempt(SEMANTIC, self.check_semantics, doc["semantics"])
        pieces = self.attempt(STRUCTURE, _list, doc["pieces"], "pieces")
        unresolved = self.attempt(STRUCTURE, _list, doc["unresolved"], "unresolved")
        if self.failures:
            return
        tree = self.attempt(TREE, self.check_tree, doc["tree"], len(pieces), len(unresolved))
        if tree is _MISSING:  # without a sound tree there are no cones to check the pieces against
            return
        for k, piece in enumerate(pieces):
            self.check_piece(k, piece)
        for k, node in enumerate(unresolved):
            self.check_unresolved(k, node)
        self.attempt(TOTALS, self.check_totals, doc["totals"], len(pieces))

    def check_top(self) -> dict:
        doc = _object(self.doc, TOP_KEYS, "top level")
        if not _same(doc["format"], FORMAT) or not _same(doc["version"], VERSION):
            raise _Malformed("format", f"expected format {FORMAT!r} version {VERSION}, found "
                                       f"{doc['format']!r} version {doc['version']!r}")
        if not isinstance(doc["meta"], dict):
            raise _Malformed("meta", "expected an object")
        return doc

    # -- model and semantics --
    def check_model(self, section) -> Model:
        keys = MODEL_KEYS + (("seq_len",) if isinstance(section, dict) and "seq_len" in section else ())
        section = _object(section, keys, "model")
        for key in ("task", "precision"):
            if not isinstance(section[key], str):
                raise _Malformed(f"model.{key}", "expected a string")
        try:
            model = model_from_json(section, "certificate")
        except VerifierError as e:
            raise _Malformed("model", f"weights do not parse: {e}") from None
        try:
            check_size(model.d, model.n, exact=True, what="the certificate's model")
        except VerifierError as e:
            raise _Malformed("model", str(e)) from None
        canonical = model_to_json(model)
        for key in keys:
            if key != "sha256_exact" and not _same(section[key], canonical[key]):
                raise _Malformed(f"model.{key}", "not the canonical lossless text of the weights "
                                                 f"(expected {json.dumps(canonical[key])[:80]})")
        if section["sha256_exact"] != model.content_hash:
            raise _Malformed("model.sha256_exact", f"the weights hash to {model.content_hash}, "
                                                   f"not {section['sha256_exact']!r}")
        return model

    def check_semantics(self, section) -> int | None:
        if self.model.task.outputs_value:
            return self.check_median_semantics(section)
        section = _object(section, (*SEMANTICS, "task", "target_above", "cells"), "semantics")
        for key, text in SEMANTICS.items():
            if section[key] != text:
                raise _Malformed(f"semantics.{key}", f"expected {text!r}")
        task = self.model.task
        if section["task"] != task.name:
            raise _Malformed("semantics.task", f"the model's task is {task.name!r}")
        above = get_task(task.name).above(self.model.n)
        if not _same(section["target_above"], above):
            raise _Malformed("semantics.target_above", f"task {task.name} has {above} inputs above the target")
        expected = [cell_json(s, a) for s, a in order_cells(above, self.model.n)]
        if not _same(section["cells"], expected):
            raise _Malformed("semantics.cells", f"expected all {len(expected)} order cells {expected}")
        return above

    def check_median_semantics(self, section) -> None:
        section = _object(section, (*MEDIAN_SEMANTICS, "task", "cells"), "semantics")
        for key, text in MEDIAN_SEMANTICS.items():
            if section[key] != text:
                raise _Malformed(f"semantics.{key}", f"expected {text!r}")
        if section["task"] != self.model.task.name:
            raise _Malformed("semantics.task", f"the model's task is {self.model.task.name!r}")
        expected = [median_cell_json(c) for c in median_cells(self.model.n)]
        if not _same(section["cells"], expected):
            raise _Malformed("semantics.cells", f"expected all {len(expected)} median cells {expected}")
        return None

    # -- the split tree --
    def check_tree(self, nodes, pieces: int, unresolved: int) -> None:
        nodes = _list(nodes, "tree")
        if not nodes:
            raise _Malformed("tree", "empty tree")
        seen = set()
        stack = [(0, _Path())]
        while stack:
            index, path = stack.pop()
            where = f"tree[{index}]"
            if index in seen:
                raise _Malformed(where, "node is reached twice (the tree must be a tree)")
            seen.add(index)
            node = nodes[index]
            for key, paths, count in (("leaf", self.leaf_paths, pieces), ("unresolved", self.unresolved_paths, unresolved)):
                if isinstance(node, dict) and key in node:
                    k = _int(_object(node, (key,), where)[key], f"{where}.{key}", 0, count - 1)
                    if k in paths:
                        raise _Malformed(where, f"{key} {k} is named by two nodes")
                    paths[k] = path
                    break
            else:
                self.check_split(nodes, index, path, stack)
        if len(seen) != len(nodes):
            raise _Malformed("tree", f"{len(nodes) - len(seen)} node(s) are not reachable from the root")
        for key, paths, count in (("pieces", self.leaf_paths, pieces), ("unresolved", self.unresolved_paths, unresolved)):
            if len(paths) != count:
                raise _Malformed("tree", f"the tree names {len(paths)} of the {count} {key}")

    def check_split(self, nodes: list, index: int, path: _Path, stack: list) -> None:
        n, d = self.model.n, self.model.d
        where = f"tree[{index}]"
        node = _object(nodes[index], ("split", "step", "neuron", "positive", "negative"), where)
        (form,) = _rows([node["split"]], n, f"{where}.split")
        step = _int(node["step"], f"{where}.step", 0, n - 1)
        neuron = _int(node["neuron"], f"{where}.neuron", 0, d - 1)
        for side, key in ((True, "positive"), (False, "negative")):
            row = form if side else tuple(-v for v in form)
            child = node[key]
            if child is None:
                if is_full_dimensional(cone(path.rows + (row,), n), n):
                    raise _Malformed(f"{where}.{key}", "a side marked empty (null) has an interior: "
                                                       "the tree would not cover R^n")
                continue
            _int(child, f"{where}.{key}", 1, len(nodes) - 1)
            stack.append((child, _Path(path.rows + (row,), path.splits + ((index, form, step, neuron, side),))))

    # -- leaves and unresolved cones --
    def check_pattern(self, where: str, path: _Path, pattern, rays, lines) -> Matrix | None:
        """Sign proofs for every decided bit, and agreement of the path's splits with the pattern."""
        maps, logits = piece_maps(self.model, pattern)
        for t, step_bits in enumerate(pattern):
            for i, active in enumerate(step_bits):
                form = integer_row(maps[t][i])
                if not sign_holds(form, active, rays, lines):
                    state = "active (>= 0, not identically 0)" if active else "inactive (<= 0)"
                    self.fail(PATTERN, f"{where}.pattern[{t}][{i}]",
                              f"the cone does not prove neuron {i} {state} at step {t} (pre-activation {list(form)})")
        for depth, (node, form, t, i, side) in enumerate(path.splits):
            if t >= len(pattern) or i >= len(pattern[t]):
                self.fail(TREE, f"tree[{node}]", f"splits on neuron {i} at step {t}, beyond the decided pattern")
                continue
            expected = integer_row(maps[t][i])
            if form != expected:
                self.fail(TREE, f"tree[{node}].split", f"{list(form)} is not the pre-activation {list(expected)} "
                                                       f"of neuron {i} at step {t}")
            elif pattern[t][i] != side:
                self.fail(TREE, f"tree[{node}]", f"its {'positive' if side else 'negative'} side leads to {where}, "
                                                 f"whose pattern says neuron {i} at step {t} is "
                                                 f"{'active' if pattern[t][i] else 'inactive'}")
            elif node not in self.splits_checked:
                self.splits_checked.add(node)
                self.check_split_is_first(node, path.rows[:depth], maps, pattern, t, i)
        return logits

    def check_split_is_first(self, node: int, rows, maps, pattern, t: int, i: int) -> None:
        """A split decides the first neuron (steps, then neurons, in order) whose pre-activation
        crosses the cone above it; every earlier neuron's sign holds on that whole cone."""
        rays, lines = generators(cone(rows, self.model.n))
        for t2, i2 in itertools.product(range(t + 1), range(self.model.d)):
            if (t2, i2) == (t, i):
                break
            if not sign_holds(integer_row(maps[t2][i2]), pattern[t2][i2], rays, lines):
                self.fail(TREE, f"tree[{node}]", f"splits on neuron {i} at step {t}, but neuron {i2} at step "
                                                 f"{t2} comes first and its sign is not decided above the split")
                return
        if not crosses(integer_row(maps[t][i]), rays, lines):
            self.fail(TREE, f"tree[{node}]", f"neuron {i} at step {t} has one sign on the cone above the split: "
                                             "nothing to split")

    def path_cone(self, where: str, path: _Path, stored_rows):
        """The cone of a tree path (must be full-dimensional and equal the stored canonical rows)."""
        n = self.model.n
        poly = cone(path.rows, n)
        if not is_full_dimensional(poly, n):
            self.fail(TREE, where, "the cone of its tree path has an empty interior")
            return None
        canonical = minimized_rows(poly)
        if stored_rows is not _MISSING and stored_rows != canonical:
            same = cone(stored_rows, n) == poly
            self.fail(CONSTRAINTS, f"{where}.constraints",
                      "not in canonical form (minimized primitive rows, sorted)" if same
                      else f"describe a different cone from its tree path's (expected {[list(r) for r in canonical]})")
        return poly

    def measure(self, where: str, stored, rows) -> Measure:
        """Recompute a cone's measure (certified k = 4, 5 integrals when the certificate claims them,
        by the route it names: a 5-dimensional cone's tangent cones, or its triangulation)."""
        method = str(stored.get("method", "")) if isinstance(stored, dict) else ""
        m = cone_measure(rows, self.model.n, **route_options(method))
        if stored is not _MISSING and not _same(stored, _as_json(measure_json(m))):
            self.fail(MEASURE, where, f"is not the measure recomputed from its cone: expected "
                                      f"[{m.lo_str(25)}, {m.hi_str(25)}] ({m.method})")
        return m

    def check_piece(self, k: int, piece) -> None:
        n, d = self.model.n, self.model.d
        where = f"pieces[{k}]"
        if self.attempt(STRUCTURE, _object, piece, PIECE_KEYS, where) is _MISSING:
            return
        pattern = self.attempt(PATTERN, _pattern, piece["pattern"], d, f"{where}.pattern", n * d)
        rows = self.attempt(CONSTRAINTS, _rows, piece["constraints"], n, f"{where}.constraints")
        logit_map = self.attempt(LOGITS, _matrix, piece["logit_map"], n, f"{where}.logit_map", self.model.outputs)
        outcomes = self.attempt(OUTCOMES, _list, piece["outcomes"], f"{where}.outcomes")
        poly = self.path_cone(where, self.leaf_paths[k], rows)
        if poly is None or pattern is _MISSING:
            return
        logits = self.check_pattern(where, self.leaf_paths[k], pattern, *generators(poly))
        if logit_map is not _MISSING and logit_map != logits:
            self.fail(LOGITS, f"{where}.logit_map", "is not W_oh H_n for the pattern: expected "
                      f"{[[rational_str(v) for v in row] for row in logits]}")
        check = self.check_median_cones if self.model.task.outputs_value else self.check_outcomes
        check(where, [] if outcomes is _MISSING else outcomes, minimized_rows(poly), logits)

    def check_median_cones(self, where: str, stored: list, leaf_rows, logits: Matrix) -> None:
        """A median model's cones: the leaf cut by each median cell, with the error form
        ``output - median`` and the recomputed integral of its square; the totals use the checker's own."""
        n = self.model.n
        expected = []
        for cell in median_cells(n):
            poly = cone(tuple(leaf_rows) + cell.constraint_rows(n), n)
            if is_full_dimensional(poly, n):
                expected.append((cell, minimized_rows(poly), tuple(y - m for y, m in zip(logits[0], cell.form(n)))))
        if len(stored) != len(expected):
            self.fail(OUTCOMES, f"{where}.outcomes", f"lists {len(stored)} cones; the median cells give {len(expected)}")
        for j, (cell, rows, form) in enumerate(expected):
            at = f"{where}.outcomes[{j}]"
            item = self.attempt(OUTCOMES, self.check_median_cone, at, stored[j], cell, rows, form) \
                if j < len(stored) else _MISSING
            stored_measure = item["measure"] if item is not _MISSING and isinstance(item["measure"], dict) else {}
            route = route_options(str(stored_measure.get("method", "")))
            faces = cone_faces(rows, n, facets=False, plackett=route["plackett"], faces=route["faces"],
                               orthant_path=route["orthant_path"], factor=route["factor"])
            contribution = quadratic_moment(rows, n, form, faces=faces)
            if item is not _MISSING:
                if not _same(item["measure"], _as_json(measure_json(faces.measure))):
                    self.fail(MEASURE, f"{at}.measure", "is not the measure recomputed from its cone: expected "
                                                        f"[{faces.measure.lo_str(25)}, {faces.measure.hi_str(25)}]")
                if not _same(item["squared_error"], _as_json(expectation_json(contribution))):
                    self.fail(MEASURE, f"{at}.squared_error", "is not E[(form . x)^2 1_cone] recomputed: expected "
                                                              f"[{contribution.lo_str(25)}, {contribution.hi_str(25)}]")
            self.contributions.append(contribution)
            self.masses.append(faces.measure)

    @staticmethod
    def check_median_cone(at: str, item, cell: MedianCell, rows, form) -> dict:
        item = _object(item, MEDIAN_OUTCOME_KEYS, at)
        if not _same(item["cell"], median_cell_json(cell)):
            raise _Malformed(f"{at}.cell", f"expected cell {median_cell_json(cell)}")
        if _rows(item["constraints"], len(rows[0]), f"{at}.constraints") != rows:
            raise _Malformed(f"{at}.constraints", f"expected the cone {[list(r) for r in rows]}")
        if not _same(item["form"], [rational_str(v) for v in form]):
            raise _Malformed(f"{at}.form", f"the output minus the median is {[rational_str(v) for v in form]}")
        return item

    def check_outcomes(self, where: str, stored: list, leaf_rows, logits: Matrix) -> None:
        """Compare with the canonical cones; the totals use the checker's own cones and measures."""
        n = self.model.n
        expected = outcome_cones(leaf_rows, logits, n, self.task_above)
        if len(stored) != len(expected):
            self.fail(OUTCOMES, f"{where}.outcomes", f"lists {len(stored)} cones; the logit map and tie rule "
                                                     f"give {len(expected)}")
        for j, (cell, correct, loses_to, rows) in enumerate(expected):
            at = f"{where}.outcomes[{j}]"
            item = self.attempt(OUTCOMES, self.check_outcome, at, stored[j], cell, correct, loses_to, rows) \
                if j < len(stored) else _MISSING
            m = self.measure(f"{at}.measure", _MISSING if item is _MISSING else item["measure"], rows)
            (self.correct if correct else self.errors).append(m)

    @staticmethod
    def check_outcome(at: str, item, cell, correct: bool, loses_to, rows) -> dict:
        item = _object(item, OUTCOME_KEYS, at)
        if not _same(item["cell"], cell_json(*cell)):
            raise _Malformed(f"{at}.cell", f"expected cell {cell_json(*cell)}")
        if not _same(item["correct"], correct) or not _same(item["loses_to"], loses_to):
            raise _Malformed(at, "expected " + ("a correct cone" if correct else f"an error cone losing to {loses_to}"))
        if _rows(item["constraints"], len(rows[0]), f"{at}.constraints") != rows:
            raise _Malformed(f"{at}.constraints", f"expected the cone {[list(r) for r in rows]}")
        return item

    def check_unresolved(self, k: int, node) -> None:
        n, d = self.model.n, self.model.d
        where = f"unresolved[{k}]"

        def decided(item) -> list[tuple[bool, ...]]:
            step = _int(item["step"], f"{where}.step", 0, n)
            neuron = _int(item["neuron"], f"{where}.neuron", 0, d - 1 if step < n else 0)
            return _pattern(item["pattern"], d, f"{where}.pattern", step * d + neuron)
        item = self.attempt(STRUCTURE, _object, node, UNRESOLVED_KEYS, where)
        if item is _MISSING:
            return
        pattern = self.attempt(PATTERN, decided, item)
        rows = self.attempt(CONSTRAINTS, _rows, item["constraints"], n, f"{where}.constraints")
        poly = self.path_cone(where, self.unresolved_paths[k], rows)
        if poly is None:
            return
        if pattern is not _MISSING:
            rays, lines = generators(poly)
            self.check_pattern(where, self.unresolved_paths[k], pattern, rays, lines)
            step, neuron = item["step"], item["neuron"]
            if step < n and not crosses(integer_row(piece_maps(self.model, pattern)[0][step][neuron]), rays, lines):
                self.fail(PATTERN, f"{where}.neuron", f"neuron {neuron} at step {step} has one sign on the cone: "
                                                      "the walk would not have stopped there")
        self.unresolved.append(self.measure(f"{where}.measure", item["measure"], minimized_rows(poly)))

    def check_totals(self, stored, pieces: int) -> None:
        if self.model.task.outputs_value:
            return self.check_median_totals(stored, pieces)
        expected = _as_json(totals_json(Sums.of(self.correct), Sums.of(self.errors), Sums.of(self.unresolved),
                                         pieces))
        stored = _object(stored, tuple(expected), "totals")
        for key, value in expected.items():
            if not _same(stored[key], value):
                raise _Malformed(f"totals.{key}", f"expected {json.dumps(value)}")
        if expected["certified"]:
            parts = [expected[k] for k in ("correct_mass", "error_mass", "unresolved_mass")]
            lo, hi = (sum(Fraction(p[e]) for p in parts) for e in ("lo", "hi"))
            if not lo <= 1 <= hi:
                raise _Malformed("totals", f"the cones' measures sum to [{float(lo)}, {float(hi)}], which "
                                           "excludes 1: the cones do not tile R^n")

    def check_median_totals(self, stored, pieces: int) -> None:
        expected = _as_json(median_totals_json(sum_expectations(self.contributions), Sums.of(self.masses), len(self.unresolved),
                                               pieces, self.model))
        stored = _object(stored, tuple(expected), "totals")
        for key, value in expected.items():
            if not _same(stored[key], value):
                raise _Malformed(f"totals.{key}", f"expected {json.dumps(value)}")
        masses = Sums.of(self.masses)
        if expected["certified"] and expected["complete"] and not masses.lo <= 1 <= masses.hi:
            raise _Malformed("totals", f"the cones' measures sum to [{float(masses.lo)}, {float(masses.hi)}], which "
                                       "excludes 1: the cones do not tile R^n")

    def summary(self) -> dict:
        totals = self.doc["totals"]
        if self.model.task.outputs_value:
            return {"sha256": self.model.content_hash, "task": self.model.task.name, "d": self.model.d,
                    "n": self.model.n, "pieces": totals["pieces"], "cones": len(self.contributions),
                    "unresolved_cones": len(self.unresolved), "certified": totals["certified"],
                    "complete": totals["complete"], "mse": totals["mse"], "rmse": totals["rmse"]}
        return {
            "sha256": self.model.content_hash, "task": self.model.task.name, "d": self.model.d, "n": self.model.n,
            "pieces": totals["pieces"], "correct_cones": len(self.correct), "error_cones": len(self.errors),
            "unresolved_cones": len(self.unresolved), "certified": totals["certified"],
            "complete": totals["complete"], "accuracy": totals["accuracy"], "error_rate": totals["error_rate"],
        }


def check_certificate(doc_or_path) -> CheckReport:
    """Check a certificate (a parsed document, or a path to its JSON file).

    A file that cannot be read raises :class:`~verifier.errors.LoadError`; anything wrong with
    its content (bad JSON, structure, or a claim that does not hold) makes the report invalid.
    """
    start = time.perf_counter()
    if isinstance(doc_or_path, (str, Path)):
        raw = read_limited(Path(doc_or_path), limit=MAX_FILE_BYTES, what="a certificate")
        try:
            doc = strict_json(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            return CheckReport(False, (Failure(STRUCTURE, "", f"not valid JSON ({e})"),), {},
                               time.perf_counter() - start)
    else:
        try:
            doc = _as_json(doc_or_path)
        except (TypeError, ValueError, RecursionError) as e:
            return CheckReport(False, (Failure(STRUCTURE, "", f"not a JSON document ({e})"),), {},
                               time.perf_counter() - start)
    checker = _Checker(doc)
    try:
        checker.run()
    except (AttributeError, KeyError, IndexError, TypeError, ValueError, ArithmeticError, RecursionError) as e:
        checker.fail(STRUCTURE, "", f"malformed certificate ({type(e).__name__}: {e})")
    valid = not checker.failures
    return CheckReport(valid, tuple(checker.failures), checker.summary() if valid else {},
                       time.perf_counter() - start)
