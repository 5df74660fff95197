"""Proof reports: what ``certify`` proves about a model, written for people (``report.md``, ``report.html``).

A report states the model (and the hash of its exact weights), its standardized weights with
the equivalence checked exactly, the linear pieces (for n = 2 the formula
``Delta = a0*x0 - a1*x1`` on each sector and its class), the certified accuracy and error
rate (decimal bounds rounded outward), the error breakdown by order cell, a comparison with
sampling, the surprise ledgers, and figures (:mod:`verifier.present.figures`). The output is
deterministic (fixed seeds, no timings, no dates), so committed reports can be regenerated
and compared byte for byte.

The document is a list of blocks rendered twice: as Markdown and as one standalone HTML file
with the figures embedded as data URIs.
"""

from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..certify import Certification, certify
from ..geometry.decomposition import delta_forms
from ..display import one_in
from ..errors import VerifierError
from ..exact import decimal_bound, rational_str
from .figures import cell_text, error_labels, measure_figure, plane_figure, relative_difference, sector_class, \
    sphere_figure
from ..models.loading import load_model
from ..measure import Measure, generators_measure, sum_measures
from ..models.model import Model
from ..explain.region_graph import merge_pieces, region_graph
from ..estimate.sampling import estimate_accuracy
from ..explain.standardize import Standardized, pattern_text, standardize
from ..explain.surprise import NEAR_EQUAL_BELOW, Ledger, brute_force_ledger, post_ledger

DIGITS = 20          # significant digits of printed bounds (rounded outward)
MAX_ROWS = 60        # longer tables show their largest rows and say so
WITHIN_STDERR = 4    # sampling agrees when the certified value lies within this many standard errors


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    html: Path
    figures: tuple[Path, ...]


# -- blocks ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str  # inline markup: `code` and **bold**


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Image:
    file: str
    caption: str


# -- numbers --------------------------------------------------------------------------------

def interval_text(m: Measure, digits: int = DIGITS) -> str:
    """``[lo, hi]`` with the ends rounded outward, so the printed interval stays valid (clipped to [0, 1]).

    >>> interval_text(Measure(Fraction(1, 3), Fraction(2, 3), True, "x", 0.5), 4)
    '[0.3333, 0.6667]'
    >>> interval_text(Measure(Fraction(99, 100), Fraction(101, 100), True, "x", 1.0), 4)
    '[0.99, 1]'
    """
    lo, hi = max(m.lo, Fraction(0)), min(m.hi, Fraction(1))  # a measure lies in [0, 1]
    return f"[{decimal_bound(lo, digits, up=False)}, {decimal_bound(hi, digits, up=True)}]"


def _approx(q: Fraction, digits: int = 10) -> str:
    return f"{float(q):.{digits}g}"


def _matrix_text(matrix, digits: int = 8) -> str:
    return "\n".join("  ".join(f"{float(v):>{digits + 7}.{digits}g}" for v in row) for row in matrix)


def _exact_text(matrix) -> str:
    return "\n".join("  ".join(rational_str(v) for v in row) for row in matrix)


def _kind(m: Measure) -> str:
    return "certified" if m.certified else f"ESTIMATE ({m.method}; +-{WITHIN_STDERR} stderr, not a proof)"


# -- sections -------------------------------------------------------------------------------

