"""Presets: one pipeline, three scales. Pick with ``--preset`` or ``KD_TEACH_PRESET``.

- ``smoke``: CI and the notebooks under nbval; a few hundred sentences, well under 3 minutes.
- ``cpu``: ``make run`` on a 2-core laptop, under 20 minutes for teacher + two students;
  the DistilBERT chapter's rows take about as long again (plus 5 minutes, once, to give the
  teacher an MLM head).
- ``gpu-full``: the papers' settings (BERT-base teacher, the whole SST-2, bf16 on CUDA).
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace


@dataclass(frozen=True)
class StudentSize:
    """Shape of a BERT student: layers, hidden size d, attention heads, feed-forward size."""

    layers: int = 4
    hidden: int = 256
    heads: int = 4
    ffn: int = 1024


@dataclass(frozen=True)
class MLMTeacherSettings:
    """``kd-teach prepare-teacher mlm``: train an MLM head (and the encoder) on the general corpus.

    ``steps=0`` for a teacher that already has a pretrained head (bert-base-uncased).
    """

    steps: int = 300
    batch_size: int = 32
    lr: float = 5e-4                  # measured (100 steps, cpu): 0.16 held-out accuracy at 5e-4, 0.10 at 1e-4
    warmup_ratio: float = 0.06
    smoothing: float = 0.0            # BERT's own masking: positions chosen uniformly
    seed: int = 0


@dataclass(frozen=True)
class DistilBertSettings:
    """DistilBERT's recipe (Sanh et al. 2019): pre-training distillation, then SST-2.

    Defaults follow the reference code (huggingface/transformers, research_projects/distillation:
    T=2, alpha_ce=5, alpha_mlm=2, alpha_cos=1, lr 5e-4 with warm-up, clipping at 5, gradient
    accumulation) scaled down in steps.
    """

    layers: tuple[int, ...] | None = None  # teacher layers copied (None: one in two, see models)
    steps: int = 300                  # optimiser steps of pre-training distillation
    batch_size: int = 16              # chunks per batch ...
    grad_accum: int = 2               # ... batches per optimiser step
    lr: float = 5e-4
    warmup_ratio: float = 0.05
    max_grad_norm: float = 5.0
    T: float = 2.0
    alpha_ce: float = 5.0             # weights of the triple loss; 0 switches a term off (ablation)
    alpha_mlm: float = 2.0
    alpha_cos: float = 1.0
    restrict_ce_to_mask: bool = True  # L_ce on masked positions only (the reference: all positions)
    smoothing: float = 0.7            # rare tokens masked more often: weight count^-0.7 (the reference)
    task_epochs: int = 2              # SST-2 epochs of the student (over labelled + transfer set with task_kd,
    task_lr: float = 5e-5             #   as the hinton-kd row); a small lr: it starts pretrained
    task_kd: bool = True              # task training with logit KD from the SST-2 teacher (else hard labels)


@dataclass(frozen=True)
class Preset:
    """Every knob of the SST-2 pipeline at one scale."""

    name: str
    teacher: str | None = None        # None: the packaged all-MiniLM-L6-v2 (offline)
    train_size: int | None = None     # labelled rows of SST-2 train (None: all 67,349)
    transfer_size: int = 0            # more train rows, labels withheld: the KD student's transfer set
    dev_size: int | None = None       # rows of SST-2 dev used (None: all 872)
    max_length: int = 64              # tokens per sentence after truncation
    batch_size: int = 32
    eval_batch_size: int = 64
    teacher_epochs: int = 1
    teacher_lr: float = 5e-5
    student: StudentSize = field(default_factory=StudentSize)
    student_epochs: int = 3
    kd_epochs: int | None = None      # epochs of the KD student over labelled + transfer set (None: student_epochs)
    student_lr: float = 3e-4
    # Hinton et al. (2015) found a "considerably lower weight" on the hard-label term best.
    # On the cpu preset (seed 0, an earlier teacher) T=4, alpha=0.1 gave 0.798 dev accuracy vs
    # 0.794 for T=2, alpha=0.5 (baseline: 0.789); the only two settings tried. On the labelled
    # sentences alone it then matched the baseline over five seeds (README); the gain comes
    # with the transfer set.
    T: float = 4.0                    # Hinton KD temperature
    alpha: float = 0.1                # weight of the student loss (hard labels)
    beta: float = 0.9                 # weight of the distillation loss (soft targets)
    warmup_ratio: float = 0.1
    teacher_seed: int = 0             # the teacher is fine-tuned once per preset and cached
    latency_repeats: int = 5
    mixed_precision: str = "no"       # "bf16" on CUDA for gpu-full
    corpus_max_length: int = 64       # tokens per chunk of the general corpus
    corpus_heldout: int = 100         # corpus paragraphs kept out, for masked-token accuracy
    mlm_teacher: MLMTeacherSettings = field(default_factory=MLMTeacherSettings)
    distilbert: DistilBertSettings = field(default_factory=DistilBertSettings)

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, Preset] = {
    "smoke": Preset(
        name="smoke", train_size=2000, transfer_size=4000, dev_size=872, batch_size=32, teacher_epochs=1,
        teacher_lr=1e-4, student=StudentSize(layers=2, hidden=128, heads=2, ffn=512),
        student_epochs=5, kd_epochs=3, student_lr=5e-4, latency_repeats=2,
        corpus_max_length=32, corpus_heldout=40,
        mlm_teacher=MLMTeacherSettings(steps=60, batch_size=16, lr=1e-3),
        distilbert=DistilBertSettings(steps=30, batch_size=8, grad_accum=2, task_epochs=1, task_lr=1e-4),
    ),
    "cpu": Preset(
        name="cpu", train_size=16_000, transfer_size=32_000, batch_size=32, teacher_epochs=1, teacher_lr=1e-4,
        student=StudentSize(layers=4, hidden=256, heads=4, ffn=1024),
        student_epochs=3, kd_epochs=2, student_lr=3e-4,
    ),
    "gpu-full": Preset(
        name="gpu-full", teacher="bert-base-uncased", train_size=None, max_length=128,
        batch_size=32, eval_batch_size=128, teacher_epochs=3, teacher_lr=2e-5,
        student=StudentSize(layers=4, hidden=312, heads=12, ffn=1200),
        student_epochs=3, student_lr=1e-4, mixed_precision="bf16",
        corpus_max_length=128,
        mlm_teacher=MLMTeacherSettings(steps=0),   # bert-base-uncased has its MLM head
        distilbert=DistilBertSettings(steps=20_000, batch_size=32, grad_accum=16, restrict_ce_to_mask=False,
                                      task_epochs=3, task_lr=5e-5),
    ),
}


def get_preset(name: str | None = None, **overrides) -> Preset:
    """The preset called ``name`` (default: ``$KD_TEACH_PRESET`` or ``cpu``), with overrides.

    Raises:
        ValueError: for an unknown name; the message lists the known ones.
    """
    name = name or os.environ.get("KD_TEACH_PRESET") or "cpu"
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {name!r}")
    return replace(PRESETS[name], **overrides) if overrides else PRESETS[name]
