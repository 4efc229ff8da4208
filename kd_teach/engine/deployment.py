"""A run's deployment table: its saved rows served in every runtime, and the course's frontier goal.

``kd-teach deploy RUN_DIR --rows teacher,distilbert-1layer`` (and notebook 09) takes every saved
model of the named rows, every seed that ``RUN_DIR/results.json`` holds, serves each in every
runtime of :data:`kd_teach.engine.deploy.RUNTIMES` and measures it as the results table measures
its rows (the parts of :func:`kd_teach.engine.deploy.measure_deployed`). All of it runs in one
process, and each student is timed right after the teacher in the same runtime, so every
speed-up is against the teacher measured in the same run, in the same runtime, minutes apart
at most.

The goal (:data:`GOAL`): a student that keeps at least 95% of the teacher's dev accuracy at
batch-1 latency at least 5x lower. It is *met* only when the whole 95% interval of the share (the
paired bootstrap over dev sentences and seeds, :func:`kd_teach.engine.significance.share_interval`)
is at or above 95%, and the mean batch-1 speed-up over seeds is at least 5x: a mean share a few
tenths of a point above the line, on 872 sentences, is inside the noise. TinyBERT's paper reports 96.8% of BERT-base's GLUE score at 9.4x its
speed (Jiao et al. 2020, Table 1, on its own hardware).
"""
from __future__ import annotations

import datetime
import os
import statistics
import tempfile
from pathlib import Path

from transformers import AutoModelForSequenceClassification, AutoTokenizer

from kd_teach.engine.data import SST2Data
from kd_teach.engine.deploy import RUNTIMES, check_runtime, deploy
from kd_teach.engine.evaluate import latency_ms_per_sentence, scored_predictions
from kd_teach.engine.model_folder import model_dir
from kd_teach.engine.models import count_parameters
from kd_teach.engine.plot_labels import label_points
from kd_teach.engine.presets import Preset
from kd_teach.engine.report import load_results, machine_info, write_json
from kd_teach.engine.significance import correctness, decode_labels, encode_predictions, share_interval

GOAL = {"share_of_teacher": 0.95, "speedup_b1": 5.0}  # at least 95% of the teacher at at least 5x lower b1 latency
DEPLOYMENT_FILE = "deployment.json"
LATENCY_SENTENCES = 64  # the first dev sentences, timed as the results table times them


def _load(out: Path, row: dict):
    """The saved model of ``row`` (a run's ``models/<name>[-seed<N>]``), in eval mode."""
    folder = model_dir(out, row["name"], row.get("seed"))
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"no saved model at {folder}: run the row again (kd-teach run sst2 --rows "
                                f"{row['name']} --force)")
    return AutoModelForSequenceClassification.from_pretrained(folder).eval()


