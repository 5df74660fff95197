"""Great circles: the exact fraction of a random great circle on which the model answers right.

Draw x, y ~ N(0, I_n) independently. For every fixed angle t, z(t) = x cos t + y sin t is
N(0, I_n), so the fraction F of t in [0, 2 pi) where the model is right at z(t) has mean equal
to the accuracy: one unit is one circle, its value F (an unbiased estimate; circles are i.i.d.).

Walking a circle. The model is positively homogeneous and piecewise linear, so on an arc where
the activation pattern is fixed, every pre-activation, hidden state and logit is
``a cos t + b sin t``. A quantity with value v and derivative v' at t is ``v cos s + v' sin s``
at t + s, whose next root is ``s = pi/2 + atan(v' / v)``: closed form, increasing in v' / v, so
the nearest root over all quantities takes one atan per circle. At the current angle t the walk
runs the network on the rotated basis z(t), z'(t) (each quantity's value and derivative come out
directly) and decides the pattern step by step (a neuron is on iff its value is > 0), the
target by sorting z(t), and the answer from the target's logit gaps L_target - L_j (right iff
every gap is > 0, or exactly 0 for j after the target: the first maximal logit wins, as in
PyTorch's argmax). It then advances to the nearest root among all pre-activations, the
differences z_target - z_j (the target changes only where it meets another input) and the gaps,
crediting the arc if the answer was right. Nothing changes strictly inside an arc.

Ties and rounding (float64; a randomized estimate, not a certified number):

* The state at t and the distance to each quantity's next root come from the same computed
  value v, so they agree: a quantity decided "on" at t has its next root where it turns off.
* Every step overshoots its event by ``MIN_ARC`` (1e-10 rad), crediting the state decided at t
  over it, so the event just crossed reads as crossed at the next angle (a rounded value
  exactly at its root could read either way) and the walk always progresses; events closer
  than ``MIN_ARC`` are merged. Each step can misplace at most ``MIN_ARC / 2 pi`` of the value:
  the walk counts its arcs (:class:`Work`), so the bound ``arcs * MIN_ARC / (2 pi circles)`` on
  this bias is known (about 5e-9 on M16,10, far below any standard error).
* A logit gap whose coefficients are both below ``TIE`` (1e-9) times the logits' scale
  (sum over neurons of max |W_oh| |h|) is an exact tie on the whole arc (structural ties, as in
  ``handcrafted:10``, otherwise read as rounding noise); then the first index wins. Gaps that
  are identically zero (equal readout rows, no active neuron) are exactly zero anyway.
  Quantities that are identically zero have no root. Inputs tie only on a null set of circles.
* How many circles a budget buys depends on the clock, and a batch's time on its circles' arc
  counts, which correlate weakly with their values: a ratio-estimator effect of order 1/units
  against a standard error of order 1/sqrt(units).

Cost: per arc the walk runs the network on two vectors (counted as 2 forward passes) plus a
division and a minimum for every pre-activation, order difference and gap. A circle of M16,10
crosses about 280 arcs, so it costs about as much as 1,700 plain samples in numpy
(``benchmarks/bench_estimate.py``). The circles of a batch walk in lockstep, one arc per numpy
step, so a batch takes as many steps as its longest circle has arcs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernel import Weights

TWO_PI = 2 * np.pi
MIN_ARC = 1e-10   # every step overshoots its event by this much (events closer than this are merged)
TIE = 1e-9        # logit gaps below this times the logits' scale are exact ties


@dataclass
class Work:
    """What the walks did so far: circles and arcs walked."""

    circles: int = 0
    arcs: int = 0

    @property
    def forward_passes(self) -> float:
        """Forward-pass equivalents: each arc runs the network on two vectors, z(t) and z'(t)."""
        return 2.0 * self.arcs

    @property
    def bias_bound(self) -> float:
        """Bound on the mean's error from the overshoots (each misplaces at most MIN_ARC / 2 pi)."""
        return self.arcs * MIN_ARC / TWO_PI / max(self.circles, 1)


