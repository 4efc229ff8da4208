"""Task distillation with the teacher's logits computed once, against recomputing them every step.

    python benchmarks/teacher_cache.py [--sentences 2000] [--preset cpu]

The teacher is frozen (eval mode, no dropout), so its logits for a sentence are the same in
every epoch: the package computes them once (:func:`kd_teach.stages.teacher_logits`: one
pass, shortest sentences first) and the Hinton-KD student and TinyBERT's step 2 read them from
the batch. This script times one epoch of the Hinton-KD student (the cpu preset's student,
T, alpha and beta) on the same SST-2 sentences, through the package's training loop, both ways:

- **recomputed**: the teacher's forward pass inside every training step;
- **cached**: one pass of the teacher over the sentences (timed apart), then the epoch.

It prints how far apart the two students end (the same steps; the teacher's logits differ
only by rounding, as the two passes pad sentences differently), the epoch times, the pass,
and the speed-up per epoch and over the preset's epochs with the pass included (the goal:
at least 2x). Needs the SST-2 folder.
"""
from __future__ import annotations

import argparse
import time

import torch

from kd_teach.data import SST2Data
from kd_teach.models import build_student, load_teacher, load_tokenizer, model_inputs
from kd_teach.presets import get_preset
from kd_teach.stages import hinton_loss_fn, teacher_logits
from kd_teach.train import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=2000, help="SST-2 training sentences (default 2000)")
    parser.add_argument("--preset", default="cpu", help="the student, batch size, T, alpha, beta (default cpu)")
    args = parser.parse_args()

    preset, tokenizer = get_preset(args.preset), load_tokenizer()
    data = SST2Data(tokenizer, args.sentences, 64, preset.max_length, seed=0)
    teacher = load_teacher().eval().requires_grad_(False)      # the packaged encoder, a seeded fresh head
    kd = hinton_loss_fn(preset)
    config = TrainConfig(epochs=1, lr=preset.student_lr, seed=0, desc="epoch", log_every=10**9,
                         checkpoint_every=10**9)

    def recompute(model, batch):
        with torch.no_grad():
            z_t = teacher(**model_inputs(teacher, batch)).logits               # (B, C) every step
        return kd(model, {**batch, "teacher_logits": z_t})

    students, seconds = {}, {}
    for way in ("recomputed", "cached"):
        student = build_student(teacher.config, preset.student, seed=0)
        train_set = data.train
        if way == "cached":
            t0 = time.perf_counter()
            z_t = teacher_logits(teacher, train_set, tokenizer, preset.eval_batch_size)  # (N, C) once
            train_set = train_set.add_column("teacher_logits", z_t.tolist())
            seconds["pass"] = time.perf_counter() - t0
        loader = data.train_loader(preset.batch_size, seed=0, train=train_set)
        t0 = time.perf_counter()
        train(student, loader, kd if way == "cached" else recompute, config)
        seconds[way], students[way] = time.perf_counter() - t0, student

    a, b = (dict(students[w].named_parameters()) for w in ("recomputed", "cached"))
    gap = max((a[k] - b[k]).abs().max().item() for k in a)
    n, epochs = len(data.train), preset.kd_epochs or preset.student_epochs
    r, c, p = seconds["recomputed"], seconds["cached"], seconds["pass"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, preset {preset.name}: "
          f"{n} SST-2 sentences, batch {preset.batch_size}, Hinton-KD student {preset.student}")
    print(f"largest difference between the two students' weights after the epoch: {gap:.2e}")
    print(f"| {'teacher logits':<40} | {'seconds':>8} | {'sentences/s':>11} |")
    print(f"|{'-' * 42}|{'-' * 9}:|{'-' * 12}:|")
    print(f"| {'recomputed in every step: one epoch':<40} | {r:>8.1f} | {n / r:>11.1f} |")
    print(f"| {'cached: one epoch':<40} | {c:>8.1f} | {n / c:>11.1f} |")
    print(f"| {'cached: the one pass of the teacher':<40} | {p:>8.1f} | {n / p:>11.1f} |")
    print(f"speed-up of the cache per epoch: {r / c:.2f}x; over the preset's {epochs} epochs, pass included: "
          f"{epochs * r / (p + epochs * c):.2f}x; over one epoch, pass included: {r / (p + c):.2f}x")

if __name__ == "__main__":
    main()
