"""Train AlgZoo-family RNNs with AlgZoo's own training schedule (needs the ``torch`` extra).

Architecture (AlgZoo's ``DistRNN``/``ScalarRNN``): ``nn.RNN(1, d, bias=False, nonlinearity="relu",
batch_first=True)`` then ``nn.Linear(d, out, bias=False)`` with PyTorch's default initialization;
``out = n`` for the position tasks (2nd_argmax, argmax, argmedian; cross-entropy against the target
position) and ``out = 1`` for ``median`` (squared error against the median; for even n the mean of the
two middle inputs).

AlgZoo's schedule (``schedule="algzoo"``, the default, as in AlgZoo's ``alg_zoo/training.py``):
2^30 sequences in batches of 1024, i.e. 2^20 AdamW steps, peak learning rate ``0.04 / sqrt(d)``, weight
decay 0.001; the learning rate at step s is the peak times ``min(s / 2^14, 1) * max(0.01 ** (2 s / steps),
0.01)``: a 2^14-step linear warm-up (step 0 has learning rate 0) and an exponential decay that reaches its
floor of 0.01 at half the run. ``torch.manual_seed(seed)`` fixes the initialization and the batches come
from the same global generator right after it (AlgZoo's data order). AlgZoo keeps the best of seeds 0-4.

``schedule="short"`` is this project's earlier shortened recipe for CPU budgets: a linear warm-up over
the first 5% of the steps, then exponential decay to 0.01x the peak at the last step.

Several seeds train together in one process as a batch of independent models (parameters stacked along
a leading axis, batched matmuls, the per-model losses summed; AdamW is elementwise), each with its own
initialization and data generator, so a seed's model is the one a single-seed run would produce
(tests check this bit for bit). PyTorch is imported inside the functions, so the rest of the package
works without it.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass

from ..errors import VerifierError
from .model import Model
from .tasks import get_task

PEAK_LR_SCALE = 0.04
WEIGHT_DECAY = 0.001
ALGZOO_STEPS = 2**20
ALGZOO_WARMUP_STEPS = 2**14
SHORT_WARMUP_FRACTION = 0.05
FINAL_LR_FACTOR = 0.01
TORCH_HINT = "install the torch extra: pip install torch==2.13.0 (CPU build), or pip install 'verifier[torch]'"


def import_torch():
    """The ``torch`` module, or a one-line VerifierError saying how to install it."""
    try:
        import torch
    except ImportError:
        raise VerifierError(f"training needs PyTorch, which is not installed; {TORCH_HINT}") from None
    return torch


def peak_lr(d: int) -> float:
    """AlgZoo's peak learning rate for hidden size ``d``."""
    return PEAK_LR_SCALE / math.sqrt(d)


def algzoo_lr_factor(step: int, steps: int) -> float:
    """AlgZoo's learning rate at 0-based ``step`` of ``steps``, as a fraction of the peak.

    >>> [round(algzoo_lr_factor(s, 2**20), 4) for s in (0, 2**13, 2**14, 2**18, 2**19, 2**20 - 1)]
    [0.0, 0.4653, 0.866, 0.1, 0.01, 0.01]
    """
    warmup = min(step / ALGZOO_WARMUP_STEPS, 1)
    decay = max(FINAL_LR_FACTOR ** (2 * step / steps), FINAL_LR_FACTOR)
    return warmup * decay


def short_warmup_steps(steps: int) -> int:
    """Warm-up length of the shortened schedule: 5% of the run (at least 1 step)."""
    return max(1, round(SHORT_WARMUP_FRACTION * steps))


def short_lr_factor(step: int, steps: int) -> float:
    """The shortened schedule's learning rate at 0-based ``step``, as a fraction of the peak.

    >>> [round(short_lr_factor(s, 100), 4) for s in (0, 4, 5, 99)]
    [0.2, 1.0, 0.9527, 0.01]
    """
    warm = short_warmup_steps(steps)
    if step < warm:
        return (step + 1) / warm
    decay_steps = steps - warm
    if decay_steps <= 1:
        return 1.0 if step < steps - 1 else FINAL_LR_FACTOR
    return FINAL_LR_FACTOR ** ((step - warm + 1) / decay_steps)


SCHEDULES = {"algzoo": algzoo_lr_factor, "short": short_lr_factor}


