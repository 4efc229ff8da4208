"""What distillation adds to a training step: a full step over the floor, for three methods.

    python benchmarks/distill_step.py [--repeats 15] [--preset cpu]

For each method the **floor** is what any training step with a teacher costs: the teacher's
forward pass, the student's forward and backward pass on its ordinary loss, and the
optimiser step, with no distillation term. The **full** step is the one the package's stage
runs, through the stage's own ``loss_fn``:

- **logit KD** (:func:`kd_teach.hinton.stages.hinton_loss_fn`): floor = cross-entropy with the hard
  labels; full = alpha * L_student + beta * T^2 KL(soft targets || soft predictions). A batch
  of 32 SST-2 sentences, the cpu preset's student.
- **DistilBERT** (:func:`kd_teach.distilbert.stages.triple_loss_fn`): floor = the same function with
  alpha_ce = alpha_cos = 0 (new masks, teacher, student, L_mlm); full = 5 L_ce + 2 L_mlm + 1 L_cos.
  A batch of 16 corpus chunks of 64 tokens, the student cut from the MLM teacher (3 layers).
- **TinyBERT step 1** (:func:`kd_teach.tinybert.stages.intermediate_loss_fn`): floor = the teacher's
  and the student's plain forward passes and the student's cross-entropy with the labels;
  full = L_embd + L_hidn + L_attn over g(m) (attention scores captured by hooks, projections
  W trained). A batch of 32 SST-2 sentences, the cpu preset's TinyBERT student.

The two steps alternate on the same batches; the table gives their medians and the ratio
full / floor (the goal: below 1.05 on a CPU). Teacher weights are the packaged encoder with
fresh heads (seeded): training changes the numbers a model outputs, not the cost of a step.
Needs the SST-2 folder and the corpus ($KD_TEACH_DATA_DIR).
"""
from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch
import torch.nn.functional as F

from kd_teach.distilbert.masking import DynamicMasker
from kd_teach.distilbert.stages import corpus_loader, triple_loss_fn
from kd_teach.distilbert.student import init_distilbert_student
from kd_teach.engine.corpus import Corpus
from kd_teach.engine.data import SST2Data
from kd_teach.engine.models import build_student, load_mlm_teacher, load_teacher, load_tokenizer, model_inputs
from kd_teach.engine.presets import get_preset
from kd_teach.engine.runtime import flush_denormals
from kd_teach.hinton.stages import hinton_loss_fn
from kd_teach.tinybert.stages import check_compatible, intermediate_loss_fn, new_distiller


def step_time(model: torch.nn.Module, loss_fn, batch: dict, optimizer: torch.optim.Optimizer) -> float:
    """Seconds of one training step: forward (teacher inside ``loss_fn``), backward, optimiser step."""
    t0 = time.perf_counter()
    out = loss_fn(model, batch)
    loss = out[0] if isinstance(out, tuple) else out
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def compare(model, floor_fn, full_fn, batches: list[dict], repeats: int) -> tuple[float, float]:
    """Median seconds of the floor step and the full step, alternating on the same batches."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)   # as kd_teach.engine.train
    model.train()
    floor, full = [], []
    for r in range(repeats + 2):                                             # the first two: warm-up
        batch = batches[r % len(batches)]
        a, b = step_time(model, floor_fn, batch, optimizer), step_time(model, full_fn, batch, optimizer)
        if r >= 2:
            floor.append(a)
            full.append(b)
    return statistics.median(floor), statistics.median(full)


def logit_kd(preset, tokenizer, repeats):
    data = SST2Data(tokenizer, 2000, 64, preset.max_length, seed=0)
    teacher = load_teacher().eval().requires_grad_(False)
    student = build_student(teacher.config, preset.student, seed=0)
    batches = [b for _, b in zip(range(8), data.train_loader(preset.batch_size, seed=0))]
    kd = hinton_loss_fn(preset)

    def with_teacher(loss_fn):
        def step(model, batch):
            with torch.no_grad():
                z_t = teacher(**model_inputs(teacher, batch)).logits            # (B, C) the teacher's forward
            return loss_fn(model, {**batch, "teacher_logits": z_t})
        return step

    def hard_labels(model, batch):
        return F.cross_entropy(model(**model_inputs(model, batch)).logits, batch["labels"])

    return compare(student, with_teacher(hard_labels), with_teacher(kd), batches, repeats)


def distilbert(preset, tokenizer, repeats):
    corpus = Corpus(tokenizer, preset.corpus_max_length, preset.corpus_heldout)
    teacher = load_mlm_teacher().eval().requires_grad_(False)
    student = init_distilbert_student(teacher, preset.distilbert.layers)
    s = preset.distilbert
    batches = [b for _, b in zip(range(8), corpus_loader(corpus, 8, s.batch_size, seed=0))]
    masker = DynamicMasker.from_tokenizer(tokenizer, corpus.counts, smoothing=s.smoothing)
    floor = triple_loss_fn(replace(s, alpha_ce=0.0, alpha_cos=0.0), teacher, masker)   # L_mlm only
    return compare(student, floor, triple_loss_fn(s, teacher, masker), batches, repeats)


def tinybert_step1(preset, tokenizer, repeats):
    data = SST2Data(tokenizer, 2000, 64, preset.max_length, seed=0)
    teacher = load_teacher().eval().requires_grad_(False)
    s = preset.tinybert
    distiller = new_distiller(teacher.config, s, seed=0)
    g = check_compatible(distiller.student, teacher, s)
    batches = [b for _, b in zip(range(8), data.train_loader(preset.batch_size, seed=0))]

    def floor(model, batch):
        with torch.no_grad():
            teacher(**model_inputs(teacher, batch))                             # the teacher's forward
        z_s = model.student(**model_inputs(model.student, batch)).logits        # (B, C)
        return F.cross_entropy(z_s, batch["labels"])

    return compare(distiller, floor, intermediate_loss_fn(teacher, g, s.attn_on), batches, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed pairs of steps per method (default 15)")
    parser.add_argument("--preset", default="cpu", help="the shapes and batch sizes (default cpu)")
    args = parser.parse_args()

    torch.manual_seed(0)
    preset, tokenizer = get_preset(args.preset), load_tokenizer()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, preset {preset.name}, "
          f"median of {args.repeats} alternating pairs of steps")
    print(f"| {'method':<16} | {'floor (ms)':>10} | {'full step (ms)':>14} | {'full / floor':>12} |")
    print(f"|{'-' * 18}|{'-' * 11}:|{'-' * 15}:|{'-' * 13}:|")
    with flush_denormals():                                                     # as kd_teach.engine.train
        for name, method in [("logit KD", logit_kd), ("DistilBERT", distilbert), ("TinyBERT step 1", tinybert_step1)]:
            floor, full = method(preset, tokenizer, args.repeats)
            print(f"| {name:<16} | {floor * 1e3:>10.1f} | {full * 1e3:>14.1f} | {full / floor:>12.3f} |", flush=True)


if __name__ == "__main__":
    main()
