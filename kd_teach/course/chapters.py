"""What each chapter's notebook shows: its rows, the committed reference, and the learner's run beside it.

A chapter's table holds the teacher, the baseline and that chapter's rows, in the fixed order of
:data:`kd_teach.engine.pipeline.ROWS`, never a row of a later chapter. Each notebook trains into its own
folder (:func:`run_dir`), so two notebooks never overwrite or leak into each other's results.

The reference is a run committed as data (``results/cpu/``, three seeds at the ``cpu`` preset);
the learner's own run (one seed, at whatever preset they chose) goes beside it, with one sentence
(:func:`expectation`) on what to expect from it at that preset.
"""
from __future__ import annotations

import json
from pathlib import Path

from kd_teach.engine.pipeline import CHAPTER_TABLE, ROWS
from kd_teach.engine.report import reference_results, seed_summary
from kd_teach.tinybert.rows import LOSS_ROWS, TINYBERT_ROWS

CHAPTER_ROWS = {  # notebook -> the rows of its table, in table order
    "02_hinton_kd": ("teacher", "baseline", "hinton-kd"),
    "04_distilbert": ("teacher", "baseline", "hinton-kd", "distilbert", "distilbert-init", "distilbert-random",
                      "hinton-kd-distilbert-shape"),
    "07_task_distillation": ("teacher", "baseline", "hinton-kd") + TINYBERT_ROWS + tuple(LOSS_ROWS),
    "08_full_runs": CHAPTER_TABLE,
    "09_deploying_the_student": ("teacher", "baseline", "hinton-kd", "distilbert-init", "distilbert-1layer",
                                 "tinybert-1layer"),
}
CHAPTER_COMPARISONS = {  # notebook -> its headline comparisons (a, b): a - b, see kd_teach.engine.verdicts.compare
    "02_hinton_kd": [("hinton-kd", "baseline")],
    "04_distilbert": [("distilbert", "distilbert-init"),                 # what pre-training distillation buys
                      ("distilbert", "distilbert-random"),               # what the teacher's layers buy (Table 4)
                      ("distilbert-init", "hinton-kd-distilbert-shape"), # the same, without the corpus stage
                      ("distilbert-random", "hinton-kd-distilbert-shape"),  # the corpus stage, from a random start
                      ("hinton-kd-distilbert-shape", "hinton-kd")],      # size and shape, at one initialisation
    "07_task_distillation": [("tinybert", "hinton-kd-tinybert-shape"),                        # Table 1, equal size
                             ("tinybert", "tinybert-no-gd"), ("tinybert", "tinybert-no-td"),   # Table 5
                             ("tinybert", "tinybert-no-step1"),
                             ("tinybert-aug", "tinybert-same-steps"), ("tinybert-aug", "tinybert"),
                             ("tinybert", "tinybert-no-embd"), ("tinybert", "tinybert-no-hidn"),  # Table 6
                             ("tinybert", "tinybert-no-attn")],
    "08_full_runs": [("hinton-kd", "baseline"), ("distilbert", "distilbert-init"),
                     ("distilbert-init", "hinton-kd-distilbert-shape"), ("tinybert", "hinton-kd-tinybert-shape"),
                     ("tinybert", "tinybert-no-td"), ("tinybert", "tinybert-no-gd"), ("tinybert", "tinybert-no-step1"),
                     ("tinybert-aug", "tinybert-same-steps")],
    "09_deploying_the_student": [("distilbert-init", "distilbert-1layer"), ("distilbert-1layer", "hinton-kd"),
                                 ("tinybert-1layer", "distilbert-1layer")],   # one teacher layer, two trainings
}


def _names(chapter: str) -> tuple[str, ...]:
    if chapter not in CHAPTER_ROWS:
        raise ValueError(f"chapter must be one of {list(CHAPTER_ROWS)}, got {chapter!r}")
    return CHAPTER_ROWS[chapter]


def chapter_rows(rows: list[dict], chapter: str) -> list[dict]:
    """The rows of ``chapter``'s table among ``rows``, in table order (then by seed); others are dropped.

    Raises:
        ValueError: for a chapter that has no results table (the message lists those that do).
    """
    names = _names(chapter)
    order = {name: i for i, name in enumerate(ROWS)}
    kept = [r for r in rows if r["name"] in names]
    return sorted(kept, key=lambda r: (order[r["name"]], r.get("seed") or 0))


REFERENCE_RUNS = {  # notebook -> the committed runs its reference reads, first one first (default: cpu alone)
    # the deployment chapter's student was trained and deployed in its own run (so its speed-ups are against
    # a teacher measured with it); the rows it is compared with come from the main reference run
    "09_deploying_the_student": ("cpu", "cpu-deploy"),
}


def chapter_reference(chapter: str, name: str = "cpu") -> list[dict]:
    """``chapter``'s rows of the committed reference ``results/<name>/results.json`` (every seed).

    A chapter listed in :data:`REFERENCE_RUNS` reads those runs instead of ``name``: a row (name and seed)
    found in an earlier run is not taken again from a later one (the teacher is the first run's).
    Raises:
        ValueError: for an unknown chapter.
        FileNotFoundError: outside a checkout of the course (see :func:`kd_teach.engine.report.reference_results`).
    """
    rows, seen = [], set()
    for run in REFERENCE_RUNS.get(chapter, (name,)):
        for r in json.loads((reference_results(run) / "results.json").read_text())["rows"]:
            key = (r["name"], None if r["name"] == "teacher" else r.get("seed"))
            if key not in seen:
                seen.add(key)
                rows.append(r)
    return chapter_rows(rows, chapter)


