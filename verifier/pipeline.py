"""The streaming certify pipeline: walk, split into outcome cones, measure, add up -- piece by piece.

Each piece goes through its outcome cones and their measures as soon as the walk
(:func:`~verifier.geometry.decomposition.walk`) yields it; what stays is a running
:class:`Tally` (masses, counts, the error breakdown per order cell) and, when a certificate is
wanted, the piece's certificate line, appended to a file. So memory does not grow with the
number of pieces.

The split tree's subtrees are independent. A parallel run walks the top of the tree in this
process down to ``FRONTIER_DEPTH`` splits and hands the open cones, and the pieces found above
that depth (each scored on its own: a small model's pieces, with costly measures, are all
there), to workers (a process pool, or a dask.distributed cluster); it puts the parts back
together in the tree's preorder, so the result does not depend on the number of workers or on
the order they finish in.

Budgets: a wall-clock deadline (absolute ``time.time()``, so workers on other machines of a
cluster need synchronized clocks) and a piece budget. The walk asks before every split and
leaf; a piece is measured cone by cone and a deadline in between turns it back into an
unresolved cone. Cones a budget leaves open stay in the tree as unresolved, and their mass
widens the result. A task that does not come back within ``GRACE_SECONDS`` of the deadline is
abandoned and its whole cone counts as unresolved.

How a piece is scored is swappable (:class:`Scoring`): its cones, a value per cone and the running
totals -- the Gaussian measure of correct and error cones for accuracy (``ACCURACY``), the
squared-error integral and measure of each piece-and-median-cell cone for median models
(:data:`verifier.certify_median.MSE`).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .geometry.decomposition import Piece, SplitEvent, Unresolved, walk
from .geometry.outcome import OutcomeCone, piece_outcomes
from .measure import Measure, cone_measure
from .measure.solid_angle import IntervalSum, MeasureStopped
from .models.model import Model
from .models.tasks import OrderCell
from .resources import StopRule

FRONTIER_DEPTH = 6          # a parallel run hands out the cones 6 splits down (up to 64 subtrees)
CONNECT_SECONDS = 10        # how long to wait for a dask scheduler
GRACE_SECONDS = 1.0         # how long after the deadline the pipeline waits for a worker's answer


# -- running sums --------------------------------------------------------------------------

@dataclass
class Tally:
    """What a run keeps: masses of correct and error cones, the error mass per order cell, counts."""

    correct: IntervalSum = field(default_factory=IntervalSum)
    errors: IntervalSum = field(default_factory=IntervalSum)
    by_cell: dict = field(default_factory=dict)       # OrderCell -> IntervalSum of its error cones
    pieces: int = 0
    unresolved: int = 0

    def add_piece(self, cones: list[tuple[OutcomeCone, Measure]]) -> None:
        self.pieces += 1
        for o, m in cones:
            if o.correct:
                self.correct.add(m)
            else:
                self.errors.add(m)
                self.by_cell.setdefault(o.cell, IntervalSum()).add(m)

    def merge(self, other: Tally) -> None:
        self.correct.merge(other.correct)
        self.errors.merge(other.errors)
        for cell, s in other.by_cell.items():
            self.by_cell.setdefault(cell, IntervalSum()).merge(s)
        self.pieces += other.pieces
        self.unresolved += other.unresolved


# -- scoring a piece -------------------------------------------------------------------------

def position_cells(model: Model) -> tuple[OrderCell, ...]:
    """A position task's cells (which inputs lie above the target)."""
    return tuple(model.task.cells(model.n))


def outcome_entry(cone: OutcomeCone, m: Measure) -> dict:
    """One outcome cone in the certificate (the format is the checker's)."""
    from .proof.checker import cell_json, measure_json
    return {"cell": cell_json(cone.cell.target, cone.cell.above), "correct": cone.correct,
            "loses_to": cone.loses_to, "constraints": [list(r) for r in cone.constraints], "measure": measure_json(m)}


@dataclass(frozen=True)
class Scoring:
    """How a piece is scored, and what a run adds up: one pipeline, one scoring per kind of model.

    ``cells(model)`` -> the cells a piece is cut by; ``outcomes(index, piece, cells, n)`` -> the
    piece's cones; ``score(cone, n, stop)`` -> one value per cone (``stop``: the budget check,
    which a long measure may ask and then raise :class:`~verifier.measure.solid_angle.MeasureStopped`);
    ``tally()`` -> an empty running total with ``add_piece([(cone, value)])``, ``merge``, ``pieces``
    and ``unresolved``; ``entry(cone, value)`` -> the cone's certificate JSON. All must be
    picklable (module-level functions and classes) for parallel runs.
    """

    score: Callable
    cells: Callable = position_cells
    outcomes: Callable = piece_outcomes
    tally: Callable = Tally
    entry: Callable = outcome_entry


