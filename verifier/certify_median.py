"""Certified mean squared error of a median model (AlgZoo's ``ScalarRNN``): its scoring in the pipeline.

The model's output is piecewise linear on the cones of its decomposition and the median is
linear on each median cell, so on every piece-and-cell cone ``C`` the squared error is
``(c . x)^2`` for one exact rational form ``c``. Its Gaussian integral ``E[(c . x)^2 1_C]`` is
given by :func:`~verifier.measure.moments.quadratic_moment` (the cone's measure and its ridges'
measures, exactly assembled; certified whenever those measures are). The MSE is the sum over all
cones and the RMSE its square root, both rigorous intervals with exact rational endpoints.

The work is the streaming pipeline's (:mod:`verifier.pipeline`, reached through
:func:`verifier.certify.certify`) with the scoring :data:`MSE`: each piece is cut by the median
cells as soon as the walk finds it, each cone scored by its squared-error integral and its
measure, and a run keeps only the running sums (:class:`MSETally`) -- on any number of workers
or a dask cluster, with the same budgets and certificates as accuracy.

A budget that leaves cones undecided (of total Gaussian mass ``u``) widens the upper end by a
proved bound on their share: with ``K^2 = |W_oh|^2 |W_hi|^2 sum_{s<n} |W_hh|^(2s)`` (Frobenius
norms, exact rationals), ``|y(x)| <= K |x|`` (ReLU is 1-Lipschitz and fixes 0) and
``median(x)^2 <= |x|^2``, so ``(y - median)^2 <= 2 (K^2 + 1) |x|^2``; on any cone, ``|x|^2`` and
the direction of x are independent, so ``E[|x|^2 1_U] = n gamma(U)``. The undecided share is
therefore at most ``2 (K^2 + 1) n u`` (:func:`~verifier.proof.checker.median_mse`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from .certify import RunResult
from .geometry.median_cones import SquaredErrorCone, piece_squared_error_cones
from .measure import Measure
from .measure.moments import Expectation, cone_faces, expectation_total, quadratic_moment, square_root
from .measure.solid_angle import IntervalSum
from .models.model import Model
from .models.tasks import MedianCell, median_cells
from .pipeline import Scoring
from .proof.checker import Sums, median_mse


# -- the scoring -----------------------------------------------------------------------------

@dataclass
class MSETally:
    """What a median run keeps: the squared-error integrals' sum, the cones' masses, the share per
    median cell, counts (all exact, order-independent sums)."""

    squared_error: IntervalSum = field(default_factory=IntervalSum)
    masses: IntervalSum = field(default_factory=IntervalSum)
    by_cell: dict = field(default_factory=dict)       # MedianCell -> IntervalSum of its cones' squared errors
    pieces: int = 0
    unresolved: int = 0

    def add_piece(self, cones: list[tuple[SquaredErrorCone, tuple[Expectation, Measure]]]) -> None:
        self.pieces += 1
        for c, (e, m) in cones:
            self.squared_error.add(e)
            self.masses.add(m)
            self.by_cell.setdefault(c.cell, IntervalSum()).add(e)

    def merge(self, other: MSETally) -> None:
        self.squared_error.merge(other.squared_error)
        self.masses.merge(other.masses)
        for cell, s in other.by_cell.items():
            self.by_cell.setdefault(cell, IntervalSum()).merge(s)
        self.pieces += other.pieces
        self.unresolved += other.unresolved


def _median_cells(model: Model) -> tuple[MedianCell, ...]:
    return tuple(median_cells(model.n))


def _squared_error(c: SquaredErrorCone, n: int, stop=None, plackett: bool = True) -> tuple[Expectation, Measure]:
    """``E[(form . x)^2 1_cone]`` and the cone's measure; ``plackett`` certifies cones of dimension
    4 and 5 too (see :func:`~verifier.measure.polyhedron_measure`), else they are estimated."""
    faces = cone_faces(c.constraints, n, facets=False, plackett=plackett, stop=stop if plackett else None)
    return quadratic_moment(c.constraints, n, c.form, faces=faces), faces.measure


def _estimated_squared_error(c: SquaredErrorCone, n: int, stop=None) -> tuple[Expectation, Measure]:
    return _squared_error(c, n, plackett=False)


def squared_error_entry(c: SquaredErrorCone, value: tuple[Expectation, Measure]) -> dict:
    """One cone in a median certificate (the format is the checker's)."""
    from .exact import rational_str
    from .proof.checker import expectation_json, measure_json, median_cell_json
    e, m = value
    return {"cell": median_cell_json(c.cell), "constraints": [list(r) for r in c.constraints],
            "form": [rational_str(v) for v in c.form], "squared_error": expectation_json(e), "measure": measure_json(m)}


MSE = Scoring(_squared_error, _median_cells, piece_squared_error_cones, MSETally, squared_error_entry)
ESTIMATED_MSE = Scoring(_estimated_squared_error, _median_cells, piece_squared_error_cones, MSETally,
                        squared_error_entry)   # --qmc: cones of dimension 4, 5 estimated


# -- the result ------------------------------------------------------------------------------

@dataclass(frozen=True)
class MSECertification(RunResult):
    """What ``certify`` proves about a median model: its mean squared error and RMSE.

    ``cones``, ``contributions`` (E[(form . x)^2 1_cone], one per cone) and ``masses`` (the cones'
    measures) are kept only with ``keep=True``; the totals are always there.
    """

    cones: tuple[SquaredErrorCone, ...] = ()
    contributions: tuple[Expectation, ...] = ()
    masses: tuple[Measure, ...] = ()

    @property
    def cone_count(self) -> int:
        return self.tally.masses.count

    def _bounds(self) -> tuple[Expectation, Fraction, Fraction]:
        return median_mse(expectation_total(self.tally.squared_error), Sums.of_total(self.tally.masses), self.tally.unresolved,
                          self.model)

    @property
    def undecided_mass(self) -> Fraction:
        """An upper bound on the Gaussian mass of the cones a budget left undecided (0 when complete)."""
        return self._bounds()[1]

    @property
    def tail_bound(self) -> Fraction:
        """A proved upper bound on the squared error's share on the undecided cones (module docstring)."""
        return self._bounds()[2]

    @property
    def certified(self) -> bool:
        return self.tally.squared_error.estimated == 0 and self.tally.masses.certified

    @property
    def mse(self) -> Expectation:
        """The mean squared error E[(y(x) - median(x))^2]: an interval (widened by the tail bound)."""
        return self._bounds()[0]

    @property
    def rmse(self) -> Expectation:
        return square_root(self.mse)

    def breakdown(self) -> dict[MedianCell, Expectation]:
        """The MSE's share per median cell (which inputs are the middle ones)."""
        return {cell: expectation_total(s) for cell, s in sorted(self.tally.by_cell.items(),
                                                      key=lambda kv: (kv[0].middle, kv[0].above))}

    def check_tiling(self) -> None:
        """The cones of a complete run tile R^n: their certified masses must enclose 1."""
        total = self.tally.masses
        if total.certified and not total.lo <= 1 <= total.hi:
            raise AssertionError(f"internal error: the cones' masses sum to [{float(total.lo)}, {float(total.hi)}],"
                                 " not 1")