def _model_section(spec: str, model: Model) -> list:
    w_hi, w_hh, w_oh = (model.w_hi, model.w_hh, model.w_oh)
    return [
        Heading(2, "Model"),
        Table(("", ""), (
            ("spec", f"`{spec}`"), ("name", f"`{model.name}`"),
            ("task", f"{model.task.name} ({model.task.description})"),
            ("hidden size d", str(model.d)), ("sequence length n", str(model.n)),
            ("parameters", str(model.n_params)), ("stored as", model.precision),
            ("sha256 of the exact weights", f"`{model.content_hash}`"),
        )),
        Para(("h_0 = 0, h_{t+1} = ReLU(W_hh h_t + W_hi x_t), y = W_oh h_n (one output), no biases; inputs "
              "x ~ N(0, I_n). The model is scored by its squared error (y - median(x))^2. "
              if model.task.outputs_value else
              "h_0 = 0, h_{t+1} = ReLU(W_hh h_t + W_hi x_t), logits = W_oh h_n, no biases; inputs x ~ N(0, I_n). "
              "The model is right iff the first maximal logit sits at the target position. ")
             + "Weights (decimal display; the exact rationals follow):"),
        Code(f"W_hi =\n{_matrix_text(w_hi)}\nW_hh =\n{_matrix_text(w_hh)}\nW_oh =\n{_matrix_text(w_oh)}"),
        Code("\n".join(f"exact {label} =\n{_exact_text(w)}" for label, w in (("W_hi", w_hi), ("W_hh", w_hh),
                                                                          ("W_oh", w_oh)))),
    ]


MAX_EQUIVALENCE_POINTS = 100  # exact logits at an interior point of each piece, up to this many


def check_equivalence(std: Standardized, points) -> None:
    """Prove ``std.model`` computes the same logits as ``std.original`` everywhere, exactly.

    With ``C = diag(scales)``, ``scales > 0``: ``W'_hi = C W_hi``, ``W'_hh = C W_hh C^-1`` and
    ``W'_oh = W_oh C^-1`` give ``h'_t = C h_t`` for all t (as ``ReLU(C z) = C ReLU(z)``), hence equal
    logits. The identities are checked entry by entry, and the logits at ``points`` as well.
    """
    m, s, c = std.original, std.model, std.scales
    d = m.d
    ok = all(ci > 0 for ci in c) and len(c) == d
    ok = ok and all(s.w_hi[i][0] == c[i] * m.w_hi[i][0] for i in range(d))
    ok = ok and all(s.w_hh[i][j] * c[j] == c[i] * m.w_hh[i][j] for i in range(d) for j in range(d))
    ok = ok and all(s.w_oh[k][j] * c[j] == m.w_oh[k][j] for k in range(m.outputs) for j in range(d))
    ok = ok and all(s.logits_exact(p) == m.logits_exact(p) for p in points)
    if not ok:
        raise AssertionError(f"internal error: the standardized {m.name} is not equivalent to the original")


def _standardized_section(std: Standardized, points, pieces: int) -> list:
    check_equivalence(std, points)
    s = std.model
    scales = ", ".join(f"c_{i} = {rational_str(c)} (~{_approx(c, 8)})" for i, c in enumerate(std.scales))
    pattern = std.sign_pattern()
    return [
        Heading(2, "Standardized weights"),
        Para("Rescale hidden neuron i by c_i > 0 (c_i = 1/|W_hi[i]|, or 1 when W_hi[i] = 0): W'_hi = C W_hi, "
             "W'_hh = C W_hh C^-1, "
             "W'_oh = W_oh C^-1 with C = diag(c). Since ReLU(c z) = c ReLU(z) for c > 0, the hidden states "
             "become C h_t and the logits are unchanged, for every input."),
        Para(f"Exact scales: {scales}."),
        Para("**Verified exactly**: every c_i > 0, the three identities hold entry by entry in rational "
             "arithmetic, and the exact logits of both models agree at an interior point of "
             + (f"each of the {pieces} linear pieces." if len(points) == pieces else
                f"the first {len(points)} of the {pieces} linear pieces (a spot check: the identities are the proof).")),
        Code(f"W'_hi =\n{_matrix_text(s.w_hi)}\nW'_hh =\n{_matrix_text(s.w_hh)}\nW'_oh =\n{_matrix_text(s.w_oh)}"),
        Para("Sign pattern of the standardized weights (for W_hh, the interval holding each entry): "
             f"W_hi `{pattern_text(pattern, 'w_hi')}`, W_hh `{pattern_text(pattern, 'w_hh')}`, "
             f"W_oh `{pattern_text(pattern, 'w_oh')}`."),
    ]


