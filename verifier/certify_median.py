"""Certified mean squared error of a median model (AlgZoo's ``ScalarRNN``).

The model's output is piecewise linear on the cones of its decomposition and the median is
linear on each median cell, so on every piece-and-cell cone ``C`` the squared error is
``(c . x)^2`` for one exact rational form ``c``. Its Gaussian integral ``E[(c . x)^2 1_C]`` is
given by :func:`~verifier.measure.moments.quadratic_moment` (the cone's measure and its ridges'
measures, exactly assembled; certified whenever those measures are). The MSE is the sum over all
cones and the RMSE its square root, both rigorous intervals with exact rational endpoints.

A budget that leaves cones undecided (unresolved or unsplit pieces, of total Gaussian mass ``u``)
widens the upper end by a proved bound on their share: with ``K^2 = |W_oh|^2 |W_hi|^2 sum_{s<n}
|W_hh|^(2s)`` (Frobenius norms, exact rationals), ``|y(x)| <= K |x|`` (ReLU is 1-Lipschitz and
fixes 0) and ``median(x)^2 <= |x|^2``, so ``(y - median)^2 <= 2 (K^2 + 1) |x|^2``; on any cone,
``|x|^2`` and the direction of x are independent, so ``E[|x|^2 1_U] = n gamma(U)``. The
undecided share is therefore at most ``2 (K^2 + 1) n u``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from .geometry.decomposition import Decomposition, decompose
from .geometry.median_cones import SquaredErrorCone, piece_squared_error_cones
from .measure import Measure, sum_measures
from .measure.moments import Expectation, cone_faces, quadratic_moment, square_root, sum_expectations, widened
from .models.model import Model
from .models.tasks import MedianCell, median_cells
from .proof.checker import output_gain_squared


@dataclass(frozen=True)
class MSECertification:
    """What ``certify`` proves about a median model: its mean squared error and RMSE."""

    model: Model
    decomposition: Decomposition
    cones: tuple[SquaredErrorCone, ...]
    contributions: tuple[Expectation, ...]   # E[(form . x)^2 1_cone], one per cone
    masses: tuple[Measure, ...]              # the cones' Gaussian measures (they tile the decided pieces)
    unsplit: tuple[int, ...]                 # pieces the time budget left without cones
    seconds: float
    certificate: Path | None = None

    @property
    def complete(self) -> bool:
        return self.decomposition.complete and not self.unsplit

    @property
    def stop_reason(self) -> str | None:
        reasons = [self.decomposition.stop_reason] if self.decomposition.stop_reason else []
        if self.unsplit:
            reasons.append(f"the time budget ran out before {len(self.unsplit)} of"
                           f" {len(self.decomposition.pieces)} pieces were split into median cells")
        return "; ".join(reasons) or None

    @property
    def undecided_mass(self) -> Fraction:
        """An upper bound on the Gaussian mass of the cones a budget left undecided (0 when complete)."""
        if self.complete:
            return Fraction(0)
        decided = sum_measures(self.masses)
        return max(Fraction(1) - decided.lo, Fraction(0))

    @property
    def tail_bound(self) -> Fraction:
        """A proved upper bound on the squared error's share on the undecided cones (module docstring)."""
        return 2 * (output_gain_squared(self.model) + 1) * self.model.n * self.undecided_mass

    @property
    def certified(self) -> bool:
        return all(c.certified for c in self.contributions) and all(m.certified for m in self.masses)

    @property
    def mse(self) -> Expectation:
        """The mean squared error E[(y(x) - median(x))^2]: an interval (widened by the tail bound)."""
        return widened(sum_expectations(self.contributions), self.tail_bound, self.certified)

    @property
    def rmse(self) -> Expectation:
        return square_root(self.mse)

    def breakdown(self) -> dict[MedianCell, Expectation]:
        """The MSE's share per median cell (which inputs are the middle ones)."""
        out: dict[MedianCell, list[Expectation]] = {}
        for c, e in zip(self.cones, self.contributions):
            out.setdefault(c.cell, []).append(e)
        return {cell: sum_expectations(es) for cell, es in sorted(out.items(), key=lambda kv: (kv[0].middle, kv[0].above))}


def score_piece(index: int, piece, cells: tuple[MedianCell, ...], n: int, plackett: bool = False):
    """One piece's cones with their squared-error contributions and masses (the per-piece step);
    ``plackett`` certifies cones of dimension 4 and 5 too (see :func:`~verifier.measure.polyhedron_measure`)."""
    out = []
    for c in piece_squared_error_cones(index, piece, cells, n):
        faces = cone_faces(c.constraints, n, facets=False, plackett=plackett)
        out.append((c, quadratic_moment(c.constraints, n, c.form, faces=faces), faces.measure))
    return out


def certify_median(model: Model, *, max_pieces: int | None = None, max_seconds: float | None = None,
                   progress: bool = False, certificate: str | Path | None = None,
                   plackett: bool = True) -> MSECertification:
    """Certify a median model's MSE and RMSE on standard Gaussian inputs (budgets as in ``certify``);
    ``certificate``: a path to write the proof certificate to; ``plackett``: certify cones of
    dimension 4 and 5 (n = 4, 5) by Plackett's integral instead of estimating their measure."""
    start = time.perf_counter()
    dec = decompose(model, max_pieces=max_pieces, max_seconds=None if max_seconds is None else max_seconds / 2,
                    progress=progress)
    cells = tuple(median_cells(model.n))
    scored, unsplit = [], []
    for index, piece in enumerate(dec.pieces):
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            unsplit.append(index)
        else:
            scored.extend(score_piece(index, piece, cells, model.n, plackett))
    cert = MSECertification(model, dec, tuple(c for c, _, _ in scored), tuple(e for _, e, _ in scored),
                            tuple(m for _, _, m in scored), tuple(unsplit), time.perf_counter() - start)
    if cert.complete:
        check_tiling(cert)
    if certificate is not None:
        from .proof.certificate import write_certificate

        cert = replace(cert, certificate=write_certificate(cert, certificate))
    return cert


def check_tiling(cert: MSECertification) -> None:
    """The cones of a complete run tile R^n: their certified masses must enclose 1."""
    total = sum_measures(cert.masses)
    if total.certified and not total.lo <= 1 <= total.hi:
        raise AssertionError(f"internal error: the cones' masses sum to [{float(total.lo)}, {float(total.hi)}], not 1")
