"""Surprise accounting: an itemized ledger, in bits, of what an explanation of a model checks.

ARC's measure of an explanation: total surprise = surprise of the explanation (each check
whose outcome had prior probability ``p`` costs ``-log2 p`` bits) + surprise of the model's
actual performance given the explanation. Steps that do not depend on the parameters
(standardizing, deriving the piecewise-linear form) cost 0 bits. The bits in the weights
(32 per float32 parameter) are the upper reference. Two explanations are priced:

``post`` (n = 2 only), the style of ARC's AlgZoo post for M2,2, on the standardized model and
the pieces of ``Delta = logit_1 - logit_0 = a0*x0 - a1*x1`` (merged where adjacent pieces
share Delta):

* signs and magnitudes: the sign of every parameter, and whether ``|w| >= 1`` for each W_hh
  entry: 1 bit each (prior 1/2);
* coefficient positivity: ``a0, a1 > 0`` on every piece costs 0 bits when the standardized
  signs and magnitudes are the post's pattern (up to relabelling the two neurons; the post
  derives positivity from them), else 1 bit per coefficient;
* coefficient comparisons: on each piece that is not near-equal, ``a0 < a1`` or ``a0 > a1``:
  1 bit (prior 1/2);
* near-equalities: a piece is near-equal when ``|a0 - a1| < 2^-8 max(|a0|, |a1|)``. With
  the ratio ``min/max`` uniform on (0, 1) a priori, agreement to relative difference ``r``
  has prior ``r`` and costs ``-log2 r`` bits (about k for 1 part in 2^k). Exact equality is
  priced at the significand bits of the weights' storage (24 for float32, 53 otherwise).

``brute-force``, the full certified decomposition, on merged regions (adjacent pieces with the
same logit differences, see :mod:`verifier.explain.region_graph`), each counted once:

* region facets: 1 bit per facet of each region (on which side of the hyperplane it lies);
* comparisons: in each region and order cell, for each logit the target's must beat (in the
  order :mod:`verifier.geometry.outcome` takes them), 1 bit when the comparison has one sign on what
  remains of the cone; when the boundary splits it with a fraction ``f`` on the smaller side,
  ``-log2 f`` bits (>= 1): a uniformly placed boundary leaves a side at most that small, on
  that side, with probability ``f``;
* symmetries: exact symmetries that map pieces onto pieces (:mod:`verifier.explain.symmetry`) let one
  region per orbit be priced, but the symmetry is a fact about the weights: each independent
  weight equality it rests on costs the weights' significand bits (as an exact equality
  above). The cheaper of the two accounts is kept and the ledger says which.

Surprise given the explanation: both explanations compute the error rate (the post by the
area of the error wedges, which is free computation once the pieces are known; brute force
by every cone's measure): an interval ``[lo, hi]``. It costs ``log2(1 + (hi - lo) / mid)``
bits, ``mid = (lo + hi) / 2``: 0 when the interval is exact, about 0 when it is much
narrower than its value, 1 bit when its width equals its value, and ``log2(width / value)``
beyond (the leading binary digits of the error rate the explanation leaves open). An
estimated interval (``estimate +- 4 stderr``) is priced the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from ..certify import Certification, certify
from ..geometry.decomposition import delta_forms
from ..errors import VerifierError
from ..models.loading import load_model
from ..measure import Measure
from ..models.model import Model
from ..geometry.outcome import comparison_rows
from .region_graph import MergedRegion, merge_pieces, region_graph
from .standardize import pattern_text, standardize
from .symmetry import find_symmetries, live_neurons, orbits

NEAR_EQUAL_BELOW = Fraction(1, 2**8)
SIGNIFICAND_BITS = {"float32": 24, "float64": 53, "exact": 53}
# The standardized pattern from which the post proves a0, a1 > 0 on every piece of Delta.
POST_PATTERN = {"w_hi": "(+ ; -)", "w_hh": "((-1,0) [1,inf) ; [1,inf) (-1,0))", "w_oh": "(+ - ; - +)"}

RULES = {
    "free": "parameter-independent step: 0 bits",
    "sign": "sign of a weight, prior 1/2 for the observed sign: 1 bit",
    "magnitude": "|w| >= 1 or not, prior 1/2: 1 bit",
    "positivity derived": "implied by the post's sign/magnitude pattern (checked above): 0 bits",
    "positivity": "sign of a coefficient, prior 1/2: 1 bit",
    "comparison": "a0 < a1 or a0 > a1, prior 1/2: 1 bit",
    "near-equality": ("relative difference r = |a0-a1|/max(|a0|,|a1|) < 2^-8; min/max uniform on (0,1) a priori, "
                      "so P(difference <= r) = r: -log2 r bits"),
    "exact equality": "a0 = a1 exactly: priced as agreement to the last significand bit of the weights' storage",
    "facet": "side of the region's facet hyperplane, prior 1/2: 1 bit",
    "one-signed": "the comparison keeps one sign on the cone, prior 1/2 for that sign: 1 bit",
    "symmetry": "exact equality of two weights (up to the symmetry's scales): the weights' significand bits each",
    "split": "the boundary splits the cone, smaller side a fraction f; a uniform boundary does that with prior f: -log2 f",
}
GIVEN_RULE = ("log2(1 + (hi - lo) / mid), mid = (lo + hi) / 2, for the explanation's interval [lo, hi] of the "
              "error rate: 0 bits when exact, log2(width / value) when much wider than its value")


@dataclass(frozen=True)
class LedgerItem:
    """One priced check: what was checked, its outcome, the outcome's prior probability and its cost."""

    check: str
    outcome: str
    prior: float
    bits: float
    group: str
    rule: str

    def as_dict(self) -> dict:
        return {"check": self.check, "outcome": self.outcome, "prior": self.prior, "bits": self.bits,
                "group": self.group, "rule": self.rule}


