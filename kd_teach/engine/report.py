"""The results table: one JSON file that every chapter adds rows to, shown as Markdown and a plot.

``DIR/results.json`` is ``{"rows": [{"name", "seed", "accuracy", "params", "size_mb", "latency_ms_b1",
"latency_ms_b32", "speedup", "train_seconds", ...}], "machine": {...}}`` (``size_mb``: the model's weight files
in MB, not the tokenizer or card saved beside them; latencies: CPU, ms per sentence). A row is replaced by
name and seed, so re-running a chapter updates its rows and keeps the others, and a run over
several seeds (``kd-teach run sst2 --seeds 0,1,2``) keeps one row per seed:
:func:`seed_summary` and :func:`seed_table` give their mean and standard deviation.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
from pathlib import Path

import torch

COLUMNS = [  # (key, header, format)
    ("name", "row", "{}"),
    ("accuracy", "dev acc", "{:.4f}"),
    ("share_of_teacher", "% of teacher", "{:.1%}"),
    ("params", "params (M)", None),
    ("size_mb", "size (MB)", "{:.1f}"),
    ("latency_ms_b1", "ms/sent b1", "{:.2f}"),
    ("latency_ms_b32", "ms/sent b32", "{:.2f}"),
    ("speedup", "speed-up", "{:.1f}x"),
    ("train_seconds", "train (s)", "{:.0f}"),
]


def reference_results(name: str) -> Path:
    """``results/<name>/`` of the course's repository: reference runs committed as data (e.g. ``"cpu"``,
    ``"cpu-labels"``), which the README and the notebooks quote.

    Raises:
        FileNotFoundError: when the package is not run from a checkout of the course (``pip install -e .``).
    """
    folder = Path(__file__).resolve().parents[2] / "results" / name
    if not folder.is_dir():
        raise FileNotFoundError(f"no reference results at {folder}: they live in the course's repository "
                                "(git clone it and `pip install -e .`, or `make setup`)")
    return folder


INT8_FLAGS = ("avx512_vnni", "avx_vnni", "avx512f", "avx2")  # CPU flags that decide torch's int8 kernels, best first


def cpu_model(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> tuple[str | None, str | None]:
    """The CPU's model name and the best of :data:`INT8_FLAGS` it has, read from ``cpuinfo`` (Linux's; None, None
    where there is no such file).

    Recorded because int8 results may depend on it: the same teacher and code read 0.8245 in torch's dynamic int8 on
    2026-12-07 and 0.8337 (no loss) on 2026-12-08 on an AMD EPYC with AVX-512 VNNI; the first CPU was not recorded.
    """
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return None, None
    fields = {}
    for key, _, value in (line.partition(":") for line in text.splitlines()):
        fields.setdefault(key.strip(), value.strip())                      # the first core's
    model, flags = fields.get("model name") or None, set(fields.get("flags", "").split())
    return model, next((f for f in INT8_FLAGS if f in flags), None)


def machine_info() -> dict:
    """Where the numbers were measured: platform, CPU model and its best int8 instruction set
    (:func:`cpu_model`), cores, torch threads and version, GPU."""
    model, int8 = cpu_model()
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_model": model, "cpu_int8": int8,
            "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def run_label(preset_name: str) -> str:
    """One line that labels what a notebook shows: the preset, today's date and this machine.

    E.g. ``"preset cpu; run 2026-12-04 on 2 CPU cores, torch 2.13.0+cpu"``.
    """
    m = machine_info()
    where = f"a {m['cuda']} GPU" if m["cuda"] else f"{m['cpus']} CPU cores"
    return f"preset {preset_name}; run {datetime.date.today().isoformat()} on {where}, torch {m['torch']}"


def load_results(path: str | os.PathLike) -> dict:
    """The results file at ``path``, or an empty table."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else {"rows": []}


