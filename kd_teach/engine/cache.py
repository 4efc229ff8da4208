"""A cache of what several runs, tests and notebooks share, so each is made once.

Teachers fine-tuned on SST-2 or a user's task (:func:`finetuned_teacher`), teachers given a trained masked-LM
head on the general corpus (:func:`mlm_teacher`), general TinyBERT students
(:func:`general_tinybert`) and TinyBERT's augmented SST-2 (:func:`augmented_sst2`).

Location: ``$KD_TEACH_CACHE_DIR`` or ``~/.cache/kd_teach``. Every entry is a folder made by
:func:`cached`: keyed by every setting that shapes it (:func:`recipe_key`), built in
``<key>.partial/`` (checkpoints there make an interrupted build resumable) and renamed to
``<key>/`` when finished, so a folder without ``.partial`` is always complete. In a multi-GPU
run every process builds the same entry and the main process alone writes it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch
from transformers import AutoModelForSequenceClassification, BertForMaskedLM, PreTrainedModel

from kd_teach.engine.corpus import Corpus
from kd_teach.engine.data import TextClassificationData
from kd_teach.engine.finetune import finetune_teacher
from kd_teach.engine.models import (DEFAULT_TEACHER, load_mlm_teacher, load_teacher, load_tokenizer, quiet_transformers,
                                    seeded)
from kd_teach.engine.presets import Preset
from kd_teach.engine.report import write_json
from kd_teach.engine.runtime import distributed_state

CACHE_ENV = "KD_TEACH_CACHE_DIR"
_FORMAT = 2  # bump when the fine-tuning recipe changes, to invalidate old teachers (2: fused AdamW)


def _quietly(call, *args, **kwargs):
    """``call(*args, **kwargs)`` without transformers' progress bars and load reports (a cached model is
    local and small: its "Loading weights" bar is noise in a notebook)."""
    with quiet_transformers():
        return call(*args, **kwargs)


def cache_dir() -> Path:
    """The cache root: ``$KD_TEACH_CACHE_DIR`` or ``~/.cache/kd_teach``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "kd_teach").expanduser()


def shown(path: str | os.PathLike) -> str:
    """``path`` as a user should read it: under the cache root it is written ``<cache>/...``, so that
    logs and notebook outputs name what was cached, not where this machine keeps its cache."""
    path = Path(path)
    try:
        return "<cache>/" + path.resolve().relative_to(cache_dir().resolve()).as_posix()
    except ValueError:
        return str(path)


def cached(folder: Path, build: Callable[[Path], tuple[dict, Callable[[Path], None]]],
           meta: str = "info.json") -> tuple[dict, bool]:
    """The cache entry ``folder``: read if it is complete, else built once and published atomically.

    Args:
        folder: the entry, ``<cache>/<kind>/<key>`` (see :func:`recipe_key`).
        build: ``build(partial) -> (info, write)``, run by every process when the entry is missing:
            it does the work (training checkpoints into ``partial``, so an interrupted build
            resumes) and returns the entry's ``info`` and ``write(partial)``, which the main
            process alone calls to write the entry's files.
        meta: the JSON file that holds ``info``; its presence marks a complete entry.
    Returns:
        (info, True) from the cache, or (info, False) when built now. If another run published
        the same entry first, that one is kept (they were made from the same recipe).
    """
    if (folder / meta).is_file():
        return json.loads((folder / meta).read_text()), True
    partial = folder.with_name(folder.name + ".partial")
    info, write = build(partial)
    state = distributed_state()
    if state.is_main_process:
        partial.mkdir(parents=True, exist_ok=True)
        write(partial)
        (partial / meta).write_text(json.dumps(info, indent=1))
        (partial / "checkpoint.pt").unlink(missing_ok=True)      # the saved entry supersedes it
        if folder.exists():
            shutil.rmtree(partial)                               # another run was first
        else:
            os.replace(partial, folder)                          # atomic: the entry appears complete
    state.wait_for_everyone()                                    # every process reads it back
    return json.loads((folder / meta).read_text()), False


def recipe_key(prefix: str, recipe: dict) -> str:
    """``<prefix>-<12 hex digits>``: a folder name that changes whenever anything in ``recipe`` changes."""
    return f"{prefix}-{hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]}"


