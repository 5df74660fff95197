"""Train a 2nd-argmax-family RNN with AlgZoo's published recipe (needs the ``torch`` extra).

Architecture: ``nn.RNN(1, d, bias=False, nonlinearity="relu", batch_first=True)`` followed by
``nn.Linear(d, n, bias=False)``, PyTorch's default initialization (as AlgZoo's modules use).
Recipe: AdamW with peak learning rate ``0.04 / sqrt(d)`` and weight decay 0.001, batches of
1024 fresh standard Gaussian sequences, cross-entropy against the task's target position; the
learning rate rises linearly over the first ``WARMUP_FRACTION`` of the steps, then decays
exponentially to ``FINAL_LR_FACTOR`` times the peak at the last step. AlgZoo's own warm-up
length is not published with the recipe; ours is a fixed fraction of the run.

Training is deterministic for a seed on CPU with one thread: ``torch.manual_seed(seed)`` fixes
the initialization and a separate ``torch.Generator`` seeded with ``seed`` draws the data.
PyTorch is imported inside the functions, so the rest of the package works without it.
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
WARMUP_FRACTION = 0.05
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


def warmup_steps(steps: int) -> int:
    """Number of linear warm-up steps in a run of ``steps`` steps (at least 1)."""
    return max(1, round(WARMUP_FRACTION * steps))


def lr_factor(step: int, steps: int) -> float:
    """Learning rate at 0-based ``step`` as a fraction of the peak.

    >>> [round(lr_factor(s, 100), 4) for s in (0, 4, 5, 99)]
    [0.2, 1.0, 0.9527, 0.01]
    """
    warm = warmup_steps(steps)
    if step < warm:
        return (step + 1) / warm
    decay_steps = steps - warm
    if decay_steps <= 1:
        return 1.0 if step < steps - 1 else FINAL_LR_FACTOR
    return FINAL_LR_FACTOR ** ((step - warm + 1) / decay_steps)


@dataclass(frozen=True)
class TrainInfo:
    """How a model was trained, and how the run went (losses are per-batch cross-entropies)."""

    d: int
    n: int
    task: str
    steps: int
    seed: int
    batch: int
    peak_lr: float
    weight_decay: float
    warmup_steps: int
    final_lr_factor: float
    threads: int
    first_loss: float
    final_loss: float
    seconds: float
    torch_version: str

    def to_json(self) -> dict:
        return asdict(self)


def build_module(d: int, n: int):
    """AlgZoo's RNN as a torch module; its state_dict keys are the AlgZoo ones."""
    torch = import_torch()

    class AlgZooRNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.RNN(1, d, bias=False, nonlinearity="relu", batch_first=True)
            self.linear = torch.nn.Linear(d, n, bias=False)

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


def train(d: int, n: int, *, steps: int, seed: int, task: str = "2nd_argmax", batch: int = 1024,
          progress: bool = True, threads: int = 1, name: str | None = None) -> tuple[Model, TrainInfo]:
    """Train ``M_{d,n}`` for ``steps`` AdamW steps from ``seed``; return the float32 Model and a TrainInfo.

    ``threads`` bounds PyTorch's intra-op threads for the run (restored afterwards).
    """
    for value, what in ((d, "hidden size d"), (n, "sequence length n"), (steps, "steps"),
                        (batch, "batch size"), (threads, "threads")):
        _check_positive(value, what)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise VerifierError(f"seed must be a non-negative integer, got {seed!r}")
    task_obj = get_task(task)
    if n < 2:
        raise VerifierError(f"sequence length must be at least 2, got {n}")
    task_obj.check_length(n)
    torch = import_torch()

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        module = build_module(d, n)
        data = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.AdamW(module.parameters(), lr=peak_lr(d), weight_decay=WEIGHT_DECAY)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, steps))
        target_rank = n - 1 - task_obj.above(n)
        tail = max(1, steps // 20)
        losses_tail = []
        first_loss = math.nan
        start = time.perf_counter()
        from tqdm import tqdm
        bar = tqdm(range(steps), disable=not progress, file=sys.stderr, desc=f"train d={d} n={n}", unit="step")
        for step in bar:
            x = torch.randn(batch, n, generator=data)
            target = x.argsort(dim=-1)[:, target_rank]
            loss = torch.nn.functional.cross_entropy(module(x), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            value = loss.item()
            if step == 0:
                first_loss = value
            if step >= steps - tail:
                losses_tail.append(value)
            if progress and step % 100 == 0:
                bar.set_postfix(loss=f"{value:.4f}", refresh=False)
        bar.close()
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(previous_threads)

    model = module_to_model(module, task=task, name=name or f"trained_{d}_{n}")
    info = TrainInfo(d=d, n=n, task=task, steps=steps, seed=seed, batch=batch, peak_lr=peak_lr(d),
                     weight_decay=WEIGHT_DECAY, warmup_steps=warmup_steps(steps),
                     final_lr_factor=FINAL_LR_FACTOR, threads=threads, first_loss=first_loss,
                     final_loss=sum(losses_tail) / len(losses_tail), seconds=seconds,
                     torch_version=str(torch.__version__))
    return model, info


def save_trained(model: Model, info: TrainInfo, path, *, command: str, eval_samples: int = 1_000_000,
                 eval_seed: int = 0, progress: bool = False) -> dict:
    """Save a trained model as project JSON whose ``meta`` records how it was made and its sampled accuracy.

    Returns the meta. ``eval_samples = 0`` skips the Monte Carlo accuracy estimate.
    """
    from ..estimate.sampling import estimate_accuracy
    from .weightfile import save_json

    meta = {"command": command, **info.to_json()}
    if eval_samples:
        est = estimate_accuracy(model, eval_samples, seed=eval_seed, progress=progress)
        meta.update(accuracy=est.accuracy, accuracy_stderr=est.stderr, accuracy_samples=est.n,
                    accuracy_seed=est.seed, accuracy_dtype=est.dtype)
    try:
        save_json(model, path, meta)
    except OSError as e:
        raise VerifierError(f"{path}: cannot write ({e.strerror or e})") from None
    return meta
