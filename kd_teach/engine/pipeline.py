"""The SST-2 results table end to end: the teacher and every chapter's students.

Rows: ``teacher``, ``baseline`` and ``hinton-kd`` (the spine, notebook 02); ``distilbert``
and its ablations (the DistilBERT chapter, notebook 04, built in :mod:`kd_teach.distilbert.rows`);
``tinybert``, ``tinybert-aug`` and their ablations (the TinyBERT chapter, notebooks 05-07, built in
:mod:`kd_teach.tinybert.rows`); ``distilbert-1layer``, the deployment chapter's student (notebook
09, asked for by name: ``all`` is the table of notebooks 02-08). ``run_sst2`` is
what ``kd-teach run sst2`` and the notebooks call. Every number it writes is measured in the
run (prepared teachers' training times come from when they were trained and cached).

``run_task`` runs the same table on a user's own task (``kd-teach run --data FILE``, read by
:mod:`kd_teach.engine.tasks`): the spine's rows, for any number of classes.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from kd_teach.distilbert.rows import DISTILBERT_ROWS, distilbert_rows
from kd_teach.engine.cache import (finetuned_teacher, recipe_key, shown, store_teacher_dev_scores,
                                   teacher_dev_scores)
from kd_teach.engine.data import SST2Data, TextClassificationData
from kd_teach.engine.evaluate import evaluate, finish_row, save_row_model, teacher_logits
from kd_teach.engine.finetune import train_baseline
from kd_teach.engine.model_folder import model_dir, write_model_cards
from kd_teach.engine.models import build_student, load_tokenizer
from kd_teach.engine.presets import Preset, one_layer_settings
from kd_teach.engine.report import (HEADLINE_COMPARISONS, load_results, machine_info, markdown_table, plot_results,
                                    seed_table, upsert_rows)
from kd_teach.engine.row_cache import restore_row, row_curves, row_key, store_row
from kd_teach.engine.runtime import distributed_state
from kd_teach.engine.significance import encode_predictions
from kd_teach.engine.tasks import TaskSpec, task_data
from kd_teach.engine.verdicts import COMPARISON_RULE, comparison_table, interval_table
from kd_teach.hinton.stages import train_hinton_kd, transfer_set
from kd_teach.tinybert.rows import FRONTIER_ROWS, LOSS_ROWS, TINYBERT_ROWS, TRAINED_ROWS, tinybert_rows

CHAPTER_TABLE = ("teacher", "baseline", "hinton-kd", *DISTILBERT_ROWS[:-1]) + TINYBERT_ROWS  # notebooks 02-08
ROWS = CHAPTER_TABLE + tuple(LOSS_ROWS) + ("distilbert-1layer",) + FRONTIER_ROWS  # + Table 6, deployment students
ROW_GROUPS = {  # names accepted by --rows besides the row names
    "spine": ("teacher", "baseline", "hinton-kd"),
    "distilbert": DISTILBERT_ROWS[:-1],  # the row always comes with its ablations
    "tinybert": TINYBERT_ROWS,
    "tinybert-losses": ("tinybert",) + tuple(LOSS_ROWS),  # the paper's Table 6: step 1 without each loss
    "tinybert-augmentation": ("tinybert", "tinybert-aug", "tinybert-same-steps"),  # Table 5's "No DA", and its control
    "all": CHAPTER_TABLE,  # distilbert-1layer is asked for by name
}
DATA_SEED = 0  # the train subset is fixed per preset: every row and every seed sees the same sentences


def expand_rows(spec: str | tuple[str, ...] | list[str], task: str = "sst2") -> tuple[str, ...]:
    """Row names from a group (``"spine"``, ``"distilbert"``, ``"tinybert"``, ``"all"``) or comma-separated row
    names, in table order.

    Raises:
        ValueError: for a name that is neither a row nor a group; the message lists both. For a ``task``
            other than SST-2, for a row outside the spine (the DistilBERT and TinyBERT rows are SST-2's only).
    """
    names = [n.strip() for n in spec.split(",")] if isinstance(spec, str) else list(spec)
    wanted = set()
    for n in names:
        if n not in ROWS and n not in ROW_GROUPS:
            raise ValueError(f"rows must be among {list(ROWS)} or the groups {list(ROW_GROUPS)}, got {n!r}")
        wanted.update(ROW_GROUPS.get(n, (n,)))
    rows = tuple(r for r in ROWS if r in wanted)
    others = [r for r in rows if r not in ROW_GROUPS["spine"]]
    if task != "sst2" and others:
        raise ValueError(f"rows {', '.join(others)} run on SST-2 only for now; on task {task!r} run the spine "
                         "(teacher, baseline, hinton-kd)")
    return rows


# Sections of a preset that only some chapters' rows read. A row's recipe is the preset without the sections
# of the chapters it does not belong to: changing TinyBERT's settings leaves the spine's and DistilBERT's rows
# (and their results) as valid as they were, and the reverse.
CHAPTER_SECTIONS = {
    "distilbert": ("mlm_teacher", "corpus_max_length", "corpus_heldout", "distilbert"),
    "tinybert": ("mlm_teacher", "corpus_max_length", "corpus_heldout", "tinybert"),  # the MLM teacher augments
}


def row_chapter(name: str) -> str | None:
    """The chapter whose settings shape row ``name``: ``"distilbert"``, ``"tinybert"``, or None (the teacher and
    the spine, which read only the preset's common settings)."""
    return "distilbert" if name in DISTILBERT_ROWS else "tinybert" if name in TRAINED_ROWS else None


def row_recipe(name: str, settings: dict) -> dict:
    """The settings that shape row ``name``: ``settings`` (a preset's ``to_dict()``) without the chapter sections
    (:data:`CHAPTER_SECTIONS`) other than its own chapter's."""
    sections = {k for keys in CHAPTER_SECTIONS.values() for k in keys}
    own = set(CHAPTER_SECTIONS.get(row_chapter(name), ()))
    return {k: v for k, v in settings.items() if k not in sections - own}


def preset_key(preset: Preset, name: str = "teacher") -> str:
    """``<preset name>-<12 hex digits>``: row ``name``'s recipe key at ``preset``; it changes whenever a
    setting that shapes the row (:func:`row_recipe`) changes."""
    return recipe_key(preset.name, row_recipe(name, preset.to_dict()))


def stored_rows(path: str | Path, preset: Preset, seed: int, teacher_key: str) -> set[str]:
    """Names of the student rows ``path`` (a results.json) already holds for this seed with exactly the
    recipe ``preset`` gives them (:func:`preset_key`), learnt from the fine-tuned teacher cached under
    ``teacher_key`` (:func:`kd_teach.engine.cache.teacher_key`)."""
    rows = load_results(path)["rows"]
    if not any(r["name"] == "teacher" and r.get("teacher_key") == teacher_key for r in rows):
        return set()  # another teacher's table (another model, recipe or cache format): nothing in it counts
    return {r["name"] for r in rows if r["name"] != "teacher" and r.get("recipe") == preset_key(preset, r["name"])
            and r.get("seed") == seed}


def set_aside_other_teachers_table(path: Path, teacher_key: str, log=print) -> None:
    """Rename ``path`` to ``results.<its teacher's key>.json`` when it was written with another teacher.

    Rows learnt from different teachers must not be averaged together; nothing is deleted.
    """
    rows = load_results(path)["rows"]
    old = next((r.get("teacher_key") for r in rows if r["name"] == "teacher"), None)
    if rows and old != teacher_key:
        aside = path.with_name(f"results.{old or 'unknown-teacher'}.json")
        path.replace(aside)
        log(f"{path} was written with another teacher ({old}): kept as {aside}, starting a new table")


def spine_rows(preset: Preset, teacher, data: TextClassificationData, out: Path, seed: int, rows: tuple[str, ...],
               z_t, teacher_pass_seconds: float, log=print) -> tuple[list[dict], dict]:
    """The spine's student rows for one seed: ``baseline`` (hard labels) and ``hinton-kd`` (soft targets).

    Both students start from the same seeded initialisation and schedule; ``z_t`` holds the
    teacher's logits over the KD student's sentences, computed once per run
    (``teacher_pass_seconds``, counted in every KD row's training time, as one run would pay it).
    """
    new_rows, curves = [], {}
    n_transfer = 0 if data.transfer is None else len(data.transfer)
    for name in (r for r in ("baseline", "hinton-kd") if r in rows):
        student = build_student(teacher.config, preset.student, num_labels=data.num_labels, seed=seed)
        ckpt = out / "checkpoints" / f"{name}-{preset.name}-seed{seed}"
        if name == "baseline":
            stage = train_baseline(preset, student, data, seed, ckpt)
            row = {**finish_row(name, stage, data, preset, out, seed), "epochs": preset.student_epochs}
        else:
            stage = train_hinton_kd(preset, teacher, student, data, seed, ckpt, z_t)
            row = {**finish_row(name, stage, data, preset, out, seed), "T": preset.T, "alpha": preset.alpha,
                   "beta": preset.beta, "transfer_size": n_transfer, "teacher_pass_seconds": teacher_pass_seconds,
                   "epochs": preset.kd_epochs or preset.student_epochs}
            row["train_seconds"] += teacher_pass_seconds
        row.update(train_size=len(data.train), steps=stage.train.steps)
        new_rows.append(row)
        curves[name] = stage.train.history
        log(f"{name} (seed {seed}) dev accuracy {row['accuracy']:.4f}")
    return new_rows, curves


def _curve_names(curves: dict, seed: int) -> dict:
    """Seed 0's curves keep their row names (what the notebooks read); other seeds' get ``name seed N``."""
    return curves if seed == 0 else {f"{name} seed {seed}": h for name, h in curves.items()}


def run_sst2(preset: Preset, out_dir: str | Path, seed: int | Sequence[int] = 0, teacher_name: str | None = None,
             rows: str | tuple[str, ...] = "spine", force: bool = False, log=print) -> dict:
    """SST-2's results table: :func:`run_task` with ``task=None``."""
    return run_task(preset, None, out_dir, seed, teacher_name, rows, force, log)


def run_task(preset: Preset, task: TaskSpec | None, out_dir: str | Path, seed: int | Sequence[int] = 0,
             teacher_name: str | None = None, rows: str | tuple[str, ...] = "spine", force: bool = False,
             log=print) -> dict:
    """Fine-tune (or load) the teacher, train the students, write ``out_dir/results.{json,md,png}``.

    Args:
        preset: the scale (see :mod:`kd_teach.engine.presets`).
        task: a user's data set (:class:`kd_teach.engine.tasks.TaskSpec`, read at the preset's sizes capped
            at what it holds: :func:`kd_teach.engine.tasks.task_data`), or None for SST-2.
        out_dir: where results, student models, checkpoints and curves go.
        seed: one seed or several (``[0, 1, 2]``): every student row is trained once per seed
            (initialisation, batch order, dropout, masks) and stored per seed; the teacher is
            fine-tuned once per preset with ``preset.teacher_seed`` and cached. ``results.md``
            shows each row's dev accuracy per seed and its mean ± sd.
        teacher_name: overrides ``preset.teacher`` (None: the packaged all-MiniLM-L6-v2).
        rows: rows or groups to compute (see :func:`expand_rows`; a user's task has the spine's
            only); the teacher is always measured again (the reference of every ratio). Other
            rows already in ``results.json`` are kept.
        force: recompute rows that ``results.json`` already holds for this preset and seed
            (without it they are skipped), and rows the cache holds (without it they are copied from
            :mod:`kd_teach.engine.row_cache` and measured again). A row interrupted mid-training is never
            stored: it resumes from its last checkpoint either way.
    Returns:
        The results table as written to ``results.json``.
    Raises:
        ValueError: for an unknown row or group name, or no seed.
        OfflineAssetError: when a model, SST-2 or a hub data set cannot be had offline.
        kd_teach.engine.tasks.TaskDataError: when a user's data set cannot be used as given.
    """
    rows = expand_rows(rows, "sst2" if task is None else task.task_name)
    seeds = [seed] if isinstance(seed, int) else list(seed)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be one or more distinct integers, got {seed!r}")
    t0 = time.perf_counter()
    tokenizer = load_tokenizer(teacher_name or preset.teacher)
    if task is None:
        data = SST2Data.from_preset(tokenizer, preset, seed=DATA_SEED)
    else:
        data = task_data(task, tokenizer, preset, seed=DATA_SEED)
        log(f"{data.name}: {data.origin}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)  # once the data is had: a bad file leaves no empty run folder
    n_transfer = 0 if data.transfer is None else len(data.transfer)
    log(f"{'SST-2' if task is None else data.name}: {len(data.train):,} labelled training sentences, "
        f"{n_transfer:,} more without labels (the KD student's transfer set), {len(data.dev):,} dev sentences; "
        f"preset {preset.name}")

    teacher, info = finetuned_teacher(preset, data, teacher_name)
    log(f"teacher: {'loaded from cache' if info['cached'] else 'fine-tuned'} ({shown(info['path'])})")
    if distributed_state().is_main_process:
        set_aside_other_teachers_table(out / "results.json", info["key"], log)
    todo = {}
    for s in seeds:
        done = set() if force else stored_rows(out / "results.json", preset, s, info["key"]) & set(rows)
        if done:
            log(f"already in {out / 'results.json'} (seed {s}), skipped: {', '.join(r for r in rows if r in done)}"
                " (force=True or --force to recompute)")
        todo[s] = tuple(r for r in rows if r not in done)
    # The teacher row is always re-measured: it is the reference of every ratio in the table. Its latency is
    # timed again here; its dev accuracy and predictions (a frozen cached model) are read from the cache once known.
    scored = teacher_dev_scores(info, data)
    metrics = evaluate(teacher, data.dev_loader(preset.eval_batch_size), data.tokenizer,
                       data.dev_sentences, preset.latency_repeats,
                       save_dir=save_row_model(teacher, data, model_dir(out, "teacher")), scored=scored)  # a copy
    if scored is None and distributed_state().is_main_process:
        store_teacher_dev_scores(info, data, metrics["accuracy"], metrics["predictions"])
    teacher_row = {"name": "teacher", **metrics, "train_seconds": info["train_seconds"],
                   "seed": preset.teacher_seed, "preset": preset.name, "teacher": info["teacher"],
                   "teacher_key": info["key"], "cached": info["cached"], "train_size": len(data.train),
                   "steps": info["steps"]}
    log(f"teacher dev accuracy {metrics['accuracy']:.4f}")
    table = _write(out, [_stamped(teacher_row, preset, info["key"])], {"teacher": info["history"]}, preset, data)

    z_t, pass_seconds = None, 0.0
    for s in seeds:
        if not force and _shares_rows():   # rows another run folder trained with this recipe: measured, not trained
            cached = [hit for name in todo[s] if (hit := restore_row(out, _row_key(name, s, preset, info["key"], data),
                                                                       data, preset))]
            if cached:
                log(f"from the cache (seed {s}), measured again, not trained: "
                    f"{', '.join(row['name'] for row, _ in cached)} (force=True or --force to train them)")
                todo[s] = tuple(r for r in todo[s] if r not in {row["name"] for row, _ in cached})
                curves = {k: v for _, c in cached for k, v in c.items()}
                table = _write(out, [_stamped(row, preset, info["key"]) for row, _ in cached], _curve_names(curves, s),
                               preset, data)
        if "hinton-kd" in todo[s] and z_t is None:  # the teacher is frozen: one pass serves every seed
            t = time.perf_counter()
            z_t = teacher_logits(teacher, transfer_set(data), data.tokenizer, preset.eval_batch_size)
            pass_seconds = time.perf_counter() - t
        new_rows, curves = spine_rows(preset, teacher, data, out, s, todo[s], z_t, pass_seconds, log)
        if any(r in todo[s] for r in DISTILBERT_ROWS):
            more_rows, more_curves = distilbert_rows(preset, teacher, data, out, s, todo[s], teacher_name, log)
            new_rows += more_rows
            curves.update(more_curves)
        if any(r in todo[s] for r in TRAINED_ROWS):
            more_rows, more_curves = tinybert_rows(preset, teacher, data, out, s, todo[s], teacher_name, log)
            new_rows += more_rows
            curves.update(more_curves)
        stamped = [_stamped(r, preset, info["key"]) for r in new_rows]
        table = _write(out, stamped, _curve_names(curves, s), preset, data)
        if _shares_rows():
            for r in stamped:
                store_row(out, r, row_curves(r["name"], curves), _row_key(r["name"], s, preset, info["key"], data))

    if not distributed_state().is_main_process:  # the other processes of a multi-GPU run computed the same rows; one writes them
        return table
    log(markdown_table([r for r in table["rows"] if r.get("seed") == seeds[-1] or r["name"] == "teacher"]))
    if len(seeds) > 1 or len({r.get("seed") for r in table["rows"]}) > 1:
        log(seed_table(table["rows"]))
    log(f"wall time {time.perf_counter() - t0:.0f} s; results in {out / 'results.json'}")
    return table


def _shares_rows() -> bool:
    """Rows go through the cache (:mod:`kd_teach.engine.row_cache`) in one-process runs only: in a multi-GPU run
    every process must train the same rows."""
    return distributed_state().num_processes == 1


def _row_key(name: str, seed: int, preset: Preset, teacher_key: str, data: TextClassificationData) -> str:
    one = asdict(one_layer_settings(preset)) if name == "distilbert-1layer" else None
    return row_key(name, seed, preset_key(preset, name), teacher_key, data.name, one)


def _stamped(row: dict, preset: Preset, teacher_key: str) -> dict:
    """``row`` with where, when and how it was measured: date (UTC), machine, its recipe (:func:`preset_key`),
    teacher."""
    return {**row, "teacher_key": teacher_key, "recipe": preset_key(preset, row["name"]),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info()}


def _write(out: Path, new_rows: list[dict], curves: dict, preset: Preset, data: TextClassificationData) -> dict:
    """Add ``new_rows`` to ``out/results.json`` (and the curves to ``curves.json``); rewrite ``results.md`` and the plot.

    The table keeps every recipe its rows were measured with, under ``recipes`` (:func:`preset_key` ->
    :func:`row_recipe`), and the dev labels every row's ``predictions`` are scored against, under ``dev_labels``.
    """
    task = data.name
    if not distributed_state().is_main_process:
        return {"task": task, "rows": new_rows}
    recipes = {**load_results(out / "results.json").get("recipes", {}),
               **{r["recipe"]: row_recipe(r["name"], preset.to_dict()) for r in new_rows}}
    labels = encode_predictions(data.dev_raw["label"])
    table = upsert_rows(out / "results.json", new_rows, task=task, recipes=recipes, dev_labels=labels)
    write_model_cards(out, table, new_rows)                   # each new row's model folder gets its README.md
    write_report(out, table)
    old_curves = json.loads((out / "curves.json").read_text()) if (out / "curves.json").is_file() else {}
    (out / "curves.json").write_text(json.dumps({**old_curves, **curves}))
    return table


def write_report(out: str | Path, table: dict | None = None) -> str:
    """Write ``out/results.md`` and ``out/results.png`` from ``out/results.json`` (or ``table``); return the Markdown.

    With several seeds: each row's accuracy per seed, its mean with the 95% interval and its share of the
    teacher (:func:`kd_teach.engine.verdicts.interval_table`), then the headline comparisons with their
    intervals and verdicts, above the table of every row and seed. A table holding rows measured before rows
    kept their predictions gets no interval and no verdict, and says which rows to run again.
    """
    out = Path(out)
    table = table or load_results(out / "results.json")
    rows, labels = table["rows"], table.get("dev_labels")
    text = markdown_table(rows)
    if len({r.get("seed") for r in rows if r["name"] != "teacher"}) > 1:
        in_order = sorted(rows, key=lambda r: ROWS.index(r["name"]) if r["name"] in ROWS else len(ROWS))
        old = [f"{r['name']} seed {r.get('seed')}" for r in rows if not r.get("predictions")]
        if old or labels is None:  # measured before rows kept their predictions: no interval, so no verdict
            text = (seed_table(in_order) + f"\n\nNo intervals or verdicts: {', '.join(old)} have no per-sentence "
                    "predictions (measured before rows kept them); run them again with --force.\n\n"
                    "Every row, every seed:\n\n" + text)
        else:
            text = interval_table(in_order, labels) + "\n\nEvery row, every seed:\n\n" + text
            names = {r["name"] for r in rows}
            pairs = [(a, b) for a, b in HEADLINE_COMPARISONS if a in names and b in names]
            if pairs:
                text = (f"Headline comparisons ({COMPARISON_RULE}):\n\n" + comparison_table(rows, pairs, labels)
                        + "\n\n" + text)
    (out / "results.md").write_text(text + "\n")
    task = table.get("task", "sst2")
    plot_results(rows, out / "results.png", "SST-2" if task == "sst2" else task)
    return text
