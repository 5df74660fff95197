"""Limits that keep a run bounded: a default time budget for models too big to enumerate, a
memory guard, and the stop rule every long walk asks.

A model is "too big to enumerate" when ``d * n > ENUMERABLE_SIZE`` (M16,10 has 160; the random
(8,5) and (6,6) models, about 60,000 pieces, have 40 and 36). Commands given no budget on such a
model run with ``DEFAULT_SECONDS`` and say so. The memory guard stops a walk cleanly, like a
budget, once this process's resident memory passes ``max_memory_bytes()`` (default 2 GiB; the
environment variable ``VERIFIER_MAX_MEMORY_MB`` changes it).
"""

from __future__ import annotations

import os
import time

ENUMERABLE_SIZE = 48
DEFAULT_SECONDS = 300.0
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def default_budget(model, max_seconds: float | None, max_pieces: int | None) -> tuple[float | None, str | None]:
    """``(max_seconds, note)``: the default budget applies to big models given no budget at all."""
    if max_seconds is not None or max_pieces is not None or model.d * model.n <= ENUMERABLE_SIZE:
        return max_seconds, None
    return DEFAULT_SECONDS, (f"d*n = {model.d * model.n} is too big to enumerate: running with a default budget of "
                             f"{DEFAULT_SECONDS:g} s (set --max-seconds or --max-pieces to change it)")


def max_memory_bytes() -> int:
    try:
        return int(float(os.environ.get("VERIFIER_MAX_MEMORY_MB", "2048")) * 2**20)
    except ValueError:
        return 2048 * 2**20


def rss_bytes() -> int:
    """This process's resident memory (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


class MemoryGuard:
    """Called often; looks at the resident memory every ``every`` calls."""

    def __init__(self, every: int = 64):
        self.every, self.calls, self.limit = every, 0, max_memory_bytes()

    def exceeded(self) -> str | None:
        self.calls += 1
        if self.calls % self.every:
            return None
        rss = rss_bytes()
        if rss > self.limit:
            return f"stopped at the memory limit ({rss / 2**20:.0f} MB resident > {self.limit / 2**20:.0f} MB)"
        return None


class StopRule:
    """Why a long run should stop now, if at all; once it has a reason it keeps it.

    Checked in this order: resident memory (:class:`MemoryGuard`), an interrupt, the time budget
    (``deadline`` on ``clock``; ``reserve`` seconds ahead), the piece budget (``pieces()`` done
    out of ``max_pieces``). Called with ``reserve`` by a walk that needs time to close its open cones.

    >>> rule = StopRule(max_pieces=0)
    >>> rule(), rule.reason
    ('stopped at the piece budget (max_pieces=0)', 'stopped at the piece budget (max_pieces=0)')
    """

    def __init__(self, *, deadline: float | None = None, clock=time.time, max_pieces: int | None = None,
                 pieces=lambda: 0, interrupt=lambda: False):
        self.deadline, self.clock, self.max_pieces = deadline, clock, max_pieces
        self.pieces, self.interrupt = pieces, interrupt
        self.guard = MemoryGuard()
        self.reason: str | None = None

    def __call__(self, reserve: float = 0.0) -> str | None:
        if self.reason is None:
            self.reason = (self.guard.exceeded()
                           or ("interrupted" if self.interrupt() else None)
                           or ("stopped at the time budget"
                               if self.deadline is not None and self.clock() + reserve >= self.deadline else None)
                           or (f"stopped at the piece budget (max_pieces={self.max_pieces})"
                               if self.max_pieces is not None and self.pieces() >= self.max_pieces else None))
        return self.reason


def process_start() -> float:
    """When this process started, as a ``time.time()`` value (now, where /proc is missing): a
    command's time budget counts its start-up too."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return time.time() - max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.time()
