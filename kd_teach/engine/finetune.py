"""Training on hard labels: the teacher's fine-tuning and the baseline student.

- :func:`finetune_teacher`: the pretrained encoder learns SST-2 from hard labels; every
  task distillation needs a fine-tuned teacher (a pretrained-only one has a random head).
- :func:`train_baseline`: the small student learns from hard labels only, the row every
  distillation must beat.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from kd_teach.engine.data import TextClassificationData
from kd_teach.engine.models import model_inputs
from kd_teach.engine.presets import Preset
from kd_teach.engine.train import StageResult, TrainConfig, train
from kd_teach.hinton.losses import student_loss


def hard_label_loss(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """L_student: cross-entropy of the model's logits (batch, classes) with ``batch["labels"]`` (batch,).

    ``batch`` holds ``input_ids``, ``attention_mask`` (and ``token_type_ids``, for models that
    take them), each (batch, seq).
    Returns a scalar in nats.
    """
    return student_loss(model(**model_inputs(model, batch)).logits, batch["labels"])


def train_on_labels(preset: Preset, model: torch.nn.Module, data: TextClassificationData, epochs: int, lr: float,
                    seed: int = 0, checkpoint_dir: str | Path | None = None, desc: str = "fine-tuning") -> StageResult:
    """Train ``model`` on the task's labelled sentences with hard labels (cross-entropy).

    Batch size, warm-up and mixed precision come from ``preset``; checkpoints in
    ``checkpoint_dir`` make it resumable. Dev is not looked at during training: the row's
    one dev measurement comes after it (:func:`kd_teach.engine.evaluate.finish_row`).
    """
    config = TrainConfig(epochs=epochs, lr=lr, seed=seed, warmup_ratio=preset.warmup_ratio,
                         mixed_precision=preset.mixed_precision, desc=desc)
    loader = data.train_loader(preset.batch_size, seed=seed)
    t0 = time.perf_counter()
    result = train(model, loader, hard_label_loss, config, None, checkpoint_dir)
    return StageResult.since(model, result, t0)


def finetune_teacher(preset: Preset, teacher: torch.nn.Module, data: TextClassificationData,
                     checkpoint_dir: str | Path | None = None) -> StageResult:
    """Fine-tune the pretrained teacher on the task (SST-2, or a user's) with hard labels (cross-entropy).

    Settings from ``preset`` (``teacher_epochs``, ``teacher_lr``, ``teacher_seed``). A
    pretrained-only teacher is no use for task distillation: its classifier head is random
    (the DESIGN notes' "chance-level students").
    """
    return train_on_labels(preset, teacher, data, preset.teacher_epochs, preset.teacher_lr, preset.teacher_seed,
                           checkpoint_dir, "teacher fine-tuning")


def train_baseline(preset: Preset, student: torch.nn.Module, data: TextClassificationData, seed: int = 0,
                   checkpoint_dir: str | Path | None = None) -> StageResult:
    """Train the student from hard labels only: the row every distillation must beat.

    Same labelled sentences, learning rate and initialisation as :func:`train_hinton_kd`; the
    baseline cannot use the transfer set, which has no labels.
    """
    return train_on_labels(preset, student, data, preset.student_epochs, preset.student_lr, seed,
                           checkpoint_dir, "baseline student")