@dataclass(frozen=True)
class Ledger:
    """An explanation's surprise: its priced checks, then the error rate it accounts for."""

    model: Model
    explanation: str
    items: tuple[LedgerItem, ...]
    error_rate: Measure            # the error rate the explanation computes
    weight_bits: int | None

    @property
    def explanation_bits(self) -> float:
        return sum(item.bits for item in self.items)

    @property
    def given_explanation_bits(self) -> float:
        return given_explanation_bits(self.error_rate)

    @property
    def total_bits(self) -> float:
        return self.explanation_bits + self.given_explanation_bits

    def groups(self) -> dict[str, float]:
        """Bits per group, in the order the groups first appear."""
        out: dict[str, float] = {}
        for item in self.items:
            out[item.group] = out.get(item.group, 0.0) + item.bits
        return out

    def as_dict(self) -> dict:
        return {
            "model": self.model.name,
            "explanation": self.explanation,
            "total_bits": self.total_bits,
            "explanation_bits": self.explanation_bits,
            "given_explanation_bits": self.given_explanation_bits,
            "weight_bits": self.weight_bits,
            "groups": self.groups(),
            "given_explanation": {"error_rate": self.error_rate.as_dict(), "rule": GIVEN_RULE},
            "ledger": [item.as_dict() for item in self.items],
        }


def given_explanation_bits(error_rate: Measure) -> float:
    """Surprise of the true error rate given an explanation that pins it to ``error_rate`` (see module doc).

    >>> given_explanation_bits(Measure.exact(Fraction(1, 13000), "exact"))
    0.0
    >>> given_explanation_bits(Measure(Fraction(1, 4), Fraction(3, 4), False, "estimate", 0.5, 0.1))
    1.0
    """
    if error_rate.hi == 0:
        return 0.0
    return _log2(1 + 2 * (error_rate.hi - error_rate.lo) / (error_rate.hi + error_rate.lo))


def _log2(q: Fraction) -> float:
    """log2 of a positive rational, without overflow for huge numerators/denominators."""
    return math.log2(q.numerator) - math.log2(q.denominator)


def _item(check: str, outcome: str, prior: Fraction | float, group: str, rule: str) -> LedgerItem:
    bits = 0.0 if prior == 1 else -_log2(Fraction(prior))
    return LedgerItem(check, outcome, float(prior), bits, group, RULES[rule])


def _complete(cert: Certification) -> None:
    if not cert.complete:
        raise VerifierError(f"surprise accounting needs the complete decomposition of {cert.model.name}"
                            f" ({cert.decomposition.stop_reason}); raise the budget")


def _merged(cert: Certification):
    graph = region_graph(cert.decomposition)
    return graph, merge_pieces(graph)


def _free_items(merging) -> list[LedgerItem]:
    return [_item("derive the piecewise-linear form (decompose, merge adjacent pieces with equal logit differences)",
                  f"{merging.before} activation-pattern pieces -> {merging.after} regions", 1, "free steps", "free")]


