"""Where augmentation was invented to pay: TinyBERT on a small task, few labelled sentences and no unlabelled text.

    python benchmarks/small_data.py [--n 500] [--seeds 0,1,2] [--out results/cpu-small-data] [--report-only]

Jiao et al. (2020), Table 5: without data augmentation TinyBERT4 lost most on the small data sets (CoLA's
8,500 sentences: -12.1 points; MRPC's 3,700: -3.4), least on MNLI's 393,000 (-2.3). The course's main
setting has 30,256 unlabelled sentences to distil on, and there augmentation is one more source of text
among plenty. Here (:func:`kd_teach.engine.presets.small_task`) the student has only ``n`` labelled
sentences, augmented N = 20 times each, with the teacher fine-tuned on the same ``n``. Rows: ``tinybert``
(the ``n`` sentences, the same epochs: the paper's "No DA"), ``tinybert-aug`` and ``tinybert-same-steps``
(the ``n`` sentences repeated to as many steps as ``tinybert-aug``: what augmentation buys beyond more
training). One ``run_sst2`` into ``OUT`` (resumable: rows stored for a seed are skipped). Prints each row's
accuracy per seed and the two comparisons with their 95% paired-bootstrap intervals over dev sentences and
seeds (:func:`kd_teach.engine.verdicts.compare`), and writes ``OUT/small_data.{json,md}``. ``--report-only``
rebuilds them from the stored run. Needs the SST-2 folder, the corpus and the general TinyBERT of the ``cpu``
preset (cached once per seed, about 26 minutes each); then about 7 minutes a seed on 2 CPU cores (383-405 s
measured, results/cpu-small-data).
"""
from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

from kd_teach.engine.pipeline import ROW_GROUPS, run_sst2
from kd_teach.engine.presets import small_task
from kd_teach.engine.report import load_results, machine_info
from kd_teach.engine.verdicts import comparison_table, interval_table

ROWS = ROW_GROUPS["tinybert-augmentation"]  # tinybert, tinybert-aug, tinybert-same-steps
COMPARISONS = [("tinybert-aug", "tinybert-same-steps"),  # augmentation against as many steps without it
               ("tinybert-aug", "tinybert")]             # the paper's "No DA": the same epochs, no augmentation


def report(table: dict, seeds: list[int]) -> str:
    """The rows (teacher included) with their intervals, then the comparisons, as Markdown."""
    rows = [r for r in table["rows"] if r["name"] == "teacher" or (r["name"] in ROWS and r["seed"] in seeds)]
    return interval_table(rows, table["dev_labels"]) + "\n\n" + comparison_table(rows, COMPARISONS,
                                                                                table["dev_labels"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="labelled sentences (and the teacher's training set)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", default="results/cpu-small-data")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild the table and record from the stored run; train and measure nothing")
    args = parser.parse_args()
    seeds, out, preset = [int(s) for s in args.seeds.split(",")], Path(args.out), small_task(args.n)

    if args.report_only:
        table = load_results(out / "results.json")
    else:
        table = run_sst2(preset, out, seeds, rows="tinybert-augmentation")
    text = report(table, seeds)
    print(text)
    record = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info(),
              "command": f"python benchmarks/small_data.py --n {args.n} --seeds {args.seeds} --out {args.out}",
              "n": args.n, "augment_N": preset.tinybert.augment.N, "step_epochs": preset.tinybert.step1_epochs,
              "seeds": seeds}
    if args.report_only and (out / "small_data.json").is_file():  # the last training's date and machine are kept
        record = {**json.loads((out / "small_data.json").read_text()), "seeds": seeds, "command": record["command"],
                  "reported": record["date"]}
    (out / "small_data.json").write_text(json.dumps(record, indent=1) + "\n")
    (out / "small_data.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