def _dev_key(data: TextClassificationData) -> str:
    """What a dev score depends on besides the model: the dev sentences, their labels and the truncation length."""
    what = json.dumps([list(data.dev_sentences), list(data.dev_raw["label"]), data.max_length])
    return hashlib.sha256(what.encode()).hexdigest()[:16]


def teacher_dev_scores(info: dict, data: TextClassificationData) -> tuple[float, str] | None:
    """The cached teacher's dev accuracy and predictions on ``data``'s dev set, stored by an earlier run
    (:func:`store_teacher_dev_scores`; the teacher is frozen, so they cannot have changed), or None."""
    path = Path(info["path"]).parent / "dev_scores.json"
    scores = json.loads(path.read_text()) if path.is_file() else {}
    hit = scores.get(_dev_key(data))
    return (hit["accuracy"], hit["predictions"]) if hit else None


def store_teacher_dev_scores(info: dict, data: TextClassificationData, accuracy: float, predictions: str) -> None:
    """Keep the teacher's dev accuracy and predictions beside its cached model (written atomically)."""
    path = Path(info["path"]).parent / "dev_scores.json"
    scores = json.loads(path.read_text()) if path.is_file() else {}
    scores[_dev_key(data)] = {"accuracy": accuracy, "predictions": predictions}
    write_json(path, scores)


def teacher_key(preset: Preset, teacher_name: str | None = None, data: TextClassificationData | None = None) -> str:
    """A folder name that changes whenever anything shaping the fine-tuned teacher changes.

    ``data`` is the task it is fine-tuned on: SST-2 (:class:`~kd_teach.engine.data.SST2Data`, or None)
    keeps the key it always had, which the committed reference results and users' caches name; any
    other task's name, classes and data (its ``fingerprint``) are part of the key.
    """
    name = teacher_name or preset.teacher or DEFAULT_TEACHER
    recipe = {"format": _FORMAT, "name": name, "task": "sst2", "train_size": preset.train_size,
              "max_length": preset.max_length, "batch_size": preset.batch_size,
              "epochs": preset.teacher_epochs, "lr": preset.teacher_lr,
              "warmup_ratio": preset.warmup_ratio, "seed": preset.teacher_seed,
              "mixed_precision": preset.mixed_precision,
              "head": "seeded"}  # teachers cached before the head's init was seeded depended on what ran first
    if data is not None and data.fingerprint is not None:
        recipe.update(task=data.name, data=data.fingerprint, num_labels=data.num_labels)
    slug = name.rstrip("/").split("/")[-1].lower()
    return recipe_key(f"{slug}-{recipe['task']}-{preset.name}", recipe)


def finetuned_teacher(preset: Preset, data: TextClassificationData,
                      teacher_name: str | None = None) -> tuple[PreTrainedModel, dict]:
    """The teacher fine-tuned on ``data``'s task for ``preset``: from the cache, or fine-tuned now and cached.

    Args:
        preset: fine-tuning settings (and the default teacher name).
        data: the task (SST-2: :class:`~kd_teach.engine.data.SST2Data`), tokenised with the teacher's
            tokenizer; its ``num_labels`` sizes the teacher's head.
        teacher_name: overrides ``preset.teacher``; None means the packaged all-MiniLM-L6-v2.
    Returns:
        (model in eval mode, info) where info holds ``path``, ``key`` (the cache folder's name,
        :func:`teacher_key`), ``cached``, ``train_seconds``, ``steps`` and the loss ``history``.
    Raises:
        OfflineAssetError: if the teacher is not cached and cannot be loaded offline.
    """
    name = teacher_name or preset.teacher
    folder = cache_dir() / "teachers" / teacher_key(preset, name, data)

    def build(partial: Path):
        teacher = load_teacher(name, num_labels=data.num_labels, seed=preset.teacher_seed)
        stage = finetune_teacher(preset, teacher, data, checkpoint_dir=partial)
        info = {"teacher": name or DEFAULT_TEACHER, "preset": preset.name,
                "train_seconds": stage.train.seconds, "steps": stage.train.steps,
                "history": stage.train.history}
        return info, lambda d: _quietly(stage.model.save_pretrained, d / "model")

    info, was_cached = cached(folder, build, "teacher.json")
    model = _quietly(AutoModelForSequenceClassification.from_pretrained, folder / "model")
    return model.eval(), {**info, "path": str(folder / "model"), "key": folder.name, "cached": was_cached}