def _pieces_section_n2(cert: Certification, piece_measures) -> list:
    forms = delta_forms(cert.decomposition)
    rows, exact = [], []
    counts: dict[str, int] = {}
    for f in forms:
        m = piece_measures[f.piece]
        cls = sector_class(f.a0, f.a1)
        counts[cls] = counts.get(cls, 0) + 1
        r = relative_difference(f.a0, f.a1)
        rel = "0 (equal)" if r == 0 else f"{float(r):.3g}"
        if cls == "near-equal" and r > 0:
            rel += f" (1 part in 2^{-math.log2(r):.2f})"
        sector = f"{f.angles[0]:.4f} -> {f.angles[1]:.4f}" if f.angles else "whole plane"
        rows.append((f"P{f.piece}", sector, _approx(f.a0), _approx(f.a1), rel, cls, interval_text(m, 10)))
        edges = ", ".join(str(e) for e in f.bounding_rays) or "none"
        exact.append(f"P{f.piece}: edges {edges}\n    a0 = {rational_str(f.a0)}\n    a1 = {rational_str(f.a1)}")
    summary = ", ".join(f"{counts[k]} {k}" for k in ("a0 < a1", "a0 > a1", "near-equal") if k in counts)
    return [
        Para(f"On each piece Delta = logit_1 - logit_0 = a0*x0 - a1*x1 (a0 = L[1][0] - L[0][0], "
             f"a1 = L[0][1] - L[1][1] from the piece's exact logit map L). A piece is near-equal when "
             f"|a0 - a1| < 2^-{NEAR_EQUAL_BELOW.denominator.bit_length() - 1} max(|a0|, |a1|) (the post's yellow "
             f"sectors). Sectors run counter-clockwise from the first edge to the second (degrees, display). "
             f"Classes: {summary}."),
        Table(("piece", "sector (deg)", "a0", "a1", "|a0-a1|/max", "class", "measure"), tuple(rows)),
        Para("Exact sector edges (integer directions) and coefficients:"),
        Code("\n".join(exact)),
    ]


def _pattern_text(pattern) -> str:
    return " ".join("".join("1" if b else "0" for b in step) for step in pattern)


def _pieces_section_general(cert: Certification, piece_measures) -> list:
    error_in = [Fraction(0)] * len(cert.decomposition.pieces)
    for o, m in zip(cert.outcomes, cert.measures):
        if not o.correct:
            error_in[o.piece] += m.hi
    order = sorted(piece_measures, key=lambda k: (-piece_measures[k].estimate, k))
    shown = order[:MAX_ROWS] if len(order) > MAX_ROWS else sorted(order)
    rows = tuple((f"P{k}", _pattern_text(cert.decomposition.pieces[k].pattern),
                  str(len(cert.decomposition.pieces[k].constraints)), interval_text(piece_measures[k], 10),
                  "0" if error_in[k] == 0 else f"<= {decimal_bound(error_in[k], 4, up=True)}") for k in shown)
    blocks = [Para("Activation pattern: one group per time step, one digit per neuron (1 = active). "
                   "Facets: rows of the piece's minimal constraint system.")]
    if len(order) > MAX_ROWS:
        blocks.append(Para(f"The {MAX_ROWS} largest of {len(order)} pieces:"))
    blocks.append(Table(("piece", "activation pattern", "facets", "measure", "error mass inside"), rows))
    return blocks


def _pieces_section(cert: Certification, piece_measures) -> list:
    dec = cert.decomposition
    merged = merge_pieces(region_graph(dec)) if dec.complete else None
    measured = list(piece_measures.values())
    total = Measure(sum(m.lo for m in measured), sum(m.hi for m in measured),
                    all(m.certified for m in measured), "sum", sum(m.estimate for m in measured))
    status = "complete" if dec.complete else f"INCOMPLETE: {dec.stop_reason}"
    intro = (f"The exact decomposition has **{len(dec.pieces)} linear pieces** (full-dimensional cones with one "
             f"activation pattern each); it is {status}.")
    if merged is not None:
        intro += (f" Merging adjacent pieces with the same logit differences leaves {merged.after} "
                  f"region{'s' if merged.after != 1 else ''}.")
    intro += f" The pieces' measures sum to {interval_text(total)}."
    blocks = [Heading(2, "Linear pieces"), Para(intro)]
    body = _pieces_section_n2 if cert.model.n == 2 else _pieces_section_general
    return blocks + body(cert, piece_measures)