def with_teacher_ratios(rows: list[dict]) -> list[dict]:
    """Add ``share_of_teacher`` (accuracy / teacher accuracy) and ``speedup`` (teacher latency at
    batch 32 / row latency at batch 32) to every row, from the row named ``teacher``."""
    teacher = next((r for r in rows if r["name"] == "teacher"), None)
    if teacher is None:
        return rows
    return [{**r, "share_of_teacher": r["accuracy"] / teacher["accuracy"],
             "speedup": teacher["latency_ms_b32"] / r["latency_ms_b32"],
             "speedup_b1": teacher["latency_ms_b1"] / r["latency_ms_b1"]} for r in rows]


def row_key(row: dict) -> tuple[str, int | None]:
    """What identifies a row in a results table: its name and its seed."""
    return row["name"], row.get("seed")


def upsert_rows(path: str | os.PathLike, new_rows: list[dict], **meta) -> dict:
    """Replace rows of the same name and seed in place (or append), recompute ratios, write atomically; return it."""
    path = Path(path)
    table = load_results(path)
    fresh = {row_key(r): r for r in new_rows}
    rows = [fresh.pop(row_key(r), r) for r in table["rows"]] + [r for r in new_rows if row_key(r) in fresh]
    table.update(meta, rows=with_teacher_ratios(rows), machine=machine_info())
    write_json(path, table)
    return table


