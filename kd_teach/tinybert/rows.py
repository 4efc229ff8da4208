"""The TinyBERT chapter's rows of the SST-2 results table (notebooks 05-07).

- ``tinybert``: general distillation, then task distillation (step 1: intermediate layers,
  step 2: prediction layer) on labelled SST-2 sentences (``tinybert.task_size`` of them; their
  labels unused).
- ``tinybert-aug``: the same on those sentences plus their augmentations (:mod:`kd_teach.tinybert.augment`);
  ``tinybert`` is its "no augmentation" ablation.
- ``tinybert-same-steps``: ``tinybert`` trained for as many optimiser steps as ``tinybert-aug``
  (the labelled sentences repeated to the augmented set's size), so that what ``tinybert-aug``
  gains over it is augmentation's, not more training's.
- ``tinybert-no-gd``: no general distillation (a random student of the same shape), then
  both task steps on the labelled sentences.
- ``tinybert-no-step1``: general distillation, then step 2 only.

These are the ablations of the paper's Table 5 (Jiao et al. 2020: "No GD", "No TD" split into
its steps, "No DA"). Every row starts from the same seed, shape and teacher.
"""
from __future__ import annotations

from pathlib import Path

from datasets import Dataset, concatenate_datasets

from kd_teach.engine.cache import augmented_sst2, general_tinybert, load_general_student
from kd_teach.engine.data import SST2Data, UNLABELLED, tokenize
from kd_teach.engine.evaluate import finish_row, teacher_logits
from kd_teach.engine.models import load_encoder, resolve_teacher
from kd_teach.engine.presets import Preset
from kd_teach.engine.train import StageResult
from kd_teach.tinybert.stages import make_distiller, new_distiller, task_distillation_step1, task_distillation_step2

TINYBERT_ROWS = ("tinybert", "tinybert-aug", "tinybert-same-steps", "tinybert-no-gd", "tinybert-no-step1")


def task_set(preset: Preset, data: SST2Data) -> tuple[Dataset, list[str]]:
    """The labelled sentences task distillation uses, tokenised and raw: the first ``tinybert.task_size``
    of the preset's (already random) training subset."""
    n = min(preset.tinybert.task_size or len(data.train), len(data.train))
    return data.train.select(range(n)), data.train_raw["sentence"][:n]


def augmented_train_set(preset: Preset, data: SST2Data, teacher_name: str | None = None,
                        log=print) -> tuple[Dataset, dict]:
    """The task sentences followed by their augmentations, tokenised; augmented rows are unlabelled."""
    labelled, raw = task_set(preset, data)
    per_sentence, info = augmented_sst2(preset, raw, teacher_name, log)
    sentences = [a["sentence"] for augmented in per_sentence for a in augmented]
    extra = tokenize(Dataset.from_dict({"sentence": sentences, "label": [UNLABELLED] * len(sentences)}),
                     data.tokenizer, data.max_length)
    return concatenate_datasets([labelled.select_columns(extra.column_names), extra]), info


def _start(name: str, preset: Preset, teacher, seed: int, teacher_name: str | None, log):
    """The student a row starts from: the general TinyBERT, or a random one for ``tinybert-no-gd``."""
    s = preset.tinybert
    if name == "tinybert-no-gd":
        return new_distiller(teacher.config, s, seed), {}
    if s.general_student:  # a downloaded general TinyBERT (online); its projections do not fit our teacher
        student = load_general_student(resolve_teacher(s.general_student, "Drop general_student to distil the "
                                                                          "course's own general TinyBERT"), seed)
        return make_distiller(student, teacher.config, s), {"general_student": s.general_student}
    distiller, info = general_tinybert(preset, None, teacher_name, seed, log)
    return distiller, {"general_seconds": info["train_seconds"], "general_steps": info["steps"],
                       "general_heldout_loss": info["heldout"]["heldout_loss"], "general_cached": info["cached"]}


def tinybert_rows(preset: Preset, teacher, data: SST2Data, out: Path, seed: int, rows: tuple[str, ...],
                  teacher_name: str | None = None, log=print) -> tuple[list[dict], dict]:
    """Compute the TinyBERT rows named in ``rows``; return them and their loss curves.

    Args:
        teacher: the SST-2-fine-tuned teacher (task distillation needs a task teacher).
        data: SST-2 tokenised with the teacher's tokenizer.
        out: the run folder (checkpoints make each step of each row resumable).
    """
    s = preset.tinybert
    if s.general_student is None and any(r in rows for r in ("tinybert", "tinybert-aug", "tinybert-no-step1")):
        load_encoder(teacher_name or preset.teacher)  # fail fast offline, before any training
    sets = {"labelled": (task_set(preset, data)[0], {})}
    if "tinybert-aug" in rows or "tinybert-same-steps" in rows:
        sets["augmented"] = augmented_train_set(preset, data, teacher_name, log)
        n, n_aug = len(sets["labelled"][0]), len(sets["augmented"][0])
        sets["repeated"] = (sets["labelled"][0].select([i % n for i in range(n_aug)]), {})  # as many rows, no new ones
    z_t = {}  # the teacher's logits over each training set, computed once
    new_rows, curves = [], {}
    for name in (r for r in TINYBERT_ROWS if r in rows):
        which = {"tinybert-aug": "augmented", "tinybert-same-steps": "repeated"}.get(name, "labelled")
        train_set, aug_info = sets[which]
        if which not in z_t:
            z_t[which] = teacher_logits(teacher, train_set, data.tokenizer, preset.eval_batch_size)
        distiller, extra = _start(name, preset, teacher, seed, teacher_name, log)
        ckpt = out / "checkpoints" / f"{name}-{preset.name}-seed{seed}"
        step1_seconds, step1_steps = 0.0, 0
        if name != "tinybert-no-step1":
            step1 = task_distillation_step1(s, teacher, distiller, train_set, data.tokenizer, preset.batch_size, seed,
                                            ckpt / "step1", preset.mixed_precision)
            step1_seconds, step1_steps = step1.seconds, step1.train.steps
            curves[f"{name}-step1"] = step1.train.history
            log(f"{name}: step 1 (intermediate layers) {step1.train.steps} steps in {step1.seconds:.0f} s")
        step2 = task_distillation_step2(s, teacher, distiller.student, data, train_set, preset.batch_size,
                                        preset.eval_batch_size, seed, ckpt / "step2", preset.mixed_precision,
                                        z_t[which])
        curves[f"{name}-step2"] = step2.train.history
        # training time: general distillation (once, cached, shared by three rows) + augmentation + both steps
        total = extra.get("general_seconds", 0.0) + (aug_info.get("seconds") or 0.0) + step1_seconds + step2.seconds
        row = finish_row(name, StageResult(step2.model, step2.train, total), data, preset, out, seed)
        row.update(extra, step1_seconds=step1_seconds, step2_seconds=step2.seconds, step1_steps=step1_steps,
                   step2_steps=step2.train.steps, train_sentences=len(train_set),
                   mapping=s.mapping if isinstance(s.mapping, str) else list(s.mapping),
                   student_layers=s.student.layers, student_hidden=s.student.hidden,
                   augmented_sentences=aug_info.get("augmented", 0), augment_seconds=aug_info.get("seconds"))
        new_rows.append(row)
        log(f"{name} dev accuracy {row['accuracy']:.4f}")
    return new_rows, curves
