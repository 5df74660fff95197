"""Exact signs of integer dot products, decided by a float filter with a rigorous error bound.

The walk and the outcome split ask for the sign of ``f . g`` for many integer forms ``f`` and
rays ``g`` with hundreds of bits each. Exact products cost microseconds per entry, in Python or
in the conversions to python-flint; a float product is nearly free, and it decides the sign
whenever it exceeds a rigorous bound on its own error. Only the entries it cannot decide
(products that are exactly 0, or tiny against their terms) are computed exactly, so every
sign returned is exact.

The bound. Each vector is scaled by a power of two (exact, and it keeps the sign) so that its
entries lie in ``(-1, 1)``, then rounded to floats: relative error at most ``u = 2^-53``, plus
at most ``2^-1074`` absolutely for an entry that underflows. A dot product of length ``n`` of
rounded entries, summed in any order with or without fused multiply-adds, is within
``gamma_n S`` of its exact value (``gamma_n = n u / (1 - n u)``, ``S = sum |a_k b_k|``; Higham,
*Accuracy and Stability of Numerical Algorithms*, 2nd ed., eq. 3.5). With the rounding of the
entries, the computed value ``p`` is within ``(n + 2) u S (1 + O(u))`` of the exact product,
so ``|p| > (n + 4) 2^-52 S' + 2^-1000``, ``S'`` the computed ``S``, proves ``sign(p)`` exact
(twice the needed factor, and an absolute term far above every underflow).

>>> forms = scaled([(3, -1), (1, -1), (2**600, -(2**600) + 1)])
>>> rays = scaled([(1, 3), (1, 1), (0, 1)])
>>> dot_signs(forms, rays).tolist()
[[0, 1, -1], [-1, 0, -1], [-1, 1, -1]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

_SLACK_FACTOR = 2.0 ** -52
_ABSOLUTE_SLACK = 2.0 ** -1000


@dataclass(frozen=True)
class Scaled:
    """Integer vectors (``exact``), with each one scaled by a power of two and rounded to
    floats (``approx``, one row per vector)."""

    exact: tuple[tuple[int, ...], ...]
    approx: np.ndarray


def scaled(vectors: Sequence[Sequence[int]]) -> Scaled:
    """Integer vectors (Python ints), exact and scaled to floats (see the module docstring)."""
    exact = tuple(map(tuple, vectors))
    width = len(exact[0]) if exact else 0
    try:   # float() of an integer is correctly rounded (OverflowError past 2^1024)
        approx = np.array([float(v) for vec in exact for v in vec]).reshape(len(exact), width)
    except OverflowError:
        approx = np.array([_scaled_row(vec) for vec in exact]).reshape(len(exact), width)
    else:  # scale each row by a power of two (exact barring underflow) into [-1, 1]
        exponents = np.frexp(np.abs(approx).max(axis=1, initial=0.0))[1]
        approx = np.ldexp(approx, -exponents[:, None])
    return Scaled(exact, approx)


def _scaled_row(vec: tuple[int, ...]) -> list[float]:
    """One vector scaled by a power of two into [-1, 1] (int / int is correctly rounded)."""
    scale = 1 << max(abs(v).bit_length() for v in vec)
    return [v / scale for v in vec]


def dot_signs(forms: Scaled, vectors: Scaled) -> np.ndarray:
    """``sign(f . g)`` (-1, 0 or 1, exactly) for every form ``f`` (rows) and vector ``g``
    (columns), as an int8 matrix."""
    n = forms.approx.shape[1]
    value = forms.approx @ vectors.approx.T
    bound = (np.abs(forms.approx) @ np.abs(vectors.approx).T) * ((n + 4) * _SLACK_FACTOR) + _ABSOLUTE_SLACK
    signs = np.sign(value).astype(np.int8)
    for i, j in zip(*np.nonzero(np.abs(value) <= bound)):
        exact = sum(a * b for a, b in zip(forms.exact[i], vectors.exact[j]))
        signs[i, j] = (exact > 0) - (exact < 0)
    return signs


def difference_signs(rows: Sequence[Sequence[int]], vectors: Scaled) -> np.ndarray:
    """``sign((r_s - r_t) . g)`` exactly for every pair of integer rows and every vector ``g``,
    as an int8 array ``[s, t, g]``, from one float product of the rows (scaled together by one
    power of two) with the vectors. Each computed difference ``p_s - p_t`` is within
    ``(n + 3) u (S_s + S_t) (1 + O(u))`` of the exact one, so the bound of :func:`dot_signs`
    with ``S_s + S_t`` in place of ``S`` proves its sign.

    >>> rays = scaled([(1, 0), (0, 1), (1, 1)])
    >>> difference_signs([(2, 1), (1, 2), (2**70, 2**70)], rays)[0].tolist()
    [[0, 0, 0], [1, -1, 0], [-1, -1, -1]]
    """
    exact = tuple(map(tuple, rows))
    width = len(exact[0])
    try:
        approx = np.array([float(v) for row in exact for v in row]).reshape(len(exact), width)
        approx = np.ldexp(approx, -int(np.frexp(np.abs(approx).max())[1]))
    except OverflowError:
        scale = 1 << max(abs(v).bit_length() for row in exact for v in row)
        approx = np.array([v / scale for row in exact for v in row]).reshape(len(exact), width)
    value = approx @ vectors.approx.T
    size = np.abs(approx) @ np.abs(vectors.approx).T
    difference = value[:, None, :] - value[None, :, :]
    bound = (size[:, None, :] + size[None, :, :]) * ((width + 4) * _SLACK_FACTOR) + _ABSOLUTE_SLACK
    signs = np.sign(difference).astype(np.int8)
    for s, t, j in zip(*np.nonzero(np.abs(difference) <= bound)):
        if s != t:
            exact_value = sum((a - b) * c for a, b, c in zip(exact[s], exact[t], vectors.exact[j]))
            signs[s, t, j] = (exact_value > 0) - (exact_value < 0)
    return signs


def cone_signs(signs: np.ndarray, rays: int) -> list[int]:
    """Per row of a :func:`dot_signs` matrix whose columns are a cone's rays, then its lines:
    +1 (the form is >= 0 on the cone and not identically 0), -1 (<= 0 on the cone), 0 (it crosses
    the cone), as :func:`~verifier.geometry.cones.sign_on_cone`.

    >>> cone_signs(np.array([[1, 0, 0], [1, -1, 0], [0, 0, 0], [1, 1, 1]], dtype=np.int8), 2)
    [1, 0, -1, 0]
    """
    crosses_line = (signs[:, rays:] != 0).any(axis=1).tolist()
    positive = (signs[:, :rays] > 0).any(axis=1).tolist()
    negative = (signs[:, :rays] < 0).any(axis=1).tolist()
    return [0 if line or p and q else 1 if p else -1 for line, p, q in zip(crosses_line, positive, negative)]