@dataclass(frozen=True)
class CertifiedMeasure:
    """A cone's certified measure (dimensions 4, 5 by Plackett's integral), from its canonical
    (minimized, sorted) rows: exactly what the independent checker recomputes. ``correct`` /
    ``errors``: whether that side's cones get their integrals; a side that does not is only
    bounded ([0, 1/2]) and its rate is 1 minus the other's. Picklable, for workers."""

    correct: bool = True
    errors: bool = True

    def __call__(self, cone: OutcomeCone, n: int, stop=None) -> Measure:
        integrate = self.correct if cone.correct else self.errors
        return cone_measure(cone.constraints, n, plackett=True, stop=stop, integrate=integrate)


def _estimated_measure(cone: OutcomeCone, n: int, stop=None) -> Measure:
    return cone_measure(cone.constraints, n)


ACCURACY = Scoring(CertifiedMeasure())                               # both sides certified
ERROR_SIDE_ACCURACY = Scoring(CertifiedMeasure(correct=False))       # only the error cones' integrals
CORRECT_SIDE_ACCURACY = Scoring(CertifiedMeasure(errors=False))      # only the correct cones' integrals
ESTIMATED_ACCURACY = Scoring(_estimated_measure)       # dimensions 4, 5 estimated by quasi-Monte Carlo (--qmc)


# -- one subtree -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Task:
    """A subtree to walk: everything a worker needs, all picklable."""

    number: int
    model_json: dict
    start: Unresolved | Piece | None  # a cone to walk (None: the whole tree), or one piece to score
    max_depth: int | None             # cones this many splits below ``start`` are handed back open
    deadline: float | None            # time.time() value
    max_pieces: int | None
    keep: bool                        # return the pieces, cones and measures (small models)
    certificate: bool                 # produce certificate lines
    spill: str | None                 # directory for certificate lines (same machine); else returned
    scoring: Scoring = ACCURACY


@dataclass
class TaskResult:
    number: int
    tally: Tally                      # (or the scoring's own running totals, e.g. MSETally)
    nodes: list                       # preorder: ("S", form, step, neuron) | ("L",) | ("U",) | ("T", task);
                                      # only the "T" entries unless the task keeps or certifies
    opened: list                      # cones handed back open (max_depth) and pieces above them, in preorder
    unresolved: list[Unresolved]      # cones a budget left open, in preorder
    piece_lines: list[str] | None     # certificate lines (when not spilled)
    kept: list                        # (piece, [(cone, measure)]) when keep
    stop_reason: str | None
    seconds: dict


_MODELS: dict[str, Model] = {}


def _model(model_json: dict) -> Model:
    """The task's model, parsed once per process."""
    key = model_json["sha256_exact"]
    if key not in _MODELS:
        from .models.weightfile import model_from_json
        _MODELS[key] = model_from_json(model_json, "task")
    return _MODELS[key]


# python-flint's working precision (flint.ctx.prec) is process-global, and the measures set it:
# threads of one process (a threaded dask worker) would change each other's precision, so
# enclosures would still be rigorous but not reproducible. A process runs one task at a time.
_ONE_TASK = threading.Lock()


def run_task(task: Task, interrupt: Callable[[], bool] = lambda: False,
             on_piece: Callable[[], object] | None = None) -> TaskResult:
    """Walk one subtree, scoring each piece as it is found (see the module docstring);
    ``on_piece`` is called after each scored piece (an in-process run's progress bar; in a pool
    worker, by default, the pool's shared piece counter)."""
    if on_piece is None and _PIECES_SCORED is not None:
        on_piece = _count_piece
    with _ONE_TASK:
        return _run_task(task, interrupt, on_piece)