def _steepest(v: np.ndarray, dv: np.ndarray) -> np.ndarray:
    """Column-wise least dv / v, which orders the next roots (NaN for identically zero quantities).

    The next root of v cos s + dv sin s after s = 0 is s = pi/2 + atan(dv / v) in (0, pi), increasing
    in dv / v, so the nearest root over many quantities needs one atan per column. A value that is
    exactly 0 but moving is given -inf (root at s = 0): the state is re-decided just past it.
    """
    r = dv / v                                     # the caller silences 0/0 and x/0
    zero = v == 0
    if zero.any():
        r[zero & (dv != 0)] = -np.inf
    return np.fmin.reduce(r, axis=0)


def circle_fractions(w: Weights, x: np.ndarray, y: np.ndarray, work: Work | None = None) -> np.ndarray:
    """Exact fraction of each circle x_i cos t + y_i sin t (rows of ``x``, ``y``: (C, n)) where the model is right."""
    w = Weights(*(a.astype(np.float64) for a in (w.w_hi, w.w_hh, w.w_oh)), w.above)
    xs = np.ascontiguousarray(np.asarray(x, dtype=np.float64).T)       # (n, C)
    ys = np.ascontiguousarray(np.asarray(y, dtype=np.float64).T)
    theta = np.zeros(xs.shape[1])
    right = np.zeros(xs.shape[1])
    live = np.arange(xs.shape[1])                                       # circles still walking
    arcs = 0
    with np.errstate(divide="ignore", invalid="ignore"):               # dv / v of zero values
        while live.size:
            c, s = np.cos(theta[live]), np.sin(theta[live])
            nearest, ok = _next_event(w, c * xs[:, live] + s * ys[:, live], c * ys[:, live] - s * xs[:, live])
            left = TWO_PI - theta[live]
            arc = np.minimum(nearest + MIN_ARC, left)
            right[live] += np.where(ok, arc, 0.0)
            theta[live] += arc
            arcs += live.size
            live = live[arc < left]
    if work is not None:
        work.circles += xs.shape[1]
        work.arcs += arcs
    return right / TWO_PI


def _next_event(w: Weights, z: np.ndarray, dz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the next event and the answer (right?) just after the current angles.

    ``z``, ``dz`` (n, m): the points z(t) and their derivatives z'(t), one column per circle.
    """
    n, m = z.shape
    least = np.full(m, np.nan)                                          # least dv / v so far
    h = np.zeros((w.d, 2 * m))                                          # [values at t | derivatives]
    for step in range(n):
        h = w.w_hh @ h
        h[:, :m] += w.w_hi[:, None] * z[step]
        h[:, m:] += w.w_hi[:, None] * dz[step]
        v = h[:, :m]
        np.fmin(least, _steepest(v, h[:, m:]), out=least)
        on = v > 0
        h[:, :m] *= on
        h[:, m:] *= on
    cols = np.arange(m)
    target = np.argsort(z, axis=0, kind="stable")[n - 1 - w.above]
    np.fmin(least, _steepest(z[target, cols] - z, dz[target, cols] - dz), out=least)
    logits = w.w_oh @ h                                                 # (n, 2m)
    gap = logits[target, cols] - logits[:, :m]                          # L_target - L_j and derivative
    dgap = logits[target, m + cols] - logits[:, m:]
    scale = np.abs(w.w_oh).max(axis=0, initial=0.0) @ (np.abs(h[:, :m]) + np.abs(h[:, m:]))
    tie = np.abs(gap) + np.abs(dgap) <= TIE * scale
    gap[tie] = 0.0
    dgap[tie] = 0.0
    np.fmin(least, _steepest(gap, dgap), out=least)
    ok = ((gap > 0) | ((gap == 0) & (np.arange(n)[:, None] >= target))).all(axis=0)
    return np.where(np.isnan(least), np.inf, np.pi / 2 + np.arctan(least)), ok


def batch(w: Weights, work: Work | None = None):
    """``batch(rng, size)``: the right fraction of ``size`` random great circles (work counted in ``work``)."""

    def draw(rng: np.random.Generator, size: int) -> np.ndarray:
        xy = rng.standard_normal((2, size, w.n))
        return circle_fractions(w, xy[0], xy[1], work)

    return draw