def warmup_steps(schedule: str, steps: int) -> int:
    """Warm-up length of ``schedule`` for a run of ``steps`` steps."""
    return ALGZOO_WARMUP_STEPS if schedule == "algzoo" else short_warmup_steps(steps)


@dataclass(frozen=True)
class TrainInfo:
    """How one model was trained, and how its run went (losses are per-batch cross-entropies or squared errors)."""

    d: int
    n: int
    task: str
    schedule: str
    steps: int
    seed: int
    batch: int
    peak_lr: float
    weight_decay: float
    warmup_steps: int
    final_lr_factor: float
    threads: int
    models_in_batch: int
    first_loss: float
    final_loss: float
    seconds: float
    torch_version: str

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainedWeights:
    """One trained model's float32 weights (AlgZoo's shapes: W_hi d x 1, W_hh d x d, W_oh out x d) and its run."""

    w_hi: object
    w_hh: object
    w_oh: object
    info: TrainInfo

    def to_model(self, name: str = "trained") -> Model:
        """The exact float32 Model (a median model keeps its sequence length: it has one output)."""
        value = get_task(self.info.task).outputs_value
        return Model.from_arrays(self.w_hi, self.w_hh, self.w_oh, task=self.info.task, name=name,
                                 precision="float32", seq_len=self.info.n if value else None)


def output_size(task: str, n: int) -> int:
    """AlgZoo's output size: 1 for a scalar task (median), else one logit per position."""
    return 1 if get_task(task).outputs_value else n


def build_module(d: int, n: int, *, out: int | None = None):
    """AlgZoo's RNN as a torch module; its state_dict keys are the AlgZoo ones."""
    torch = import_torch()
    out = n if out is None else out

    class AlgZooRNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.RNN(1, d, bias=False, nonlinearity="relu", batch_first=True)
            self.linear = torch.nn.Linear(d, out, bias=False)

        def forward(self, x):
            _, h_n = self.rnn(x.unsqueeze(-1))
            return self.linear(h_n.squeeze(0))

    return AlgZooRNN()


def module_to_model(module, *, task: str = "2nd_argmax", name: str = "trained") -> Model:
    """The exact float32 Model holding a module's current weights."""
    state = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    return Model.from_arrays(state["rnn.weight_ih_l0"], state["rnn.weight_hh_l0"], state["linear.weight"],
                             task=task, name=name, precision="float32")