# -- the post's explanation (n = 2) ----------------------------------------------------------


def _matches_post_pattern(model: Model) -> bool:
    """Whether the standardized model has the post's pattern, up to relabelling the two neurons."""
    for order in ((0, 1), (1, 0)):
        relabelled = Model(tuple(model.w_hi[i] for i in order),
                           tuple(tuple(model.w_hh[i][j] for j in order) for i in order),
                           tuple(tuple(row[j] for j in order) for row in model.w_oh),
                           task=model.task, name=model.name, precision=model.precision)
        pattern = standardize(relabelled).sign_pattern()
        if all(pattern_text(pattern, k) == v for k, v in POST_PATTERN.items()):
            return True
    return False


def _require_n2(model: Model) -> None:
    if model.n != 2:
        raise VerifierError(f"the post-style explanation is for n = 2; {model.name} has n = {model.n}"
                            " (use --explanation brute-force)")


@dataclass(frozen=True)
class DeltaRegion:
    """A piece of Delta = a0*x0 - a1*x1 (n = 2) after merging adjacent pieces with the same Delta."""

    index: int
    pieces: tuple[int, ...]        # the activation-pattern pieces merged into it
    a0: Fraction
    a1: Fraction
    sector: str                    # its edges' directions in degrees, for people

    @property
    def relative_difference(self) -> Fraction:
        """``|a0 - a1| / max(|a0|, |a1|)`` (0 when both vanish)."""
        scale = max(abs(self.a0), abs(self.a1))
        return abs(self.a0 - self.a1) / scale if scale else Fraction(0)

    @property
    def near_equal(self) -> bool:
        return self.relative_difference < NEAR_EQUAL_BELOW


def delta_regions(cert: Certification) -> tuple[DeltaRegion, ...]:
    """The merged pieces of Delta of an n = 2 model, from its complete certified decomposition."""
    _require_n2(cert.model)
    _complete(cert)
    forms = delta_forms(cert.decomposition)
    _, merging = _merged(cert)
    out = []
    for k, region in enumerate(merging.regions):
        first = forms[region.pieces[0]]
        if len(region.pieces) > 1:
            sector = f"(union of {len(region.pieces)} sectors)"
        else:
            sector = "[" + ", ".join(f"{a:.1f}" for a in first.angles) + "] deg" if first.angles else "(whole plane)"
        out.append(DeltaRegion(k, region.pieces, first.a0, first.a1, sector))
    return tuple(out)


def post_ledger(cert: Certification) -> Ledger:
    """The post-style explanation of an n = 2 model (see the module docstring)."""
    model = cert.model
    regions = delta_regions(cert)
    std = standardize(model)
    items = [_item("standardize: rescale each hidden neuron by a positive factor so |W_hi[i]| = 1",
                   "an exactly equivalent model", 1, "free steps", "free")]
    items += _free_items(_merged(cert)[1])
    for e in std.sign_pattern():
        where = f"{e.matrix.upper()}[{e.row},{e.col}]" if e.matrix != "w_hi" else f"W_HI[{e.row}]"
        items.append(_item(f"sign of standardized {where}", f"{e.sign} ({float(e.value):.4g})", Fraction(1, 2),
                           "signs and magnitudes", "sign"))
        if e.at_least_one is not None:
            items.append(_item(f"|standardized {where}| >= 1", "yes" if e.at_least_one else "no", Fraction(1, 2),
                               "signs and magnitudes", "magnitude"))
    if all(r.a0 > 0 and r.a1 > 0 for r in regions) and _matches_post_pattern(std.model):
        items.append(_item("a0 > 0 and a1 > 0 on every piece of Delta", "yes", 1, "coefficient positivity",
                           "positivity derived"))
    else:
        for r in regions:
            for name, a in (("a0", r.a0), ("a1", r.a1)):
                items.append(_item(f"piece {r.index}: sign of {name}", "+" if a > 0 else "-" if a < 0 else "0",
                                   Fraction(1, 2), "coefficient positivity", "positivity"))
    comparisons, near_equalities = [], []
    for r in regions:
        where = f"piece {r.index} {r.sector}"
        rel = r.relative_difference
        if not r.near_equal:
            relation = "a0 > a1" if r.a0 > r.a1 else "a0 < a1"
            comparisons.append(_item(f"{where}: compare a0 with a1", f"{relation} ({float(r.a0):.6g} vs"
                                     f" {float(r.a1):.6g})", Fraction(1, 2), "coefficient comparisons", "comparison"))
        elif rel > 0:
            near_equalities.append(_item(f"{where}: a0 = a1 to within 2^-8", f"agree to 1 part in 2^{-_log2(rel):.2f}"
                                         f" (r = {float(rel):.3g})", rel, "near-equalities", "near-equality"))
        else:
            p = SIGNIFICAND_BITS[model.precision]
            near_equalities.append(_item(f"{where}: a0 = a1 to within 2^-8", "exactly equal", Fraction(1, 2**p),
                                         "near-equalities", "exact equality"))
    items += comparisons + near_equalities
    return Ledger(model, "post", tuple(items), cert.error_rate, model.weight_bits)


