"""Exact Gaussian measure of order-and-sign cones, by counting the cells they hold.

An *order-and-sign cone* is cut out by rows of the forms ``e_i - e_j`` (``x_i >= x_j``) and
``+-e_i`` (``x_i >= 0``, ``x_i <= 0``), up to positive scaling. The hyperplanes
``{x_i = x_j}`` and ``{x_i = 0}`` cut R^n into *cells*: a strict total order of the n inputs
together with the number k of them that are positive. Such a cone is a union of closures of
cells (every row has a constant sign on each cell), and a cell with k positive inputs has
standard Gaussian measure ``C(n, k) / (2^n n!)``: the sign pattern has probability ``2^-n``
and, given it, each of the ``k! (n-k)!`` orders of the positives and of the negatives is
equally likely. So the cone's measure is an exact rational number.

Counting: the rows are a partial order on the n inputs and a zero element ``z``
(``x_i >= 0`` reads ``x_i`` above ``z``). A cell is a linear extension of it (a total order of
the n + 1 elements), weighted by where ``z`` lands. A dynamic programme over the sets of
elements already placed, from the top down, sums the weights: ``2^(n+1)`` states. A cyclic
order (``x_i >= x_j >= x_i``) leaves no cell, which is right: such a cone is lower-dimensional.

>>> order_sign_measure([(1, -1)], 2)          # x0 >= x1
Fraction(1, 2)
>>> order_sign_measure([(1, 0, 0), (0, 1, 0), (0, 0, 1)], 3)   # the positive orthant
Fraction(1, 8)
>>> order_sign_measure([(1, -1, 0), (0, 1, -1), (0, 0, 1)], 3)  # x0 >= x1 >= x2 >= 0
Fraction(1, 48)
>>> order_sign_measure([(1, 1)], 2) is None   # not an order-and-sign row
True
"""

from __future__ import annotations

from fractions import Fraction
from math import comb, factorial
from typing import Sequence

MAX_STATES = 1 << 18  # order ideals visited by the count (at most 2^(n+1)); beyond, other methods measure the cone


def order_relations(rows: Sequence[Sequence[int]], n: int) -> list[tuple[int, int]] | None:
    """The rows as pairs ``(above, below)`` over elements ``0..n-1`` (inputs) and ``n`` (zero).

    None if some row is not a positive multiple of ``e_i - e_j`` or ``+-e_i``. All-zero rows
    (vacuous) are skipped.

    >>> order_relations([(2, -2, 0), (0, 0, -3), (0, 0, 0)], 3)
    [(0, 1), (3, 2)]
    """
    relations = []
    for row in rows:
        support = [(i, v) for i, v in enumerate(row) if v]
        if not support:
            continue
        if len(support) == 1:
            (i, v), = support
            relations.append((i, n) if v > 0 else (n, i))
        elif len(support) == 2 and support[0][1] == -support[1][1]:
            (i, v), (j, _) = support
            relations.append((i, j) if v > 0 else (j, i))
        else:
            return None
    return relations


def order_sign_measure(rows: Sequence[Sequence[int]], n: int) -> Fraction | None:
    """The exact standard Gaussian measure of ``{x in R^n : r . x >= 0}``, or None if it does not apply.

    Applies when every row is an order-and-sign row (see the module docstring) and the count
    visits at most ``MAX_STATES`` sets of placed elements (the order ideals of the partial
    order: n + 2 of them for a single cell, ``2^(n+1)`` when nothing is constrained).
    """
    relations = order_relations(rows, n)
    if relations is None:
        return None
    above = [0] * (n + 1)  # above[e]: bit mask of the elements that must be placed before e
    for hi, lo in relations:
        above[lo] |= 1 << hi
    zero_bit = 1 << n
    # in units of 1 / (2^n n!): z landing below exactly k inputs weighs C(n, k)
    weight = [comb(n, k) for k in range(n + 1)]
    ways = {0: 1}  # placed set -> summed weight of its top-down orders
    visited = 1
    for _ in range(n + 1):
        following: dict[int, int] = {}
        for placed, w in ways.items():
            for e in range(n + 1):
                bit = 1 << e
                if placed & bit or above[e] & ~placed:
                    continue
                key = placed | bit
                step = w * weight[(placed & ~zero_bit).bit_count()] if e == n else w
                following[key] = following.get(key, 0) + step
        ways = following
        visited += len(ways)
        if visited > MAX_STATES:
            return None
    return Fraction(ways.get((1 << (n + 1)) - 1, 0), (1 << n) * factorial(n))
