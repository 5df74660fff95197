"""A deterministic estimate: Gaussian-mixture moment propagation, split on ReLU half-spaces.

The idea of splitting a Gaussian mixture on ReLU half-spaces follows Gabriel Wu's GMHP
(GabrielDWu/piecewise-constant-objectives); this is a small independent design, not a port.
No random input is drawn. The joint state v = (x, h_t) starts as the exact Gaussian
N(0, I_n) x {0} and is carried through the n steps as a mixture of Gaussians:

* the pre-activations are linear in v, so their moments are exact;
* while the mixture has fewer than ``components`` Gaussians, every component is split on the
  half-spaces {a_k > 0} and {a_k < 0} of its most uncertain neuron (weights Phi(+-mu/sigma),
  exact moments of each truncated side); on each side that neuron is then linear (identity
  or zero) for this step;
* every other ReLU is moment-matched: exact mean and variance of ReLU(a), covariances with the
  inputs by Stein's lemma (exact), between two neurons the linearisation Phi_k Phi_l Cov(a_k, a_l).

At the end each component is a Gaussian over (x, logits). The right answers are the union over
the n(n-1) order cells (i, j) of {x_i > x_j > every other x, logit t is the largest}, t the
target (j for 2nd argmax, i for argmax): 2n - 3 half-spaces each. Their Gaussian probability is
approximated by truncating on one half-space after another and moment-matching (the product
of the successive probabilities).

Biases, none of them bounded by the method: moment matching, the linearised covariances, the
sequential orthant approximation, and exact logit ties (h_n = 0 has positive probability, and
PyTorch then answers position 0), which a Gaussian gives zero mass. The benchmark measures the
resulting error. Stated bias at 64 components (estimate minus certified accuracy, checked by
tests/test_estimate.py): M2,2 -0.044, trained:4:3 -0.489, handcrafted:3 -0.682. It is far
worse than sampling: the Gaussian family forgets which input is larger, and the task is
nothing but that comparison.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from .kernel import Weights

_SQRT_2PI = np.sqrt(2 * np.pi)


def _phi(z):
    return np.exp(-0.5 * z * z) / _SQRT_2PI


def _split(weight, mu, cov, direction):
    """Condition each Gaussian (rows) on direction . v > 0 and < 0: (weights, means, covs) for both sides."""
    direction = np.broadcast_to(direction, mu.shape)
    ma = np.einsum("nd,nd->n", mu, direction)
    cv = np.einsum("nde,ne->nd", cov, direction)
    va = np.maximum(np.einsum("nd,nd->n", cv, direction), 1e-300)
    sa = np.sqrt(va)
    out = []
    for sign in (1.0, -1.0):
        alpha = sign * ma / sa
        p = ndtr(alpha)
        lam = _phi(alpha) / np.maximum(p, 1e-300)
        shift = sign * sa * lam                                  # E[a | side] - mu_a
        shrink = lam * (lam + alpha)                             # 1 - Var[a | side] / var_a
        mu_s = mu + (shift / va)[:, None] * cv
        cov_s = cov - (shrink / va)[:, None, None] * cv[:, :, None] * cv[:, None, :]
        out.append((weight * p, mu_s, cov_s))
    return out


def _orthant(weight, mu, cov, rows):
    """Sequential moment-matched approximation of P(rows . v > 0 for every row) for each Gaussian."""
    prob = weight
    for row in rows:
        (prob, mu, cov), _ = _split(prob, mu, cov, row)
    return prob


def moment_estimate(w: Weights, components: int = 64) -> float:
    """The deterministic accuracy estimate (a float; its bias is unknown to the method, see the module docstring)."""
    if components < 1:
        raise ValueError("components must be >= 1")
    w_hi, w_hh, w_oh = (np.asarray(a, dtype=np.float64) for a in (w.w_hi, w.w_hh, w.w_oh))
    n, d = w_oh.shape[0], w_hh.shape[0]
    if w.above >= 2 or n < 2:
        raise ValueError("the moment estimator handles the argmax and 2nd_argmax tasks")
    size = n + d
    weight = np.ones(1)
    mu = np.zeros((1, size))
    cov = np.zeros((1, size, size))
    cov[0, :n, :n] = np.eye(n)
    for t in range(n):
        lin = np.zeros((d, size))                       # pre-activations a = lin . v
        lin[:, n:] = w_hh
        lin[:, t] += w_hi
        fixed = np.zeros((len(weight), d))              # +1: split active, -1: split inactive, 0: moment-matched
        while True:
            pre_mu = mu @ lin.T
            pre_var = np.maximum(np.einsum("kd,nde,ke->nk", lin, cov, lin), 1e-300)
            if 2 * len(weight) > components or (fixed != 0).all():
                break
            k = np.argmin(np.abs(pre_mu) / np.sqrt(pre_var) + np.where(fixed != 0, np.inf, 0), axis=1)
            (w_pos, mu_pos, cov_pos), (w_neg, mu_neg, cov_neg) = _split(weight, mu, cov, lin[k])
            f_pos, f_neg = fixed.copy(), fixed.copy()
            f_pos[np.arange(len(k)), k], f_neg[np.arange(len(k)), k] = 1, -1
            weight = np.concatenate([w_pos, w_neg])
            mu, cov, fixed = np.concatenate([mu_pos, mu_neg]), np.concatenate([cov_pos, cov_neg]), np.concatenate([f_pos, f_neg])
        sd = np.sqrt(pre_var)
        alpha = pre_mu / sd
        slope = np.where(fixed > 0, 1.0, np.where(fixed < 0, 0.0, ndtr(alpha)))
        mean_h = np.where(fixed > 0, pre_mu, np.where(fixed < 0, 0.0, pre_mu * ndtr(alpha) + sd * _phi(alpha)))
        second_h = (pre_mu ** 2 + pre_var) * ndtr(alpha) + pre_mu * sd * _phi(alpha)
        var_h = np.where(fixed > 0, pre_var, np.where(fixed < 0, 0.0, np.maximum(second_h - mean_h ** 2, 0.0)))
        cross = np.einsum("kd,nde->nke", lin, cov)       # Cov(a, v)
        cov_hx = slope[:, :, None] * cross[:, :, :n]     # Cov(h', x)
        cov_hh = slope[:, :, None] * slope[:, None, :] * np.einsum("nke,le->nkl", cross, lin)
        idx = np.arange(d)
        cov_hh[:, idx, idx] = var_h
        cov = cov.copy()
        cov[:, n:, :n], cov[:, :n, n:], cov[:, n:, n:] = cov_hx, np.transpose(cov_hx, (0, 2, 1)), cov_hh
        mu = mu.copy()
        mu[:, n:] = mean_h
    # state -> (x, logits)
    out = np.zeros((2 * n, size))
    out[:n, :n] = np.eye(n)
    out[n:, n:] = w_oh
    mu, cov = mu @ out.T, np.einsum("kd,nde,le->nkl", out, cov, out)
    total = 0.0
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            target = j if w.above == 1 else i
            cell = [_diff(2 * n, i, j)] + [_diff(2 * n, j, k) for k in range(n) if k not in (i, j)]
            logit = [_diff(2 * n, n + target, n + k) for k in range(n) if k != target]
            # P(right | cell) as a ratio of two orthant approximations; P(cell) = 1/(n(n-1)) exactly
            inside = _orthant(weight, mu, cov, cell)
            total += float(_orthant(weight, mu, cov, cell + logit).sum() / inside.sum()) / (n * (n - 1))
    return total


def _diff(size: int, a: int, b: int) -> np.ndarray:
    row = np.zeros(size)
    row[a], row[b] = 1.0, -1.0
    return row
