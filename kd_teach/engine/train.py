"""The one training loop every stage shares.

A stage supplies a ``loss_fn(model, batch) -> loss`` (or ``(loss, {"name": value})`` to log
the terms); the loop does the rest: AdamW with linear warm-up and decay, gradient
accumulation, gradient clipping, device placement and mixed precision through accelerate, a
tqdm progress bar, evaluation at the end of every epoch, and atomic checkpoints it resumes
from after an interruption. :class:`Trainer` holds the run's state and reads as its steps:
:meth:`~Trainer.resume`, :meth:`~Trainer.optimizer_step`, :meth:`~Trainer.save_checkpoint`,
:meth:`~Trainer.evaluate`, :meth:`~Trainer.run`; :func:`train` is the one call the stages make.

Launched on several processes (``accelerate launch --multi_gpu --num_processes N``, one per
GPU; ``--num_machines`` across machines), it is data-parallel through accelerate's own
``DistributedDataParallel``: the stage's loss is the ``forward`` of one module
(:class:`Objective`: the model being trained and its loss), which accelerate wraps, so DDP's
hooks see every trained parameter and average the gradients during the backward pass. Every
process draws the same batch order and trains on every N-th batch (accelerate shards the
loader); only the main process writes checkpoints. A step then sees N batches, so N processes
take 1/N of the steps.
"""
from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from kd_teach.engine.checkpoint import atomic_save, load_checkpoint, rng_state, set_rng_state
from kd_teach.engine.data import set_loader_epoch
from kd_teach.engine.runtime import fast_matmuls, flush_denormals, progress_disabled

LossFn = Callable[[torch.nn.Module, dict], "torch.Tensor | tuple[torch.Tensor, dict]"]


@contextmanager
def stop_at_step_boundaries():
    """Turn Ctrl-C (SIGINT) and `kill` (SIGTERM) into a request that the loop honours between steps.

    A signal landing between ``optimizer.step()`` and the step counter would save weights one
    step ahead of the counter, and the resumed run would apply that step twice. Inside this
    block a signal only sets ``requested["stop"]``; the loop saves and raises KeyboardInterrupt
    after the step it is in. Outside the main thread (where handlers cannot be set) it does nothing.
    """
    requested = {"stop": False}
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    before = {sig: signal.getsignal(sig) for sig in signals}
    for sig in signals:
        signal.signal(sig, lambda signum, frame: requested.update(stop=True))
    try:
        yield requested
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


@dataclass
class TrainConfig:
    """Optimiser and loop settings of one stage."""

    epochs: int = 1
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    grad_accum_steps: int = 1     # batches whose gradients are summed into one optimiser step
    seed: int = 0
    mixed_precision: str = "no"   # "no" | "bf16" | "fp16" (accelerate)
    # A checkpoint every `checkpoint_minutes` of wall time (or every `checkpoint_every` steps, when set), at each
    # epoch's end and on Ctrl-C or kill. By time, not steps: saving an 11M-parameter student with its AdamW
    # state (135 MB) took 1.3 s on 2 cores, so every 100 steps cost `make run` about 80 s; a hard kill
    # (SIGKILL, power loss) loses at most the minutes since the last one.
    checkpoint_minutes: float = 2.0
    checkpoint_every: int | None = None
    log_every: int = 10           # optimiser steps between entries of the loss history
    eval_every: int | None = None  # also evaluate every this many optimiser steps (a learning curve), not only
                                   #   at each epoch's end
    desc: str = "train"