def deploy_run(out: str | Path, names: tuple[str, ...], preset: Preset, runtimes: tuple[str, ...] = RUNTIMES,
               repeats: int = 20, data_seed: int = 0, log=print) -> dict:
    """Serve the saved models of ``names`` (every seed in ``out/results.json``) in each runtime; measure each.

    Accuracy, size and latency are measured as the results table measures a row
    (:func:`kd_teach.engine.deploy.measure_deployed`'s parts). Each student's latency is taken right after
    the teacher's, in the same runtime, and its speed-ups divide the two: on a shared machine the CPU's
    speed drifts over minutes (the same teacher's ONNX int8 batch-1 latency was 2.0 ms in one run, 3.4 ms
    in the next), and a ratio of two timings taken together cancels most of the drift. The teacher's row
    holds the mean of its timings.

    Args:
        out: a run folder written by :func:`kd_teach.engine.pipeline.run_sst2` (``results.json``, ``models/``).
        names: row names; ``"teacher"`` is always added (it is the reference of every ratio).
        preset: gives the dev set's size and truncation and the eval batch size.
        runtimes: a subset of :data:`RUNTIMES`.
        repeats: timed passes per batch size, the median taken (the results table's ``cpu`` preset takes 5:
            ONNX Runtime's sub-millisecond batch-1 latencies moved by up to 30% between two runs at 5).
        data_seed: the run's data seed (the pipeline's ``DATA_SEED``); only dev is read.
    Returns:
        The table as written to ``out/deployment.json``: ``rows`` (one per name, seed and runtime, in that
        order, each with its ``predictions`` on dev), ``preset``, ``date``, ``machine``, ``dev_labels``. A student row's ``speedup`` (batch 32) and ``speedup_b1``
        divide the teacher's latency taken just before it in the same runtime (``teacher_latency_ms_b1``,
        ``teacher_latency_ms_b32``) by its own; its ``share_of_teacher`` is against the teacher in
        ``runtimes[0]`` (``"torch"``: the teacher as trained), the stricter reading when int8 costs the
        teacher accuracy too.
    Raises:
        ValueError: for an unknown runtime, or a row ``out/results.json`` does not hold at ``preset``.
        FileNotFoundError: when a row's model folder is missing (a run from before models were saved).
    """
    for runtime in runtimes:
        check_runtime(runtime)
    out = Path(out)
    stored = [r for r in load_results(out / "results.json")["rows"] if r.get("preset") == preset.name]
    names = ("teacher",) + tuple(n for n in names if n != "teacher")
    missing = [n for n in names if not any(r["name"] == n for r in stored)]
    if missing:
        raise ValueError(f"names {missing} are not rows of {out / 'results.json'} at preset {preset.name} (it holds "
                         f"{sorted({r['name'] for r in stored})}): run them first (kd-teach run sst2 --rows ...)")
    tokenizer = AutoTokenizer.from_pretrained(model_dir(out, "teacher"))
    data = SST2Data.from_preset(tokenizer, preset, seed=data_seed)
    loader, sample = data.dev_loader(preset.eval_batch_size), data.dev_sentences[:LATENCY_SENTENCES]
    teacher_row = next(r for r in stored if r["name"] == "teacher")
    students = [r for r in stored if r["name"] in names and r["name"] != "teacher"]
    teacher_model, models = _load(out, teacher_row), {id(r): _load(out, r) for r in students}

    def measured(runner, model, size: float) -> dict:  # a row's accuracy, predictions, size, parameters, as evaluate's
        acc, predictions = scored_predictions(runner, loader, device="cpu")
        return {"accuracy": acc, "predictions": predictions, "dev_sentences": len(loader.dataset),
                "params": count_parameters(model), "size_mb": size}

    def latencies(runner) -> dict[int, float]:  # ms per sentence at batch 1 and 32
        return {b: latency_ms_per_sentence(runner, tokenizer, sample, b, repeats) for b in (1, 32)}

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for runtime in runtimes:
            teacher, teacher_size = deploy(teacher_model, tokenizer, runtime, Path(tmp) / "teacher" / runtime)
            timings = [] if students else [latencies(teacher)]  # the teacher's, each taken just before a student's
            for r in students:
                timings.append(t_ms := latencies(teacher))
                runner, size = deploy(models[id(r)], tokenizer, runtime, Path(tmp) / f"{r['name']}-{r.get('seed')}")
                s_ms = latencies(runner)
                rows.append({"name": r["name"], "seed": r.get("seed"), "runtime": runtime,
                             **measured(runner, models[id(r)], size),
                             "latency_ms_b1": s_ms[1], "latency_ms_b32": s_ms[32],
                             "teacher_latency_ms_b1": t_ms[1], "teacher_latency_ms_b32": t_ms[32],
                             "speedup_b1": t_ms[1] / s_ms[1], "speedup": t_ms[32] / s_ms[32]})
                log(f"{r['name']} (seed {r.get('seed')}) as {runtime}: dev accuracy {rows[-1]['accuracy']:.4f}, "
                    f"batch-1 latency {s_ms[1]:.2f} ms, the teacher's just before {t_ms[1]:.2f} ms")
            rows.append({"name": "teacher", "seed": teacher_row.get("seed"), "runtime": runtime,
                         **measured(teacher, teacher_model, teacher_size),
                         "latency_ms_b1": statistics.fmean(t[1] for t in timings),
                         "latency_ms_b32": statistics.fmean(t[32] for t in timings), "speedup_b1": 1.0, "speedup": 1.0})
    rows.sort(key=lambda r: (names.index(r["name"]), r.get("seed") or 0, runtimes.index(r["runtime"])))
    as_trained = next(r for r in rows if r["name"] == "teacher" and r["runtime"] == runtimes[0])["accuracy"]
    rows = [{**r, "share_of_teacher": r["accuracy"] / as_trained} for r in rows]   # see the docstring
    table = {"rows": rows, "preset": preset.name, "date": datetime.date.today().isoformat(),
             "machine": machine_info(), "runtimes": list(runtimes), "latency_repeats": repeats,
             "dev_labels": encode_predictions(data.dev_raw["label"])}
    write_json(out / DEPLOYMENT_FILE, table)
    return table


def provenance(table: dict) -> str:
    """One line on where a deployment table was measured: preset, date, cores, threads, torch, the students' seeds."""
    m = table["machine"]
    seeds = sorted({r["seed"] for r in table["rows"] if r["name"] != "teacher"})
    return (f"preset {table['preset']}; measured {table['date']} on {m['cpus']} CPU cores ({m['torch_threads']} "
            f"threads), torch {m['torch']}; seeds {', '.join(map(str, seeds))}")


