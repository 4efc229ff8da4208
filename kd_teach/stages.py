"""Training stages of the SST-2 spine, each ``(preset, teacher, student, data) -> result``.

- :func:`finetune_teacher`: the pretrained encoder learns SST-2 from hard labels.
- :func:`train_baseline`: the small student learns from hard labels only (the floor).
- :func:`train_hinton_kd`: the same student learns from soft targets at T plus hard labels
  (Hinton et al. 2015), the teacher's logits computed once over the training sentences.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from kd_teach.data import SST2Data
from kd_teach.evaluate import accuracy, predict_logits
from kd_teach.losses.hinton import kd_loss, student_loss
from kd_teach.presets import Preset
from kd_teach.train import TrainConfig, TrainResult, train


@dataclass
class StageResult:
    """A trained model and how it got there."""

    model: torch.nn.Module
    train: TrainResult
    seconds: float  # the whole stage, including work outside the loop (e.g. teacher logits)


def _forward_inputs(batch: dict) -> dict:
    return {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}


def hard_label_loss(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """L_student: cross-entropy of the model's logits (batch, classes) with ``batch["labels"]`` (batch,).

    ``batch`` holds ``input_ids``, ``attention_mask`` (and ``token_type_ids``), each (batch, seq).
    Returns a scalar in nats.
    """
    return student_loss(model(**_forward_inputs(batch)).logits, batch["labels"])


def _config(preset: Preset, epochs: int, lr: float, seed: int, desc: str) -> TrainConfig:
    return TrainConfig(epochs=epochs, lr=lr, seed=seed, warmup_ratio=preset.warmup_ratio,
                       mixed_precision=preset.mixed_precision, desc=desc)


def _dev_eval(data: SST2Data, preset: Preset):
    loader = data.dev_loader(preset.eval_batch_size)
    return lambda model: {"dev_accuracy": accuracy(model, loader)}


def finetune_teacher(preset: Preset, teacher: torch.nn.Module, data: SST2Data,
                     checkpoint_dir: str | Path | None = None) -> StageResult:
    """Fine-tune the pretrained teacher on SST-2 with hard labels (cross-entropy).

    Settings from ``preset`` (``teacher_epochs``, ``teacher_lr``, ``teacher_seed``); checkpoints
    in ``checkpoint_dir`` make it resumable. A pretrained-only teacher is no use for task
    distillation: its classifier head is random (the DESIGN notes' "chance-level students").
    """
    config = _config(preset, preset.teacher_epochs, preset.teacher_lr, preset.teacher_seed, "teacher fine-tuning")
    loader = data.train_loader(preset.batch_size, seed=preset.teacher_seed)
    t0 = time.perf_counter()
    result = train(teacher, loader, hard_label_loss, config, _dev_eval(data, preset), checkpoint_dir)
    return StageResult(teacher, result, time.perf_counter() - t0)


def train_baseline(preset: Preset, student: torch.nn.Module, data: SST2Data, seed: int = 0,
                   checkpoint_dir: str | Path | None = None) -> StageResult:
    """Train the student from hard labels only: the row every distillation must beat.

    Same data, steps, learning rate and initialisation as :func:`train_hinton_kd`, so the two
    differ only in their targets.
    """
    config = _config(preset, preset.student_epochs, preset.student_lr, seed, "baseline student")
    loader = data.train_loader(preset.batch_size, seed=seed)
    t0 = time.perf_counter()
    result = train(student, loader, hard_label_loss, config, _dev_eval(data, preset), checkpoint_dir)
    return StageResult(student, result, time.perf_counter() - t0)


def teacher_logits_on_train(teacher: torch.nn.Module, data: SST2Data, batch_size: int = 64) -> torch.Tensor:
    """The teacher's logits for every training sentence, in the data set's order.

    The teacher is frozen (eval mode, no dropout), so one pass gives exactly the soft targets
    every epoch would recompute. Runs on the GPU when there is one. Returns (train_examples, classes).
    """
    return predict_logits(teacher, data.train_eval_loader(batch_size))


def train_hinton_kd(preset: Preset, teacher: torch.nn.Module, student: torch.nn.Module, data: SST2Data,
                    seed: int = 0, checkpoint_dir: str | Path | None = None,
                    teacher_logits: torch.Tensor | None = None) -> StageResult:
    """Train the student on alpha * L_student + beta * T^2 * KL(soft targets || soft predictions).

    Args:
        preset: gives T, alpha, beta, epochs and learning rate.
        teacher: the SST-2-fine-tuned teacher (a pretrained-only teacher teaches nothing).
        student: the student to train, sharing the teacher's tokenizer.
        data: SST-2.
        seed: seeds the batch order and dropout.
        teacher_logits: (train_examples, classes), to skip recomputing them.
    """
    t0 = time.perf_counter()
    if teacher_logits is None:
        teacher_logits = teacher_logits_on_train(teacher, data, preset.eval_batch_size)
    train_set = data.train.add_column("teacher_logits", teacher_logits.tolist())

    def loss_fn(model, batch):
        z_s = model(**_forward_inputs(batch)).logits                  # (B, C) student logits
        z_t = batch["teacher_logits"]                                 # (B, C) teacher logits
        return kd_loss(z_s, z_t, batch["labels"], preset.alpha, preset.beta, preset.T, return_terms=True)

    config = _config(preset, preset.student_epochs, preset.student_lr, seed, f"Hinton KD student (T={preset.T:g})")
    loader = data.train_loader(preset.batch_size, seed=seed, train=train_set)
    result = train(student, loader, loss_fn, config, _dev_eval(data, preset), checkpoint_dir)
    return StageResult(student, result, time.perf_counter() - t0)