def write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented JSON at ``path`` atomically: a reader (or an interrupted run) never sees half a
    file, only the old one or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def markdown_table(rows: list[dict]) -> str:
    """The rows as a Markdown table with the columns of :data:`COLUMNS`."""
    lines = ["| " + " | ".join(h for _, h, _ in COLUMNS) + " |",
             "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for row in rows:
        cells = []
        for key, _, fmt in COLUMNS:
            value = row.get(key)
            if value is None:
                cells.append("")
            elif key == "params":
                cells.append(f"{value / 1e6:.1f}")
            else:
                cells.append(fmt.format(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seed_summary(rows: list[dict], key: str = "accuracy") -> list[dict]:
    """One entry per row name, in table order: ``key`` for every seed, their mean and sample sd.

    Returns:
        ``[{"name", "seeds", "values", "mean", "sd", "n"}]``; ``sd`` is the sample standard
        deviation (n - 1 in the denominator), 0.0 for a single seed.
    """
    by_name: dict[str, list[dict]] = {}
    for r in rows:
        by_name.setdefault(r["name"], []).append(r)
    out = []
    for name, group in by_name.items():
        group = sorted(group, key=lambda r: r.get("seed") or 0)
        values = [r[key] for r in group]
        out.append({"name": name, "seeds": [r.get("seed") for r in group], "values": values,
                    "mean": statistics.fmean(values), "n": len(values),
                    "sd": statistics.stdev(values) if len(values) > 1 else 0.0})
    return out


def seed_table(rows: list[dict]) -> str:
    """Dev accuracy per seed and mean ± sd per row, as Markdown (the teacher is fine-tuned once: one seed)."""
    summary = seed_summary(rows)
    seeds = sorted({s for e in summary for s in e["seeds"] if s is not None})
    lines = ["| row | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± sd |",
             "|---|" + "---|" * len(seeds) + "---|"]
    for e in summary:
        per_seed = dict(zip(e["seeds"], e["values"]))
        cells = [f"{per_seed[s]:.4f}" if s in per_seed else "" for s in seeds]
        if e["name"] == "teacher":  # one teacher for every student seed
            cells = [f"{e['values'][0]:.4f}"] * len(seeds)
        lines.append(f"| {e['name']} | " + " | ".join(cells) + f" | {e['mean']:.4f} ± {e['sd']:.4f} |")
    return "\n".join(lines)


def provenance(rows: list[dict]) -> str:
    """One line on where ``rows`` were measured: preset, seeds, dates, CPU cores or GPU, torch.

    Preset, seeds and dates are the student rows' (the teacher row is re-measured by every run).

    E.g. ``"preset cpu, seeds 0, 1, 2; measured 2026-12-03 on 2 CPU cores, torch 2.13.0+cpu"``.
    """
    students = [r for r in rows if r["name"] != "teacher"] or rows
    presets = sorted({r.get("preset", "?") for r in students})
    seeds = sorted({r["seed"] for r in students if r.get("seed") is not None})
    dates = sorted({r["date"][:10] for r in students if r.get("date")})
    machines = {(m.get("cpus"), m.get("cuda"), m.get("torch")) for m in (r.get("machine", {}) for r in rows)}
    where = "; ".join((f"{cuda} GPU" if cuda else f"{cpus} CPU cores") + f", torch {torch}"
                      for cpus, cuda, torch in sorted(machines, key=str))
    when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}" if dates else "on an unknown date"
    return f"preset {', '.join(presets)}, seeds {', '.join(map(str, seeds))}; measured {when} on {where}"


# The chapters' headline comparisons, (a, b): what a row adds over its ablation or its reference
# (each read by :func:`kd_teach.engine.verdicts.compare`).
HEADLINE_COMPARISONS = [
    ("hinton-kd", "baseline"),                # Hinton KD with a transfer set vs hard labels alone
    ("distilbert", "distilbert-init"),        # DistilBERT's pre-training distillation vs none
    ("tinybert", "hinton-kd-tinybert-shape"), # TinyBERT vs plain KD at the same size (its Table 1)
    ("tinybert", "tinybert-no-td"),           # task distillation vs fine-tuning the general student
    ("tinybert", "tinybert-no-gd"),           # TinyBERT's general distillation vs a random student
    ("tinybert", "tinybert-no-step1"),        # task distillation step 1 (intermediate layers) vs none
    ("tinybert-aug", "tinybert-same-steps"),  # augmentation vs as many steps without it
]


def label_curve_figure(points: list[dict], path: str | os.PathLike | None = None):
    """Dev accuracy against the number of labelled sentences: teacher, baseline and Hinton-KD (mean ± sd).

    Args:
        points: one dict per label budget, as in ``results/cpu-labels/kd_vs_labels.json``:
            ``{"n", "teacher", "baseline": [per seed], "hinton-kd": [per seed]}``.
        path: where to save a PNG, if given.
    Returns:
        The matplotlib figure.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    ns = [p["n"] for p in points]
    for name, style in (("baseline", "o-"), ("hinton-kd", "s-")):
        values = [p[name] for p in points]
        sds = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in values]
        ax.errorbar(ns, [statistics.fmean(v) for v in values], yerr=sds, fmt=style, capsize=3, label=name)
    ax.plot(ns, [p["teacher"] for p in points], "k--", label="teacher (fine-tuned on the same labels)")
    ax.set_xscale("log")
    ax.set_xticks(ns, [f"{n:,}" for n in ns])
    ax.set_xlabel("labelled SST-2 sentences (log scale)")
    ax.set_ylabel("SST-2 dev accuracy")
    ax.set_title("When does distillation pay? (mean ± sd over seeds)")
    ax.legend()
    ax.grid(alpha=0.3)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def run_caption(rows: list[dict]) -> str:
    """What a plot of ``rows`` was made with: "preset cpu, seed 0" or "preset cpu, seeds 0, 1, 2"."""
    presets = sorted({str(r.get("preset")) for r in rows if r.get("preset") is not None})
    seeds = sorted({int(r["seed"]) for r in rows if r.get("seed") is not None})
    return (f"preset {', '.join(presets) or 'unknown'}, seed{'s' * (len(seeds) != 1)} "
            f"{', '.join(map(str, seeds)) or 'unknown'}")


def plot_results(rows: list[dict], path: str | os.PathLike | None = None, task: str = "SST-2"):
    """Accuracy against parameters and against latency (batch 32), one labelled point per row, on ``task``'s dev set;
    the title names the rows' preset and seeds (:func:`run_caption`).

    Saves a PNG at ``path`` when given; returns the matplotlib figure.
    """
    from matplotlib.figure import Figure  # no pyplot: works in scripts and notebooks alike

    from kd_teach.engine.plot_labels import label_points

    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    points = {}
    for ax, key, label in ((axes[0], "params", "parameters (millions)"),
                           (axes[1], "latency_ms_b32", "CPU latency, ms per sentence at batch 32")):
        points[ax] = [(row[key] / 1e6 if key == "params" else row[key], row["accuracy"], row["name"]) for row in rows]
        for x, y, _ in points[ax]:
            ax.scatter(x, y, s=60)
        ax.set_xlabel(label)
        ax.set_ylabel(f"{task} dev accuracy")
        ax.grid(alpha=0.3)
        ax.margins(x=0.15, y=0.1)                       # room for the names at the edges
    fig.suptitle(f"{task}: accuracy against size and speed ({run_caption(rows)})")
    for ax, named in points.items():                    # once both panels are drawn: labels placed on the final layout
        label_points(ax, named, fontsize=8)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def leaderboard(rows: list[dict]) -> list[dict]:
    """The rows from the most to the least accurate (the teacher among them)."""
    return sorted(rows, key=lambda r: -r["accuracy"])


# What the papers report at full scale, SST-2 (BERT-base teachers): accuracies in %, the split they
# were measured on, and how many times smaller (parameters) and faster (inference) the student is.
# DistilBERT's Table 1 is GLUE's dev sets; TinyBERT's Table 1 is GLUE's test sets (the official
# server). This course measures SST-2 dev (the test labels are not public).
PAPERS = [
    {"row": "distilbert", "paper": "DistilBERT (Sanh et al. 2019, Table 1; 40% smaller, 60% faster)",
     "split": "dev", "student": 91.3, "teacher": 92.7, "smaller": 110 / 66, "faster": 1.6},
    {"row": "tinybert-aug", "paper": "TinyBERT4 (Jiao et al. 2020, Table 1)",
     "split": "test", "student": 92.6, "teacher": 93.4, "smaller": 7.5, "faster": 9.4},
]


def paper_comparison(rows: list[dict]) -> str:
    """A Markdown table: each paper's SST-2 result (and the split it was measured on) next to this run's row.

    This run's accuracies are SST-2 dev; "x smaller" is the teacher's parameters over the row's;
    "x faster" is the row's batch-32 speed-up over the teacher (``speedup``). Rows missing from
    ``rows`` are left blank.
    """
    by_name = {r["name"]: r for r in rows}
    teacher = by_name.get("teacher")
    lines = ["| method | paper: split | student / teacher | share | x smaller | x faster | "
             "this run (dev): row | student / teacher | share | x smaller | x faster |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in PAPERS:
        ours = by_name.get(p["row"])
        cells = [p["paper"], p["split"], f"{p['student']:.1f} / {p['teacher']:.1f}",
                 f"{p['student'] / p['teacher']:.1%}", f"{p['smaller']:.1f}x", f"{p['faster']:.1f}x", f"`{p['row']}`"]
        if ours is None or teacher is None:
            cells += ["not run", "", "", ""]
        else:
            cells += [f"{100 * ours['accuracy']:.1f} / {100 * teacher['accuracy']:.1f}",
                      f"{ours['accuracy'] / teacher['accuracy']:.1%}",
                      f"{teacher['params'] / ours['params']:.1f}x", f"{ours['speedup']:.1f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_curves(curves: dict[str, list[dict]], path: str | os.PathLike | None = None):
    """The training loss of every stage in ``curves`` (as in ``curves.json``), one small panel each.

    Saves a PNG at ``path`` when given; returns the matplotlib figure.
    """
    from matplotlib.figure import Figure

    names = [n for n, h in curves.items() if h]
    cols = min(4, max(1, len(names)))
    rows = -(-len(names) // cols)                                  # ceil
    fig = Figure(figsize=(3.2 * cols, 2.4 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        ax.plot([e["step"] for e in curves[name]], [e["loss"] for e in curves[name]])
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    fig.suptitle("training loss per stage")
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
