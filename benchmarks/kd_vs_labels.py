"""When does distillation pay? Hinton-KD's gain over the baseline against the number of labelled sentences.

    python benchmarks/kd_vs_labels.py [--budgets 500,2000,8000,16000] [--seeds 0,1,2] [--out results/cpu-labels]
                                      [--report-only]

Hinton et al. (2015), Section 2: a student can learn from a *transfer set* the teacher labels.
For each label budget n (:func:`kd_teach.engine.presets.label_budget`) the teacher is fine-tuned on
the n labelled sentences; the baseline trains on them alone; the Hinton-KD student on them plus
unlabelled SST-2 sentences, compute-matched (about 1,008 optimiser steps each, same student,
initialisation and schedule). Each budget is one ``run_sst2`` into ``OUT/n<budget>``
(``results/cpu`` for the cpu preset's own budget, 2,000), so an interrupted sweep resumes:
rows stored for a seed are skipped. Prints the table (teacher, baseline and KD as mean ± sd over
seeds; the gain, KD - baseline, with its 95% paired-bootstrap interval over dev sentences and seeds,
:func:`kd_teach.engine.verdicts.compare`) and writes ``OUT/kd_vs_labels.{json,md,png}``.
``--report-only`` rebuilds them from the stored runs without training or measuring anything.
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
from kd_teach.engine.report import label_curve_figure, load_results, machine_info
from kd_teach.engine.verdicts import compare, verdict


def budget_dir(out: Path, n: int) -> Path:
    """Where the runs of budget ``n`` live: ``results/cpu`` for the cpu preset's own budget."""
    return Path("results/cpu") if label_budget(n) == get_preset("cpu") else out / f"n{n}"


def point(n: int, rows: list[dict], seeds: list[int], labels: str) -> dict:
    """One point of the curve: the teacher's accuracy, the baseline's and KD's for each seed, and the gain
    (KD - baseline) with its 95% paired interval and verdict."""
    acc = {(r["name"], r["seed"]): r["accuracy"] for r in rows}
    preset = label_budget(n)
    gain = compare([r for r in rows if r.get("seed") in seeds], "hinton-kd", "baseline", labels)
    return {"n": n, "transfer": preset.transfer_size, "teacher_epochs": preset.teacher_epochs,
            "student_epochs": preset.student_epochs, "seeds": seeds,
            "teacher": next(r["accuracy"] for r in rows if r["name"] == "teacher"),
            "baseline": [acc["baseline", s] for s in seeds], "hinton-kd": [acc["hinton-kd", s] for s in seeds],
            "gain": gain["mean_diff"], "gain_interval": [gain["low"], gain["high"]], "verdict": verdict(gain)}


def ms(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4f} ± {sd:.4f}"


def table(points: list[dict]) -> str:
    lines = ["| labelled sentences | transfer sentences | teacher | baseline | hinton-kd | gain, points [95% interval] | "
             "verdict |", "|---|---|---|---|---|---|---|"]
    for p in points:
        low, high = p["gain_interval"]
        lines.append(f"| {p['n']:,} | {p['transfer']:,} | {p['teacher']:.4f} | {ms(p['baseline'])} | "
                     f"{ms(p['hinton-kd'])} | {100 * p['gain']:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}] | "
                     f"{p['verdict']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="500,2000,8000,16000")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", default="results/cpu-labels")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild the table, record and plot from the stored runs; train and measure nothing")
    args = parser.parse_args()
    budgets, seeds, out = [int(n) for n in args.budgets.split(",")], [int(s) for s in args.seeds.split(",")], Path(args.out)

    points = []
    for n in budgets:
        table_n = load_results(budget_dir(out, n) / "results.json") if args.report_only else \
            run_sst2(label_budget(n), budget_dir(out, n), seeds, rows="spine")
        points.append(point(n, table_n["rows"], seeds, table_n["dev_labels"]))
    text = table(points)
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:   # the runs' own date and machine stay in their results.json files
        record = json.loads((out / "kd_vs_labels.json").read_text()) if (out / "kd_vs_labels.json").is_file() else {}
        record.update(points=points, reported=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    else:
        record = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info(),
                  "command": "python benchmarks/kd_vs_labels.py " + " ".join(f"--{k} {v}" for k, v in
                                                                           vars(args).items() if k != "report_only"),
                  "points": points}
    (out / "kd_vs_labels.json").write_text(json.dumps(record, indent=1) + "\n")
    (out / "kd_vs_labels.md").write_text(text + "\n")
    label_curve_figure(points, out / "kd_vs_labels.png")


if __name__ == "__main__":
    main()
