"""Student rows shared through the cache: a row trained once is not trained again for another run folder.

Every chapter trains into its own folder (``runs/<chapter>-<preset>``), and notebook 8 runs every row as one
experiment: without a cache it would train again, to the same weights, what notebooks 2, 4 and 7 trained. Seeded
runs are deterministic here, so a row is the same model whenever its name, seed, recipe (the settings that shape
it: :func:`kd_teach.engine.pipeline.preset_key`), teacher (:func:`kd_teach.engine.cache.teacher_key`) and task are;
:func:`row_key` names exactly that. A finished row is stored under ``<cache>/rows/<key>/`` (its model folder, the
row, its training curves) by :func:`store_row`; :func:`restore_row` copies it into another run folder and
**measures it again** there (dev accuracy, predictions, latency, timed in this process beside the teacher measured
just before it), keeping what training recorded (steps, training time, curves) and the date it was trained
(``cached_from``). A restored model whose dev accuracy is not the stored one is not used.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from transformers import AutoModelForSequenceClassification

from kd_teach.engine.cache import cache_dir
from kd_teach.engine.evaluate import evaluate
from kd_teach.engine.model_folder import model_dir

FORMAT = 1   # bump when any training code changes what a row's model is: every cached row is then trained again
EXTRA_FOLDERS = {"distilbert": "distilbert-pretrained"}   # folders a row leaves beside its model (a masked LM)


def row_key(name: str, seed: int, recipe: str, teacher_key: str, task: str, settings: dict | None = None) -> str:
    """``<row>-seed<N>-<12 hex digits>``: the same for two runs that would train the same model.

    ``settings``: what a row keeps outside the recipe (``distilbert-1layer``'s :class:`OneLayerSettings`).
    """
    what = json.dumps([FORMAT, name, seed, recipe, teacher_key, task, settings], sort_keys=True)
    return f"{name}-seed{seed}-{hashlib.sha256(what.encode()).hexdigest()[:12]}"


def row_curves(name: str, curves: dict) -> dict:
    """The training curves that belong to row ``name`` (its stages': ``name``, ``name-step1``, ``name-step2``,
    and pre-training distillation's, ``name-pretraining``)."""
    own = {name, f"{name}-step1", f"{name}-step2", f"{name}-pretraining"}
    return {k: v for k, v in curves.items() if k in own}


def store_row(out: Path, row: dict, curves: dict, key: str) -> Path | None:
    """Copy a finished row (its model folder under ``out``, the row, its curves) to ``<cache>/rows/<key>``,
    atomically (a temporary folder renamed into place); an existing entry is kept. Returns the entry, or None
    when the row's model folder is missing."""
    entry = cache_dir() / "rows" / key
    source = model_dir(out, row["name"], row.get("seed"))
    if (entry / "row.json").is_file() or not (source / "config.json").is_file():
        return entry if entry.is_dir() else None
    tmp = entry.with_name(entry.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copytree(source, tmp / "model")
    extra = EXTRA_FOLDERS.get(row["name"])
    if extra and (out / "models" / extra).is_dir():
        shutil.copytree(out / "models" / extra, tmp / extra)
    (tmp / "curves.json").write_text(json.dumps(curves))
    (tmp / "row.json").write_text(json.dumps(row))           # written last: its presence marks a whole entry
    shutil.rmtree(entry, ignore_errors=True)
    tmp.rename(entry)
    return entry


def restore_row(out: Path, key: str, data, preset) -> tuple[dict, dict] | None:
    """Row ``key`` from the cache, copied into ``out`` and measured again on ``data``'s dev set: ``(row, curves)``,
    or None when the cache has no such row or its model no longer gives the stored dev accuracy."""
    entry = cache_dir() / "rows" / key
    if not (entry / "row.json").is_file():
        return None
    stored, curves = json.loads((entry / "row.json").read_text()), json.loads((entry / "curves.json").read_text())
    folder = model_dir(out, stored["name"], stored.get("seed"))
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(entry / "model", folder)
    extra = EXTRA_FOLDERS.get(stored["name"])
    if extra and (entry / extra).is_dir():
        shutil.rmtree(out / "models" / extra, ignore_errors=True)
        shutil.copytree(entry / extra, out / "models" / extra)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    metrics = evaluate(model, data.dev_loader(preset.eval_batch_size), data.tokenizer, data.dev_sentences,
                       preset.latency_repeats, save_dir=folder)
    if metrics["accuracy"] != stored["accuracy"]:                # not the same model (another code version)
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return {**stored, **metrics, "cached_from": stored.get("date")}, curves