@dataclass
class TrainResult:
    """What a finished stage returns: its loss curve, its evaluations and its cost."""

    steps: int                                       # optimiser steps
    seconds: float                                   # wall-clock training time, resumed parts included
    history: list[dict] = field(default_factory=list)  # {"step", "epoch", "loss", "lr", <terms>}
    evals: list[dict] = field(default_factory=list)    # {"epoch", "step", <metrics>} per epoch
    resumed_seconds: float = 0.0                       # of ``seconds``, spent before the last resume

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class StageResult:
    """A trained model and how it got there."""

    model: torch.nn.Module
    train: TrainResult
    seconds: float  # the whole stage, including work outside the loop (e.g. teacher logits)

    @classmethod
    def since(cls, model: torch.nn.Module, train: TrainResult, t0: float) -> "StageResult":
        """The stage's wall time: this call's since ``t0`` (``time.perf_counter()``), plus what the
        loop spent before a resume (an interrupted stage's first part is not lost from the count)."""
        return cls(model, train, time.perf_counter() - t0 + train.resumed_seconds)


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


class Objective(torch.nn.Module):
    """A stage's loss as a module: ``forward(batch) = loss_fn(model, batch)``.

    What accelerate prepares (and, on several processes, wraps in ``DistributedDataParallel``):
    the stages' losses call into the model's parts (TinyBERT's student and projections,
    DistilBERT's encoder and MLM head), so the whole loss, not only ``model.forward``, must run
    inside the wrapped forward for DDP to see every parameter that gets a gradient. The
    teacher is not a submodule: it is frozen and lives in ``loss_fn``.
    """

    def __init__(self, model: torch.nn.Module, loss_fn: LossFn):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, batch: dict):
        return self.loss_fn(self.model, batch)