def _accuracy_section(cert: Certification) -> list:
    acc, err = cert.accuracy, cert.error_rate
    rate = f"about {one_in(float((err.lo + err.hi) / 2))}" if err.hi > 0 else "exactly 0"
    blocks = [
        Heading(2, "Certified accuracy"),
        Bullets((
            f"accuracy in **{interval_text(acc)}** ({_kind(acc)})",
            f"error rate in **{interval_text(err)}**, {rate} ({_kind(err)})",
            f"{len(cert.outcomes)} correct/error cones, {sum(not o.correct for o in cert.outcomes)} of them "
            "error cones",
        )),
        Para("Each cone's measure is a rigorous enclosure (closed forms evaluated in ball arithmetic for cones "
             "whose pointed part has dimension <= 3); the totals add the enclosures. Decimal ends are rounded "
             "outward."),
    ]
    if not cert.complete:
        blocks.append(Para(f"**Partial**: {cert.stop_reason}. The unresolved mass "
                           f"<= {decimal_bound(cert.unresolved.hi, 6, up=True)} widens both intervals."))
    return blocks


def _breakdown_section(cert: Certification) -> list:
    by_cell = cert.breakdown()
    n, task = cert.model.n, cert.model.task
    blocks = [Heading(2, "Error breakdown")]
    if not by_cell:
        return blocks + [Para("No error cone: the model is right on all of R^n except a set of measure zero.")]
    err_hi = cert.error_rate.hi
    if task.name == "2nd_argmax":
        header = ("order cell", "position of max", "position of 2nd (target)", "error mass", "share of errors")
    else:
        header = ("order cell", "inputs above the target", "target", "error mass", "share of errors")
    rows = tuple((cell_text(cell, n), ",".join(map(str, cell.above)), str(cell.target), interval_text(m, 10),
                  f"{float(m.estimate / float(err_hi)):.3f}" if err_hi else "-") for cell, m in by_cell.items())
    blocks.append(Table(header, rows))
    labels = error_labels(cert.outcomes)
    cones = [(lab, o, m) for lab, o, m in zip(labels, cert.outcomes, cert.measures) if lab]
    shown = sorted(cones, key=lambda c: -c[2].estimate)[:MAX_ROWS] if len(cones) > MAX_ROWS else cones
    intro = "Error cones (the model loses to the logit named):"
    if len(cones) > MAX_ROWS:
        intro = f"The {MAX_ROWS} largest of {len(cones)} error cones (the model loses to the logit named):"
    cone_rows = tuple((lab, f"P{o.piece}", cell_text(o.cell, n), f"logit {o.loses_to}", interval_text(m, 10),
                       one_in(m.estimate)) for lab, o, m in shown)
    blocks += [Para(intro), Table(("cone", "piece", "order cell", "loses to", "measure", "rate"), cone_rows)]
    if n == 2:
        blocks += [Para("Exact edges of the error wedges (integer directions):"),
                   Code("\n".join(f"{lab}: {', '.join(str(r) for r in o.rays + o.lines)}" for lab, o, _ in cones))]
    return blocks


