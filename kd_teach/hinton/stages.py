"""Hinton et al. (2015)'s stage: the student learns from the teacher's soft targets and the hard labels.

:func:`train_hinton_kd` trains on alpha * L_student + beta * T^2 * KL (:func:`kd_teach.hinton.losses.kd_loss`)
over the labelled sentences plus a transfer set of unlabelled ones (:func:`transfer_set`),
the teacher's logits computed once over all of them (:func:`kd_teach.engine.evaluate.teacher_logits`).
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
from datasets import Dataset, concatenate_datasets

from kd_teach.engine.data import TextClassificationData
from kd_teach.engine.evaluate import teacher_logits
from kd_teach.engine.models import model_inputs
from kd_teach.engine.presets import Preset
from kd_teach.engine.train import StageResult, TrainConfig, train
from kd_teach.hinton.losses import kd_loss


def transfer_set(data: TextClassificationData) -> Dataset:
    """What the KD student learns from: the labelled train set plus the unlabelled transfer set.

    Hinton et al. (2015), Section 2: the transfer set "could consist entirely of unlabeled
    data or we could use the original training set"; we use both. Unlabelled rows carry the
    label :data:`kd_teach.engine.data.UNLABELLED`, which the student loss skips.
    """
    return data.train if data.transfer is None else concatenate_datasets([data.train, data.transfer])


def hinton_loss_fn(preset: Preset):
    """The ``loss_fn(student, batch)`` of the Hinton-KD student; the batch carries the teacher's logits
    (``teacher_logits``, computed once by :func:`teacher_logits`) and the hard labels."""
    def loss_fn(model, batch):
        z_s = model(**model_inputs(model, batch)).logits                  # (B, C) student logits
        z_t = batch["teacher_logits"]                                 # (B, C) teacher logits
        return kd_loss(z_s, z_t, batch["labels"], preset.alpha, preset.beta, preset.T, return_terms=True)
    return loss_fn


def train_hinton_kd(preset: Preset, teacher: torch.nn.Module, student: torch.nn.Module, data: TextClassificationData,
                    seed: int = 0, checkpoint_dir: str | Path | None = None,
                    teacher_logits_cache: torch.Tensor | None = None, epochs: int | None = None,
                    lr: float | None = None, desc: str | None = None, train_set: Dataset | None = None) -> StageResult:
    """Train the student on alpha * L_student + beta * T^2 * KL(soft targets || soft predictions).

    The student sees the labelled train set and the transfer set (:func:`transfer_set`); on a
    transfer sentence only the distillation loss applies, as it has no hard label.

    Args:
        preset: gives T, alpha, beta, epochs (``kd_epochs``) and learning rate.
        teacher: the teacher fine-tuned on the task (a pretrained-only teacher teaches nothing).
        student: the student to train, sharing the teacher's tokenizer.
        data: the task (SST-2, or a user's), with its transfer set if the preset asks for one.
        seed: seeds the batch order and dropout.
        teacher_logits_cache: (rows of the training sentences, classes), to skip recomputing them.
        epochs, lr, desc: override ``preset.kd_epochs`` (or ``student_epochs``), ``preset.student_lr``
            and the progress bar's label (a pretrained student such as DistilBERT's wants a
            smaller learning rate than a random one).
        train_set: the sentences to learn from (tokenised; labels or :data:`kd_teach.engine.data.UNLABELLED`)
            instead of :func:`transfer_set` (e.g. the sentences TinyBERT's task distillation reads).
    """
    t0 = time.perf_counter()
    train_set = transfer_set(data) if train_set is None else train_set
    z_t_all = teacher_logits_cache
    if z_t_all is None:
        z_t_all = teacher_logits(teacher, train_set, data.tokenizer, preset.eval_batch_size)
    train_set = train_set.add_column("teacher_logits", z_t_all.tolist())

    loss_fn = hinton_loss_fn(preset)
    epochs = epochs or preset.kd_epochs or preset.student_epochs
    config = TrainConfig(epochs=epochs, lr=lr or preset.student_lr, seed=seed, warmup_ratio=preset.warmup_ratio,
                         mixed_precision=preset.mixed_precision, desc=desc or f"Hinton KD student (T={preset.T:g})")
    loader = data.train_loader(preset.batch_size, seed=seed, train=train_set)
    result = train(student, loader, loss_fn, config, None, checkpoint_dir)
    return StageResult.since(student, result, t0)
