"""Give the rows of a committed results table the per-sentence dev predictions they were measured without.

Rows written before results.json kept ``predictions`` (issue 25) cannot be compared sentence by sentence.
Seeded runs are deterministic here, so the same row trained again (same name, seed, recipe and cached
teacher) is the same model: this script takes the predictions from such a re-run, and only when the
re-run's dev accuracy equals the stored one exactly, float for float. The stored row keeps everything it
had (its timings were measured on a quiet machine; the re-run's may not be) and gains ``predictions``
and ``predictions_from`` (the re-run's date). The table gains ``dev_labels``, and its results.md and
results.png are written again (:func:`kd_teach.engine.pipeline.write_report`).

    kd-teach run sst2 --preset cpu --seeds 0,1,2 --rows spine --out runs/regen/cpu
    python scripts/add_predictions.py runs/regen/cpu/results.json results/cpu/results.json

Rows with no matching re-run are left as they are and listed; a re-run whose accuracy differs stops the
script before anything is written.
"""
from __future__ import annotations

import argparse
import sys

from pathlib import Path

from kd_teach.engine.pipeline import write_report
from kd_teach.engine.report import load_results, write_json


def _key(row: dict) -> tuple:
    """What makes two rows the same model: name, seed, recipe, teacher, and any settings kept outside the recipe."""
    return row["name"], row.get("seed"), row.get("recipe"), row.get("teacher_key"), str(row.get("one_layer"))


def add_predictions(rerun: dict, table: dict) -> tuple[dict, list[str]]:
    """``table`` with predictions copied from ``rerun``'s matching rows; and the rows still without them.

    Raises:
        ValueError: when a matching re-run row's accuracy differs from the stored one, or the dev labels differ.
    """
    if table.get("dev_labels") not in (None, rerun["dev_labels"]):
        raise ValueError("the re-run was scored on other dev labels than the table's")
    fresh = {_key(r): r for r in rerun["rows"] if r.get("predictions")}
    rows, missing = [], []
    for row in table["rows"]:
        new = fresh.get(_key(row))
        if row.get("predictions") or new is None:
            rows.append(row)
            missing += [] if row.get("predictions") else [f"{row['name']} seed {row.get('seed')}"]
            continue
        if new["accuracy"] != row["accuracy"]:
            raise ValueError(f"{row['name']} seed {row.get('seed')}: the re-run's dev accuracy {new['accuracy']!r} "
                             f"is not the stored {row['accuracy']!r}: not the same model")
        rows.append({**row, "predictions": new["predictions"], "predictions_from": f"re-run of {new['date']}"})
    return {**table, "rows": rows, "dev_labels": rerun["dev_labels"]}, missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rerun", help="results.json of the re-run (rows with predictions)")
    parser.add_argument("tables", nargs="+", help="committed results.json files to complete, in place")
    args = parser.parse_args(argv)
    rerun = load_results(args.rerun)
    for path in args.tables:
        table, missing = add_predictions(rerun, load_results(path))
        write_json(path, table)
        write_report(Path(path).parent, table)           # results.md and results.png, now with intervals
        print(f"{path}: {sum(bool(r.get('predictions')) for r in table['rows'])} of {len(table['rows'])} rows have "
              f"predictions" + (f"; still without: {', '.join(missing)}" if missing else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