def _sampling_section(cert: Certification, samples: int, seed: int) -> list:
    err = cert.error_rate
    p = float((err.lo + err.hi) / 2)
    rows = []
    for dtype in ("float64", "float32"):
        est = estimate_accuracy(cert.model, samples, seed=seed, dtype=dtype)
        se = math.sqrt(max(p * (1 - p), 0.0) / est.n)
        z = abs(est.error_rate - p) / se if se > 0 else (0.0 if est.error_rate == p else math.inf)
        rows.append((dtype, f"{est.n:,}", f"{est.error_rate:.6e}", f"{se:.2e}",
                     f"{z:.2f}" if math.isfinite(z) else "inf", "yes" if z <= WITHIN_STDERR else "**no**"))
    return [
        Heading(2, "Comparison with sampling"),
        Para(f"Monte Carlo: {samples:,} standard Gaussian sequences (numpy seed {seed}), forward pass in float64 "
             f"and in float32, PyTorch's tie rule. The standard error is that of a sample mean under the "
             f"certified error rate p = {p:.6e}: sqrt(p (1 - p) / N)."),
        Table(("forward pass", "samples", "sampled error rate", "stderr", "|difference| / stderr",
               f"within {WITHIN_STDERR} stderr"), tuple(rows)),
    ]


def _ledger_blocks(ledger: Ledger, full: bool) -> list:
    blocks = [Heading(3, f"Explanation: {ledger.explanation}"),
              Bullets((f"surprise of the explanation: {ledger.explanation_bits:.2f} bits",
                       f"surprise of the error rate given the explanation: {ledger.given_explanation_bits:.2f} bits",
                       f"total: **{ledger.total_bits:.2f} bits** (the weights hold "
                       f"{ledger.weight_bits if ledger.weight_bits is not None else 'unbounded'} bits)",
                       "by group: " + "; ".join(f"{g} {b:.2f}" for g, b in ledger.groups().items())))]
    if full and len(ledger.items) <= MAX_ROWS:
        blocks.append(Table(("check", "outcome", "prior", "bits"),
                            tuple((i.check, i.outcome, f"{i.prior:.4g}", f"{i.bits:.2f}") for i in ledger.items)))
    elif full:
        blocks.append(Para(f"{len(ledger.items)} priced checks (table omitted; `verifier surprise` lists them)."))
    return blocks


def _surprise_section(cert: Certification) -> list:
    blocks = [Heading(2, "Surprise accounting"),
              Para("ARC's measure: bits of the checks an explanation makes (a check whose outcome had prior p "
                   "costs -log2 p bits) plus the surprise of the error rate given the explanation.")]
    if not cert.complete:
        return blocks + [Para("Not available: the decomposition is incomplete.")]
    if cert.model.n == 2:  # the post's explanation exists for n = 2 only
        blocks += _ledger_blocks(post_ledger(cert), full=True)
    return blocks + _ledger_blocks(brute_force_ledger(cert), full=cert.model.n == 2)


def _figures(cert: Certification, piece_measures, out_dir: Path) -> tuple[list, list[Path]]:
    name = cert.model.name
    files, blocks = [], [Heading(2, "Figures")]
    if cert.model.n == 2:
        files.append(plane_figure(delta_forms(cert.decomposition), cert.outcomes, cert.measures,
                                  out_dir / "plane.png", f"{name}: the x0-x1 plane"))
        blocks.append(Image("plane.png",
                            "The x0-x1 plane as the unit disk (a sector's share of the disk is its Gaussian measure). "
                            "Sectors are the linear pieces, coloured by how Delta's coefficients compare; black: "
                            "the decision boundary Delta = 0; dashed: x0 = x1; red: error wedges (the model is "
                            "wrong between the boundary and x0 = x1). Thin wedges get angular zooms on the right."))
    elif cert.model.n == 3:
        files.append(sphere_figure(cert.decomposition.pieces, cert.outcomes, cert.measures,
                                   out_dir / "sphere.png", f"{name}: directions in R^3"))
        blocks.append(Image("sphere.png",
                            "Directions x/|x| on the unit sphere in Mollweide's equal-area projection with the pole "
                            "at (1, 1, 1); map area is Gaussian measure. Dashed meridians x_i = x_j bound the six "
                            "order cells (named below the map). Colours: linear pieces; red: error cones (circled, "
                            "since most are too thin to see). Pieces are found per pixel in float: display only."))
    files.append(measure_figure(piece_measures, cert.outcomes, cert.measures, out_dir / "measures.png",
                                f"{name}: measures"))
    blocks.append(Image("measures.png", "Gaussian measure of each linear piece and of each error cone "
                                        "(labels as in the tables)."))
    return blocks, files


