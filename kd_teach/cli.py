"""``kd-teach``: the course's command line.

    kd-teach run sst2 [--preset smoke|cpu|gpu-full] [--teacher NAME] [--out DIR] [--seed N]
"""
from __future__ import annotations

import argparse
import signal
import sys

from kd_teach.hub import OfflineAssetError
from kd_teach.presets import PRESETS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kd-teach", description="Knowledge distillation of BERT, taught.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a task's distillation pipeline and write its results table")
    run.add_argument("task", choices=["sst2"])
    run.add_argument("--preset", choices=sorted(PRESETS), default=None,
                     help="scale of the run (default: $KD_TEACH_PRESET or cpu)")
    run.add_argument("--teacher", default=None,
                     help="hub id or local folder (default: the preset's; packaged all-MiniLM-L6-v2 on cpu/smoke)")
    run.add_argument("--out", default=None, help="output folder (default: runs/sst2-<preset>)")
    run.add_argument("--seed", type=int, default=0, help="seed of the students")
    run.add_argument("--rows", default="all", help="comma-separated rows: teacher,baseline,hinton-kd or all")
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # a `kill` saves a checkpoint too, as Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    from kd_teach.pipeline import ROWS, run_sst2  # heavy imports after argument errors
    from kd_teach.presets import get_preset

    preset = get_preset(args.preset)
    rows = ROWS if args.rows == "all" else tuple(r.strip() for r in args.rows.split(","))
    if set(rows) - set(ROWS):
        print(f"kd-teach: error: --rows must be among {', '.join(ROWS)} or all, got {args.rows!r}", file=sys.stderr)
        return 2
    try:
        if args.teacher:  # fail fast, before any data is read, if the teacher cannot be had
            from kd_teach.models import resolve_teacher

            resolve_teacher(args.teacher)
        run_sst2(preset, args.out or f"runs/sst2-{preset.name}", args.seed, args.teacher, rows)
    except OfflineAssetError as err:
        print(f"kd-teach: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kd-teach: interrupted; the last checkpoint is saved: run the same command again to resume",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
