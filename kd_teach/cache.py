"""A cache of prepared teachers, so every run, test and notebook trains each one once.

Two kinds: teachers fine-tuned on SST-2 (:func:`finetuned_teacher`) and teachers given a
trained masked-LM head on the general corpus (:func:`mlm_teacher`).

Location: ``$KD_TEACH_CACHE_DIR`` or ``~/.cache/kd_teach``. A teacher is keyed by its name and
every setting that shapes its fine-tuning; it is trained in ``<key>.partial/`` (checkpoints
there make an interrupted fine-tuning resumable) and renamed to ``<key>/`` when finished,
so a folder without ``.partial`` is always a complete teacher.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, BertForMaskedLM, PreTrainedModel

from kd_teach.corpus import Corpus
from kd_teach.data import SST2Data
from kd_teach.models import DEFAULT_TEACHER, load_mlm_teacher, load_teacher, load_tokenizer
from kd_teach.presets import Preset
from kd_teach.stages import finetune_teacher

CACHE_ENV = "KD_TEACH_CACHE_DIR"
_FORMAT = 1  # bump when the fine-tuning recipe changes, to invalidate old teachers


def cache_dir() -> Path:
    """The cache root: ``$KD_TEACH_CACHE_DIR`` or ``~/.cache/kd_teach``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "kd_teach").expanduser()


def teacher_key(preset: Preset, teacher_name: str | None = None) -> str:
    """A folder name that changes whenever anything shaping the fine-tuned teacher changes."""
    name = teacher_name or preset.teacher or DEFAULT_TEACHER
    recipe = {"format": _FORMAT, "name": name, "task": "sst2", "train_size": preset.train_size,
              "max_length": preset.max_length, "batch_size": preset.batch_size,
              "epochs": preset.teacher_epochs, "lr": preset.teacher_lr,
              "warmup_ratio": preset.warmup_ratio, "seed": preset.teacher_seed,
              "mixed_precision": preset.mixed_precision}
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    slug = name.rstrip("/").split("/")[-1].lower()
    return f"{slug}-sst2-{preset.name}-{digest}"


def finetuned_teacher(preset: Preset, data: SST2Data,
                      teacher_name: str | None = None) -> tuple[PreTrainedModel, dict]:
    """The SST-2-fine-tuned teacher for ``preset``: from the cache, or fine-tuned now and cached.

    Args:
        preset: fine-tuning settings (and the default teacher name).
        data: SST-2, tokenised with the teacher's tokenizer.
        teacher_name: overrides ``preset.teacher``; None means the packaged all-MiniLM-L6-v2.
    Returns:
        (model in eval mode, info) where info holds ``path``, ``cached``, ``train_seconds``,
        ``dev_accuracy`` per epoch and the loss ``history``.
    Raises:
        OfflineAssetError: if the teacher is not cached and cannot be loaded offline.
    """
    name = teacher_name or preset.teacher
    final = cache_dir() / "teachers" / teacher_key(preset, name)
    if (final / "teacher.json").is_file():
        info = json.loads((final / "teacher.json").read_text())
        model = AutoModelForSequenceClassification.from_pretrained(final / "model")
        return model.eval(), {**info, "path": str(final / "model"), "cached": True}

    partial = final.with_name(final.name + ".partial")
    stage = finetune_teacher(preset, load_teacher(name), data, checkpoint_dir=partial)
    stage.model.save_pretrained(partial / "model")
    info = {"teacher": name or DEFAULT_TEACHER, "preset": preset.name,
            "train_seconds": stage.train.seconds, "steps": stage.train.steps,
            "evals": stage.train.evals, "history": stage.train.history}
    (partial / "teacher.json").write_text(json.dumps(info, indent=1))
    (partial / "checkpoint.pt").unlink(missing_ok=True)  # the saved model supersedes it
    if final.exists():  # another process finished first; keep theirs
        shutil.rmtree(partial)
        return finetuned_teacher(preset, data, teacher_name)
    os.replace(partial, final)
    return stage.model.eval(), {**info, "path": str(final / "model"), "cached": False}