def _semantics_section() -> list:
    return [Heading(2, "Semantics"), Para(
        "Everything certified here is exact real arithmetic on the exact rational values of the stored weights "
        "(for float32 weights, the exact value of each float32), with inputs x ~ N(0, I_n) and PyTorch's tie "
        "rule (the first maximal logit wins). A float32 forward pass, as in PyTorch, can differ from these "
        "semantics on a thin set of inputs near decision boundaries, which is why sampled float32 error rates "
        "may differ slightly from the certified value. Decimal numbers in tables are for display; printed "
        "interval ends are rounded outward, so they remain valid bounds.")]


def _piece_measures(cert: Certification) -> dict[int, Measure]:
    """Each split piece's measure: for n <= 3 measured afresh from its generators (an independent
    check that its outcome cones add up); for n >= 4 the sum of its outcome cones' measures, since
    estimating every high-dimensional piece again would cost more than the certification."""
    n = cert.model.n
    sums: dict[int, list[Measure]] = {}
    for o, m in zip(cert.outcomes, cert.measures):
        sums.setdefault(o.piece, []).append(m)
    return {k: generators_measure(p.rays, p.lines, n) if n <= 3 else sum_measures(sums[k])
            for k, p in enumerate(cert.decomposition.pieces)}


def build_report(model_or_spec, out_dir: Path, *, samples: int = 10**6, seed: int = 0,
                 max_pieces: int | None = None, max_seconds: float | None = None) -> tuple[list, list[Path]]:
    """Certify the model, draw the figures into ``out_dir`` and return (the document's blocks, figure files)."""
    spec = model_or_spec if isinstance(model_or_spec, str) else load_model(model_or_spec).name
    cert = certify(model_or_spec, max_pieces=max_pieces, max_seconds=max_seconds)
    if cert.model.task.outputs_value:
        return _median_blocks(cert, spec, samples, seed), []
    model = cert.model
    piece_measures = _piece_measures(cert)
    points = [p.interior for p in cert.decomposition.pieces[:MAX_EQUIVALENCE_POINTS]]
    err = cert.error_rate
    headline = (f"Certified accuracy of `{model.name}` on standard Gaussian inputs: **{interval_text(cert.accuracy)}**;"
                f" error rate {interval_text(err)}"
                + (f", about {one_in(float((err.lo + err.hi) / 2))}" if err.hi > 0 else "") + ".")
    figure_blocks, files = _figures(cert, piece_measures, out_dir)
    blocks = [Heading(1, f"Proof report: {model.name}"), Para(headline)]
    blocks += _model_section(spec, model)
    blocks += _standardized_section(standardize(model), points, len(cert.decomposition.pieces))
    blocks += _pieces_section(cert, piece_measures)
    blocks += _accuracy_section(cert)
    blocks += _breakdown_section(cert)
    blocks += _sampling_section(cert, samples, seed)
    blocks += _surprise_section(cert)
    blocks += figure_blocks
    blocks += _semantics_section()
    blocks.append(Para(f"Generated by `verifier report {spec} -o DIR --samples {samples} --seed {seed}`."))
    return blocks, files


def _expectation_text(e, digits: int = DIGITS) -> str:
    """An MSE-like interval, ends rounded outward (not clipped: an expectation may exceed 1)."""
    return f"[{e.lo_str(digits)}, {e.hi_str(digits)}]"


