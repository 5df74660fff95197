"""The handcrafted 2nd-argmax models published with AlgZoo, built from their math.

* n = 2 (d = 2): exactly 100% accurate.
* n = 3 (d = 4): the ``lam = 100`` construction, computed in float32 operation by operation in
  the order AlgZoo computes it (the tests check it bit for bit against PyTorch's CPU float32 result).
* n = 10 (d = 22): a delay line of ``max(0, x)`` plus running-maximum neurons, about 99% accurate.

>>> [(m.d, m.n, m.n_params) for m in map(handcrafted, KNOWN_LENGTHS)]
[(2, 2, 10), (4, 3, 32), (22, 10, 726)]
"""

from __future__ import annotations

import numpy as np

from ..errors import VerifierError
from .model import Model

LAM = 100  # AlgZoo's choice for n = 3: accuracy tends to 100% as lam grows, but float32 limits it
F32 = np.float32


def handcrafted(n: int) -> Model:
    """The handcrafted model for sequence length ``n`` (2, 3 or 10), named ``handcrafted:N``."""
    builder = _BUILDERS.get(n) if isinstance(n, int) and not isinstance(n, bool) else None
    if builder is None:
        known = ", ".join(map(str, KNOWN_LENGTHS))
        raise VerifierError(f"no handcrafted model for sequence length {n!r}; known: {known}")
    w_hi, w_hh, w_oh = builder()
    return Model.from_arrays(w_hi, w_hh, w_oh, name=f"handcrafted:{n}", precision="float32")


def _length_2():
    w_hi = np.array([[1], [-1]], dtype=F32)
    w_hh = np.array([[-1, 1], [1, -1]], dtype=F32)
    w_oh = np.array([[1, -1], [-1, 1]], dtype=F32)
    return w_hi, w_hh, w_oh


def _length_3():
    """W_hi = U^T fc1[:, 2:], W_hh = ((U^T fc1[:, :2]) inv(fc1[:, 1:])) U, W_oh = fc2 V, all in float32."""
    fc1 = np.array([[1, -LAM - 1, LAM], [-1, -LAM, LAM + 1]], dtype=F32)
    fc2 = np.array([[1, 1], [-LAM, LAM + 1], [LAM + 1, -LAM]], dtype=F32)
    u = np.array([[1, 0, 0, -1], [0, 1, -1, 0]], dtype=F32)
    v = np.array([[1, 0, 0, 1], [0, 1, 1, 0]], dtype=F32)
    w_hi = _matmul32(u.T, fc1[:, 2:])
    w_hh = _matmul32(_matmul32(_matmul32(u.T, fc1[:, :2]), _inverse32(fc1[:, 1:])), u)
    w_oh = _matmul32(fc2, v)
    return w_hi, w_hh, w_oh


def _length_10():
    d, n = 22, 10
    w_hi = np.zeros((d, 1), dtype=F32)
    w_hh = np.zeros((d, d), dtype=F32)
    w_oh = np.zeros((n, d), dtype=F32)
    # neurons 0..9: a delay line holding max(0, x) of the last ten inputs
    w_hi[9] = 1
    for i in range(9):
        w_hh[i, i + 1] = 1
    # neurons 19, 20, 21, 18: increments and levels of the running maximum of the inputs
    w_hi[19] = 1
    w_hh[19, 19] = w_hh[19, 20] = -1
    w_hh[20, 19] = w_hh[20, 20] = 1
    w_hi[21] = -1
    w_hh[21, 19] = w_hh[21, 20] = 1
    w_hh[18, 20] = 1
    w_hi[18] = -1
    # neurons 10..17: running maxima with one earlier input left out, minus the newest input
    for i in range(10, 18):
        w_hh[i, i + 1] = 1
        w_hh[i, 21] = -1
        w_hh[i, 20] = w_hh[i, 19] = 1
        w_hi[i] = -1
    # logit i: max(0, x_i) - 2 max(0, the other inputs)
    for i in range(n):
        w_oh[i, i] = 1
    for i in range(n - 1):
        w_oh[i, 10 + i] = 2
        w_oh[i, 21] = -2
        w_oh[i, 20] = w_oh[i, 19] = 2
    w_oh[9, 20] = 2
    return w_hi, w_hh, w_oh


def _matmul32(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Matrix product in float32, each product and each partial sum rounded, summed left to right."""
    out = np.zeros((a.shape[0], b.shape[1]), dtype=F32)
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            acc = F32(0)
            for k in range(a.shape[1]):
                acc = F32(acc + F32(a[i, k] * b[k, j]))
            out[i, j] = acc
    return out


def _inverse32(a: np.ndarray) -> np.ndarray:
    """Inverse in float32 by LU with partial pivoting and triangular solves (LAPACK getrf + getrs order).

    Each operation rounds to float32: multipliers ``l = a_ik / a_kk``, updates ``a_ij - l * a_kj``,
    then for each unit column a forward solve with L and a back solve with U (true divisions).
    """
    size = a.shape[0]
    lu = [[F32(x) for x in row] for row in a]
    perm = list(range(size))
    for k in range(size):
        p = max(range(k, size), key=lambda i: abs(lu[i][k]))  # first of equal maxima, like isamax
        if lu[p][k] == 0:
            raise VerifierError("singular matrix in a handcrafted construction")
        lu[k], lu[p] = lu[p], lu[k]
        perm[k], perm[p] = perm[p], perm[k]
        for i in range(k + 1, size):
            lu[i][k] = F32(lu[i][k] / lu[k][k])
            for j in range(k + 1, size):
                lu[i][j] = F32(lu[i][j] - F32(lu[i][k] * lu[k][j]))
    inv = np.zeros((size, size), dtype=F32)
    for col in range(size):
        y = [F32(1 if perm[i] == col else 0) for i in range(size)]
        for i in range(size):
            for j in range(i):
                y[i] = F32(y[i] - F32(lu[i][j] * y[j]))
        x = [F32(0)] * size
        for i in reversed(range(size)):
            acc = y[i]
            for j in range(i + 1, size):
                acc = F32(acc - F32(lu[i][j] * x[j]))
            x[i] = F32(acc / lu[i][i])
        inv[:, col] = x
    return inv


_BUILDERS = {2: _length_2, 3: _length_3, 10: _length_10}
KNOWN_LENGTHS = tuple(_BUILDERS)
