"""The one training loop every stage shares.

A stage supplies a ``loss_fn(model, batch) -> loss`` (or ``(loss, {"name": value})`` to log
the terms); the loop does the rest: AdamW with linear warm-up and decay, gradient
accumulation, gradient clipping, device placement and mixed precision through accelerate, a
tqdm progress bar, evaluation at the end of every epoch, and atomic checkpoints it resumes
from after an interruption.

Launched on several processes (``accelerate launch --num_processes N``, one per GPU), it is
data-parallel: every process draws the same batch order and trains on every N-th batch
(accelerate shards the loader), the gradients are averaged across processes before each step
(:func:`kd_teach.runtime.average_gradients`), and only the main process writes checkpoints.
A step then sees N batches, so N processes take 1/N of the steps.
"""
from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from kd_teach.checkpoint import atomic_save, load_checkpoint, rng_state, set_rng_state
from kd_teach.data import set_loader_epoch
from kd_teach.runtime import average_gradients, fast_matmuls, flush_denormals, progress_disabled, seed_everything

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


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


def train(
    model: torch.nn.Module,
    loader: torch.utils.data.DataLoader,
    loss_fn: LossFn,
    config: TrainConfig,
    eval_fn: Callable[[torch.nn.Module], dict] | None = None,
    checkpoint_dir: str | Path | None = None,
    on_log: Callable[[dict], None] | None = None,
    param_groups: list[dict] | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``loader`` with ``loss_fn``; resume from ``checkpoint_dir``.

    Args:
        model: the module being trained; all its parameters are optimised (a stage with extra
            learnable pieces, such as a projection, wraps them in one module with the student).
        loader: training batches (micro-batches when ``config.grad_accum_steps`` > 1: the
            gradients of that many consecutive batches make one optimiser step, the last
            step of an epoch taking what is left); a shuffled loader from :func:`kd_teach.data.make_loader`
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
    Returns:
        :class:`TrainResult`. The checkpoint is kept; the caller saves the final model.
    Raises:
        ValueError: if the loader is empty, ``config.epochs`` < 1 or ``grad_accum_steps`` < 1.
    """
    accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=not torch.cuda.is_available())
    parallel = accelerator.num_processes > 1
    epoch_loader = loader                           # set_loader_epoch re-seeds its sampler every epoch
    if parallel:                                    # each process: every N-th batch of the same order
        loader = accelerator.prepare_data_loader(loader)
    n_batches, accum = len(loader), config.grad_accum_steps
    if n_batches == 0 or config.epochs < 1:
        raise ValueError(f"nothing to train: {n_batches} batches per epoch, epochs={config.epochs}")
    if not (isinstance(accum, int) and accum >= 1):
        raise ValueError(f"grad_accum_steps must be an integer >= 1, got {accum!r}")
    steps_per_epoch = math.ceil(n_batches / accum)
    total_steps = steps_per_epoch * config.epochs
    seed_everything(config.seed)

    # fused: one kernel for the whole update; on 2 CPU cores 10 ms a step instead of 71 for an
    # 11M-parameter student, whose forward and backward take about 150 ms (same arithmetic)
    optimizer = torch.optim.AdamW(param_groups or model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                  fused=True)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    # Device placement and autocast, but no DistributedDataParallel wrapper (evaluation_mode): the stages'
    # losses call into the model's parts, which a wrapper would hide; gradients are averaged by hand.
    # The scheduler is not prepared: accelerate would step it once per process.
    model = accelerator.prepare_model(model, evaluation_mode=True)
    optimizer = accelerator.prepare_optimizer(optimizer)

    ckpt_path = Path(checkpoint_dir) / "checkpoint.pt" if checkpoint_dir else None
    result = TrainResult(steps=0, seconds=0.0)
    state = load_checkpoint(ckpt_path) if ckpt_path else None
    if state is not None:  # resume: weights, optimiser, schedule, position in the data, RNGs
        accelerator.unwrap_model(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        result = TrainResult(**state["result"])
        result.resumed_seconds = result.seconds
        set_rng_state(state["rng"])
        tqdm.write(f"{config.desc}: resuming at step {result.steps} of {total_steps} from {ckpt_path}")

    last_save = time.perf_counter()

    def save(rng: dict | None = None) -> None:
        nonlocal last_save
        if ckpt_path is not None and accelerator.is_main_process:
            atomic_save({"model": accelerator.unwrap_model(model).state_dict(),
                         "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                         "result": result.to_dict(), "rng": rng or rng_state()}, ckpt_path)
        last_save = time.perf_counter()

    step_rng = None  # the RNGs as the last completed step left them (dropout draws come after)

    # several processes: one bar; none when $TQDM_DISABLE asks (see runtime.progress_disabled)
    quiet = {} if accelerator.is_main_process and not progress_disabled() else {"disable": True}
    progress = tqdm(total=total_steps, initial=result.steps, desc=config.desc, leave=False, **quiet)
    start = time.perf_counter() - result.seconds
    try:
        with flush_denormals(), fast_matmuls(), stop_at_step_boundaries() as requested:  # see kd_teach.runtime
            while result.steps < total_steps:
                epoch, skip = divmod(result.steps, steps_per_epoch)
                set_loader_epoch(epoch_loader, epoch)
                model.train()
                for i, batch in enumerate(loader):
                    if i < skip * accum:  # batches this epoch already trained on before the interruption
                        continue
                    first = i - i % accum                       # first batch of this optimiser step
                    group = min(accum, n_batches - first)       # batches in this optimiser step
                    if i == first:
                        step_rng, loss_sum, term_sums = rng_state(), 0.0, {}
                    # autocast here, not only in model.forward (which accelerate wraps): the stages' losses
                    # also call into the model's parts (TinyBERT's student, DistilBERT's encoder)
                    with accelerator.autocast():
                        out = loss_fn(model, _to_device(batch, accelerator.device))
                    loss, terms = out if isinstance(out, tuple) else (out, {})
                    accelerator.backward(loss / group)          # the step's gradient: mean over its batches
                    loss_sum += loss.item() / group
                    for k, v in terms.items():
                        term_sums[k] = term_sums.get(k, 0.0) + float(v) / group
                    if i + 1 < first + group:                   # accumulate until the step's last batch
                        continue
                    if parallel:
                        average_gradients(model)
                    if config.max_grad_norm:
                        accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    result.steps += 1
                    result.seconds = time.perf_counter() - start
                    progress.update(1)
                    if result.steps % config.log_every == 0 or result.steps == total_steps:
                        entry = {"step": result.steps, "epoch": epoch, "loss": loss_sum,
                                 "lr": scheduler.get_last_lr()[0], **term_sums}
                        result.history.append(entry)
                        if on_log is not None:
                            on_log(entry)
                        progress.set_postfix(loss=f"{entry['loss']:.4f}")
                    if (eval_fn is not None and config.eval_every and result.steps % config.eval_every == 0
                            and result.steps % steps_per_epoch):  # an epoch's end is evaluated below
                        metrics = eval_fn(accelerator.unwrap_model(model))
                        result.evals.append({"epoch": epoch, "step": result.steps, **metrics})
                        model.train()
                    if (result.steps % config.checkpoint_every == 0 if config.checkpoint_every
                            else time.perf_counter() - last_save >= 60 * config.checkpoint_minutes):
                        save()
                    if requested["stop"]:                       # Ctrl-C or kill: stop after a whole step,
                        step_rng = None                             # saved with the RNGs as that step left them
                        raise KeyboardInterrupt
                if eval_fn is not None:
                    metrics = eval_fn(accelerator.unwrap_model(model))
                    result.evals.append({"epoch": epoch, "step": result.steps, **metrics})
                result.seconds = time.perf_counter() - start
                save()
    except KeyboardInterrupt:
        result.seconds = time.perf_counter() - start
        save(step_rng)  # nothing trained is lost: the next call resumes from the last whole step
        raise
    finally:
        progress.close()
    accelerator.unwrap_model(model).eval()
    return result
