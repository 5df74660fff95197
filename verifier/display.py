"""Formatting numbers for people (display only: nothing here feeds a decision).

>>> one_in(1 / 13057.4), one_in(0.0)
('1 in 13,057', 'never (0)')
"""

from __future__ import annotations


def one_in(rate: float) -> str:
    """An error rate as "1 in N"."""
    if rate <= 0:
        return "never (0)"
    return f"1 in {1 / rate:,.0f}"


def percent(p: float, digits: int = 4) -> str:
    return f"{100 * p:.{digits}f}%"
