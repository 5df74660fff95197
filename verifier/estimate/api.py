"""``estimate(model, seconds=, method=, seed=)``: one accuracy estimate within a wall-clock budget.

Methods (see each module):

* ``sampling``    plain Monte Carlo on the fast forward pass (:mod:`.monte_carlo`), the baseline;
* ``branching``   prefix-sharing trees with stratified last inputs (:mod:`.branching`);
* ``stratified``  order cells with Neyman allocation (:mod:`.stratified`);
* ``conditional`` last input integrated exactly (:mod:`.conditional`);
* ``circle``      exact right fraction of random great circles (:mod:`.circle`);
* ``moments``     deterministic Gaussian-mixture moment propagation (:mod:`.moment_propagation`);
* ``auto``        measured on the model itself: with a budget of at least ``PILOT_MIN_SECONDS``, a pilot
  spends ``PILOT_SHARE`` of it on ``sampling``, ``conditional`` and (n >= 3) ``branching`` alike and
  keeps the one with the least variance x time (the stderr^2 of its pilot times the pilot's seconds;
  a pilot whose units all agreed counts ``1/units^2``, so it cannot win by luck); the rest of
  the budget runs that method afresh on an independent random stream, so the estimate stays
  unbiased (the pilot's draws are discarded). The winner differs by model, not by size:
  ``conditional`` is about 3,000x sampling's efficiency on handcrafted:3 but 0.2x on trained:6:4
  (``benchmarks/results/estimate.txt``). Shorter budgets use the size rule: ``conditional`` for
  n = 2, ``branching`` for n >= 10, ``sampling`` in between.

Randomized methods return a standard error (the spread of their independent units); the
deterministic one returns ``stderr=None`` and a bias the method cannot state (measured in the
benchmark). The work count ``forward_passes`` is RNN steps computed divided by n (one
sequence's forward pass = n steps); ``circle`` counts 2 per arc walked (each arc runs the network
on the two vectors z(t), z'(t); its root finding is extra, measured in the benchmark);
``moments`` runs no forward pass (0).

>>> e = estimate("handcrafted:2", seconds=0.05, method="sampling", seed=1)
>>> e.accuracy, e.stderr, e.deterministic
(1.0, 0.0, False)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..errors import VerifierError
from ..coerce import as_model
from . import METHODS, branching, circle, conditional, moment_propagation, monte_carlo, stratified
from .kernel import Weights
from .runner import MAX_BATCH, MIN_BATCH, Tally, sample_until

MAX_SECONDS = 86_400.0
PILOT_MIN_SECONDS, PILOT_SHARE = 0.1, 0.1
FACTORS = (2, 2)  # branchings at the last positions, measured best on M16,10 (benchmarks/results/estimate.txt)
MOMENT_COMPONENTS = 64
PILOT_PER_CELL, STRATIFIED_UNIT = 16, 4
# A batch of circles walks as many lockstep steps as its longest circle has arcs, each with a fixed
# numpy overhead, so small batches are slow per circle: the first batch is sized to about a quarter
# of the budget from a guess of a circle's cost in large batches (5e-8 n^2 d^2 s; measured 1.2 ms on M16,10).
CIRCLE_SECONDS = 5e-8


@dataclass(frozen=True)
class Estimate:
    """An accuracy estimate: randomized (with ``stderr``) or deterministic (``stderr`` None, bias unknown)."""

    accuracy: float
    stderr: float | None
    method: str
    deterministic: bool
    seconds: float
    forward_passes: float
    units: int
    seed: int | None
    dtype: str

    @property
    def kind(self) -> str:
        return "deterministic estimate (bias not stated by the method)" if self.deterministic \
            else "randomized estimate (unbiased; standard error from independent units)"

    def to_json(self) -> dict:
        return {"accuracy": self.accuracy, "stderr": self.stderr, "method": self.method,
                "deterministic": self.deterministic, "kind": self.kind, "seconds": self.seconds,
                "forward_passes": self.forward_passes, "units": self.units, "seed": self.seed,
                "dtype": self.dtype}


def resolve_method(method: str, n: int) -> str:
    """The concrete method for ``method`` (``auto`` without a pilot picks by the sequence length)."""
    if method not in METHODS:
        raise VerifierError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    if method == "auto":
        return "conditional" if n == 2 else "branching" if n >= 10 else "sampling"
    return method


def estimate(model, *, seconds: float = 1.0, method: str = "auto", seed: int = 0,
             dtype: str = "float64") -> Estimate:
    """Estimate ``model``'s accuracy (a spec, Model or PyTorch module) in about ``seconds`` of wall time.

    ``dtype`` is the arithmetic of the forward passes (``conditional``, ``circle`` and ``moments``
    always use float64). Loading the model is not timed.
    """
    model = as_model(model)
    if model.task.outputs_value:
        raise VerifierError(f"estimate measures accuracy; task {model.task.name} is scored by mean squared error")
    seconds = _check_seconds(seconds)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise VerifierError(f"seed must be a non-negative integer, got {seed!r}")
    if dtype not in ("float32", "float64"):
        raise VerifierError(f"unknown dtype {dtype!r}; use float32 or float64")
    start = time.perf_counter()
    if method == "auto" and seconds >= PILOT_MIN_SECONDS and model.n >= 2:
        name = _pilot_choice(model, seconds * PILOT_SHARE, seed, dtype)
        seconds -= time.perf_counter() - start
    else:
        name = resolve_method(method, model.n)
    return _run(model, name, seconds, np.random.default_rng(seed), dtype, seed, start)


def _run(model, name: str, seconds: float, rng: np.random.Generator, dtype: str, seed: int,
         start: float) -> Estimate:
    """One method's estimate within ``seconds`` (its ``seconds`` field counts from ``start``)."""
    if name in ("branching", "conditional", "stratified") and model.n < 2:
        name = "sampling"  # one input: nothing to branch on, integrate or stratify
    if name == "moments" and (model.task.above(model.n) > 1 or model.n < 2):
        raise VerifierError(f"the moments method handles argmax and 2nd_argmax tasks with n >= 2, not"
                            f" {model.task.name} with n = {model.n}")
    w = Weights.of(model, np.float64 if name in ("conditional", "circle", "moments") else np.dtype(dtype))
    if name == "moments":
        acc = moment_propagation.moment_estimate(w, MOMENT_COMPONENTS)
        return Estimate(acc, None, name, True, time.perf_counter() - start, 0.0, MOMENT_COMPONENTS, None, "float64")
    passes = 0.0
    if name == "stratified":
        right = stratified.cell_accuracies(w, rng, PILOT_PER_CELL)
        counts = stratified.allocation(right, PILOT_PER_CELL, STRATIFIED_UNIT * len(right))
        pilot = PILOT_PER_CELL * len(right)
        tally = sample_until(stratified.batch(w, counts), max(seconds - (time.perf_counter() - start), 0.0), rng,
                             first=1, min_batch=1)
        passes = pilot + tally.units * float(counts.sum())
    elif name == "circle":
        work = circle.Work()
        first = int(seconds / (4 * CIRCLE_SECONDS * (w.n * w.d) ** 2))
        tally = sample_until(circle.batch(w, work), seconds, rng, first=min(max(first, 4), MAX_BATCH), min_batch=1)
        passes = work.forward_passes
    else:
        module = {"sampling": monte_carlo, "branching": branching, "conditional": conditional}[name]
        draw = branching.batch(w, FACTORS) if name == "branching" else module.batch(w)
        per_unit = branching.forward_passes(w, FACTORS) if name == "branching" else module.forward_passes(w)
        cap = max(branching.BATCH_LEAVES // math.prod(FACTORS), MIN_BATCH) if name == "branching" else MAX_BATCH
        tally = sample_until(draw, seconds, rng, max_batch=cap)
        passes = tally.units * per_unit
    return _randomized(tally, name, time.perf_counter() - start, passes, seed, w)


def _pilot_choice(model, seconds: float, seed: int, dtype: str) -> str:
    """The candidate with the least ``stderr^2 x seconds`` in a short pilot each (``1/units^2`` for a
    pilot whose units all agreed, so it cannot win by luck); the
    pilots draw from their own streams ``(seed, 1, k)``, independent of the final run's ``seed``."""
    candidates = ["sampling", "conditional"] + (["branching"] if model.n >= 3 else [])
    scores = {}
    for k, name in enumerate(candidates):
        pilot = _run(model, name, seconds / len(candidates), np.random.default_rng((seed, 1, k)), dtype, seed,
                     time.perf_counter())
        spread = pilot.stderr ** 2 if pilot.stderr > 0 else pilot.units ** -2.0  # a pilot that saw no spread
        scores[name] = spread * pilot.seconds
    return min(candidates, key=scores.__getitem__)


def _randomized(tally: Tally, name: str, seconds: float, passes: float, seed: int, w: Weights) -> Estimate:
    return Estimate(tally.mean, tally.stderr, name, False, seconds, passes, tally.units, seed, str(w.dtype))


def _check_seconds(seconds) -> float:
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise VerifierError(f"seconds must be a number, got {seconds!r}") from None
    if not math.isfinite(value) or not 0 < value <= MAX_SECONDS:
        raise VerifierError(f"seconds must be in (0, {MAX_SECONDS:.0f}], got {seconds!r}")
    return value
