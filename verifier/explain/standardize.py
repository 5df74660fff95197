"""Standardizing a model: rescale every hidden neuron so its input weight is +-1, exactly.

For ``c > 0``, ``ReLU(c z) = c ReLU(z)``; so scaling neuron ``i``'s incoming weights by
``c_i`` and its outgoing weights by ``1 / c_i`` gives the same logits everywhere. With
``C = diag(c)``: ``W'_hi = C W_hi``, ``W'_hh = C W_hh C^-1``, ``W'_oh = W_oh C^-1``.
Choosing ``c_i = 1 / |W_hi[i]|`` (and ``c_i = 1`` when ``W_hi[i] = 0``) puts every input
weight in {-1, 0, +1}. All arithmetic is exact, so the result is an exact equivalent.

>>> from verifier.models.model import Model
>>> m = Model.from_arrays([[2], [-4]], [[1, 3], [1, -1]], [[1, -1], [-1, 1]])
>>> s = standardize(m)
>>> [str(c) for c in s.scales]
['1/2', '1/4']
>>> [str(v) for row in s.model.w_hh for v in row]
['1', '6', '1/2', '-1']
>>> s.model.logits_exact([3, 5]) == m.logits_exact([3, 5])
True
>>> pattern_text(s.sign_pattern(), "w_hh")
'([1,inf) [1,inf) ; (0,1) (-inf,-1])'
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..coerce import as_model
from ..models.model import Model

MATRICES = ("w_hi", "w_hh", "w_oh")


@dataclass(frozen=True)
class EntryClass:
    """One weight of a standardized model: its sign and, for W_hh, whether ``|w| >= 1``.

    ``sign`` is ``"+"``, ``"-"`` or ``"0"``; ``at_least_one`` is None outside W_hh.
    """

    matrix: str
    row: int
    col: int
    value: Fraction
    sign: str
    at_least_one: bool | None

    @property
    def interval(self) -> str:
        """The post's interval notation: ``[1,inf)``, ``(0,1)``, ``(-1,0)``, ``(-inf,-1]``, ``0``; a sign outside W_hh."""
        if self.at_least_one is None or self.sign == "0":
            return self.sign
        if self.sign == "+":
            return "[1,inf)" if self.at_least_one else "(0,1)"
        return "(-inf,-1]" if self.at_least_one else "(-1,0)"


@dataclass(frozen=True)
class Standardized:
    """A model rescaled neuron by neuron (``scales[i] > 0``), exactly equivalent to ``original``."""

    original: Model
    model: Model
    scales: tuple[Fraction, ...]

    def sign_pattern(self) -> tuple[EntryClass, ...]:
        """Every weight's class, in the order W_hi, W_hh, W_oh (row-major)."""
        out = []
        for name in MATRICES:
            for i, row in enumerate(getattr(self.model, name)):
                for j, w in enumerate(row):
                    sign = "+" if w > 0 else "-" if w < 0 else "0"
                    big = abs(w) >= 1 if name == "w_hh" else None
                    out.append(EntryClass(name, i, j, w, sign, big))
        return tuple(out)


def pattern_text(pattern: tuple[EntryClass, ...], matrix: str) -> str:
    """One matrix of a sign pattern as text, rows separated by ``;`` (the post's layout)."""
    rows: dict[int, list[str]] = {}
    for e in pattern:
        if e.matrix == matrix:
            rows.setdefault(e.row, []).append(e.interval)
    return "(" + " ; ".join(" ".join(r) for _, r in sorted(rows.items())) + ")"


def standardize(model) -> Standardized:
    """The exactly equivalent model whose input weights are +-1 (or 0): see the module docstring."""
    model = as_model(model)
    scales = tuple(Fraction(1) if row[0] == 0 else 1 / abs(row[0]) for row in model.w_hi)
    d = model.d
    w_hi = tuple((scales[i] * model.w_hi[i][0],) for i in range(d))
    w_hh = tuple(tuple(scales[i] * model.w_hh[i][j] / scales[j] for j in range(d)) for i in range(d))
    w_oh = tuple(tuple(row[j] / scales[j] for j in range(d)) for row in model.w_oh)
    std = Model(w_hi, w_hh, w_oh, task=model.task, name=f"{model.name} (standardized)", precision="exact",
                seq_len=model.seq_len)
    return Standardized(model, std, scales)