def mlm_teacher_key(preset: Preset, teacher_name: str | None = None) -> str:
    """A folder name that changes whenever anything shaping the MLM-trained teacher changes."""
    name = teacher_name or preset.teacher or DEFAULT_TEACHER
    recipe = {"format": _FORMAT, "name": name, "kind": "mlm", "max_length": preset.corpus_max_length,
              "heldout": preset.corpus_heldout, **asdict(preset.mlm_teacher)}
    slug = name.rstrip("/").split("/")[-1].lower()
    return recipe_key(f"{slug}-mlm-{preset.name}", recipe)


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
    folder = cache_dir() / "teachers" / mlm_teacher_key(preset, name)

    def build(partial: Path):
        from kd_teach.distilbert.stages import masked_token_accuracy, train_mlm_teacher

        nonlocal corpus
        if corpus is None:
            corpus = Corpus(load_tokenizer(name), preset.corpus_max_length, preset.corpus_heldout)
        teacher = load_mlm_teacher(name, seed=preset.mlm_teacher.seed)  # the new head's initialisation
        before = masked_token_accuracy(teacher, corpus)
        log(f"MLM teacher: held-out masked-token accuracy before training {before:.4f}")
        info = {"teacher": name or DEFAULT_TEACHER, "preset": preset.name, "accuracy_before": before,
                "steps": preset.mlm_teacher.steps, "batch_size": preset.mlm_teacher.batch_size,
                "max_length": preset.corpus_max_length, "heldout_chunks": len(corpus.heldout),
                "train_seconds": 0.0, "history": [], "accuracy_after": before}
        if preset.mlm_teacher.steps > 0:
            stage = train_mlm_teacher(preset.mlm_teacher, teacher, corpus, partial, preset.mixed_precision)
            info.update(train_seconds=stage.train.seconds, history=stage.train.history, evals=stage.train.evals,
                        accuracy_after=stage.train.evals[-1]["masked_accuracy"])
        log(f"MLM teacher: held-out masked-token accuracy after {info['steps']} steps {info['accuracy_after']:.4f}")
        return info, lambda d: _quietly(teacher.save_pretrained, d / "model")

    info, was_cached = cached(folder, build, "teacher.json")
    model = _quietly(BertForMaskedLM.from_pretrained, folder / "model")
    return model.eval(), {**info, "path": str(folder / "model"), "cached": was_cached}


# --- TinyBERT: the general student and augmented SST-2 ----------------------------------------

def general_tinybert_key(preset: Preset, teacher_name: str | None = None, seed: int = 0) -> str:
    """A folder name that changes whenever anything shaping the general TinyBERT changes."""
    name = teacher_name or preset.teacher or DEFAULT_TEACHER
    s = preset.tinybert
    recipe = {"format": _FORMAT, "teacher": name, "kind": "tinybert-general", "student": asdict(s.student),
              "mapping": s.mapping, "share_projection": s.share_projection, "attn_on": s.attn_on,
              "steps": s.general_steps, "batch_size": s.general_batch_size, "lr": s.general_lr,
              "max_length": preset.corpus_max_length, "heldout": preset.corpus_heldout, "seed": seed,
              "mixed_precision": preset.mixed_precision}
    return recipe_key(f"tinybert-general-{preset.name}", recipe)


def load_general_student(path: str | Path, seed: int = 0, num_labels: int = 2):
    """A general TinyBERT (an encoder folder) as a ``BertForSequenceClassification`` with a new, seeded head."""
    from transformers import BertForSequenceClassification

    with quiet_transformers(), seeded(seed):  # the new classifier head is expected
        return BertForSequenceClassification.from_pretrained(path, num_labels=num_labels)