def mlm_teacher_key(preset: Preset, teacher_name: str | None = None) -> str:
    """A folder name that changes whenever anything shaping the MLM-trained teacher changes."""
    name = teacher_name or preset.teacher or DEFAULT_TEACHER
    recipe = {"format": _FORMAT, "name": name, "kind": "mlm", "max_length": preset.corpus_max_length,
              "heldout": preset.corpus_heldout, **asdict(preset.mlm_teacher)}
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    slug = name.rstrip("/").split("/")[-1].lower()
    return f"{slug}-mlm-{preset.name}-{digest}"


def mlm_teacher(preset: Preset, corpus: Corpus | None = None, teacher_name: str | None = None,
                log=print) -> tuple[BertForMaskedLM, dict]:
    """The teacher with a trained masked-LM head for ``preset``: from the cache, or trained now and cached.

    The head (decoder tied to the input embeddings) and the encoder are trained with L_mlm for
    ``preset.mlm_teacher.steps`` steps on the general corpus; held-out masked-token accuracy is
    measured before and after. With ``steps == 0`` (a teacher that has its pretrained head,
    such as bert-base-uncased) only the accuracy is measured.

    Args:
        preset: MLM settings (``preset.mlm_teacher``) and corpus chunk length.
        corpus: the general corpus, built from the teacher's tokenizer when None (only if training).
        teacher_name: overrides ``preset.teacher``.
    Returns:
        (``BertForMaskedLM`` in eval mode, info) with ``accuracy_before``, ``accuracy_after``,
        ``steps``, ``train_seconds``, ``history``, ``path`` and ``cached``.
    Raises:
        OfflineAssetError: if neither cached nor loadable offline (teacher or corpus).
    """
    name = teacher_name or preset.teacher
    final = cache_dir() / "teachers" / mlm_teacher_key(preset, name)
    if (final / "teacher.json").is_file():
        info = json.loads((final / "teacher.json").read_text())
        model = BertForMaskedLM.from_pretrained(final / "model")
        return model.eval(), {**info, "path": str(final / "model"), "cached": True}

    from kd_teach.pretrain import masked_token_accuracy, train_mlm_teacher

    if corpus is None:
        corpus = Corpus(load_tokenizer(name), preset.corpus_max_length, preset.corpus_heldout)
    partial = final.with_name(final.name + ".partial")
    torch.manual_seed(preset.mlm_teacher.seed)  # the new head's initialisation
    teacher = load_mlm_teacher(name)
    before = masked_token_accuracy(teacher, corpus)
    log(f"MLM teacher: held-out masked-token accuracy before training {before:.4f}")
    info = {"teacher": name or DEFAULT_TEACHER, "preset": preset.name, "accuracy_before": before,
            "steps": preset.mlm_teacher.steps, "batch_size": preset.mlm_teacher.batch_size,
            "max_length": preset.corpus_max_length, "heldout_chunks": len(corpus.heldout),
            "train_seconds": 0.0, "history": []}
    if preset.mlm_teacher.steps > 0:
        stage = train_mlm_teacher(preset.mlm_teacher, teacher, corpus, partial, preset.mixed_precision)
        info.update(train_seconds=stage.train.seconds, history=stage.train.history,
                    accuracy_after=stage.train.evals[-1]["masked_accuracy"])
    else:
        info["accuracy_after"] = before
    log(f"MLM teacher: held-out masked-token accuracy after {info['steps']} steps {info['accuracy_after']:.4f}")
    teacher.save_pretrained(partial / "model")
    (partial / "teacher.json").write_text(json.dumps(info, indent=1))
    (partial / "checkpoint.pt").unlink(missing_ok=True)
    if final.exists():
        shutil.rmtree(partial)
        return mlm_teacher(preset, corpus, teacher_name, log)
    os.replace(partial, final)
    return teacher.eval(), {**info, "path": str(final / "model"), "cached": False}
