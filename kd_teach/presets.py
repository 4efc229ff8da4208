"""Presets: one pipeline, three scales. Pick with ``--preset`` or ``KD_TEACH_PRESET``.

- ``smoke``: CI and the notebooks under nbval; a few hundred sentences, well under 3 minutes.
- ``cpu``: ``make run`` on a 2-core laptop, under 20 minutes for teacher + two students.
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

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, Preset] = {
    "smoke": Preset(
        name="smoke", train_size=2000, transfer_size=4000, dev_size=872, batch_size=32, teacher_epochs=1,
        teacher_lr=1e-4, student=StudentSize(layers=2, hidden=128, heads=2, ffn=512),
        student_epochs=5, kd_epochs=3, student_lr=5e-4, latency_repeats=2,
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
