"""Task distillation with the teacher's outputs computed once, against recomputing them every step.

    python benchmarks/teacher_cache.py [--sentences 2000] [--preset cpu]

The teacher is frozen (eval mode, no dropout), so what it gives a sentence is the same in
every epoch. The package computes it once, in one pass sorted by length, for two stages:

- **Hinton KD** (and TinyBERT's step 2): the teacher's logits
  (:func:`kd_teach.engine.evaluate.teacher_logits`), read from the batch;
- **TinyBERT step 1**: the teacher's hidden states at layers g(0..M) and its attention scores
  at g(1..M) (:func:`kd_teach.tinybert.teacher_outputs.teacher_targets`), kept unpadded and padded back
  per batch.

For each, this script times one epoch through the package's training loop on the same SST-2
sentences both ways (**recomputed**: the teacher's forward pass inside every step; **cached**:
the one pass, timed apart, then the epoch), and prints how far apart the two students end
(the same steps; the teacher's outputs differ only by rounding, as the two ways pad sentences
differently), the times, and the speed-up per epoch and over the preset's epochs with the pass
included (the goal: at least 2x). Needs the SST-2 folder.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

from kd_teach.engine.data import SST2Data, make_loader
from kd_teach.engine.evaluate import teacher_logits
from kd_teach.engine.models import build_student, load_teacher, load_tokenizer, model_inputs
from kd_teach.engine.presets import get_preset
from kd_teach.engine.train import TrainConfig, train
from kd_teach.hinton.stages import hinton_loss_fn
from kd_teach.tinybert.stages import check_compatible, intermediate_loss_fn, new_distiller
from kd_teach.tinybert.teacher_outputs import teacher_targets, with_row_index


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def weight_gap(a: torch.nn.Module, b: torch.nn.Module) -> float:
    pb = dict(b.named_parameters())
    return max((p - pb[k]).abs().max().item() for k, p in a.named_parameters())


def hinton_kd(preset, teacher, data, config) -> dict:
    """One epoch of the Hinton-KD student: the teacher's logits recomputed, or cached."""
    kd = hinton_loss_fn(preset)

    def recompute(model, batch):
        with torch.no_grad():
            z_t = teacher(**model_inputs(teacher, batch)).logits                    # (B, C) every step
        return kd(model, {**batch, "teacher_logits": z_t})

    recomputed, cached = (build_student(teacher.config, preset.student, seed=0) for _ in range(2))
    loader = data.train_loader(preset.batch_size, seed=0)
    _, r = timed(lambda: train(recomputed, loader, recompute, config))
    z_t, p = timed(lambda: teacher_logits(teacher, data.train, data.tokenizer, preset.eval_batch_size))  # (N, C)
    loader = data.train_loader(preset.batch_size, seed=0, train=data.train.add_column("teacher_logits", z_t.tolist()))
    _, c = timed(lambda: train(cached, loader, kd, config))
    return {"recomputed": r, "cached": c, "pass": p, "gap": weight_gap(recomputed, cached),
            "epochs": preset.kd_epochs or preset.student_epochs}


def tinybert_step1(preset, teacher, data, config) -> dict:
    """One epoch of TinyBERT's step 1: the teacher's hidden states and scores recomputed, or cached."""
    s, config = preset.tinybert, replace(config, lr=preset.tinybert.step1_lr)
    students = [new_distiller(teacher.config, s, seed=0) for _ in range(2)]
    g = check_compatible(students[0].student, teacher, s)
    loader = make_loader(data.train, data.tokenizer, preset.batch_size, shuffle=True, seed=0)
    _, r = timed(lambda: train(students[0], loader, intermediate_loss_fn(teacher, g, s.attn_on), config))
    targets, p = timed(lambda: teacher_targets(teacher, data.train, data.tokenizer, g, preset.eval_batch_size))
    loader = make_loader(with_row_index(data.train), data.tokenizer, preset.batch_size, shuffle=True, seed=0)
    _, c = timed(lambda: train(students[1], loader, intermediate_loss_fn(None, g, s.attn_on, targets), config))
    return {"recomputed": r, "cached": c, "pass": p, "gap": weight_gap(*students), "epochs": s.step1_epochs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=2000, help="SST-2 training sentences (default 2000)")
    parser.add_argument("--preset", default="cpu", help="students, batch size, epochs, T (default cpu)")
    args = parser.parse_args()

    preset, tokenizer = get_preset(args.preset), load_tokenizer()
    data = SST2Data(tokenizer, args.sentences, 64, preset.max_length, seed=0)
    teacher = load_teacher().eval().requires_grad_(False)      # the packaged encoder, a seeded fresh head
    config = TrainConfig(epochs=1, lr=preset.student_lr, seed=0, desc="epoch", log_every=10**9,
                         checkpoint_every=10**9)
    cases = {f"Hinton KD, student {preset.student.layers}x{preset.student.hidden}": hinton_kd,
             f"TinyBERT step 1, student {preset.tinybert.student.layers}x{preset.tinybert.student.hidden}":
                 tinybert_step1}
    results = {name: case(preset, teacher, data, config) for name, case in cases.items()}

    n = len(data.train)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, preset {preset.name}: {n} SST-2 "
          f"sentences, batch {preset.batch_size}, one epoch each way")
    print(f"| {'stage':<30} | {'recomputed (s)':>14} | {'cached (s)':>10} | {'pass (s)':>8} | "
          f"{'per epoch':>9} | {'preset epochs, pass incl.':>25} | {'weight gap':>10} |")
    print(f"|{'-' * 32}|{'-' * 15}:|{'-' * 11}:|{'-' * 9}:|{'-' * 10}:|{'-' * 26}:|{'-' * 11}:|")
    for name, x in results.items():
        r, c, p, e = x["recomputed"], x["cached"], x["pass"], x["epochs"]
        print(f"| {name:<30} | {r:>14.1f} | {c:>10.1f} | {p:>8.1f} | {r / c:>8.2f}x | "
              f"{f'{e * r / (p + e * c):.2f}x over {e}':>25} | {x['gap']:>10.1e} |")


if __name__ == "__main__":
    main()