def _run_task(task: Task, interrupt: Callable[[], bool], on_piece: Callable[[], object] | None = None) -> TaskResult:
    model = _model(task.model_json)
    n = model.n
    cells = task.scoring.cells(model)
    tally = task.scoring.tally()
    nodes, opened, unresolved, kept = [], [], [], []
    lines = None if task.spill else []
    sink = open(Path(task.spill) / f"{task.number}.pieces", "w") if task.spill and task.certificate else None
    seconds = {"walk": 0.0, "outcomes": 0.0, "measure": 0.0}
    record = task.certificate or task.keep   # the tree's shape is only needed to write or keep it
    stop = StopRule(deadline=task.deadline, max_pieces=task.max_pieces, pieces=lambda: tally.pieces,
                    interrupt=interrupt)

    mark = time.perf_counter()
    try:
        events = (task.start,) if isinstance(task.start, Piece) else \
            walk(model, task.start, stop=stop, max_depth=task.max_depth)
        for event in events:
            now = time.perf_counter()
            seconds["walk"] += now - mark
            mark = now
            if isinstance(event, SplitEvent):
                if record:
                    nodes.append(("S", event.form, event.step, event.neuron))
            elif isinstance(event, Unresolved):
                if stop.reason or task.max_depth is None:
                    if record:
                        nodes.append(("U",))
                    unresolved.append(event)
                else:
                    nodes.append(("T", len(opened)))
                    opened.append(event)
            elif task.max_depth is not None and not stop.reason:   # a piece near the top: a task of its own
                nodes.append(("T", len(opened)))
                opened.append(event)
            else:
                scored = _score(event, tally.pieces, cells, n, task.scoring, stop, seconds)
                mark = time.perf_counter()
                if scored is None:   # the budget ran out inside the piece: it stays open
                    if record:
                        nodes.append(("U",))
                    unresolved.append(Unresolved(event.constraints, n, 0, event.pattern))
                    continue
                if record:
                    nodes.append(("L",))
                tally.add_piece(scored)
                if on_piece is not None:
                    on_piece()
                if task.certificate:
                    line = piece_line(event, scored, task.scoring)
                    sink.write(line + "\n") if sink else lines.append(line)
                if task.keep:
                    kept.append((event, scored))
    finally:
        if sink:
            sink.close()
    tally.unresolved = len(unresolved)
    return TaskResult(task.number, tally, nodes, opened, unresolved, lines, kept,
                      stop.reason, seconds)


def _score(piece: Piece, index: int, cells: tuple, n: int, scoring: Scoring, stop, seconds: dict) -> list | None:
    """A piece's cones with their values, or None if ``stop`` fires before it is done."""
    t0 = time.perf_counter()
    cones = scoring.outcomes(index, piece, cells, n)
    t1 = time.perf_counter()
    seconds["outcomes"] += t1 - t0
    out = []
    for cone in cones:
        if stop():
            return None
        try:
            out.append((cone, scoring.score(cone, n, stop)))
        except MeasureStopped:
            return None
    seconds["measure"] += time.perf_counter() - t1
    return out


def piece_line(piece: Piece, scored: list, scoring: Scoring) -> str:
    """The certificate's JSON line for one piece (the format is the checker's)."""
    from .exact import rational_str
    from .proof.checker import pattern_text
    entry = {"pattern": pattern_text(piece.pattern), "constraints": [list(r) for r in piece.constraints],
             "logit_map": [[rational_str(v) for v in row] for row in piece.logit_map],
             "outcomes": [scoring.entry(cone, value) for cone, value in scored]}
    return json.dumps(entry, separators=(",", ":"), allow_nan=False)


# -- executors -------------------------------------------------------------------------------

_PIECES_SCORED = None   # in a pool worker: the pool's shared count of scored pieces


def _count_piece() -> None:
    with _PIECES_SCORED.get_lock():
        _PIECES_SCORED.value += 1


def _worker_init(pieces_scored) -> None:
    """Ctrl-C is the parent's to handle (BLAS threads are pinned when the package loads); a forked
    worker gets a fresh task lock (the parent's may be held by an abandoned thread) and counts its
    scored pieces in the pool's shared counter (the parent's progress bar reads it)."""
    global _ONE_TASK, _PIECES_SCORED
    _ONE_TASK = threading.Lock()
    _PIECES_SCORED = pieces_scored
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Pool:
    """A local process pool whose results arrive on a queue (so the caller can keep a deadline);
    ``scored()`` is the number of pieces its workers have scored so far."""

    shared_disk = True

    def __init__(self, workers: int):
        import multiprocessing
        self.workers = workers
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        context = multiprocessing.get_context(method)
        self.pieces_scored = context.Value("q", 0)
        self.pool = context.Pool(workers, initializer=_worker_init, initargs=(self.pieces_scored,))
        self.results: queue.Queue = queue.Queue()

    def scored(self) -> int:
        return self.pieces_scored.value

    def submit(self, task: Task) -> None:
        self.pool.apply_async(run_task, (task,), callback=self.results.put,
                              error_callback=lambda e: self.results.put(e))

    def close(self, abandon: bool) -> None:
        if abandon:
            self.pool.terminate()
        else:
            self.pool.close()
        self.pool.join()