def general_tinybert(preset: Preset, corpus: Corpus | None = None, teacher_name: str | None = None, seed: int = 0,
                     log=print, on_log=None):
    """The general TinyBERT for ``preset``: from the cache, or distilled now (resumably) and cached.

    The student (``preset.tinybert.student``, random, seeded) learns from the pretrained
    teacher's intermediate layers on the general corpus (:func:`kd_teach.tinybert.stages.general_distillation`).
    Saved as an encoder folder (``model/``, loadable with ``from_pretrained``) plus the
    projections (``projections.pt``), which task distillation's step 1 continues from.

    Returns:
        (:class:`kd_teach.tinybert.stages.TinyBertDistiller` whose student is a ``BertForSequenceClassification``
        with a new head, info) with ``train_seconds``, ``steps``, ``history``, ``heldout`` losses,
        ``path`` and ``cached``.
    Raises:
        OfflineAssetError: if the teacher or the corpus cannot be had offline.
    """
    from kd_teach.engine.models import load_encoder
    from kd_teach.tinybert.stages import general_distillation, make_distiller, new_distiller

    name = teacher_name or preset.teacher
    folder = cache_dir() / "students" / general_tinybert_key(preset, name, seed)
    teacher = load_encoder(name)

    def build(partial: Path):
        nonlocal corpus
        if corpus is None:
            corpus = Corpus(load_tokenizer(name), preset.corpus_max_length, preset.corpus_heldout)
        distiller = new_distiller(teacher.config, preset.tinybert, seed)
        stage = general_distillation(preset.tinybert, teacher, distiller, corpus, seed, partial,
                                     preset.mixed_precision, on_log)
        info = {"teacher": name or DEFAULT_TEACHER, "preset": preset.name, "seed": seed,
                "train_seconds": stage.train.seconds, "steps": stage.train.steps,
                "heldout": stage.train.evals[-1], "history": stage.train.history}
        log(f"general TinyBERT: {info['steps']} steps in {info['train_seconds']:.0f} s; held-out loss "
            f"{info['heldout']['heldout_loss']:.4f}")

        def write(d: Path) -> None:
            distiller.student.bert.save_pretrained(d / "model")
            torch.save(distiller.projections.state_dict(), d / "projections.pt")
        return info, write

    info, was_cached = cached(folder, build, "student.json")
    distiller = make_distiller(load_general_student(folder / "model", seed), teacher.config, preset.tinybert)
    distiller.projections.load_state_dict(torch.load(folder / "projections.pt"))
    return distiller, {**info, "path": str(folder / "model"), "cached": was_cached}


def augmented_sst2(preset: Preset, sentences: list[str], teacher_name: str | None = None, log=print):
    """TinyBERT's augmentation of ``sentences`` (the labelled SST-2 rows), from the cache or made now.

    Uses the MLM teacher (:func:`mlm_teacher`, shared with the DistilBERT chapter) and GloVe
    (:class:`kd_teach.tinybert.augment.WordVectors`), with ``preset.tinybert.augment``'s p, K, N, seed.

    Returns:
        (one list per sentence of {"sentence", "changes"} dicts, info) with ``seconds``,
        ``sentences``, ``augmented``, ``path`` and ``cached``.
    """
    from kd_teach.engine.runtime import default_device
    from kd_teach.tinybert.augment import Augmenter, WordVectors, augment

    a = preset.tinybert.augment
    text_digest = hashlib.sha256("\n".join(sentences).encode()).hexdigest()[:12]
    recipe = {"format": _FORMAT, "mlm_teacher": mlm_teacher_key(preset, teacher_name or preset.teacher),
              "sentences": text_digest, "max_length": preset.max_length, "p": a.p, "K": a.K, "N": a.N, "seed": a.seed}
    folder = cache_dir() / "data" / recipe_key(f"sst2-aug-{preset.name}", recipe)

    def build(partial: Path):
        teacher, _ = mlm_teacher(preset, None, teacher_name, log)
        augmenter = Augmenter(teacher.to(default_device()), load_tokenizer(teacher_name or preset.teacher),
                              WordVectors.glove(), a.K, max_length=preset.max_length)
        t0 = time.perf_counter()
        out = augment(augmenter, sentences, a.N, a.p, a.seed)
        seconds = time.perf_counter() - t0
        rows = [[{"sentence": x.sentence, "changes": [list(c) for c in x.changes]} for x in per] for per in out]
        info = {"seconds": seconds, "sentences": len(sentences), "augmented": sum(map(len, rows)),
                "p": a.p, "K": a.K, "N": a.N, "seed": a.seed}
        log(f"augmented {len(sentences):,} sentences into {info['augmented']:,} new ones in {seconds:.0f} s")
        text = "".join(json.dumps({"source": i, "augmented": r}) + "\n" for i, r in enumerate(rows))
        return info, lambda d: (d / "rows.jsonl").write_text(text)

    info, was_cached = cached(folder, build)
    rows = [json.loads(line)["augmented"] for line in (folder / "rows.jsonl").read_text().splitlines()]
    return rows, {**info, "path": str(folder / "rows.jsonl"), "cached": was_cached}
