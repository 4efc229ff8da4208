"""The TinyBERT chapter's rows of the SST-2 results table (notebooks 05-07).

Task distillation reads no label: it learns from the teacher on the labelled sentences (the first
``tinybert.task_size`` of them) *and* the preset's transfer set, the sentences ``hinton-kd`` learns from.

- ``tinybert``: general distillation, then task distillation (step 1: intermediate layers,
  step 2: prediction layer) on those sentences.
- ``hinton-kd-tinybert-shape``: the paper's comparison at equal size (Table 1): Hinton's KD for a random
  student of TinyBERT's shape, on the same sentences, for as many optimiser steps as TinyBERT's two steps.
- ``tinybert-aug``: the same as ``tinybert`` plus augmentations of the *labelled* sentences
  (:mod:`kd_teach.tinybert.augment`): augmentation is the paper's remedy for small task data, and the
  transfer set is already ample unlabelled text; ``tinybert`` is its "no augmentation" ablation.
- ``tinybert-same-steps``: ``tinybert`` trained for as many optimiser steps as ``tinybert-aug``
  (its sentences repeated to the augmented set's size), so that what ``tinybert-aug``
  gains over it is augmentation's, not more training's.
- ``tinybert-no-gd``: no general distillation (a random student of the same shape), then
  both task steps.
- ``tinybert-no-step1``: general distillation, then step 2 only.
- ``tinybert-no-td``: no task distillation: the general student fine-tuned on the labelled sentences'
  hard labels, as the baseline is.

These are the ablations of the paper's Table 5 (Jiao et al. 2020: "No GD", "No TD" and its steps,
"No DA"). Table 6's, outside ``all`` (``--rows tinybert-losses``): ``tinybert-no-embd``, ``-no-hidn``,
``-no-attn``, step 1 without one of its three losses. Every row starts from the same seed, shape and teacher.

Outside the chapter's table, a candidate for deployment (notebook 09, asked for by name):
``tinybert-1layer``, the SST-2 teacher cut to its embeddings and layer 0 (as ``distilbert-1layer`` is cut, in
BERT's classes), then both task steps on the same sentences; step 1 maps its one layer to the teacher's last.
"""
from __future__ import annotations

from pathlib import Path

from datasets import Dataset, concatenate_datasets

from kd_teach.distilbert.student import cut_bert_classifier
from kd_teach.engine.cache import augmented_sst2, general_tinybert, load_general_student
from kd_teach.engine.data import SST2Data, UNLABELLED, tokenize
from kd_teach.engine.evaluate import finish_row, teacher_logits
from kd_teach.engine.finetune import train_on_labels
from kd_teach.engine.models import build_student, load_encoder, resolve_teacher
from kd_teach.engine.presets import Preset
from kd_teach.engine.train import StageResult
from kd_teach.hinton.stages import train_hinton_kd
from kd_teach.tinybert.losses import INTERMEDIATE_TERMS
from kd_teach.tinybert.stages import make_distiller, new_distiller, task_distillation_step1, task_distillation_step2

TINYBERT_ROWS = ("tinybert", "hinton-kd-tinybert-shape", "tinybert-aug", "tinybert-same-steps", "tinybert-no-gd",
                 "tinybert-no-step1", "tinybert-no-td")
LOSS_ROWS = {"tinybert-no-embd": "L_embd", "tinybert-no-hidn": "L_hidn", "tinybert-no-attn": "L_attn"}  # Table 6
FRONTIER_ROWS = ("tinybert-1layer",)
TRAINED_ROWS = TINYBERT_ROWS + tuple(LOSS_ROWS) + FRONTIER_ROWS  # every row tinybert_rows trains
CUT_LAYERS = [0]  # tinybert-1layer keeps the teacher's layer 0, which reads the embeddings it keeps too


def task_set(preset: Preset, data: SST2Data) -> tuple[Dataset, list[str]]:
    """The sentences task distillation learns from, tokenised: the first ``tinybert.task_size`` of the preset's
    (already random) labelled training subset, then the transfer set; and those labelled sentences, raw."""
    n = min(preset.tinybert.task_size or len(data.train), len(data.train))
    labelled = data.train.select(range(n))
    if data.transfer is None:
        return labelled, data.train_raw["sentence"][:n]
    return concatenate_datasets([labelled, data.transfer.select_columns(labelled.column_names)]), \
        data.train_raw["sentence"][:n]