def deployment_summary(rows: list[dict], labels) -> list[dict]:
    """One entry per (name, runtime), in first-seen order: means over seeds, the share of the teacher with its 95%
    interval, and whether it meets :data:`GOAL`.

    Args:
        rows: ``deployment.json``'s rows (with the ratios and predictions of :func:`deploy_run`).
        labels: the dev labels their predictions are scored against (``deployment.json``'s ``dev_labels``).
    Returns:
        ``[{"name", "runtime", "n", "accuracy", "sd", "share_of_teacher", "share_low", "share_high", "size_mb",
        "latency_ms_b1", "latency_ms_b32", "speedup_b1", "speedup_b1_sd", "speedup", "meets_goal"}]``:
        ``share_low``/``share_high`` bound the share's 95% interval against the teacher as trained (torch), by the
        paired bootstrap over dev sentences and seeds; ``meets_goal`` when ``share_low`` >= 95% and the mean
        batch-1 speed-up >= 5x. ``sd`` (of accuracy) and ``speedup_b1_sd`` are sample sds over seeds (0.0 for one
        seed): each seed is timed apart, so the second shows how much the timing moves.
    Raises:
        ValueError: when a row has no predictions (a table measured before they were kept: deploy again).
    """
    y = decode_labels(labels, "deployment table (deployment.json's 'dev_labels')")
    teacher = [r for r in rows if r["name"] == "teacher" and r["runtime"] == RUNTIMES[0]] or \
        [r for r in rows if r["name"] == "teacher"][:1]
    correct_teacher = correctness(teacher[:1], y)[0]                                   # (sentences,)
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["name"], r["runtime"]), []).append(r)
    out = []
    for (name, runtime), rs in groups.items():
        mean = {k: statistics.fmean(r[k] for r in rs) for k in ("accuracy", "size_mb", "latency_ms_b1",
                                                                 "latency_ms_b32", "speedup_b1", "speedup")}
        share = share_interval(correctness(rs, y), correct_teacher)
        acc, b1 = [r["accuracy"] for r in rs], [r["speedup_b1"] for r in rs]
        out.append({"name": name, "runtime": runtime, "n": len(rs), **mean, "share_of_teacher": share.value,
                    "share_low": share.low, "share_high": share.high,
                    "sd": statistics.stdev(acc) if len(acc) > 1 else 0.0,
                    "speedup_b1_sd": statistics.stdev(b1) if len(b1) > 1 else 0.0,
                    "meets_goal": share.low >= GOAL["share_of_teacher"] and mean["speedup_b1"] >= GOAL["speedup_b1"]})
    return out


def goal_verdict(entry: dict) -> str:
    """A :func:`deployment_summary` entry's standing against :data:`GOAL`, in words (empty for the teacher)."""
    if entry["name"] == "teacher":
        return ""
    if entry["speedup_b1"] < GOAL["speedup_b1"]:   # two decimals: 4.98x must not read as the 5.0x it misses
        return f"not met: b1 speed-up {entry['speedup_b1']:.2f}x, under {GOAL['speedup_b1']:g}x"
    if entry["meets_goal"]:
        return f"met: the whole interval is at or above {GOAL['share_of_teacher']:.0%}"
    if entry["share_of_teacher"] >= GOAL["share_of_teacher"]:
        return f"not met: the interval reaches below {GOAL['share_of_teacher']:.0%}"
    return f"not met: below {GOAL['share_of_teacher']:.0%}"