# -- brute force -------------------------------------------------------------------------------


def _region_facets(graph, region: MergedRegion) -> tuple[tuple[int, ...], ...]:
    """A region's facet rows: its own when convex, else its members' rows minus the hyperplanes between members."""
    if region.constraints is not None:
        return tuple(region.constraints)
    members = set(region.pieces)
    inner = set()
    for i in members:
        for j in graph.neighbors(i):
            if j in members:
                row = graph.edges[i, j]["hyperplane"]
                inner |= {row, tuple(-v for v in row)}
    rows = {row for i in members for row in graph.nodes[i]["constraints"]}
    return tuple(sorted(rows - inner))


def _comparison_items(k: int, region: MergedRegion, cert: Certification) -> list[LedgerItem]:
    """Price each logit comparison in each order cell of a region from its outcome cones' masses."""
    members = set(region.pieces)
    piece = cert.decomposition.pieces[region.pieces[0]]
    by_cell: dict = {}
    for o, m in zip(cert.outcomes, cert.measures):
        if o.piece in members and m.hi > 0:
            by_cell.setdefault(o.cell, []).append((o, m))
    items = []
    for cell, cones in sorted(by_cell.items(), key=lambda kv: (kv[0].target, kv[0].above)):
        s = cell.target
        where = f"region {k}, cell (target {s}, above {','.join(map(str, cell.above))})"
        rows, tie_loser = comparison_rows(piece, s)
        if tie_loser is not None:
            items.append(_item(f"{where}: logit {s} vs logit {tie_loser}", "equal on the whole region: loses the tie",
                               Fraction(1, 2), "comparisons", "one-signed"))
            continue
        order = {j: i for i, (j, _) in enumerate(rows)}
        stages = [(order[o.loses_to] if not o.correct else len(rows), m.estimate) for o, m in cones]
        for i, (j, _) in enumerate(rows):
            reached = [mass for stage, mass in stages if stage >= i]
            lost = [mass for stage, mass in stages if stage == i]
            if not reached:
                break
            check = f"{where}: logit {s} vs logit {j}"
            if not lost:
                items.append(_item(check, f"logit {s} wins throughout", Fraction(1, 2), "comparisons", "one-signed"))
            elif len(lost) == len(reached):
                items.append(_item(check, f"logit {j} wins throughout", Fraction(1, 2), "comparisons", "one-signed"))
            else:
                share = sum(lost) / sum(reached)
                items.append(_item(check, f"split: logit {j} wins on {share:.3g} of the cone", min(share, 1 - share),
                                   "comparisons", "split"))
    return items


def _region_items(k: int, region: MergedRegion, graph, cert: Certification) -> list[LedgerItem]:
    items = [_item(f"region {k}: side of facet {row}", "row . x >= 0", Fraction(1, 2), "region facets", "facet")
             for row in _region_facets(graph, region)]
    return items + _comparison_items(k, region, cert)


def _region_orbits(cert: Certification, merging, symmetries) -> list[tuple[int, ...]]:
    """Merged regions grouped by the symmetries' piece orbits (a symmetry maps merged regions onto merged regions)."""
    region_of = {p: k for k, r in enumerate(merging.regions) for p in r.pieces}
    parent = list(range(len(merging.regions)))

    def root(k: int) -> int:
        while parent[k] != k:
            k = parent[k]
        return k

    for orbit in orbits(cert.decomposition, symmetries):
        for p in orbit[1:]:
            parent[root(region_of[p])] = root(region_of[orbit[0]])
    groups: dict[int, list[int]] = {}
    for k in range(len(parent)):
        groups.setdefault(root(k), []).append(k)
    return sorted(tuple(g) for g in groups.values())