def augmented_train_set(preset: Preset, data: SST2Data, teacher_name: str | None = None,
                        log=print) -> tuple[Dataset, dict]:
    """The task sentences (:func:`task_set`) followed by the augmentations of the labelled ones, tokenised;
    augmented rows are unlabelled."""
    sentences_set, raw = task_set(preset, data)
    per_sentence, info = augmented_sst2(preset, raw, teacher_name, log)
    sentences = [a["sentence"] for augmented in per_sentence for a in augmented]
    extra = tokenize(Dataset.from_dict({"sentence": sentences, "label": [UNLABELLED] * len(sentences)}),
                     data.tokenizer, data.max_length)
    return concatenate_datasets([sentences_set.select_columns(extra.column_names), extra]), info


def _start(name: str, preset: Preset, teacher, seed: int, teacher_name: str | None, log):
    """The student a row starts from: the general TinyBERT, a random one for ``tinybert-no-gd``, the teacher cut
    to :data:`CUT_LAYERS` for ``tinybert-1layer``."""
    s = preset.tinybert
    if name == "tinybert-no-gd":
        return new_distiller(teacher.config, s, seed), {}
    if name == "tinybert-1layer":
        student = cut_bert_classifier(teacher, CUT_LAYERS, seed)
        return make_distiller(student, teacher.config, s), {"teacher_layers": CUT_LAYERS, "student_layers": len(
            CUT_LAYERS), "student_hidden": student.config.hidden_size}
    if s.general_student:  # a downloaded general TinyBERT (online); its projections do not fit our teacher
        student = load_general_student(resolve_teacher(s.general_student, "Drop general_student to distil the "
                                                                          "course's own general TinyBERT"), seed)
        return make_distiller(student, teacher.config, s), {"general_student": s.general_student}
    distiller, info = general_tinybert(preset, None, teacher_name, seed, log)
    return distiller, {"general_seconds": info["train_seconds"], "general_steps": info["steps"],
                       "general_heldout_loss": info["heldout"]["heldout_loss"], "general_cached": info["cached"]}


def tinybert_rows(preset: Preset, teacher, data: SST2Data, out: Path, seed: int, rows: tuple[str, ...],
                  teacher_name: str | None = None, log=print) -> tuple[list[dict], dict]:
    """Compute the TinyBERT rows named in ``rows`` (of :data:`TINYBERT_ROWS` and :data:`LOSS_ROWS`); return them
    and their loss curves.

    Args:
        teacher: the SST-2-fine-tuned teacher (task distillation needs a task teacher).
        data: SST-2 tokenised with the teacher's tokenizer.
        out: the run folder (checkpoints make each step of each row resumable).
    """
    s = preset.tinybert
    if s.general_student is None and any(r not in ("tinybert-no-gd", "hinton-kd-tinybert-shape", *FRONTIER_ROWS)
                                         for r in rows):
        load_encoder(teacher_name or preset.teacher)  # fail fast offline, before any training
    sets = {"task": (task_set(preset, data)[0], {})}
    if "tinybert-aug" in rows or "tinybert-same-steps" in rows:
        sets["augmented"] = augmented_train_set(preset, data, teacher_name, log)
        n, n_aug = len(sets["task"][0]), len(sets["augmented"][0])
        sets["repeated"] = (sets["task"][0].select([i % n for i in range(n_aug)]), {})  # as many rows, no new ones
    z_t = {}  # the teacher's logits over each training set, computed once
    new_rows, curves = [], {}
    for name in (r for r in TRAINED_ROWS if r in rows):
        which = {"tinybert-aug": "augmented", "tinybert-same-steps": "repeated"}.get(name, "task")
        train_set, aug_info = sets[which]
        if which not in z_t:
            z_t[which] = teacher_logits(teacher, train_set, data.tokenizer, preset.eval_batch_size)
        ckpt = out / "checkpoints" / f"{name}-{preset.name}-seed{seed}"
        if name == "hinton-kd-tinybert-shape":
            row = _equal_size_kd(preset, teacher, data, train_set, z_t[which], seed, ckpt, out)
        else:
            distiller, extra = _start(name, preset, teacher, seed, teacher_name, log)
            if name == "tinybert-no-td":
                stage = train_on_labels(preset, distiller.student, data, preset.student_epochs, preset.student_lr, seed,
                                        ckpt, "general TinyBERT fine-tuned on the labels")
                row = finish_row(name, StageResult(stage.model, stage.train, extra.get("general_seconds", 0.0)
                                                   + stage.seconds), data, preset, out, seed)
                row.update(extra, steps=stage.train.steps, epochs=preset.student_epochs, lr=preset.student_lr,
                           train_sentences=len(data.train))
            else:
                row, row_curves = _task_distilled(name, preset, teacher, data, distiller, train_set, z_t[which],
                                                  aug_info, seed, ckpt, out, log)
                row.update(extra, train_seconds=row["train_seconds"] + extra.get("general_seconds", 0.0))
                curves.update(row_curves)
        for key, value in {"train_sentences": len(train_set), "student_layers": s.student.layers,
                           "student_hidden": s.student.hidden}.items():
            row.setdefault(key, value)  # unless the row set its own (tinybert-no-td, tinybert-1layer)
        new_rows.append(row)
        log(f"{name} dev accuracy {row['accuracy']:.4f}")
    return new_rows, curves


