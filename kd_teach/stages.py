"""Training stages of the SST-2 spine, each ``(preset, teacher, student, data) -> result``.

- :func:`finetune_teacher`: the pretrained encoder learns SST-2 from hard labels.
- :func:`train_baseline`: the small student learns from hard labels only (the floor).
- :func:`train_hinton_kd`: the same student learns from soft targets at T plus hard labels
  (Hinton et al. 2015), on the labelled sentences plus a transfer set of unlabelled ones,
  the teacher's logits computed once over all of them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from datasets import Dataset, concatenate_datasets
from transformers import PreTrainedTokenizerBase

from kd_teach.data import SST2Data, make_loader, token_lengths
from kd_teach.evaluate import accuracy, predict_logits
from kd_teach.losses.hinton import kd_loss, student_loss
from kd_teach.models import model_inputs
from kd_teach.presets import Preset
from kd_teach.train import TrainConfig, TrainResult, train


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


def hard_label_loss(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """L_student: cross-entropy of the model's logits (batch, classes) with ``batch["labels"]`` (batch,).

    ``batch`` holds ``input_ids``, ``attention_mask`` (and ``token_type_ids``, for models that
    take them), each (batch, seq).
    Returns a scalar in nats.
    """
    return student_loss(model(**model_inputs(model, batch)).logits, batch["labels"])


def _config(preset: Preset, epochs: int, lr: float, seed: int, desc: str) -> TrainConfig:
    return TrainConfig(epochs=epochs, lr=lr, seed=seed, warmup_ratio=preset.warmup_ratio,
                       mixed_precision=preset.mixed_precision, desc=desc)


def _dev_eval(data: SST2Data, preset: Preset):
    loader = data.dev_loader(preset.eval_batch_size)
    return lambda model: {"dev_accuracy": accuracy(model, loader)}


def train_on_labels(preset: Preset, model: torch.nn.Module, data: SST2Data, epochs: int, lr: float,
                    seed: int = 0, checkpoint_dir: str | Path | None = None, desc: str = "fine-tuning") -> StageResult:
    """Train ``model`` on SST-2's labelled sentences with hard labels (cross-entropy), evaluating on dev each epoch.

    Batch size, warm-up and mixed precision come from ``preset``; checkpoints in
    ``checkpoint_dir`` make it resumable.
    """
    config = _config(preset, epochs, lr, seed, desc)
    loader = data.train_loader(preset.batch_size, seed=seed)
    t0 = time.perf_counter()
    result = train(model, loader, hard_label_loss, config, _dev_eval(data, preset), checkpoint_dir)
    return StageResult.since(model, result, t0)


def finetune_teacher(preset: Preset, teacher: torch.nn.Module, data: SST2Data,
                     checkpoint_dir: str | Path | None = None) -> StageResult:
    """Fine-tune the pretrained teacher on SST-2 with hard labels (cross-entropy).

    Settings from ``preset`` (``teacher_epochs``, ``teacher_lr``, ``teacher_seed``). A
    pretrained-only teacher is no use for task distillation: its classifier head is random
    (the DESIGN notes' "chance-level students").
    """
    return train_on_labels(preset, teacher, data, preset.teacher_epochs, preset.teacher_lr, preset.teacher_seed,
                           checkpoint_dir, "teacher fine-tuning")


def train_baseline(preset: Preset, student: torch.nn.Module, data: SST2Data, seed: int = 0,
                   checkpoint_dir: str | Path | None = None) -> StageResult:
    """Train the student from hard labels only: the row every distillation must beat.

    Same labelled sentences, learning rate and initialisation as :func:`train_hinton_kd`; the
    baseline cannot use the transfer set, which has no labels.
    """
    return train_on_labels(preset, student, data, preset.student_epochs, preset.student_lr, seed,
                           checkpoint_dir, "baseline student")


def teacher_logits(teacher: torch.nn.Module, ds: Dataset, tokenizer: PreTrainedTokenizerBase,
                   batch_size: int = 64) -> torch.Tensor:
    """The teacher's logits for every row of ``ds`` (tokenised), in ``ds``'s order.

    The teacher is frozen (eval mode, no dropout), so one pass gives exactly the soft targets
    every epoch would recompute. Sentences are batched shortest first, so a batch is padded
    to similar lengths (on SST-2 about 3x faster than in random order), then put back in
    order. Runs on the GPU when there is one. Returns (rows, classes), float32, on the CPU.
    """
    lengths = torch.tensor(token_lengths(ds))
    order = torch.argsort(lengths, stable=True)                      # shortest first
    z_sorted = predict_logits(teacher, make_loader(ds.select(order.tolist()), tokenizer, batch_size))
    z = torch.empty_like(z_sorted)
    z[order] = z_sorted                                              # back to ds's order
    return z


def transfer_set(data: SST2Data) -> Dataset:
    """What the KD student learns from: the labelled train set plus the unlabelled transfer set.

    Hinton et al. (2015), Section 2: the transfer set "could consist entirely of unlabeled
    data or we could use the original training set"; we use both. Unlabelled rows carry the
    label :data:`kd_teach.data.UNLABELLED`, which the student loss skips.
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


def train_hinton_kd(preset: Preset, teacher: torch.nn.Module, student: torch.nn.Module, data: SST2Data,
                    seed: int = 0, checkpoint_dir: str | Path | None = None,
                    teacher_logits_cache: torch.Tensor | None = None, epochs: int | None = None,
                    lr: float | None = None, desc: str | None = None) -> StageResult:
    """Train the student on alpha * L_student + beta * T^2 * KL(soft targets || soft predictions).

    The student sees the labelled train set and the transfer set (:func:`transfer_set`); on a
    transfer sentence only the distillation loss applies, as it has no hard label.

    Args:
        preset: gives T, alpha, beta, epochs (``kd_epochs``) and learning rate.
        teacher: the SST-2-fine-tuned teacher (a pretrained-only teacher teaches nothing).
        student: the student to train, sharing the teacher's tokenizer.
        data: SST-2, with its transfer set if the preset asks for one.
        seed: seeds the batch order and dropout.
        teacher_logits_cache: (rows of the transfer set, classes), to skip recomputing them.
        epochs, lr, desc: override ``preset.kd_epochs`` (or ``student_epochs``), ``preset.student_lr``
            and the progress bar's label (a pretrained student such as DistilBERT's wants a
            smaller learning rate than a random one).
    """
    t0 = time.perf_counter()
    train_set = transfer_set(data)
    z_t_all = teacher_logits_cache
    if z_t_all is None:
        z_t_all = teacher_logits(teacher, train_set, data.tokenizer, preset.eval_batch_size)
    train_set = train_set.add_column("teacher_logits", z_t_all.tolist())

    loss_fn = hinton_loss_fn(preset)
    epochs = epochs or preset.kd_epochs or preset.student_epochs
    config = _config(preset, epochs, lr or preset.student_lr, seed, desc or f"Hinton KD student (T={preset.T:g})")
    loader = data.train_loader(preset.batch_size, seed=seed, train=train_set)
    result = train(student, loader, loss_fn, config, _dev_eval(data, preset), checkpoint_dir)
    return StageResult.since(student, result, t0)