def run_dir(chapter: str, preset_name: str) -> Path:
    """``runs/<chapter>-<preset>``: the folder a notebook trains into, its own, relative to the notebook."""
    return Path("runs") / f"{chapter}-{preset_name}"


def beside_reference(own: list[dict], reference: list[dict]) -> str:
    """Markdown: each reference row's dev accuracy (mean ± sd over its seeds) beside the learner's run.

    ``own`` holds one run (one seed, any preset); a reference row it did not train shows "not run
    here". Rows of ``own`` that the reference lacks are left out: compare like with like.
    """
    mine = {r["name"]: r for r in own}
    presets = sorted({r.get("preset", "?") for r in own if r["name"] != "teacher"} or {"?"})
    seeds = sorted({r.get("seed") for r in own if r["name"] != "teacher" and r.get("seed") is not None})
    ref_presets = sorted({r.get("preset", "?") for r in reference if r["name"] != "teacher"})
    head = (f"your run (preset {', '.join(presets)}, seed {', '.join(map(str, seeds)) or '?'})")
    lines = [f"| row | {head} | reference (preset {', '.join(ref_presets)}, mean ± sd) | reference seeds |",
             "|---|---:|---:|---:|"]
    for e in seed_summary(reference):
        yours = f"{mine[e['name']]['accuracy']:.4f}" if e["name"] in mine else "not run here"
        lines.append(f"| {e['name']} | {yours} | {e['mean']:.4f} ± {e['sd']:.4f} | {e['n']} |")
    return "\n".join(lines)


EXPECTATIONS = {
    "smoke": "At the `smoke` preset (tiny students, a few hundred steps, seconds per row) your numbers are noise: "
             "they show that the code runs, not what the method does. The reference is three seeds at `cpu`.",
    "cpu": "At the `cpu` preset your run is one more seed of the reference's recipe: expect each row within about "
           "two of its sds of the reference mean (the teacher is the same cached model: the same accuracy).",
    "gpu-full": "At the `gpu-full` preset (BERT-base, all of SST-2, the papers' recipes) your run is far larger than "
                "the reference: expect every row well above it, and the gaps between rows to change.",
}


def expectation(preset_name: str) -> str:
    """One sentence on what a learner's run at ``preset_name`` can show next to the ``cpu`` reference."""
    return EXPECTATIONS.get(preset_name, f"Preset `{preset_name}` is not one the reference was measured "
                                         "with: compare the order of the rows, not their values.")


def _unmeasured(preset_name: str, at_smoke: str) -> str | None:
    """What an estimate says at a preset the reference did not time (``at_smoke`` at ``smoke``); None at ``cpu``."""
    if preset_name == "smoke":
        return f"At `smoke` {at_smoke}."
    if preset_name != "cpu":
        return f"No reference time for preset `{preset_name}`: the reference was measured at `cpu` on 2 CPU cores."
    return None


def training_estimate(preset_name: str, rows: tuple[str, ...], reference: str = "cpu") -> str:
    """One sentence, to print before a cell trains ``rows``: how long they took in the reference run when nothing
    was cached (the sum of their seed-0 training times, a general TinyBERT and the teachers counted once), or,
    for a preset the reference was not measured at, that no time is known.

    Rows already in a run folder or in the row cache are only measured, so the real wait is often shorter.
    """
    if unmeasured := _unmeasured(preset_name, "every row trains in seconds; the whole cell in a few minutes at most"):
        return unmeasured
    table = json.loads((reference_results(reference) / "results.json").read_text())["rows"]
    ran = {r["name"]: r for r in table if r.get("seed") in (0, None) and r["name"] in rows}
    students = [n for n in rows if n != "teacher"]
    seconds = sum(ran[n].get("train_seconds", 0.0) - ran[n].get("general_seconds", 0.0) for n in students if n in ran)
    seconds += max((r.get("general_seconds", 0.0) for r in ran.values()), default=0.0)       # one general TinyBERT
    seconds += max((r.get("mlm_teacher_seconds", 0.0) for r in ran.values()), default=0.0)   # one MLM teacher
    seconds += next((r["train_seconds"] for r in table if r["name"] == "teacher"), 0.0)
    minutes = "about a minute" if seconds < 90 else f"about {round(seconds / 60):,} minutes"
    unknown = [n for n in students if n not in ran]
    return (f"This cell trains {len(students)} row{'s' * (len(students) != 1)}: in the reference run at `cpu` "
            f"(2 CPU cores) that took {minutes} with nothing cached"
            + (f" (no reference time for {', '.join(unknown)})" if unknown else "")
            + "; a teacher or row already cached is only measured, in seconds.")


def mlm_teacher_estimate(preset_name: str, reference: str = "cpu") -> str:
    """One sentence, to print before :func:`kd_teach.engine.cache.mlm_teacher` runs: how long preparing the
    masked-LM teacher took in the reference run (a row's ``mlm_teacher_seconds``), or, for a preset the
    reference was not measured at, that no time is known. Once cached it loads in seconds."""
    if unmeasured := _unmeasured(preset_name, "the MLM teacher trains in seconds, once; then it is cached"):
        return unmeasured
    table = json.loads((reference_results(reference) / "results.json").read_text())["rows"]
    seconds = max((r.get("mlm_teacher_seconds") or 0.0 for r in table), default=0.0)
    if not seconds:
        return f"No reference time for the MLM teacher in results/{reference}/."
    return (f"Preparing the MLM teacher took about {round(seconds / 60):,} minutes in the reference run at `cpu` "
            f"(2 CPU cores); once cached (kd-teach prepare-teacher mlm) it loads in seconds.")