class _Dask:
    """A dask.distributed cluster (``Client(address)``) as the executor; its progress is counted
    per finished task (``scored()`` is None)."""

    shared_disk = False

    def __init__(self, address):
        from .errors import VerifierError
        try:
            from distributed import Client
        except ImportError:
            raise VerifierError("--scheduler needs dask.distributed: pip install 'verifier[distributed]'") from None
        try:
            self.client = address if not isinstance(address, str) else Client(address, timeout=CONNECT_SECONDS)
        except (OSError, TimeoutError, ValueError) as e:
            raise VerifierError(f"cannot reach the dask scheduler at {address} ({type(e).__name__}: {e})") from None
        self.own = isinstance(address, str)
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        self.results: queue.Queue = queue.Queue()
        self.futures = []

    def scored(self) -> None:
        return None

    def submit(self, task: Task) -> None:
        future = self.client.submit(run_task, task, pure=False)
        future.add_done_callback(lambda f: self.results.put(f.result() if f.status == "finished" else f.exception()))
        self.futures.append(future)

    def close(self, abandon: bool) -> None:
        if abandon:
            self.client.cancel(self.futures)
        if self.own:
            self.client.close()


# -- the whole run ---------------------------------------------------------------------------

@dataclass
class Run:
    """A finished run: the tally, stage times, why it stopped, and the parts in preorder."""

    tally: Tally                      # (or the scoring's own running totals, e.g. MSETally)
    parts: dict                       # task number -> TaskResult (0: the top of the tree)
    stop_reason: str | None
    seconds: dict
    workers: int
    spill: str | None


def run(model: Model, *, workers: int = 1, scheduler=None, deadline: float | None = None,
        max_pieces: int | None = None, keep: bool = False, certificate: bool = False, spill: str | None = None,
        scoring: Scoring = ACCURACY, progress: bool = False, grace: float | None = None) -> Run:
    """Certify-pipeline run over the whole tree (see the module docstring).

    ``workers > 1`` or ``scheduler`` (a dask address or Client) runs subtrees in parallel;
    a piece budget runs serially (it counts pieces in one place). ``grace``: how long after the
    deadline to wait for workers (default ``GRACE_SECONDS``).
    """
    from .models.weightfile import model_to_json
    model_json = model_to_json(model)
    parallel = (workers > 1 or scheduler is not None) and max_pieces is None
    interrupted = [False]
    restore = _catch_interrupts(interrupted)
    top = Task(0, model_json, None, FRONTIER_DEPTH if parallel else None, deadline, max_pieces, keep, certificate,
               spill, scoring)
    parts: dict[int, TaskResult] = {}
    bar = _bar(progress)
    try:
        return _run(model_json, top, parts, interrupted, workers, scheduler, deadline, keep, certificate, spill,
                    scoring, bar, parallel, GRACE_SECONDS if grace is None else grace)
    finally:
        restore()
        if bar is not None:
            bar.close()


def _catch_interrupts(flag: list) -> Callable[[], None]:
    """Turn the first Ctrl-C into a stop request (``flag[0] = True``); a second one interrupts.
    Returns the function that puts the previous handler back (a no-op off the main thread)."""
    import signal
    import threading
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        if flag[0]:
            raise KeyboardInterrupt
        flag[0] = True
    previous = signal.signal(signal.SIGINT, handler)
    return lambda: signal.signal(signal.SIGINT, previous)


