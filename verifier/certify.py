"""Certified accuracy: decompose, split into correct/error cones, and add up their Gaussian measures.

The result's accuracy and error rate are intervals with exact rational endpoints: sums of
rigorous per-cone enclosures (certified for n <= 3, and wherever a cone's pointed part has
dimension <= 3), or clearly labelled estimates otherwise. When a budget stops the
decomposition early, the unresolved cones' mass widens both intervals, so the answer stays
true, only less sharp.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from .decomposition import Decomposition, decompose
from .loading import load_model
from .measure import Measure, cone_measure, sum_measures as total
from .model import Model
from .outcome import OutcomeCone, outcome_cones
from .tasks import OrderCell

@dataclass(frozen=True)
class Certification:
    """What ``certify`` proves about a model (see the module docstring)."""

    model: Model
    decomposition: Decomposition
    outcomes: tuple[OutcomeCone, ...]
    measures: tuple[Measure, ...]          # one per outcome cone
    unresolved: Measure                    # mass of the cones a budget left undecided
    seconds: float

    @property
    def complete(self) -> bool:
        return self.decomposition.complete

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
        """The correct and error masses and the unresolved mass must enclose 1 (an internal consistency proof)."""
        parts = [self.correct_mass, self.error_mass, self.unresolved]
        lo = sum(p.lo for p in parts)
        hi = sum(p.hi for p in parts)
        if self.certified and not lo <= 1 <= hi:
            raise AssertionError(f"internal error: measures sum to [{float(lo)}, {float(hi)}], not 1")


def _widened(known: Measure, unresolved: Measure) -> Measure:
    """``known`` plus an unknown share of the unresolved mass: [lo, hi + unresolved.hi]."""
    if unresolved.hi == 0:
        return known
    return replace(known, hi=known.hi + unresolved.hi, certified=known.certified and unresolved.certified)


def certify(model, *, max_pieces: int | None = None, max_seconds: float | None = None,
            progress: bool = False) -> Certification:
    """Certify a model's accuracy on standard Gaussian inputs (``model``: a Model or a spec)."""
    model = load_model(model)
    start = time.perf_counter()
    dec = decompose(model, max_pieces=max_pieces, max_seconds=max_seconds, progress=progress)
    outcomes = outcome_cones(dec)
    measures = tuple(cone_measure(o.constraints, model.n) for o in outcomes)  # canonical rows: what a checker recomputes
    unresolved = total(cone_measure(u.constraints, model.n) for u in dec.unresolved)
    cert = Certification(model, dec, outcomes, measures, unresolved, time.perf_counter() - start)
    cert.check_sums_to_one()
    return cert