def _median_blocks(cert, spec: str, samples: int, seed: int) -> list:
    """The report of a median model: its certified MSE and RMSE instead of an accuracy."""
    from ..estimate.sampling import estimate_mse
    model, dec = cert.model, cert.decomposition
    mse, rmse = cert.mse, cert.rmse
    kind = "certified" if cert.certified else "ESTIMATE (some cone measures are estimates; not a proof)"
    status = "complete" if cert.complete else f"INCOMPLETE: {cert.stop_reason}"
    points = [p.interior for p in dec.pieces[:MAX_EQUIVALENCE_POINTS]]
    blocks = [Heading(1, f"Proof report: {model.name}"),
              Para(f"Certified mean squared error of `{model.name}` against the median of standard Gaussian inputs: "
                   f"**MSE {_expectation_text(mse)}**, RMSE {_expectation_text(rmse)} ({kind}).")]
    blocks += _model_section(spec, model)
    blocks += _standardized_section(standardize(model), points, len(dec.pieces))
    shares: dict[int, list] = {}
    for c, e in zip(cert.cones, cert.contributions):
        shares.setdefault(c.piece, []).append(e)
    from ..measure.moments import sum_expectations
    order = sorted(shares, key=lambda k: (-sum_expectations(shares[k]).estimate, k))[:MAX_ROWS]
    blocks += [
        Heading(2, "Linear pieces and median cells"),
        Para(f"The exact decomposition has **{len(dec.pieces)} linear pieces** ({status}). Each piece is cut by "
             f"the median cells (which inputs are the middle ones) into {len(cert.cones)} cones; on each cone the "
             "error y(x) - median(x) is one exact linear form c . x, and E[(c . x)^2 1_cone] is computed by "
             "Gaussian integration by parts from the measures of the cone and of its (n-2)-dimensional faces."),
        Table(("piece", "activation pattern", "cones", "MSE share"),
              tuple((f"P{k}", _pattern_text(dec.pieces[k].pattern), str(len(shares[k])),
                     _expectation_text(sum_expectations(shares[k]), 10)) for k in order)),
        Heading(2, "Certified mean squared error"),
        Bullets((f"MSE = E[(y(x) - median(x))^2] in **{_expectation_text(mse)}** ({kind})",
                 f"RMSE in **{_expectation_text(rmse)}**",
                 f"{len(cert.cones)} cones" + ("" if cert.complete else
                                                f"; cones a budget left undecided add at most "
                                                f"{decimal_bound(cert.tail_bound, 6, up=True)} (a proved bound)"))),
        Table(("middle inputs", "inputs above them", "MSE share"),
              tuple((",".join(f"x{i}" for i in cell.middle), ",".join(f"x{i}" for i in cell.above) or "none",
                     _expectation_text(e, 12)) for cell, e in cert.breakdown().items())),
    ]
    est = estimate_mse(model, samples, seed=seed)
    centre = float((mse.lo + mse.hi) / 2)
    z = abs(est.mse - centre) / est.stderr if est.stderr > 0 else 0.0
    blocks += [
        Heading(2, "Comparison with sampling"),
        Para(f"Monte Carlo: {samples:,} standard Gaussian sequences (numpy seed {seed}), float64 forward pass."),
        Table(("samples", "sampled MSE", "stderr", "|difference| / stderr", f"within {WITHIN_STDERR} stderr"),
              ((f"{est.n:,}", f"{est.mse:.8g}", f"{est.stderr:.2e}", f"{z:.2f}",
                "yes" if z <= WITHIN_STDERR or not cert.complete else "**no**"),)),
        Heading(2, "Semantics"),
        Para("Exact real arithmetic on the exact rational values of the stored weights, inputs x ~ N(0, I_n); the "
             "median of an even number of inputs is the mean of the middle two (AlgZoo's task_median). Printed "
             "interval ends are rounded outward, so they remain valid bounds."),
        Para(f"Generated by `verifier report {spec} -o DIR --samples {samples} --seed {seed}`."),
    ]
    return blocks


def write_report(model_or_spec, out_dir, *, samples: int = 10**6, seed: int = 0,
                 max_pieces: int | None = None, max_seconds: float | None = None) -> Path:
    """Write ``out_dir/report.md``, a standalone ``out_dir/report.html`` and the figures; return the .md path."""
    return render_report(model_or_spec, out_dir, samples=samples, seed=seed, max_pieces=max_pieces,
                         max_seconds=max_seconds).markdown


