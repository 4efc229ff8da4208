"""The SST-2 spine end to end: teacher, baseline student, Hinton-KD student, results table.

``run_sst2`` is what ``kd-teach run sst2`` and notebook 02 call. Every number it writes is
measured in the run (the teacher's training time comes from when it was fine-tuned and cached).
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from kd_teach.cache import finetuned_teacher
from kd_teach.data import SST2Data
from kd_teach.evaluate import evaluate
from kd_teach.models import build_student, load_tokenizer
from kd_teach.presets import Preset
from kd_teach.report import markdown_table, plot_results, upsert_rows
from kd_teach.stages import StageResult, train_baseline, train_hinton_kd

ROWS = ("teacher", "baseline", "hinton-kd")
DATA_SEED = 0  # the train subset is fixed per preset: every row and every seed sees the same sentences


def _finish_row(name: str, stage: StageResult, data: SST2Data, preset: Preset, out: Path, seed: int) -> dict:
    """Save a trained student, measure it, drop its checkpoint, return its row."""
    model_dir = out / "models" / name
    if model_dir.exists():
        shutil.rmtree(model_dir)
    stage.model.save_pretrained(model_dir)
    metrics = evaluate(stage.model, data.dev_loader(preset.eval_batch_size), data.tokenizer,
                       data.dev_sentences, preset.latency_repeats, save_dir=model_dir)
    shutil.rmtree(out / "checkpoints" / f"{name}-{preset.name}-seed{seed}", ignore_errors=True)
    return {"name": name, **metrics, "train_seconds": stage.seconds, "seed": seed, "preset": preset.name,
            "dev_accuracy_per_epoch": [e["dev_accuracy"] for e in stage.train.evals]}


def run_sst2(preset: Preset, out_dir: str | Path, seed: int = 0, teacher_name: str | None = None,
             rows: tuple[str, ...] = ROWS, log=print) -> dict:
    """Fine-tune (or load) the teacher, train the students, write ``out_dir/results.{json,md,png}``.

    Args:
        preset: the scale (see :mod:`kd_teach.presets`).
        out_dir: where results, student models, checkpoints and curves go.
        seed: seeds the students (initialisation, batch order, dropout); the teacher is
            fine-tuned once per preset with ``preset.teacher_seed`` and cached.
        teacher_name: overrides ``preset.teacher`` (None: the packaged all-MiniLM-L6-v2).
        rows: which rows to (re)compute; the teacher is always measured again (the reference).
    Returns:
        The results table as written to ``results.json``.
    Raises:
        ValueError: for an unknown row name.
        OfflineAssetError: when a model or SST-2 cannot be had offline.
    """
    unknown = set(rows) - set(ROWS)
    if unknown:
        raise ValueError(f"rows must be among {list(ROWS)}, got {sorted(unknown)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = SST2Data.from_preset(load_tokenizer(teacher_name or preset.teacher), preset, seed=DATA_SEED)
    n_transfer = 0 if data.transfer is None else len(data.transfer)
    log(f"SST-2: {len(data.train):,} labelled training sentences, {n_transfer:,} more without labels "
        f"(the KD student's transfer set), {len(data.dev):,} dev sentences; preset {preset.name}")

    teacher, info = finetuned_teacher(preset, data, teacher_name)
    log(f"teacher: {'loaded from cache' if info['cached'] else 'fine-tuned'} ({info['path']})")
    # The teacher row is always re-measured: it is the reference of every ratio in the table.
    new_rows, curves = [], {}
    metrics = evaluate(teacher, data.dev_loader(preset.eval_batch_size), data.tokenizer,
                       data.dev_sentences, preset.latency_repeats, save_dir=info["path"])
    new_rows.append({"name": "teacher", **metrics, "train_seconds": info["train_seconds"],
                     "seed": preset.teacher_seed, "preset": preset.name, "teacher": info["teacher"],
                     "cached": info["cached"], "dev_accuracy_per_epoch": [e["dev_accuracy"] for e in info["evals"]]})
    curves["teacher"] = info["history"]
    log(f"teacher dev accuracy {metrics['accuracy']:.4f}")

    for name in rows:
        if name == "teacher":
            continue
        student = build_student(teacher.config, preset.student, seed=seed)
        ckpt = out / "checkpoints" / f"{name}-{preset.name}-seed{seed}"
        if name == "baseline":
            stage = train_baseline(preset, student, data, seed, ckpt)
            row = {**_finish_row(name, stage, data, preset, out, seed), "epochs": preset.student_epochs}
        else:
            stage = train_hinton_kd(preset, teacher, student, data, seed, ckpt)
            row = {**_finish_row(name, stage, data, preset, out, seed), "T": preset.T, "alpha": preset.alpha,
                   "beta": preset.beta, "transfer_size": n_transfer,
                   "epochs": preset.kd_epochs or preset.student_epochs}
        new_rows.append(row)
        curves[name] = stage.train.history
        log(f"{name} dev accuracy {row['accuracy']:.4f}")

    table = upsert_rows(out / "results.json", new_rows, task="sst2")
    (out / "results.md").write_text(markdown_table(table["rows"]) + "\n")
    plot_results(table["rows"], out / "results.png")
    (out / "curves.json").write_text(json.dumps(curves))
    log(markdown_table(table["rows"]))
    log(f"wall time {time.perf_counter() - t0:.0f} s; results in {out / 'results.json'}")
    return table