def symmetry_equalities(model: Model, symmetries) -> int:
    """Independent weight equalities the symmetries' conjugation equations assert (zero = zero not counted).

    Each equation ``d_i W_hh[i,k] = d_k W_hh[pi i, pi k]`` or ``W_oh[tau r, i] = d_i W_oh[r, pi i]``
    links two weights; an equation counts when it joins two weights not already linked.
    """
    live = live_neurons(model)
    parent: dict = {}

    def root(e):
        while parent.get(e, e) != e:
            e = parent[e]
        return e

    count = 0
    for sym in symmetries:
        perm, tau = sym.hidden_map.permutation, sym.output_permutation
        pairs = [(("hh", i, k), ("hh", perm[i], perm[k])) for i in live for k in live]
        pairs += [(("oh", tau[r], i), ("oh", r, perm[i])) for r in range(model.n) for i in live]
        for a, b in pairs:
            if _weight(model, a) == 0 and _weight(model, b) == 0:
                continue
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[ra] = rb
                count += 1
    return count


def _weight(model: Model, entry) -> Fraction:
    matrix, i, j = entry
    return (model.w_hh if matrix == "hh" else model.w_oh)[i][j]


def brute_force_ledger(cert: Certification) -> Ledger:
    """The brute-force explanation: every merged region's facets and comparisons (see the module docstring).

    With exact symmetries that map pieces onto pieces, one region per orbit is priced and the
    symmetry is paid for (``symmetry_equalities`` x the weights' significand bits); the cheaper
    of the two accounts is kept, and a free-steps item says which.
    """
    _complete(cert)
    graph, merging = _merged(cert)
    model = cert.model
    items = _free_items(merging)
    per_region = [_region_items(k, r, graph, cert) for k, r in enumerate(merging.regions)]
    plain = [item for region in per_region for item in region]
    symmetries = [sym for sym in find_symmetries(cert.decomposition) if sym.hidden_map is not None]
    if symmetries:
        groups = _region_orbits(cert, merging, symmetries)
        equalities = symmetry_equalities(model, symmetries)
        bits = SIGNIFICAND_BITS[model.precision]
        names = ", ".join(sorted({sym.name for sym in symmetries}))
        reduced = [_item(f"exact symmetries ({names}): the weight equalities they rest on",
                         f"{equalities} equalities hold exactly", Fraction(1, 2 ** (bits * equalities)), "symmetries",
                         "symmetry")]
        for group in groups:
            reduced += per_region[group[0]]
            reduced += [_item(f"region {k}", f"image of region {group[0]} under a symmetry: counted once", 1,
                              "symmetries", "free") for k in group[1:]]
        with_symmetry = sum(i.bits for i in reduced)
        without = sum(i.bits for i in plain)
        use = with_symmetry < without
        items.append(_item("use the exact symmetries to count each orbit of regions once?",
                           f"{'yes' if use else 'no'}: {with_symmetry:.1f} bits with them, {without:.1f} without",
                           1, "free steps", "free"))
        plain = reduced if use else plain
    return Ledger(model, "brute-force", tuple(items + plain), cert.error_rate, model.weight_bits)


EXPLANATIONS = {"post": post_ledger, "brute-force": brute_force_ledger}


def check_explanation(explanation: str, model: Model) -> None:
    """Refuse, before any work, an unknown explanation or the post's for n != 2 (one-line VerifierError)."""
    if explanation not in EXPLANATIONS:
        raise VerifierError(f"unknown explanation {explanation!r}; known: {', '.join(EXPLANATIONS)}")
    if model.task.outputs_value:
        raise VerifierError(f"{model.name}: surprise accounting prices an error rate; a {model.task.name} model"
                            " is scored by its squared error")
    if explanation == "post":
        _require_n2(model)


def default_explanation(model: Model) -> str:
    """The post's explanation where it applies (n = 2), else brute force."""
    return "post" if model.n == 2 else "brute-force"


def surprise(model, explanation: str | None = None, *, max_pieces: int | None = None,
             max_seconds: float | None = None) -> Ledger:
    """The ledger of one explanation (``"post"`` or ``"brute-force"``; by default the post's for
    n = 2, else brute force) for a model or model spec."""
    model = load_model(model)
    explanation = explanation or default_explanation(model)
    check_explanation(explanation, model)
    return EXPLANATIONS[explanation](certify(model, max_pieces=max_pieces, max_seconds=max_seconds))