def deployment_table(rows: list[dict], labels) -> str:
    """Markdown: each row in each runtime, mean over its seeds, its share of the teacher with the 95% interval, its
    speed-ups against the teacher in that runtime (b1: mean ± sd over seeds) and its standing against :data:`GOAL`."""
    lines = ["| row | runtime | seeds | dev acc (mean ± sd) | % of teacher [95% interval] | size (MB) | ms/sent b1 | "
             "ms/sent b32 | b1 speed-up | b32 speed-up | goal |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for e in deployment_summary(rows, labels):
        lines.append(f"| {e['name']} | {e['runtime']} | {e['n']} | {e['accuracy']:.4f} ± {e['sd']:.4f} | "
                     f"{e['share_of_teacher']:.1%} [{e['share_low']:.1%}, {e['share_high']:.1%}] | "
                     f"{e['size_mb']:.1f} | {e['latency_ms_b1']:.2f} | {e['latency_ms_b32']:.2f} | "
                     f"{e['speedup_b1']:.1f}x" + (f" ± {e['speedup_b1_sd']:.1f}" if e["n"] > 1 else "")
                     + f" | {e['speedup']:.1f}x | {goal_verdict(e)} |")
    return "\n".join(lines)


def plot_frontier(rows: list[dict], labels, reference: list[dict] | None = None,
                  path: str | os.PathLike | None = None, caption: str = ""):
    """Share of the teacher's accuracy against batch-1 speed-up over the teacher, the goal's corner shaded.

    Args:
        rows: ``deployment.json``'s rows: one point per (name, runtime), mean over seeds, its colour the
            runtime; vertical bars the share's 95% interval (:func:`deployment_summary`), horizontal bars the
            speed-up's sd over seeds; the teacher's points (squares) are at 1x by definition. One student:
            each point is labelled with its runtime; several: each student has its own marker, in the legend.
        labels: ``deployment.json``'s ``dev_labels``.
        caption: a second title line: where it was measured, the preset and seeds (:func:`provenance`).
        reference: results-table rows (torch, their own run's teacher) drawn as grey points, mean over seeds.
        path: saves a PNG there when given.
    Returns:
        The matplotlib figure.
    """
    from matplotlib.figure import Figure  # no pyplot: works in scripts and notebooks alike

    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    ax.fill_between([GOAL["speedup_b1"], 100], 100 * GOAL["share_of_teacher"], 101, color="tab:green", alpha=0.12,
                    label=f"goal: ≥ {GOAL['share_of_teacher']:.0%} of the teacher at ≥ {GOAL['speedup_b1']:g}x")
    tags = []   # (x, y, text, colour): the points' names, placed apart once everything is drawn
    if reference:
        points = []
        for name in dict.fromkeys(r["name"] for r in reference if r["name"] != "teacher"):
            rs = [r for r in reference if r["name"] == name]
            points.append((100 * statistics.fmean(r["share_of_teacher"] for r in rs),
                           statistics.fmean(r["speedup_b1"] for r in rs), name))
        for y, x, name in points:
            ax.scatter(x, y, color="tab:gray", s=25)
            tags.append((x, y, name, "tab:gray"))
    colours = dict(zip(RUNTIMES, ("tab:blue", "tab:orange", "tab:purple", "tab:red")))
    summary = deployment_summary(rows, labels)
    students = list(dict.fromkeys(e["name"] for e in summary if e["name"] != "teacher"))
    markers = dict(zip(students, "o^Dv<>ph"))   # several students: told apart by marker (12 labels would smear)
    for e in (e for e in summary if e["name"] != "teacher"):
        y = 100 * e["share_of_teacher"]
        ax.errorbar(e["speedup_b1"], y, xerr=e["speedup_b1_sd"], fmt=markers.get(e["name"], "o"),
                    color=colours[e["runtime"]], capsize=2, yerr=[[y - 100 * e["share_low"]], [100 * e["share_high"] - y]])
        if len(students) == 1:
            tags.append((e["speedup_b1"], y, e["runtime"], colours[e["runtime"]]))
    for e in (e for e in summary if e["name"] == "teacher"):   # at 1x by definition; int8 may cost it accuracy
        ax.scatter(e["speedup_b1"], 100 * e["share_of_teacher"], marker="s", color=colours[e["runtime"]], zorder=3,
                   clip_on=False)
    tags.append((1, 100, "teacher", "black"))
    for runtime, colour in colours.items():
        ax.scatter([], [], color=colour, label=runtime)
    if len(students) > 1:
        for name, marker in markers.items():
            ax.scatter([], [], color="black", marker=marker, label=name)
    top = max([e["speedup_b1"] + e["speedup_b1_sd"] for e in summary] + [GOAL["speedup_b1"]]) * 1.2
    ax.set_xlim(0, top)
    ax.set_ylim(min([60.0] + [100 * e["share_low"] - 2 for e in summary]), 103)
    ax.set_xlabel("batch-1 speed-up over the teacher in the same runtime (x; bars: sd over seeds)")
    ax.set_ylabel("% of the teacher's dev accuracy (bars: 95% interval)")
    ax.legend(loc="lower right", fontsize=7)
    ax.set_title(f"{', '.join(students)} served four ways,\neach against the teacher served the same way"
                 + (" (grey: the results table, torch)" if reference else "") + (f"\n{caption}" if caption else ""),
                 fontsize=9)
    ax.grid(alpha=0.3)
    label_points(ax, tags)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def write_deployment_report(out: str | Path, table: dict, reference: list[dict] | None = None) -> str:
    """Write ``out/deployment.md`` (provenance and :func:`deployment_table`) and ``out/frontier.png``
    (:func:`plot_frontier`, ``reference`` rows in grey) from a deployment table; return the table's Markdown."""
    out = Path(out)
    text = deployment_table(table["rows"], table["dev_labels"])
    (out / "deployment.md").write_text(f"{provenance(table)}\n\n{text}\n")
    plot_frontier(table["rows"], table["dev_labels"], reference, out / "frontier.png", provenance(table))
    return text
