"""Certified accuracy: decompose, split into correct/error cones, and add up their Gaussian measures.

The result's accuracy and error rate are intervals with exact rational endpoints: sums of
rigorous per-cone enclosures (certified for n <= 3, and wherever a cone's pointed part has
dimension <= 3), or clearly labelled estimates otherwise. ``max_seconds`` bounds the whole
run: when it stops the decomposition early, or runs out before every piece is split into
outcome cones, the mass left undecided widens both intervals, so the answer stays true, only
less sharp.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from fractions import Fraction

from .geometry.decomposition import Decomposition, decompose
from .models.loading import load_model
from .measure import ZERO, Measure, cone_measure, sum_measures as total
from .models.model import Model
from .geometry.outcome import OutcomeCone, piece_outcomes
from .models.tasks import OrderCell


@dataclass(frozen=True)
class Certification:
    """What ``certify`` proves about a model (see the module docstring)."""

    model: Model
    decomposition: Decomposition
    outcomes: tuple[OutcomeCone, ...]
    measures: tuple[Measure, ...]          # one per outcome cone
    unsplit: tuple[int, ...]               # pieces the time budget left without outcome cones
    unresolved: Measure                    # mass a budget left undecided: 1 - the outcome cones' mass
    seconds: float

    @property
    def complete(self) -> bool:
        return self.decomposition.complete and not self.unsplit

    @property
    def stop_reason(self) -> str | None:
        reasons = [self.decomposition.stop_reason] if self.decomposition.stop_reason else []
        if self.unsplit:
            reasons.append(f"the time budget ran out before {len(self.unsplit)} of"
                           f" {len(self.decomposition.pieces)} pieces were split into outcome cones")
        return "; ".join(reasons) or None

    @property
    def certified(self) -> bool:
        return all(m.certified for m in self.measures) and self.unresolved.certified

    @property
    def correct_mass(self) -> Measure:
        return total(m for o, m in zip(self.outcomes, self.measures) if o.correct)

    @property
    def error_mass(self) -> Measure:
        return total(m for o, m in zip(self.outcomes, self.measures) if not o.correct)

    @property
    def accuracy(self) -> Measure:
        """Interval for the accuracy (widened by the unresolved mass, if any)."""
        return _widened(self.correct_mass, self.unresolved)

    @property
    def error_rate(self) -> Measure:
        return _widened(self.error_mass, self.unresolved)

    def breakdown(self) -> dict[OrderCell, Measure]:
        """Error mass per order cell (for 2nd argmax: per (position of max, position of 2nd))."""
        out: dict[OrderCell, list[Measure]] = {}
        for o, m in zip(self.outcomes, self.measures):
            if not o.correct:
                out.setdefault(o.cell, []).append(m)
        return {cell: total(ms) for cell, ms in sorted(out.items(), key=lambda kv: (kv[0].target, kv[0].above))}

    def check_sums_to_one(self) -> None:
        """For a complete run the correct and error masses must enclose 1 (an internal consistency proof)."""
        lo = self.correct_mass.lo + self.error_mass.lo
        hi = self.correct_mass.hi + self.error_mass.hi
        if self.certified and not lo <= 1 <= hi:
            raise AssertionError(f"internal error: measures sum to [{float(lo)}, {float(hi)}], not 1")


def _widened(known: Measure, unresolved: Measure) -> Measure:
    """``known`` plus an unknown share of the unresolved mass: [lo, hi + unresolved.hi]."""
    if unresolved.hi == 0:
        return known
    return replace(known, hi=min(known.hi + unresolved.hi, Fraction(1)),
                   certified=known.certified and unresolved.certified)


def _complement(decided: Measure) -> Measure:
    """The mass outside the decided cones: everything is covered, so it is 1 minus theirs."""
    return Measure(max(1 - decided.hi, Fraction(0)), 1 - decided.lo, decided.certified, "complement",
                   1 - decided.estimate, decided.stderr)


def certify(model, *, max_pieces: int | None = None, max_seconds: float | None = None,
            progress: bool = False) -> Certification:
    """Certify a model's accuracy on standard Gaussian inputs (``model``: a Model or a spec).

    With ``max_seconds`` the decomposition gets at most half the budget, so that the pieces it
    finds can still be split into outcome cones in the other half.
    """
    model = load_model(model)
    start = time.perf_counter()
    dec = decompose(model, max_pieces=max_pieces, max_seconds=None if max_seconds is None else max_seconds / 2,
                    progress=progress)
    cells = tuple(model.task.cells(model.n))
    outcomes: list[OutcomeCone] = []
    unsplit = []
    for index, piece in enumerate(dec.pieces):
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            unsplit.append(index)
        else:
            outcomes.extend(piece_outcomes(index, piece, cells, model.n))
    # canonical (minimized, sorted) rows: exactly what the independent checker recomputes
    measures = tuple(cone_measure(o.constraints, model.n) for o in outcomes)
    complete = dec.complete and not unsplit
    unresolved = ZERO if complete else _complement(total(measures))
    cert = Certification(model, dec, tuple(outcomes), measures, tuple(unsplit), unresolved,
                         time.perf_counter() - start)
    if complete:
        cert.check_sums_to_one()
    return cert