class Trainer:
    """One stage's training run: its model, optimiser, schedule, data position and record.

    Args:
        model: the module being trained; all its parameters are optimised (a stage with extra
            learnable pieces, such as a projection, wraps them in one module with the student).
        loader: training batches (micro-batches when ``config.grad_accum_steps`` > 1: the
            gradients of that many consecutive batches make one optimiser step, the last
            step of an epoch taking what is left); a shuffled loader from :func:`kd_teach.engine.data.make_loader`
            gives the same order per (seed, epoch), so a resumed run sees the same batches.
        loss_fn: ``loss_fn(model, batch)`` -> scalar loss, or (loss, dict of floats to log).
        config: :class:`TrainConfig`.
        eval_fn: ``eval_fn(model)`` -> dict of metrics, called after every epoch (and every
            ``config.eval_every`` steps when set).
        checkpoint_dir: where ``checkpoint.pt`` is written every ``config.checkpoint_minutes`` (or
            ``checkpoint_every`` steps), at each epoch's end and on Ctrl-C or kill; if it exists,
            training resumes from it.
        on_log: called with each new history entry (e.g. to redraw live loss curves).
        param_groups: optimiser parameter groups, e.g. ``[{"params": head, "lr": 1e-3}, {"params": rest}]``
            for a new head that learns faster than a pretrained encoder; a group without ``lr``
            takes ``config.lr``. Default: every parameter of ``model`` at ``config.lr``.
    Raises:
        ValueError: if the loader is empty, ``config.epochs`` < 1 or ``grad_accum_steps`` < 1.
    """

    def __init__(self, model: torch.nn.Module, loader, loss_fn: LossFn, config: TrainConfig,
                 eval_fn: Callable[[torch.nn.Module], dict] | None = None, checkpoint_dir: str | Path | None = None,
                 on_log: Callable[[dict], None] | None = None, param_groups: list[dict] | None = None):
        accum = config.grad_accum_steps
        if not (isinstance(accum, int) and accum >= 1):
            raise ValueError(f"grad_accum_steps must be an integer >= 1, got {accum!r}")
        # find_unused_parameters: a stage may leave parts without a gradient (TinyBERT's intermediate
        # layers never reach the classifier); DDP would otherwise wait for them forever
        self.accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=not torch.cuda.is_available(),
                                       kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
        self.model, self.config, self.eval_fn, self.on_log = model, config, eval_fn, on_log
        self.epoch_loader = loader                      # set_loader_epoch re-seeds its sampler every epoch
        parallel = self.accelerator.num_processes > 1   # each process: every N-th batch of the same order
        self.loader = self.accelerator.prepare_data_loader(loader) if parallel else loader
        self.n_batches = len(self.loader)
        if self.n_batches == 0 or config.epochs < 1:
            raise ValueError(f"nothing to train: {self.n_batches} batches per epoch, epochs={config.epochs}")
        self.steps_per_epoch = math.ceil(self.n_batches / accum)
        self.total_steps = self.steps_per_epoch * config.epochs
        set_seed(config.seed)                           # Python, NumPy, torch: dropout and masks from here

        # fused: one kernel for the whole update; on 2 CPU cores 10 ms a step instead of 71 for an
        # 11M-parameter student, whose forward and backward take about 150 ms (same arithmetic)
        optimizer = torch.optim.AdamW(param_groups or model.parameters(), lr=config.lr,
                                      weight_decay=config.weight_decay, fused=True)
        warmup = int(config.warmup_ratio * self.total_steps)
        self.scheduler = get_linear_schedule_with_warmup(optimizer, warmup, self.total_steps)
        # The scheduler is not prepared: accelerate would step it once per process.
        self.objective, self.optimizer = self.accelerator.prepare(Objective(model, loss_fn), optimizer)

        self.ckpt_path = Path(checkpoint_dir) / "checkpoint.pt" if checkpoint_dir else None
        self.result = TrainResult(steps=0, seconds=0.0)
        self.last_save = time.perf_counter()
        self.step_rng: dict | None = None  # the RNGs as the last completed step left them (dropout draws come after)

    # --- the steps -------------------------------------------------------------------------

    def resume(self) -> None:
        """Load the checkpoint, if there is one: weights, optimiser, schedule, position in the data, RNGs."""
        state = load_checkpoint(self.ckpt_path) if self.ckpt_path else None
        if state is None:
            return
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.result = TrainResult(**state["result"])
        self.result.resumed_seconds = self.result.seconds
        set_rng_state(state["rng"])
        self.accelerator.print(f"{self.config.desc}: resuming at step {self.result.steps} of {self.total_steps} "
                               f"from {self.ckpt_path}")

    def forward_backward(self, batch: dict, group: int, sync: bool) -> tuple[float, dict]:
        """One micro-batch: the loss and its gradient, divided by the ``group`` batches of this step.

        ``sync=False`` for all but a step's last batch: gradients only accumulate locally, and DDP
        averages them across processes once, at the last (``accelerator.no_sync``).
        """
        with nullcontext() if sync else self.accelerator.no_sync(self.objective):
            out = self.objective(_to_device(batch, self.accelerator.device))
            loss, terms = out if isinstance(out, tuple) else (out, {})
            self.accelerator.backward(loss / group)                  # the step's gradient: mean over its batches
        return loss.item() / group, {k: float(v) / group for k, v in terms.items()}

    def optimizer_step(self) -> None:
        """Clip the gradient, step the optimiser and the schedule, clear the gradients."""
        if self.config.max_grad_norm:
            self.accelerator.clip_grad_norm_(self.objective.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    def save_checkpoint(self, rng: dict | None = None) -> None:
        """Write the checkpoint atomically (main process only); ``rng``: the RNG states to store."""
        if self.ckpt_path is not None and self.accelerator.is_main_process:
            atomic_save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                         "scheduler": self.scheduler.state_dict(), "result": self.result.to_dict(),
                         "rng": rng or rng_state()}, self.ckpt_path)
        self.last_save = time.perf_counter()

    def evaluate(self, epoch: int) -> None:
        """Run ``eval_fn`` on the model and record its metrics at this step."""
        metrics = self.eval_fn(self.model)
        self.result.evals.append({"epoch": epoch, "step": self.result.steps, **metrics})
        self.objective.train()

    # --- the loop ---------------------------------------------------------------------------

    def _log(self, epoch: int, loss: float, terms: dict, progress) -> None:
        entry = {"step": self.result.steps, "epoch": epoch, "loss": loss, "lr": self.scheduler.get_last_lr()[0], **terms}
        self.result.history.append(entry)
        if self.on_log is not None:
            self.on_log(entry)
        progress.set_postfix(loss=f"{loss:.4f}")

    def _checkpoint_due(self) -> bool:
        if self.config.checkpoint_every:
            return self.result.steps % self.config.checkpoint_every == 0
        return time.perf_counter() - self.last_save >= 60 * self.config.checkpoint_minutes

    def _epoch(self, start: float, progress, requested: dict) -> None:
        """Train until the end of the current epoch (from where a resumed run stopped), then evaluate and save."""
        c, r, accum = self.config, self.result, self.config.grad_accum_steps
        epoch, skip = divmod(r.steps, self.steps_per_epoch)
        set_loader_epoch(self.epoch_loader, epoch)
        self.objective.train()
        for i, batch in enumerate(self.loader):
            if i < skip * accum:                         # batches this epoch already trained on before a stop
                continue
            first = i - i % accum                        # first batch of this optimiser step
            group = min(accum, self.n_batches - first)   # batches in this optimiser step
            last = i + 1 == first + group
            if i == first:
                self.step_rng, loss_sum, term_sums = rng_state(), 0.0, {}
            loss, terms = self.forward_backward(batch, group, sync=last)
            loss_sum += loss
            for k, v in terms.items():
                term_sums[k] = term_sums.get(k, 0.0) + v
            if not last:                                 # accumulate until the step's last batch
                continue
            self.optimizer_step()
            r.steps += 1
            r.seconds = time.perf_counter() - start
            progress.update(1)
            if r.steps % c.log_every == 0 or r.steps == self.total_steps:
                self._log(epoch, loss_sum, term_sums, progress)
            if (self.eval_fn is not None and c.eval_every and r.steps % c.eval_every == 0
                    and r.steps % self.steps_per_epoch):  # an epoch's end is evaluated below
                self.evaluate(epoch)
            if self._checkpoint_due():
                self.save_checkpoint()
            if requested["stop"]:                        # Ctrl-C or kill: stop after a whole step,
                self.step_rng = None                     # saved with the RNGs as that step left them
                raise KeyboardInterrupt
        if self.eval_fn is not None:
            self.evaluate(epoch)
        r.seconds = time.perf_counter() - start
        self.save_checkpoint()

    def run(self) -> TrainResult:
        """Resume if a checkpoint exists, train every remaining step, return the record.

        On Ctrl-C or kill the checkpoint is saved at the last whole step and KeyboardInterrupt
        re-raised: the next call resumes from there, and nothing trained is lost.
        """
        self.resume()
        # several processes: one bar; none when $TQDM_DISABLE asks (see runtime.progress_disabled)
        quiet = {} if self.accelerator.is_main_process and not progress_disabled() else {"disable": True}
        progress = tqdm(total=self.total_steps, initial=self.result.steps, desc=self.config.desc, leave=False, **quiet)
        start = time.perf_counter() - self.result.seconds
        try:
            with flush_denormals(), fast_matmuls(), stop_at_step_boundaries() as requested:  # see engine.runtime
                while self.result.steps < self.total_steps:
                    self._epoch(start, progress, requested)
        except KeyboardInterrupt:
            self.result.seconds = time.perf_counter() - start
            self.save_checkpoint(self.step_rng)
            raise
        finally:
            progress.close()
        self.model.eval()
        return self.result


def train(model: torch.nn.Module, loader, loss_fn: LossFn, config: TrainConfig,
          eval_fn: Callable[[torch.nn.Module], dict] | None = None, checkpoint_dir: str | Path | None = None,
          on_log: Callable[[dict], None] | None = None, param_groups: list[dict] | None = None) -> TrainResult:
    """Train ``model`` in place on ``loader`` with ``loss_fn``; resume from ``checkpoint_dir``.

    The arguments are :class:`Trainer`'s. Returns :class:`TrainResult`; the checkpoint is kept
    and the caller saves the final model.

    Raises:
        ValueError: if the loader is empty, ``config.epochs`` < 1 or ``grad_accum_steps`` < 1.
    """
    return Trainer(model, loader, loss_fn, config, eval_fn, checkpoint_dir, on_log, param_groups).run()
