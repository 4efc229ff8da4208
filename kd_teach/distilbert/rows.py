"""The DistilBERT chapter's rows of the SST-2 results table (notebook 04), and the deployment chapter's student.

- ``distilbert``: DistilBERT's student cut from the MLM-trained teacher (one layer in two), given
  pre-training distillation on the general corpus, then trained on SST-2.
- ``distilbert-init``: its ablation, the same student trained on SST-2 without pre-training distillation.
- ``distilbert-random``: the paper's Table 4 ablation: the same shape with random weights, then the same
  pre-training distillation and SST-2 training (what the teacher's layers buy).
- ``hinton-kd-distilbert-shape``: a random student of the same shape, only the SST-2 training (Hinton's KD);
  beside ``distilbert-init`` it isolates the teacher's layers from the student's size and training.
- ``distilbert-1layer``: ``distilbert-init`` cut to one teacher layer (notebook 09).
"""
from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path

from kd_teach.distilbert.stages import distil_pretraining, masked_token_accuracy
from kd_teach.distilbert.student import (default_student_layers, distilbert_classifier, init_distilbert_student,
                                        random_distilbert_student)
from kd_teach.engine.cache import mlm_teacher
from kd_teach.engine.corpus import Corpus
from kd_teach.engine.data import SST2Data
from kd_teach.engine.evaluate import finish_row, teacher_logits
from kd_teach.engine.finetune import train_on_labels
from kd_teach.engine.model_folder import pretrained_student_card, save_model_folder
from kd_teach.engine.presets import Preset, one_layer_settings
from kd_teach.engine.runtime import distributed_state
from kd_teach.hinton.stages import train_hinton_kd, transfer_set

DISTILBERT_ROWS = ("distilbert", "distilbert-init", "distilbert-random", "hinton-kd-distilbert-shape",
                   "distilbert-1layer")  # the rows distilbert_rows trains
PRETRAINED = ("distilbert", "distilbert-random")  # the rows given pre-training distillation
RANDOM_INIT = ("distilbert-random", "hinton-kd-distilbert-shape")  # the rows that start from random weights


def distilbert_rows(preset: Preset, teacher, data: SST2Data, out: Path, seed: int, rows: tuple[str, ...],
                    teacher_name: str | None = None, log=print, corpus: Corpus | None = None
                    ) -> tuple[list[dict], dict]:
    """The DistilBERT chapter's rows: ``distilbert`` and its ablations; and ``distilbert-1layer``, the
    deployment chapter's small student.

    ``distilbert`` and ``distilbert-init`` start identical, DistilBERT's student
    (:func:`init_distilbert_student`) cut from the MLM-trained teacher; ``distilbert-random`` and
    ``hinton-kd-distilbert-shape`` start from random weights of that shape (:func:`random_distilbert_student`,
    seeded). ``distilbert`` and ``distilbert-random`` then get pre-training distillation on the general corpus
    (:func:`distil_pretraining`), the other two do not. All four are then trained on SST-2 the same way: with logit KD
    from the SST-2 teacher (labelled sentences plus the transfer set), or on hard labels when
    ``preset.distilbert.task_kd`` is False. ``distilbert-1layer`` is ``distilbert-init`` cut to
    one teacher layer and trained with its own epochs and learning rate (:func:`one_layer_settings`).
    ``corpus``: pre-training distillation's text (default: the general corpus, :class:`Corpus`).
    Returns the rows and their loss curves.
    """
    s = preset.distilbert
    teacher_mlm, info = mlm_teacher(preset, None, teacher_name, log=log)
    log(f"MLM teacher: {'loaded from cache' if info['cached'] else 'trained'}; held-out masked-token accuracy "
        f"{info['accuracy_before']:.4f} before, {info['accuracy_after']:.4f} after {info['steps']} steps")
    z_t = teacher_logits(teacher, transfer_set(data), data.tokenizer, preset.eval_batch_size) if s.task_kd else None
    corpus = corpus or Corpus(data.tokenizer, preset.corpus_max_length, preset.corpus_heldout)
    new_rows, curves = [], {}
    for name in (r for r in DISTILBERT_ROWS if r in rows):
        one = one_layer_settings(preset) if name == "distilbert-1layer" else None
        if name in RANDOM_INIT:
            n_layers = len(s.layers or default_student_layers(teacher_mlm.config.num_hidden_layers))
            student = random_distilbert_student(teacher_mlm.config, n_layers, seed)
        else:
            student = init_distilbert_student(teacher_mlm, [one.layer] if one else s.layers)
        epochs, lr = (one.task_epochs, one.task_lr) if one else (s.task_epochs, s.task_lr)
        ckpt = out / "checkpoints" / f"{name}-{preset.name}-seed{seed}"
        extra, pre_seconds = {"teacher_layers": student.config.kd_teacher_layers}, 0.0
        if one:
            extra["one_layer"] = asdict(one)  # its settings live outside the preset's recipe
        if name in PRETRAINED:
            pre_ckpt = out / "checkpoints" / f"{name}-pretraining-{preset.name}-seed{seed}"
            pre = distil_pretraining(s, teacher_mlm, student, corpus, seed, pre_ckpt, preset.mixed_precision)
            pre_seconds = pre.seconds
            curves[f"{name}-pretraining"] = pre.train.history
            extra.update(pretrain_steps=pre.train.steps, pretrain_seconds=pre.seconds,
                         student_masked_accuracy=pre.train.evals[-1]["masked_accuracy"])
            if name == "distilbert" and distributed_state().is_main_process:  # loadable with pipeline("fill-mask")
                save_model_folder(pre.model, data.tokenizer, out / "models" / "distilbert-pretrained",
                                  card_text=pretrained_student_card(pre.train.steps, extra["student_masked_accuracy"],
                                                                    preset.corpus_max_length),
                                  max_length=preset.corpus_max_length)
            log(f"{name}: pre-training distillation {pre.train.steps} steps in {pre.seconds:.0f} s; student "
                f"held-out masked-token accuracy {extra['student_masked_accuracy']:.4f}")
        else:  # the student's own held-out MLM accuracy, to compare with the distilled one
            extra["student_masked_accuracy"] = masked_token_accuracy(student, corpus)
        model = distilbert_classifier(student, seed=seed)
        if s.task_kd:
            stage = train_hinton_kd(preset, teacher, model, data, seed, ckpt, z_t, epochs, lr,
                                    f"{name} on SST-2 (logit KD)")
        else:
            stage = train_on_labels(preset, model, data, epochs, lr, seed, ckpt, f"{name} on SST-2")
        row = finish_row(name, stage, data, preset, out, seed)
        row.update(extra, train_seconds=pre_seconds + stage.seconds, task_seconds=stage.seconds,
                   task="logit KD" if s.task_kd else "hard labels", epochs=epochs, lr=lr,
                   mlm_teacher_seconds=info["train_seconds"])
        if name in PRETRAINED and distributed_state().is_main_process:
            shutil.rmtree(pre_ckpt, ignore_errors=True)
        new_rows.append(row)
        curves[name] = stage.train.history
        log(f"{name} dev accuracy {row['accuracy']:.4f}")
    return new_rows, curves
