"""Conditional Monte Carlo: integrate the last input exactly.

One unit is a Gaussian prefix x_0..x_{n-2}; its value is q = P(right answer | prefix), exactly
(up to float64 rounding). Given the prefix, the last step is piecewise linear in s = x_{n-1}:
neuron k switches at s = -(W_hh h)_k / (W_hi)_k, so the logits are A + B s on at most d + 1
segments, and the target changes only where s passes the prefix's order statistics around the
target's rank (2 more breakpoints). The breakpoints are sorted, and A, B are carried across them
by rank-1 updates (one column of W_oh per crossing), a cumulative sum. On each segment the
target t is fixed and "logit t is the first maximum" is an intersection of half-lines in s, so
the right answers form one interval per segment, whose Gaussian mass is ndtr(hi) - ndtr(lo).
When no neuron is active every logit is exactly 0 and the first position wins (PyTorch's rule):
segments with zero active neurons are set to exactly zero logits.

Removes E[q(1-q)], the last input's share of p(1-p) (about half on M16,10), but each unit costs
far more than a forward pass in numpy (see benchmarks/results/estimate.txt).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from .kernel import Weights, run, top_ranks


def prefix_correct_mass(w: Weights, prefix: np.ndarray) -> np.ndarray:
    """P(right answer | x_0..x_{n-2} = prefix row) for each row of ``prefix`` (B, n-1), float64."""
    w_hi, w_hh, w_oh = (a.astype(np.float64) for a in (w.w_hi, w.w_hh, w.w_oh))
    n, size = w_oh.shape[0], prefix.shape[0]
    prefix = np.asarray(prefix, dtype=np.float64)
    h = run(Weights(w_hi, w_hh, w_oh, w.above), np.ascontiguousarray(prefix.T)) if n > 1 else \
        np.zeros((len(w_hi), size))
    pre = (w_hh @ h).T                                   # (B, d): the last step's input-free part
    moving = w_hi != 0
    slope, base = w_hi[moving], pre[:, moving]
    on_at_minus_inf = (w_hi < 0) | ((w_hi == 0) & (pre > 0))
    a0 = (pre * on_at_minus_inf) @ w_oh.T                # logits = a0 + b0 s far to the left
    b0 = (on_at_minus_inf * w_hi) @ w_oh.T
    # breakpoints: neuron switches, then the two order statistics around the target's rank
    top_pos, top_val = (a.T for a in top_ranks(prefix.T, w.above))
    above = w.above
    up_pos = top_pos[:, above - 1:above] if above else np.full((size, 1), -1)
    up_val = top_val[:, above - 1:above] if above else np.full((size, 1), np.inf)
    lo_pos, lo_val = top_pos[:, above:above + 1], top_val[:, above:above + 1]
    cuts = np.concatenate([-base / slope, lo_val, up_val], axis=1)
    order = np.argsort(cuts, axis=1)
    cuts = np.take_along_axis(cuts, order, axis=1)
    k = slope.size
    sign = np.concatenate([np.sign(slope), [0.0, 0.0]])
    da = np.concatenate([(base * np.sign(slope))[:, :, None] * w_oh.T[moving][None],
                         np.zeros((size, 2, n))], axis=1)
    db = np.concatenate([np.broadcast_to(np.abs(slope)[:, None] * w_oh.T[moving], (size, k, n)),
                         np.zeros((size, 2, n))], axis=1)
    a = np.concatenate([a0[:, None], a0[:, None] + np.cumsum(np.take_along_axis(da, order[:, :, None], 1), 1)], 1)
    b = np.concatenate([b0[:, None], b0[:, None] + np.cumsum(np.take_along_axis(db, order[:, :, None], 1), 1)], 1)
    active = on_at_minus_inf.sum(1)[:, None] + np.concatenate(
        [np.zeros((size, 1)), np.cumsum(sign[order], axis=1)], axis=1)
    idle = active == 0
    a[idle] = 0.0
    b[idle] = 0.0
    # target on each segment: the order breakpoints passed so far (0, 1 or 2) pick it
    passed = np.concatenate([np.zeros((size, 1), dtype=np.intp), np.cumsum(order >= k, axis=1)], axis=1)
    choices = np.stack([lo_pos[:, 0], np.full(size, n - 1), up_pos[:, 0]], axis=1)
    t = np.take_along_axis(choices, passed, axis=1)                       # (B, S)
    gap_a = np.take_along_axis(a, t[:, :, None], 2) - a                 # logit t minus logit j
    gap_b = np.take_along_axis(b, t[:, :, None], 2) - b
    with np.errstate(divide="ignore", invalid="ignore"):
        root = -gap_a / gap_b
    lo = np.max(np.where(gap_b > 0, root, -np.inf), axis=2)
    hi = np.min(np.where(gap_b < 0, root, np.inf), axis=2)
    j = np.arange(n)[None, None]
    # constant gaps decide the whole segment: j < t must lose strictly, j > t may tie
    never = ((gap_b == 0) & ((gap_a < 0) | ((gap_a == 0) & (j < t[:, :, None])))).any(axis=2)
    left = np.concatenate([np.full((size, 1), -np.inf), cuts], axis=1)
    right = np.concatenate([cuts, np.full((size, 1), np.inf)], axis=1)
    lo, hi = np.maximum(lo, left), np.minimum(hi, right)
    return np.where(~never & (hi > lo), ndtr(hi) - ndtr(lo), 0.0).sum(axis=1)


def batch(w: Weights):
    """``batch(rng, size)``: P(right | prefix) for ``size`` Gaussian prefixes."""

    def draw(rng: np.random.Generator, size: int) -> np.ndarray:
        return prefix_correct_mass(w, rng.standard_normal((size, w.n - 1)))

    return draw


def forward_passes(w: Weights) -> float:
    """Forward-pass equivalents per unit (RNN steps / n; the segment walk is extra, see the benchmark)."""
    return (w.n - 1) / w.n