def _check_positive(value, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise VerifierError(f"{what} must be a positive integer, got {value!r}")


def _check_task(task: str, n: int) -> None:
    if n < 2:
        raise VerifierError(f"sequence length must be at least 2, got {n}")
    get_task(task).check_length(n)


def batch_targets(task: str, x):
    """AlgZoo's targets for inputs ``x`` (..., n): a position (long) or, for median, the median value."""
    n = x.shape[-1]
    if get_task(task).outputs_value:  # the median, as AlgZoo's task_median
        middle = x.sort(-1).values[..., (n - 1) // 2:(n + 2) // 2]
        return middle.mean(-1)
    return x.argsort(-1)[..., n - 1 - get_task(task).above(n)]


def batched_forward(w_hi, w_hh, w_oh, x):
    """Outputs of K stacked RNNs: weights (K, d, 1), (K, d, d), (K, out, d); inputs (K, B, n) -> (K, B, out)."""
    torch = import_torch()
    w_in = w_hi.transpose(1, 2)
    w_rec = w_hh.transpose(1, 2)
    h = torch.relu(x[:, :, 0:1] * w_in)
    for t in range(1, x.shape[-1]):
        h = torch.relu(torch.baddbmm(x[:, :, t:t + 1] * w_in, h, w_rec))
    return torch.bmm(h, w_oh.transpose(1, 2))


def per_model_losses(task: str, outputs, targets):
    """Each model's mean loss, shape (K,): cross-entropy for position tasks, squared error for median."""
    torch = import_torch()
    if get_task(task).outputs_value:
        return ((outputs.squeeze(-1) - targets) ** 2).mean(-1)
    # cross-entropy written out: PyTorch's fused kernel is ~2x slower on CPU for a handful of classes
    ce = torch.logsumexp(outputs, -1) - outputs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return ce.mean(-1)


def train_seeds(d: int, n: int, *, seeds, steps: int = ALGZOO_STEPS, task: str = "2nd_argmax",
                schedule: str = "algzoo", batch: int = 1024, progress: bool = True, threads: int = 1,
                log_every: int = 0, log=None) -> list[TrainedWeights]:
    """Train one model per seed, all in one batch of independent models; returns them in ``seeds`` order.

    Each seed gets AlgZoo's initialization under ``torch.manual_seed(seed)`` and its own generator that
    continues the global stream from there (AlgZoo's data order). ``threads`` bounds PyTorch's intra-op
    threads for the run; it and the global RNG state are restored afterwards. With ``log_every`` > 0,
    ``log`` (default: print to stderr) gets a line every ``log_every`` steps with each model's mean loss.
    """
    seeds = list(seeds)
    for value, what in ((d, "hidden size d"), (n, "sequence length n"), (steps, "steps"),
                        (batch, "batch size"), (threads, "threads")):
        _check_positive(value, what)
    if not seeds:
        raise VerifierError("give at least one seed")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise VerifierError(f"seed must be a non-negative integer, got {seed!r}")
    if len(set(seeds)) != len(seeds):
        raise VerifierError(f"seeds must be distinct, got {seeds}")
    if schedule not in SCHEDULES:
        raise VerifierError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULES)}")
    _check_task(task, n)
    if log_every < 0:
        raise VerifierError(f"log_every must be >= 0, got {log_every}")
    torch = import_torch()
    factor = SCHEDULES[schedule]
    out = output_size(task, n)
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))

    previous_threads = torch.get_num_threads()
    previous_rng = torch.get_rng_state()
    torch.set_num_threads(threads)
    try:
        modules, generators = [], []
        for seed in seeds:
            torch.manual_seed(seed)
            modules.append(build_module(d, n, out=out))
            generators.append(torch.Generator())
            generators[-1].set_state(torch.get_rng_state())
        params = [torch.stack([m.rnn.weight_ih_l0.detach() for m in modules]).requires_grad_(),
                  torch.stack([m.rnn.weight_hh_l0.detach() for m in modules]).requires_grad_(),
                  torch.stack([m.linear.weight.detach() for m in modules]).requires_grad_()]
        optimizer = torch.optim.AdamW(params, lr=peak_lr(d), weight_decay=WEIGHT_DECAY)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: factor(s, steps))
        tail = max(1, steps // 20)
        tail_sum = torch.zeros(len(seeds), dtype=torch.float64)
        window_sum = torch.zeros(len(seeds), dtype=torch.float64)
        first = None
        start = time.perf_counter()
        from tqdm import tqdm
        bar = tqdm(range(steps), disable=not progress, file=sys.stderr, unit="step",
                   desc=f"train {task} d={d} n={n} x{len(seeds)}")
        for step in bar:
            x = torch.stack([torch.randn(batch, n, generator=g) for g in generators])
            losses = per_model_losses(task, batched_forward(*params, x), batch_targets(task, x))
            losses.sum().backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            values = losses.detach().double()
            if first is None:
                first = values.clone()
            if step >= steps - tail:
                tail_sum += values
            if log_every:
                window_sum += values
                if (step + 1) % log_every == 0:
                    mean = window_sum / log_every
                    log(f"step {step + 1} lr_factor {factor(step, steps):.4g} {time.perf_counter() - start:.0f}s "
                        "loss " + " ".join(f"{seed}:{v:.5f}" for seed, v in zip(seeds, mean.tolist())))
                    window_sum.zero_()
        bar.close()
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(previous_threads)
        torch.set_rng_state(previous_rng)

    arrays = [p.detach().numpy() for p in params]
    result = []
    for i, seed in enumerate(seeds):
        info = TrainInfo(d=d, n=n, task=task, schedule=schedule, steps=steps, seed=seed, batch=batch,
                         peak_lr=peak_lr(d), weight_decay=WEIGHT_DECAY, warmup_steps=warmup_steps(schedule, steps),
                         final_lr_factor=FINAL_LR_FACTOR, threads=threads, models_in_batch=len(seeds),
                         first_loss=float(first[i]), final_loss=float(tail_sum[i]) / tail, seconds=seconds,
                         torch_version=str(torch.__version__))
        result.append(TrainedWeights(arrays[0][i].copy(), arrays[1][i].copy(), arrays[2][i].copy(), info))
    return result


def train(d: int, n: int, *, steps: int = ALGZOO_STEPS, seed: int = 0, task: str = "2nd_argmax",
          schedule: str = "algzoo", batch: int = 1024, progress: bool = True, threads: int = 1,
          name: str | None = None) -> tuple[Model, TrainInfo]:
    """Train ``M_{d,n}`` for ``steps`` AdamW steps from ``seed``; return the float32 Model and a TrainInfo."""
    (trained,) = train_seeds(d, n, seeds=[seed], steps=steps, task=task, schedule=schedule, batch=batch,
                             progress=progress, threads=threads)
    return trained.to_model(name or f"trained_{d}_{n}"), trained.info


def median_mse_estimate(model: Model, samples: int, *, seed: int = 0, chunk: int = 1 << 16) -> dict:
    """Monte Carlo estimate of a median model's mean squared error (numpy float64 forward pass, ``default_rng(seed)``).

    A randomized estimate: returns ``mse``, ``mse_stderr``, ``rmse`` and the sample count and seed.
    """
    import numpy as np

    w_hi, w_hh, w_oh = model.arrays
    rng = np.random.default_rng(seed)
    total = total_sq = 0.0
    done = 0
    while done < samples:
        x = rng.standard_normal((min(chunk, samples - done), model.n))
        h = np.zeros((len(x), model.d))
        for t in range(model.n):
            h = np.maximum(h @ w_hh.T + x[:, t:t + 1] * w_hi, 0.0)
        err = ((h @ w_oh.T)[:, 0] - model.task.value(x)) ** 2
        total += float(err.sum())
        total_sq += float((err ** 2).sum())
        done += len(x)
    mse = total / samples
    var = max(total_sq / samples - mse * mse, 0.0)
    return {"mse": mse, "mse_stderr": math.sqrt(var / max(samples - 1, 1)), "rmse": math.sqrt(mse),
            "mse_samples": samples, "mse_seed": seed, "mse_dtype": "float64"}


def sampled_score(trained: TrainedWeights, samples: int, *, seed: int = 0, progress: bool = False) -> dict:
    """A randomized estimate of a trained model's score: accuracy (position tasks) or mean squared error (median)."""
    if get_task(trained.info.task).outputs_value:
        return median_mse_estimate(trained.to_model(), samples, seed=seed)
    from ..estimate.sampling import estimate_accuracy

    est = estimate_accuracy(trained.to_model(), samples, seed=seed, progress=progress)
    return {"accuracy": est.accuracy, "accuracy_stderr": est.stderr, "accuracy_samples": est.n,
            "accuracy_seed": est.seed, "accuracy_dtype": est.dtype}


def best_of(scored: list[tuple[TrainedWeights, dict]]) -> tuple[TrainedWeights, dict]:
    """AlgZoo's seed screen: the highest accuracy, or the lowest mean squared error (first seed on ties)."""
    if "mse" in scored[0][1]:
        return min(scored, key=lambda pair: pair[1]["mse"])
    return max(scored, key=lambda pair: pair[1]["accuracy"])


def save_trained(trained: TrainedWeights, path, *, command: str, eval_samples: int = 1_000_000,
                 eval_seed: int = 0, progress: bool = False, screen: list[dict] | None = None,
                 score: dict | None = None) -> dict:
    """Save a trained model as project JSON whose ``meta`` records how it was made and its sampled score.

    Returns the meta. ``score`` is a :func:`sampled_score` already computed with these settings;
    ``eval_samples = 0`` skips it. ``screen`` lists every screened seed's score.
    """
    from pathlib import Path

    from .weightfile import dumps_compact, model_to_json

    path = Path(path)
    meta = {"command": command, **trained.info.to_json()}
    if eval_samples:
        meta.update(score or sampled_score(trained, eval_samples, seed=eval_seed, progress=progress))
    if screen:
        meta["seed_screen"] = screen
    try:
        path.write_text(dumps_compact(model_to_json(trained.to_model(path.stem), meta)))
    except OSError as e:
        raise VerifierError(f"{path}: cannot write ({e.strerror or e})") from None
    return meta
