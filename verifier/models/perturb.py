"""Noisy copies of a model, as in ARC's protocol: i.i.d. ``N(0, sigma^2)`` noise on every weight.

Copy ``i`` adds noise drawn from ``numpy.random.default_rng((seed, i))`` to the model's float64
weights (W_hi, then W_hh, then W_oh, row-major) and rounds the sums to float32, so every copy is
again an exact float32 model, and copy ``i`` does not depend on how many copies are asked for.

>>> from verifier.models.model import Model
>>> m = Model.from_arrays([[1], [-1]], [[-1, 1], [1, -1]], [[1, -1], [-1, 1]], name="demo")
>>> copies = perturb(m, 0.05, 3, seed=0)
>>> [c.name for c in copies], copies[0].precision
(['demo_noisy_000', 'demo_noisy_001', 'demo_noisy_002'], 'float32')
>>> exact = perturb(m, 0.0, 1, seed=0)[0]
>>> (exact.w_hi, exact.w_hh, exact.w_oh) == (m.w_hi, m.w_hh, m.w_oh)
True
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import VerifierError
from ..coerce import as_model
from .model import Model


def check_sigma(sigma) -> float:
    """``sigma`` as a float, or a VerifierError unless it is a finite number >= 0."""
    try:
        value = float(sigma)
    except (TypeError, ValueError):
        raise VerifierError(f"sigma must be a number, got {sigma!r}") from None
    if not math.isfinite(value) or value < 0:
        raise VerifierError(f"sigma must be finite and >= 0, got {sigma!r}")
    return value


def _check_count_and_seed(count, seed) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise VerifierError(f"count must be a positive integer, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise VerifierError(f"seed must be a non-negative integer, got {seed!r}")


def noisy_copy(model, sigma: float, seed: int, index: int, *, prefix: str | None = None) -> Model:
    """Copy number ``index`` of ``model`` with ``N(0, sigma^2)`` noise on every weight, rounded to float32.

    It is named ``{prefix}_noisy_{index:03d}``; ``prefix`` defaults to the model's name.
    """
    model = as_model(model)
    rng = np.random.default_rng((seed, index))
    noisy = [(w + sigma * rng.standard_normal(w.shape)).astype(np.float32) for w in model.arrays]
    return Model.from_arrays(*noisy, task=model.task, name=f"{prefix or model.name}_noisy_{index:03d}",
                             precision="float32", seq_len=model.seq_len)


def perturb(model, sigma: float, count: int, seed: int, *, prefix: str | None = None) -> list[Model]:
    """``count`` noisy float32 copies of ``model`` (deterministic for ``seed``), see :func:`noisy_copy`."""
    sigma = check_sigma(sigma)
    _check_count_and_seed(count, seed)
    model = as_model(model)
    return [noisy_copy(model, sigma, seed, i, prefix=prefix) for i in range(count)]
