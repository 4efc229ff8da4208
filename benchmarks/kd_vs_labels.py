"""When does distillation pay? Hinton-KD's gain over the baseline against the number of labelled sentences.

    python benchmarks/kd_vs_labels.py [--budgets 500,2000,8000,16000] [--seeds 0,1,2] [--out results/cpu-labels]

Hinton et al. (2015), Section 2: a student can learn from a *transfer set* the teacher labels.
For each label budget n (:func:`kd_teach.engine.presets.label_budget`) the teacher is fine-tuned on
the n labelled sentences; the baseline trains on them alone; the Hinton-KD student on them plus
unlabelled SST-2 sentences, compute-matched (about 1,008 optimiser steps each, same student,
initialisation and schedule). Each budget is one ``run_sst2`` into ``OUT/n<budget>``
(``results/cpu`` for the cpu preset's own budget, 2,000), so an interrupted sweep resumes:
rows stored for a seed are skipped. Prints the table (teacher, baseline, KD and the gain,
KD - baseline per seed, each as mean ± sd) and writes ``OUT/kd_vs_labels.{json,md,png}``.
Needs the SST-2 folder. About 20 minutes per budget and 3 seeds on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import json
import statistics
from datetime import datetime, timezone
from pathlib import Path

from kd_teach.engine.pipeline import run_sst2
from kd_teach.engine.presets import get_preset, label_budget
from kd_teach.engine.report import label_curve_figure, machine_info


def budget_dir(out: Path, n: int) -> Path:
    """Where the runs of budget ``n`` live: ``results/cpu`` for the cpu preset's own budget."""
    return Path("results/cpu") if label_budget(n) == get_preset("cpu") else out / f"n{n}"


def point(n: int, rows: list[dict], seeds: list[int]) -> dict:
    """One point of the curve: the teacher's accuracy, and the baseline's and KD's for each seed."""
    acc = {(r["name"], r["seed"]): r["accuracy"] for r in rows}
    preset = label_budget(n)
    return {"n": n, "transfer": preset.transfer_size, "teacher_epochs": preset.teacher_epochs,
            "student_epochs": preset.student_epochs, "seeds": seeds,
            "teacher": next(r["accuracy"] for r in rows if r["name"] == "teacher"),
            "baseline": [acc["baseline", s] for s in seeds], "hinton-kd": [acc["hinton-kd", s] for s in seeds]}


def ms(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4f} ± {sd:.4f}"


def table(points: list[dict]) -> str:
    lines = ["| labelled sentences | transfer sentences | teacher | baseline | hinton-kd | gain (KD - baseline) | "
             "KD ahead in |", "|---|---|---|---|---|---|---|"]
    for p in points:
        gain = [k - b for k, b in zip(p["hinton-kd"], p["baseline"])]
        lines.append(f"| {p['n']:,} | {p['transfer']:,} | {p['teacher']:.4f} | {ms(p['baseline'])} | "
                     f"{ms(p['hinton-kd'])} | {ms(gain)} | {sum(g > 0 for g in gain)} of {len(gain)} seeds |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="500,2000,8000,16000")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", default="results/cpu-labels")
    args = parser.parse_args()
    budgets, seeds, out = [int(n) for n in args.budgets.split(",")], [int(s) for s in args.seeds.split(",")], Path(args.out)

    points = []
    for n in budgets:
        rows = run_sst2(label_budget(n), budget_dir(out, n), seeds, rows="spine")["rows"]
        points.append(point(n, rows, seeds))
    text = table(points)
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    record = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info(),
              "command": "python benchmarks/kd_vs_labels.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items()),
              "points": points}
    (out / "kd_vs_labels.json").write_text(json.dumps(record, indent=1) + "\n")
    (out / "kd_vs_labels.md").write_text(text + "\n")
    label_curve_figure(points, out / "kd_vs_labels.png")


if __name__ == "__main__":
    main()
