"""The results table: one JSON file that every chapter adds rows to, shown as Markdown and a plot.

``DIR/results.json`` is ``{"rows": [{"name", "accuracy", "params", "size_mb", "latency_ms_b1",
"latency_ms_b32", "speedup", "train_seconds", ...}], "machine": {...}}``. Rows are replaced
by name, so re-running a chapter updates its rows and keeps the others.
"""
from __future__ import annotations

import json
import os
import platform
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


def machine_info() -> dict:
    """Where the numbers were measured."""
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


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


def upsert_rows(path: str | os.PathLike, new_rows: list[dict], **meta) -> dict:
    """Replace rows of the same name in place (or append), recompute ratios, write atomically; return it."""
    path = Path(path)
    table = load_results(path)
    fresh = {r["name"]: r for r in new_rows}
    rows = [fresh.pop(r["name"], r) for r in table["rows"]] + [r for r in new_rows if r["name"] in fresh]
    table.update(meta, rows=with_teacher_ratios(rows), machine=machine_info())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(table, indent=1))
    os.replace(tmp, path)
    return table


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


def plot_results(rows: list[dict], path: str | os.PathLike | None = None):
    """Accuracy against parameters and against latency (batch 32), one labelled point per row.

    Saves a PNG at ``path`` when given; returns the matplotlib figure.
    """
    from matplotlib.figure import Figure  # no pyplot: works in scripts and notebooks alike

    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, key, label in ((axes[0], "params", "parameters (millions)"),
                           (axes[1], "latency_ms_b32", "CPU latency, ms per sentence at batch 32")):
        for row in rows:
            x = row[key] / 1e6 if key == "params" else row[key]
            ax.scatter(x, row["accuracy"], s=60)
            ax.annotate(row["name"], (x, row["accuracy"]), textcoords="offset points", xytext=(5, 5))
        ax.set_xlabel(label)
        ax.set_ylabel("SST-2 dev accuracy")
        ax.grid(alpha=0.3)
    fig.suptitle("SST-2: accuracy against size and speed")
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def leaderboard(rows: list[dict]) -> list[dict]:
    """The rows from the most to the least accurate (the teacher among them)."""
    return sorted(rows, key=lambda r: -r["accuracy"])


# What the papers report at full scale, SST-2 (BERT-base teachers): accuracies in %, and how many
# times smaller (parameters) and faster (inference) the student is than its teacher.
PAPERS = [
    {"row": "distilbert", "paper": "DistilBERT (Sanh et al. 2019, Table 1; 40% smaller, 60% faster)",
     "student": 91.3, "teacher": 92.7, "smaller": 110 / 66, "faster": 1.6},
    {"row": "tinybert-aug", "paper": "TinyBERT4 (Jiao et al. 2020, Table 1)",
     "student": 92.6, "teacher": 93.4, "smaller": 7.5, "faster": 9.4},
]


def paper_comparison(rows: list[dict]) -> str:
    """A Markdown table: each paper's SST-2 result next to this run's row of the same method.

    This run's "x smaller" is the teacher's parameters over the row's; "x faster" is the row's
    batch-32 speed-up over the teacher (``speedup``). Rows missing from ``rows`` are left blank.
    """
    by_name = {r["name"]: r for r in rows}
    teacher = by_name.get("teacher")
    lines = ["| method | paper: student / teacher | share | x smaller | x faster | "
             "this run: row | student / teacher | share | x smaller | x faster |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for p in PAPERS:
        ours = by_name.get(p["row"])
        cells = [p["paper"], f"{p['student']:.1f} / {p['teacher']:.1f}", f"{p['student'] / p['teacher']:.1%}",
                 f"{p['smaller']:.1f}x", f"{p['faster']:.1f}x", f"`{p['row']}`"]
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
