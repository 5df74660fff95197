"""Certified accuracy: decompose, split into correct/error cones, and add up their Gaussian measures.

The result's accuracy and error rate are intervals with exact rational endpoints: sums of
rigorous per-cone enclosures (certified for n <= 3, and wherever a cone's pointed part has
dimension <= 3), or clearly labelled estimates otherwise. The work streams
(:mod:`verifier.pipeline`): each piece is split and measured as soon as it is found, so a run
keeps running totals, not pieces; ``keep=True`` also keeps the pieces, cones and measures
(for reports and the explain tools, on small models).

``max_seconds`` bounds the whole run, certificate included: when it runs out (or on Ctrl-C),
the cones left open widen both intervals by their mass, so the answer stays true, only less
sharp. ``workers`` processes (or a dask.distributed ``scheduler``) walk independent subtrees;
the result is the same as a serial run's.

A median model (one output) goes through the same pipeline with the squared-error scoring of
:mod:`verifier.certify_median`, and gets its certified MSE and RMSE instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

from .errors import VerifierError
from .geometry.decomposition import Decomposition, SplitEvent, build_tree
from .geometry.outcome import OutcomeCone
from .measure import ZERO, Measure
from .models.loading import load_model
from .models.model import Model
from .models.tasks import OrderCell
from .pipeline import (ACCURACY, CORRECT_SIDE_ACCURACY, ERROR_SIDE_ACCURACY, ESTIMATED_ACCURACY, Run, Tally, preorder,
                       run)

# The output (certificate, unresolved cones' measures) gets this share of a time budget.
OUTPUT_SHARE = 0.05


@dataclass(frozen=True)
class RunResult:
    """What every ``certify`` run has, whatever it scores: the model, the running totals, why it
    stopped early (None when complete), seconds in all and per stage (walk, outcomes, measure,
    output), the workers, and with ``keep=True`` the decomposition; the certificate's path if one
    was written."""

    model: Model
    tally: Tally                           # a median run's: a :class:`~verifier.certify_median.MSETally`
    stop_reason: str | None
    seconds: float
    stages: dict
    workers: int
    decomposition: Decomposition | None = None
    certificate: Path | None = None

    @property
    def complete(self) -> bool:
        return self.tally.unresolved == 0

    @property
    def pieces(self) -> int:
        return self.tally.pieces

    @property
    def unresolved_cones(self) -> int:
        return self.tally.unresolved


@dataclass(frozen=True)
class Certification(RunResult):
    """What ``certify`` proves about a model's accuracy (see the module docstring).

    ``outcomes`` and ``measures`` (one per outcome cone) are kept only with ``keep=True``; the
    totals are always there.
    """

    unresolved: Measure = field(kw_only=True)  # mass a budget left undecided: 1 - the outcome cones' mass
    outcomes: tuple[OutcomeCone, ...] = ()
    measures: tuple[Measure, ...] = ()

    @property
    def cones(self) -> int:
        return self.tally.correct.count + self.tally.errors.count

    @property
    def error_cones(self) -> int:
        return self.tally.errors.count

    @property
    def certified(self) -> bool:
        return self.tally.correct.certified and self.tally.errors.certified and self.unresolved.certified

    @property
    def correct_mass(self) -> Measure:
        return self.tally.correct.measure()

    @property
    def error_mass(self) -> Measure:
        return self.tally.errors.measure()

    @property
    def accuracy(self) -> Measure:
        """Interval for the accuracy (widened by the unresolved mass, if any; see :func:`_rate`)."""
        return _rate(self.correct_mass, self.error_mass, self.unresolved)

    @property
    def error_rate(self) -> Measure:
        return _rate(self.error_mass, self.correct_mass, self.unresolved)

    def breakdown(self) -> dict[OrderCell, Measure]:
        """Error mass per order cell (for 2nd argmax: per (position of max, position of 2nd))."""
        return {cell: s.measure() for cell, s in sorted(self.tally.by_cell.items(),
                                                         key=lambda kv: (kv[0].target, kv[0].above))}

    def check_tiling(self) -> None:
        """For a complete run the correct and error masses must enclose 1 (an internal consistency proof)."""
        lo = self.correct_mass.lo + self.error_mass.lo
        hi = self.correct_mass.hi + self.error_mass.hi
        if self.certified and not lo <= 1 <= hi:
            raise AssertionError(f"internal error: measures sum to [{float(lo)}, {float(hi)}], not 1")


def _rate(own: Measure, other: Measure, unresolved: Measure) -> Measure:
    """A rate from its own cones' mass and the complement of the other side's, the unresolved mass
    undecided between them (:func:`~verifier.proof.checker.rate_bounds`, what certificates state)."""
    from .proof.checker import rate_bounds  # lazily: the checker is not needed to start a run
    lo, hi = rate_bounds(own, other, unresolved.hi)
    return replace(own, lo=lo, hi=hi, certified=own.certified and unresolved.certified,
                   estimate=min(max(own.estimate, float(lo)), float(hi)))


def _complement(decided: Measure) -> Measure:
    """The mass outside the decided cones: everything is covered, so it is 1 minus theirs."""
    return Measure(max(1 - decided.hi, Fraction(0)), min(1 - decided.lo, Fraction(1)), decided.certified,
                   "complement", 1 - decided.estimate, decided.stderr)


def certify(model, *, max_pieces: int | None = None, max_seconds: float | None = None, progress: bool = False,
            workers: int = 1, scheduler=None, keep: bool = True, certificate: str | Path | None = None,
            started: float | None = None, plackett: bool = True, integrate: str = "both"):
    """Certify a model's accuracy on standard Gaussian inputs (``model``: a Model or a spec), or a
    median model's mean squared error: a :class:`Certification`, or a
    :class:`~verifier.certify_median.MSECertification` for a median model (same pipeline and options).

    ``plackett``: certify cones of dimension 4 and 5 by Plackett's integral (about 0.1 s per
    4-dimensional simplex; see :func:`~verifier.measure.polyhedron_measure`); False estimates them
    by quasi-Monte Carlo (milliseconds per cone, labelled estimates). Cones of dimension 6 and
    more are always estimated. ``integrate``: ``"both"`` sides, or only the ``"errors"`` or only
    the ``"correct"`` cones; a cone of the other side that needs an integral gets the bound
    [0, 1/2], and that side's rate is 1 minus this one's. A complete run gets the same interval
    with a fraction of the work (the side with fewer simplices: about half at n = 4, 5); a
    budgeted run gets a wider one (its unresolved mass is larger), and with ``"correct"`` the
    error breakdown per order cell is only bounded. Needs ``plackett``; accuracy models only.

    ``workers``: processes for independent subtrees (``os.cpu_count()`` for all cores);
    ``scheduler``: a dask.distributed address (or Client) instead. ``keep``: keep the pieces,
    cones and measures in memory (False streams: constant memory). ``certificate``: a path to
    write the proof certificate to, incrementally. ``started``: the ``time.time()`` the budget
    counts from (default: now; the CLI passes its process's start).
    """
    model = load_model(model)
    if max_pieces is not None and max_pieces < 0:
        raise VerifierError(f"max_pieces must be >= 0, got {max_pieces}")
    if max_seconds is not None and not max_seconds >= 0:
        raise VerifierError(f"max_seconds must be >= 0, got {max_seconds}")
    if workers < 1:
        raise VerifierError(f"workers must be >= 1, got {workers}")
    median = model.task.outputs_value   # a median model: scored by its mean squared error, not accuracy
    sides = {"both": ACCURACY, "errors": ERROR_SIDE_ACCURACY, "correct": CORRECT_SIDE_ACCURACY}
    if integrate not in sides:
        raise VerifierError(f"integrate must be one of {', '.join(sides)}, got {integrate!r}")
    if integrate != "both" and (median or not plackett):
        raise VerifierError("integrating one side needs certified measures (not --qmc) and a position task, "
                            "not a median model")
    if median:
        from .certify_median import ESTIMATED_MSE, MSE
        scoring = MSE if plackett else ESTIMATED_MSE
    else:
        scoring = sides[integrate] if plackett else ESTIMATED_ACCURACY
    start = time.perf_counter()
    deadline = grace = None
    if max_seconds is not None:
        # workers stop 2 margins before the end, the pipeline stops waiting for them 1 margin before
        # it; the certificate (and the unresolved cones' measures in it) gets its own share
        margin = min(1.0, 0.04 * max_seconds)
        reserve = OUTPUT_SHARE * max_seconds if certificate is not None else 0.0
        deadline = (time.time() if started is None else started) + max_seconds - reserve - 2 * margin
        grace = margin
    spill = tempfile.mkdtemp(prefix=".certify-", dir=Path(certificate).parent if certificate else None) \
        if certificate is not None else None
    try:
        r = run(model, workers=workers, scheduler=scheduler, deadline=deadline, max_pieces=max_pieces, keep=keep,
                certificate=certificate is not None, spill=spill, progress=progress, grace=grace, scoring=scoring)
        cert = (_mse_result if median else _accuracy_result)(model, r, keep, time.perf_counter() - start)
        if certificate is not None:
            from .proof.certificate import write_run
            t0 = time.perf_counter()
            path = write_run(r, model, certificate, time.perf_counter() - start, cert.stop_reason)
            cert.stages["output"] = time.perf_counter() - t0
            cert = replace(cert, certificate=path)
    finally:
        if spill is not None:
            shutil.rmtree(spill, ignore_errors=True)
    cert = replace(cert, seconds=time.perf_counter() - start)
    if cert.complete:
        cert.check_tiling()
    return cert


def _accuracy_result(model: Model, r: Run, keep: bool, seconds: float) -> Certification:
    decided = r.tally.correct.measure() + r.tally.errors.measure() if r.tally.pieces else ZERO
    unresolved = ZERO if r.tally.unresolved == 0 else _complement(decided)
    kept = {}
    if keep:
        dec, cones, values = _kept(model, r, seconds)
        kept = {"decomposition": dec, "outcomes": cones, "measures": values}
    return Certification(model, r.tally, _reason(r), 0.0, dict(r.seconds), r.workers, unresolved=unresolved, **kept)


def _mse_result(model: Model, r: Run, keep: bool, seconds: float):
    from .certify_median import MSECertification
    kept = {}
    if keep:
        dec, cones, values = _kept(model, r, seconds)
        kept = {"decomposition": dec, "cones": cones, "contributions": tuple(e for e, _ in values),
                "masses": tuple(m for _, m in values)}
    return MSECertification(model, r.tally, _reason(r), 0.0, dict(r.seconds), r.workers, **kept)


def _reason(r: Run) -> str | None:
    if not r.tally.unresolved:
        return None
    why = r.stop_reason or "stopped"
    return f"{why}: {r.tally.pieces} pieces resolved, {r.tally.unresolved} cones left unresolved"


def _kept(model: Model, r: Run, seconds: float) -> tuple[Decomposition, tuple, tuple]:
    """The decomposition of a ``keep`` run, and its cones and their values, in the tree's preorder."""
    pieces, unresolved, cones, values = [], [], [], []
    kept = {number: iter(part.kept) for number, part in r.parts.items()}

    def events():
        for node, part, cone in preorder(r):
            if node[0] == "S":
                yield SplitEvent(*node[1:])
            elif node[0] == "U":
                yield cone
            else:
                piece, scored = next(kept[part.number])
                index = len(pieces)
                cones.extend(replace(c, piece=index) for c, _ in scored)
                values.extend(v for _, v in scored)
                yield piece
    tree = build_tree(events(), pieces, unresolved)
    dec = Decomposition(model, tuple(pieces), tree, not unresolved, _reason(r), tuple(unresolved),
                        r.seconds.get("walk", seconds))
    return dec, tuple(cones), tuple(values)


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1