def render_report(model_or_spec, out_dir, *, samples: int = 10**6, seed: int = 0,
                  max_pieces: int | None = None, max_seconds: float | None = None) -> ReportFiles:
    """Like :func:`write_report`, returning every file written."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise VerifierError(f"{out}: exists and is not a folder")
    if samples < 1:
        raise VerifierError(f"number of samples must be positive, got {samples}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise VerifierError(f"{out}: cannot create folder ({e.strerror or e})") from None
    blocks, figures = build_report(model_or_spec, out, samples=samples, seed=seed, max_pieces=max_pieces,
                                   max_seconds=max_seconds)
    md, page = out / "report.md", out / "report.html"
    md.write_text(to_markdown(blocks), encoding="utf-8")
    page.write_text(to_html(blocks, out), encoding="utf-8")
    return ReportFiles(md, page, tuple(figures))


# -- rendering ------------------------------------------------------------------------------

def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks) -> str:
    """The blocks as GitHub-flavoured Markdown.

    >>> print(to_markdown([Heading(2, "A"), Table(("x", "y"), (("1", "a|b"),))]).strip())
    ## A
    <BLANKLINE>
    | x | y |
    |---|---|
    | 1 | a\\|b |
    """
    parts = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append("#" * b.level + " " + b.text)
        elif isinstance(b, Para):
            parts.append(b.text)
        elif isinstance(b, Bullets):
            parts.append("\n".join(f"- {item}" for item in b.items))
        elif isinstance(b, Table):
            lines = ["| " + " | ".join(map(_md_cell, b.header)) + " |", "|" + "---|" * len(b.header)]
            lines += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in b.rows]
            parts.append("\n".join(lines))
        elif isinstance(b, Code):
            parts.append(f"```\n{b.text}\n```")
        elif isinstance(b, Image):
            parts.append(f"![{b.file}]({b.file})\n\n*{b.caption}*")
        else:
            raise TypeError(f"unknown block {b!r}")
    return "\n\n".join(parts) + "\n"


_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*")


def _inline_html(text: str) -> str:
    """Escape text and turn `code` and **bold** into tags.

    >>> _inline_html("a < b, `x*y`, **yes**")
    'a &lt; b, <code>x*y</code>, <strong>yes</strong>'
    """
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(html.escape(text[pos:m.start()], quote=False))
        if m.group(1) is not None:
            out.append(f"<code>{html.escape(m.group(1), quote=False)}</code>")
        else:
            out.append(f"<strong>{html.escape(m.group(2), quote=False)}</strong>")
        pos = m.end()
    out.append(html.escape(text[pos:], quote=False))
    return "".join(out)


_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #eee; padding-bottom: .15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
code { background: #f4f4f4; padding: 0 .2em; border-radius: 3px; font-size: 0.95em; }
pre { background: #f7f7f7; border: 1px solid #e3e3e3; padding: .7em; overflow-x: auto; font-size: 0.85em; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.92em; color: #444; margin-top: .3em; }
"""


def to_html(blocks, image_dir: Path) -> str:
    """The blocks as one standalone HTML page (figures from ``image_dir`` embedded as base64 PNGs)."""
    title = next((b.text for b in blocks if isinstance(b, Heading)), "Proof report")
    body = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{_inline_html(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            body.append(f"<p>{_inline_html(b.text)}</p>")
        elif isinstance(b, Bullets):
            body.append("<ul>\n" + "\n".join(f"<li>{_inline_html(i)}</li>" for i in b.items) + "\n</ul>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{_inline_html(h)}</th>" for h in b.header)
            rows = "\n".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>" for row in b.rows)
            body.append(f"<table>\n<tr>{head}</tr>\n{rows}\n</table>")
        elif isinstance(b, Code):
            body.append(f"<pre>{html.escape(b.text, quote=False)}</pre>")
        elif isinstance(b, Image):
            data = base64.b64encode((image_dir / b.file).read_bytes()).decode("ascii")
            body.append(f'<figure><img alt="{html.escape(b.file)}" src="data:image/png;base64,{data}">'
                        f"<figcaption>{_inline_html(b.caption)}</figcaption></figure>")
        else:
            raise TypeError(f"unknown block {b!r}")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")
