"""Exact-arithmetic primitives shared by every module (and by the independent checker).

Weights and linear forms are kept as :class:`fractions.Fraction` (stdlib, hashable, easy to
serialize); hot loops convert to python-flint's ``fmpq_mat`` for speed. Every float is taken
at its *exact* binary value, never rounded.

>>> exact_rational(0.5), exact_rational("0x1.8p1"), exact_rational("3/4"), exact_rational("0.1")
(Fraction(1, 2), Fraction(3, 1), Fraction(3, 4), Fraction(1, 10))
>>> integer_row([Fraction(1, 2), Fraction(-3, 4), 0])
(2, -3, 0)
>>> decimal_bound(Fraction(1, 3), 5, up=False), decimal_bound(Fraction(1, 3), 5, up=True)
('0.33333', '0.33334')
"""

from __future__ import annotations

import math
import numbers
import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from fractions import Fraction
from typing import Iterable, Sequence

import flint

Matrix = tuple[tuple[Fraction, ...], ...]

_RATIO = re.compile(r"\s*([+-]?\d+)\s*/\s*(\d+)\s*", re.ASCII)
_DECIMAL = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*", re.ASCII)
_HEX = re.compile(r"\s*[+-]?0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)([pP][+-]?\d+)?\s*", re.ASCII)
MAX_DECIMAL_EXPONENT = 10_000  # 10^10000 is already absurd for a weight or a bound; 1e999999999 would hang


def exact_rational(value) -> Fraction:
    """The exact rational value of a number or of a string naming one.

    Accepts ints, floats (numpy floats included; their exact binary value), Fractions,
    Decimals and strings: ``"p/q"``, a decimal (``"0.1"`` is exactly 1/10) or a C99 hex
    float (``"0x1.99999ap-4"``). NaN, infinities and anything else raise ``ValueError``.
    """
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, numbers.Integral):
        return Fraction(int(value))
    if isinstance(value, Decimal):
        return _decimal_fraction(value, str(value))
    if isinstance(value, numbers.Real):
        f = float(value)
        if not math.isfinite(f):
            raise ValueError(f"not a finite number: {f}")
        return Fraction(f)
    if isinstance(value, str):
        return _parse_rational_text(value)
    raise ValueError(f"not a number: {value!r}")


def _parse_rational_text(text: str) -> Fraction:
    """Only plain ASCII forms: Python's int/Decimal would also take "1_000" and other scripts' digits."""
    m = _RATIO.fullmatch(text)
    if m:
        den = int(m.group(2))
        if den == 0:
            raise ValueError(f"zero denominator: {_short(text)}")
        return Fraction(int(m.group(1)), den)
    if _HEX.fullmatch(text):
        try:
            f = float.fromhex(text.strip())
        except (ValueError, OverflowError):
            raise ValueError(f"hex float out of range: {_short(text)}") from None
        return Fraction(f)
    if _DECIMAL.fullmatch(text):
        return _decimal_fraction(Decimal(text.strip()), text)
    raise ValueError(f"not a number: {_short(text)}")


def _decimal_fraction(d: Decimal, text: str) -> Fraction:
    """A Decimal's exact value, refusing exponents whose power of ten alone would take minutes."""
    if not d.is_finite():
        raise ValueError(f"not a finite number: {_short(text)}")
    if abs(d.as_tuple().exponent) > MAX_DECIMAL_EXPONENT:
        raise ValueError(f"exponent out of range (at most {MAX_DECIMAL_EXPONENT} in magnitude): {_short(text)}")
    return Fraction(d)


def _short(text) -> str:
    text = repr(text)
    return text if len(text) <= 40 else f"{text[:30]}... ({len(text)} characters)"


def rational_str(q) -> str:
    """Canonical text of a rational: ``"p/q"`` or ``"p"`` (parsed back by :func:`exact_rational`)."""
    q = Fraction(int(q.p), int(q.q)) if isinstance(q, flint.fmpq) else Fraction(q)
    return str(q.numerator) if q.denominator == 1 else f"{q.numerator}/{q.denominator}"


def integer_row(row: Iterable) -> tuple[int, ...]:
    """The primitive integer vector with the same direction as a rational vector.

    Scales by the lcm of the denominators and divides by the gcd of the numerators, so a
    constraint ``row . x >= 0`` keeps its meaning exactly (no rounding).
    """
    fr = [Fraction(int(v.p), int(v.q)) if isinstance(v, flint.fmpq) else Fraction(v) for v in row]
    lcm = 1
    for v in fr:
        lcm = lcm * v.denominator // math.gcd(lcm, v.denominator)
    ints = [int(v * lcm) for v in fr]
    g = 0
    for v in ints:
        g = math.gcd(g, v)
    return tuple(v // g for v in ints) if g > 1 else tuple(ints)


def fmpq_matrix(rows: Sequence[Sequence]) -> flint.fmpq_mat:
    """A python-flint rational matrix from rows of Fractions/ints (the fast exact type)."""
    nrows = len(rows)
    ncols = len(rows[0]) if nrows else 0
    flat = []
    for r in rows:
        for v in r:
            v = Fraction(v)
            flat.append(flint.fmpq(v.numerator, v.denominator))
    return flint.fmpq_mat(nrows, ncols, flat)


def dot(a: Sequence, b: Sequence):
    """Exact dot product of two equal-length sequences of ints/Fractions."""
    return sum((x * y for x, y in zip(a, b, strict=True)), Fraction(0))


def decimal_bound(q, digits: int, *, up: bool) -> str:
    """A decimal string with ``digits`` significant digits, rounded up (``up``) or down.

    Outward rounding keeps an interval rigorous when it is printed: print ``lo`` rounded
    down and ``hi`` rounded up.
    """
    q = Fraction(q)
    with localcontext() as ctx:
        ctx.prec = digits
        ctx.rounding = ROUND_CEILING if up else ROUND_FLOOR
        value = Decimal(q.numerator) / Decimal(q.denominator)
    return "0" if value == 0 else format(value, "f") if abs(value.adjusted()) < 8 else str(value)