def _equal_size_kd(preset: Preset, teacher, data: SST2Data, train_set: Dataset, z_t, seed: int, ckpt: Path,
                   out: Path) -> dict:
    """``hinton-kd-tinybert-shape``: a random student of TinyBERT's shape, Hinton's KD on TinyBERT's task sentences
    for step 1's and step 2's epochs together (as many optimiser steps), at the spine's T, alpha and learning rate."""
    s = preset.tinybert
    student = build_student(teacher.config, s.student, num_labels=data.num_labels, seed=seed)
    epochs = s.step1_epochs + s.step2_epochs
    stage = train_hinton_kd(preset, teacher, student, data, seed, ckpt, z_t, epochs, None,
                            "Hinton KD at TinyBERT's shape", train_set)
    row = finish_row("hinton-kd-tinybert-shape", stage, data, preset, out, seed)
    row.update(steps=stage.train.steps, epochs=epochs, T=preset.T, alpha=preset.alpha, beta=preset.beta)
    return row


def _task_distilled(name: str, preset: Preset, teacher, data: SST2Data, distiller, train_set: Dataset, z_t,
                    aug_info: dict, seed: int, ckpt: Path, out: Path, log) -> tuple[dict, dict]:
    """A row trained by task distillation: step 1 (unless ``tinybert-no-step1``; without one loss for the
    Table 6 rows), then step 2. Returns the row and its curves."""
    s, curves = preset.tinybert, {}
    terms = tuple(t for t in INTERMEDIATE_TERMS if t != LOSS_ROWS.get(name))
    step1_seconds, step1_steps = 0.0, 0
    if name != "tinybert-no-step1":
        step1 = task_distillation_step1(s, teacher, distiller, train_set, data.tokenizer, preset.batch_size, seed,
                                        ckpt / "step1", preset.mixed_precision, terms=terms)
        step1_seconds, step1_steps = step1.seconds, step1.train.steps
        curves[f"{name}-step1"] = step1.train.history
        log(f"{name}: step 1 (intermediate layers: {', '.join(terms)}) {step1.train.steps} steps in "
            f"{step1.seconds:.0f} s")
    step2 = task_distillation_step2(s, teacher, distiller.student, data, train_set, preset.batch_size,
                                    preset.eval_batch_size, seed, ckpt / "step2", preset.mixed_precision, z_t)
    curves[f"{name}-step2"] = step2.train.history
    # training time: augmentation + both steps (the caller adds general distillation's, cached per seed)
    row = finish_row(name, StageResult(step2.model, step2.train, step1_seconds + step2.seconds
                                       + (aug_info.get("seconds") or 0.0)), data, preset, out, seed)
    row.update(step1_seconds=step1_seconds, step2_seconds=step2.seconds, step1_steps=step1_steps,
               step2_steps=step2.train.steps, step1_terms=list(terms),
               mapping=s.mapping if isinstance(s.mapping, str) else list(s.mapping),
               augmented_sentences=aug_info.get("augmented", 0), augment_seconds=aug_info.get("seconds"))
    return row, curves
