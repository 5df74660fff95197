"""Plain Monte Carlo on the fast forward pass: the baseline every other estimator must beat.

One unit is one Gaussian input sequence; its value is 1 if the model answers right, else 0.
The same arithmetic as the other estimators (:mod:`verifier.estimate.kernel`), so a comparison
of their errors at equal wall time measures the algorithms, not the arithmetic.
"""

from __future__ import annotations

import numpy as np

from .kernel import Weights, correct


def batch(w: Weights):
    """``batch(rng, size)``: right answers (0/1) on ``size`` fresh Gaussian sequences."""

    def draw(rng: np.random.Generator, size: int) -> np.ndarray:
        return correct(w, rng.standard_normal((size, w.n), dtype=w.dtype))

    return draw


def forward_passes(w: Weights) -> float:
    """Forward passes per unit."""
    return 1.0