def _run(model_json, top, parts, interrupted, workers, scheduler, deadline, keep, certificate, spill, scoring,
         bar, parallel, grace) -> Run:
    parts[0] = run_task(top, lambda: interrupted[0], None if bar is None else lambda: bar.update(1))
    tally = scoring.tally()
    tally.merge(parts[0].tally)
    reasons = [parts[0].stop_reason] if parts[0].stop_reason else []
    opened = parts[0].opened
    seconds = dict(parts[0].seconds)
    used = 1
    if opened:
        executor = _Dask(scheduler) if scheduler is not None else _Pool(workers)
        used = executor.workers
        tasks = {k + 1: Task(k + 1, model_json, u, None, deadline, None, keep, certificate,
                             spill if executor.shared_disk else None, scoring) for k, u in enumerate(opened)}
        abandon = True    # unless every task comes back
        shown = 0         # pieces the bar shows beyond the top task's
        try:
            for number in sorted(tasks, key=lambda k: -_mass_guess(tasks[k].start.constraints)):
                executor.submit(tasks[number])
            while len(parts) < len(tasks) + 1:
                if interrupted[0]:
                    raise KeyboardInterrupt
                wait = None if deadline is None else deadline + grace - time.time()
                if wait is not None and wait <= 0:
                    raise TimeoutError
                try:
                    result = executor.results.get(timeout=1.0 if wait is None else min(wait, 1.0))
                except queue.Empty:
                    shown = _advance(bar, shown, executor.scored())
                    continue
                if isinstance(result, BaseException):
                    raise result
                if result.piece_lines is not None and spill and certificate:
                    _spill_lines(spill, result)
                parts[result.number] = result
                tally.merge(result.tally)
                if result.stop_reason and result.stop_reason not in reasons:
                    reasons.append(result.stop_reason)
                for k, v in result.seconds.items():
                    seconds[k] = seconds.get(k, 0.0) + v
                finished = executor.scored()
                shown = _advance(bar, shown, shown + result.tally.pieces if finished is None else finished)
            abandon = False
        except (TimeoutError, KeyboardInterrupt) as e:
            reason = "interrupted" if isinstance(e, KeyboardInterrupt) else "stopped at the time budget"
            if reason not in reasons:
                reasons.append(reason)
            for number, task in tasks.items():   # abandoned subtrees stay open: their cones are unresolved
                if number not in parts:
                    parts[number] = TaskResult(number, _unresolved_tally(scoring), [("U",)], [], [_open(task.start)],
                                               [] if not spill else None, [], reason, {})
                    tally.unresolved += 1
        finally:
            executor.close(abandon)
    return Run(tally, parts, "; ".join(reasons) or None, seconds, used, spill)


def _advance(bar, shown: int, scored: int) -> int:
    """Move the bar to ``scored`` worker pieces (it shows ``shown``); returns what it shows now."""
    if bar is not None and scored > shown:
        bar.update(scored - shown)
        return scored
    return shown


def _open(start: Unresolved | Piece) -> Unresolved:
    """A task's cone as an unresolved cone (a piece: resumed after its last step)."""
    return start if isinstance(start, Unresolved) else Unresolved(start.constraints, len(start.pattern), 0,
                                                                  start.pattern)


def _unresolved_tally(scoring: Scoring):
    """The tally of an abandoned subtree: one unresolved cone."""
    tally = scoring.tally()
    tally.unresolved = 1
    return tally


def _mass_guess(rows, samples: int = 512) -> float:
    """A rough share of Gaussian points in a cone (floats, fixed seed): only to hand out the
    heavier subtrees first, so a budget resolves more mass. Never part of a result."""
    import numpy as np
    if not rows:
        return 1.0
    scaled = [[v >> max(0, max(abs(x) for x in r).bit_length() - 52) if v >= 0 else
               -((-v) >> max(0, max(abs(x) for x in r).bit_length() - 52)) for v in r] for r in rows]
    points = np.random.default_rng(0).standard_normal((samples, len(rows[0])))
    return float((points @ np.array(scaled, dtype=float).T >= 0).all(axis=1).mean())


def _spill_lines(spill: str, result: TaskResult) -> None:
    with open(Path(spill) / f"{result.number}.pieces", "w") as f:
        for line in result.piece_lines:
            f.write(line + "\n")
    result.piece_lines = None


def _bar(progress: bool):
    if not progress:
        return None
    import sys
    from tqdm import tqdm
    return tqdm(unit=" pieces", file=sys.stderr, desc="certify")


def preorder(run: Run):
    """The run's tree in preorder with the subtrees spliced in: ``(node, part, unresolved cone or None)``."""
    def visit(part: TaskResult):
        cones = iter(part.unresolved)
        for node in part.nodes:
            if node[0] == "T":
                yield from visit(run.parts[node[1] + 1])
            else:
                yield node, part, next(cones) if node[0] == "U" else None
    yield from visit(run.parts[0])
