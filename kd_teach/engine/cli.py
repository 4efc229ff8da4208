"""``kd-teach``: the course's command line.

    kd-teach run sst2 [--preset smoke|cpu|gpu-full] [--teacher NAME] [--out DIR] [--seed N | --seeds 0,1,2]
                      [--rows spine|distilbert|tinybert|all|ROW,ROW...] [--general-student NAME] [--force]
    kd-teach run --data FILE_OR_HUB_ID [--text-column C] [--label-column C] [--dev-data FILE] [--delimiter D]
                 [--data-config NAME] [--task-name NAME] [--rows spine|ROW,ROW...] [--preset P] [--teacher NAME]
                 [--out DIR] [--seed N | --seeds 0,1,2] [--force]
    kd-teach prepare-teacher mlm [--preset P] [--teacher NAME]
    kd-teach evaluate PATH_OR_HUB_ID [--preset P] [--dev-size N] [--tokenizer NAME] [--json]
    kd-teach quiz [--topic SLUG] [--chapter NAME | --upto NAME] [--n N] [--seed N] [--no-shuffle]
                  [--export md|jupyterquiz] [--output FILE]
    kd-teach exercises build|check [--solutions DIR] [--exercises DIR] [--no-run]
"""
from __future__ import annotations

import argparse
import signal
import sys

from kd_teach.engine.hub import OfflineAssetError
from kd_teach.engine.presets import PRESETS


def _seed_list(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 0,1,2, got {text!r}") from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct seeds, got {text!r}")
    return seeds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kd-teach", description="Knowledge distillation of BERT, taught.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a task's distillation pipeline and write its results table")
    run.add_argument("task", nargs="?", choices=["sst2"], help="sst2, or none with --data (your own task)")
    run.set_defaults(usage_error=run.error)
    own = run.add_argument_group("your own task, instead of sst2 (teacher, baseline and hinton-kd rows)")
    own.add_argument("--data", default=None, metavar="FILE_OR_HUB_ID",
                     help="a CSV or TSV file with a header line, one row per example; or a hub data set id (online)")
    own.add_argument("--text-column", default=None, metavar="C", help="the column of the text (default: text)")
    own.add_argument("--label-column", default=None, metavar="C",
                     help="the column of the label: strings or integers, two classes or more (default: label)")
    own.add_argument("--dev-data", default=None, metavar="FILE",
                     help="a dev file with the same columns (default: 10%% of each class held out of --data, seeded)")
    own.add_argument("--delimiter", default=None, metavar="D",
                     help="the files' field separator (default: a tab for .tsv/.tab, else a comma; 'tab' for a tab)")
    own.add_argument("--data-config", default=None, metavar="NAME", help="the hub data set's configuration")
    own.add_argument("--task-name", default=None, metavar="NAME",
                     help="the task's name in the run folder and results.json (default: the file's stem)")
    run.add_argument("--preset", choices=sorted(PRESETS), default=None,
                     help="scale of the run (default: $KD_TEACH_PRESET or cpu)")
    run.add_argument("--teacher", default=None,
                     help="hub id or local folder (default: the preset's; packaged all-MiniLM-L6-v2 on cpu/smoke)")
    run.add_argument("--out", default=None, help="output folder (default: runs/<task>-<preset>)")
    seeds = run.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=0, help="seed of the students (default 0)")
    seeds.add_argument("--seeds", type=_seed_list, default=None, metavar="N,N,...",
                       help="train every student row once per seed (the teacher once) and report mean ± sd, e.g. 0,1,2")
    run.add_argument("--general-student", default=None, metavar="NAME",
                     help="TinyBERT rows: start task distillation from this general TinyBERT (hub id or folder, e.g. "
                          "huawei-noah/TinyBERT_General_4L_312D) instead of the course's own general distillation")
    run.add_argument("--rows", default="spine",
                     help="rows to compute: spine (teacher, baseline, hinton-kd; the default), distilbert "
                          "(distilbert and its ablations distilbert-init, distilbert-random, hinton-kd-distilbert-shape), "
                          "tinybert (tinybert, the equal-size hinton-kd-tinybert-shape, tinybert-aug, tinybert-same-steps "
                          "and the ablations tinybert-no-gd, tinybert-no-step1, tinybert-no-td), all (every row of "
                          "notebooks 02-08), tinybert-losses (Table 6: tinybert-no-embd, -no-hidn, -no-attn), "
                          "tinybert-augmentation (tinybert, tinybert-aug, tinybert-same-steps), or comma-separated row "
                          "names, e.g. distilbert-1layer, tinybert-1layer (notebook 09's students for deployment); "
                          "other rows already in results.json are kept")
    run.add_argument("--force", action="store_true",
                     help="recompute rows results.json or the cache already holds for this preset and seed "
                          "(default: skip them, or copy them from the cache and measure them again)")
    prep = sub.add_parser("prepare-teacher", help="give the teacher what a chapter needs, once, and cache it")
    prep.add_argument("kind", choices=["mlm"], help="mlm: train a masked-LM head (and the encoder) on the general corpus")
    prep.add_argument("--preset", choices=sorted(PRESETS), default=None,
                      help="scale of the preparation (default: $KD_TEACH_PRESET or cpu)")
    prep.add_argument("--teacher", default=None, help="hub id or local folder (default: the preset's)")
    prep.add_argument("--record", default=None, metavar="FILE",
                      help="also write the recipe, the learning curve and the top-5 guesses to FILE (JSON), "
                           "e.g. results/cpu/mlm_teacher.json")
    quiz = sub.add_parser("quiz", help="take the question bank's quiz in the terminal, or export it with the "
                                       "interview sheet")
    quiz.add_argument("--topic", default=None, metavar="SLUG", help="a syllabus slug, e.g. temperature (default: all topics)")
    where = quiz.add_mutually_exclusive_group()
    where.add_argument("--chapter", default=None, metavar="NAME",
                       help="only what this notebook teaches, e.g. 02_hinton_kd or hinton_kd (default: every notebook)")
    where.add_argument("--upto", default=None, metavar="NAME",
                       help="only what this notebook and the ones before it teach, e.g. 04_distilbert")
    quiz.add_argument("--n", type=int, default=None, help="ask (or export) at most N questions")
    quiz.add_argument("--seed", type=int, default=None, metavar="N", help="seed of the shuffle, for a repeatable quiz")
    quiz.add_argument("--no-shuffle", action="store_true", help="ask in the bank's order")
    quiz.add_argument("--export", choices=["md", "jupyterquiz"], default=None,
                      help="instead of asking, write Markdown (the interview sheet, then flashcards of the questions) "
                           "or jupyterquiz JSON, in the bank's order")
    quiz.add_argument("--output", "--out", dest="out", default="-", metavar="FILE",
                      help="file to export to (default: standard output)")
    ex = sub.add_parser("exercises", help="generate exercise notebooks from the solution notebooks")
    ex.add_argument("action", choices=["build", "check"],
                    help="build: (re)write exercises/ and solutions/*.ipynb; check: exit 1 if any is out of date")
    ex.add_argument("--solutions", default="solutions", metavar="DIR", help="solution sources (default: solutions)")
    ex.add_argument("--exercises", default="exercises", metavar="DIR", help="where exercises go (default: exercises)")
    ex.add_argument("--no-run", action="store_true",
                    help="build: do not run the solution notebooks rewritten (by default they are run and stored "
                         "with their outputs, every checker's line shown)")
    ev = sub.add_parser("evaluate", help="measure any sequence classifier (a folder or hub id) as the results table "
                                         "measures its rows: dev accuracy, parameters, size, CPU latency")
    ev.add_argument("model", metavar="PATH_OR_HUB_ID",
                    help="a model folder (e.g. runs/sst2-cpu/models/hinton-kd) or a hub id (online or cached)")
    ev.add_argument("--preset", choices=sorted(PRESETS), default=None,
                    help="dev sentences, truncation and latency repeats to use (default: the recipe of the run that "
                         "saved the folder, else $KD_TEACH_PRESET or cpu)")
    ev.add_argument("--dev-size", type=int, default=None, metavar="N", help="the first N dev sentences only")
    ev.add_argument("--tokenizer", default=None, metavar="NAME",
                    help="tokenizer folder or hub id, for a model folder saved without one")
    ev.add_argument("--json", action="store_true", help="print the measurement and the stored row as JSON")
    dep = sub.add_parser("deploy", help="serve a run's saved rows as torch, torch int8, ONNX and ONNX int8, measure "
                                        "each like a results row, write RUN_DIR/deployment.json (notebook 09)")
    dep.add_argument("run_dir", metavar="RUN_DIR", help="a run folder of kd-teach run sst2 (e.g. runs/sst2-cpu)")
    dep.add_argument("--rows", default="distilbert-1layer",
                     help="comma-separated rows to deploy, every seed the run holds; the teacher is always added "
                          "(default: distilbert-1layer)")
    dep.add_argument("--preset", choices=sorted(PRESETS), default=None,
                     help="dev set and latency repeats (default: the preset of the run's teacher row)")
    dep.add_argument("--repeats", type=int, default=20, help="timed passes per batch size (default 20)")
    dep.add_argument("--reference", default=None, metavar="RESULTS_JSON",
                     help="a results.json whose rows the frontier plot draws in grey, each against its own run's "
                          "teacher (default: the run's rows that were not deployed)")
    return parser


def _deploy(args: argparse.Namespace) -> int:
    """``kd-teach deploy RUN_DIR``: the run's rows served four ways (:func:`kd_teach.engine.deployment.deploy_run`)."""
    from pathlib import Path

    from kd_teach.engine.deployment import GOAL, deploy_run, write_deployment_report
    from kd_teach.engine.presets import get_preset
    from kd_teach.engine.report import load_results

    rows = load_results(Path(args.run_dir) / "results.json")["rows"]
    if not rows:
        print(f"kd-teach: error: {args.run_dir} holds no results.json: run kd-teach run sst2 --out {args.run_dir} "
              "first", file=sys.stderr)
        return 2
    preset = get_preset(args.preset or next(r["preset"] for r in rows if r["name"] == "teacher"))
    try:
        table = deploy_run(args.run_dir, tuple(n.strip() for n in args.rows.split(",")), preset,
                           repeats=args.repeats)
    except (ValueError, FileNotFoundError) as err:
        print(f"kd-teach: error: {err}", file=sys.stderr)
        return 2
    out, deployed = Path(args.run_dir), {r["name"] for r in table["rows"]}
    others = (load_results(args.reference)["rows"] if args.reference
              else [r for r in rows if r["name"] not in deployed])
    print(write_deployment_report(out, table, others))
    print(f"goal: at least {GOAL['share_of_teacher']:.0%} of the teacher's dev accuracy (the whole 95% interval) at "
          f"at least {GOAL['speedup_b1']:g}x lower batch-1 latency; written: {out / 'deployment.json'}, deployment.md, "
          "frontier.png")
    return 0


def _exercises(args: argparse.Namespace) -> int:
    """``kd-teach exercises build|check``: exercises are generated from the solutions, never edited."""
    from kd_teach.course.exercises import build, stale_files

    try:
        if args.action == "check":
            stale = stale_files(args.solutions, args.exercises)
            for path in stale:
                print(f"out of date: {path}")
            print("kd-teach: exercises are up to date" if not stale else
                  "kd-teach: run `kd-teach exercises build` to regenerate them")
            return 1 if stale else 0
        written = build(args.solutions, args.exercises, run=not args.no_run)
    except (FileNotFoundError, ValueError) as err:
        print(f"kd-teach: error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(f"kd-teach: {len(written)} file(s) written; the others were up to date")
    return 0


def _quiz(args: argparse.Namespace) -> int:
    """``kd-teach quiz``: only the bank and the quiz are imported here (no transformers, no training code)."""
    import json

    from kd_teach.course.bank import load_bank, pick
    from kd_teach.course.interview import export_markdown, load_sheet, to_jupyterquiz
    from kd_teach.course.terminal_quiz import run_terminal

    where = dict(chapter=args.chapter, topic=args.topic, upto=args.upto)
    try:
        bank = load_bank(**where)
        questions = pick(bank, n=args.n, shuffle=not args.no_shuffle, seed=args.seed)
        sheet = load_sheet(**where) if args.export == "md" else []
    except ValueError as err:
        print(f"kd-teach: error: {err}", file=sys.stderr)
        return 2
    if not questions:
        chosen = ", ".join(f"{k} {v!r}" for k, v in where.items() if v is not None)
        print(f"kd-teach: error: no question has {chosen}", file=sys.stderr)
        return 2
    if args.export is None:
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(errors="replace")  # a terminal that cannot print ✓ gets a ?
        run_terminal(questions)
        return 0
    questions.sort(key=bank.index)  # exports keep the bank's order; --n still samples
    if args.export == "md":
        text = export_markdown(sheet, questions)
        count, note = f"the interview sheet ({len(sheet)} entries) and {len(questions)} questions", ""
    else:
        items = to_jupyterquiz(questions)
        text = json.dumps(items, indent=2, ensure_ascii=False) + "\n"
        count, skipped = f"{len(items)} questions", len(questions) - len(items)
        note = (f" ({skipped} open question{'s' * (skipped != 1)} left out: jupyterquiz cannot grade free text)"
                if skipped else "")
    if args.out == "-":
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(encoding="utf-8")
        sys.stdout.write(text)
        print(f"kd-teach: wrote {count} to standard output{note}", file=sys.stderr)
        return 0
    try:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as err:
        print(f"kd-teach: error: cannot write {args.out}: {err.strerror}", file=sys.stderr)
        return 2
    print(f"kd-teach: wrote {count} to {args.out}{note}")
    return 0


def _record_mlm_teacher(path: str, preset, info: dict, probes: dict) -> None:
    """``prepare-teacher mlm --record FILE``: what was trained, how, how well, where and when, as JSON."""
    import json
    from dataclasses import asdict
    from datetime import datetime, timezone
    from pathlib import Path

    from kd_teach.engine.report import machine_info

    record = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info(),
              "command": f"kd-teach prepare-teacher mlm --preset {preset.name}", "teacher": info["teacher"],
              "recipe": {**asdict(preset.mlm_teacher), "chunk_tokens": preset.corpus_max_length,
                         "heldout_paragraphs": preset.corpus_heldout},
              "train_seconds": info["train_seconds"], "heldout_chunks": info["heldout_chunks"],
              "accuracy_before": info["accuracy_before"], "accuracy_after": info["accuracy_after"],
              "curve": [{"step": e["step"], "masked_accuracy": e["masked_accuracy"]} for e in info.get("evals") or
                        [{"step": info["steps"], "masked_accuracy": info["accuracy_after"]}]],
              "top5": {s: [[t, round(p, 4)] for t, p in top] for s, top in probes.items()}}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(record, indent=1) + "\n")
    print(f"recorded in {path}")


def _task_spec(args: argparse.Namespace):
    """``kd-teach run``'s task: None for sst2, else a :class:`kd_teach.engine.tasks.TaskSpec` of ``--data``.

    Exactly one of the two must be given; the options of ``--data`` go with it only.
    """
    own = [o for o in ("text_column", "label_column", "dev_data", "delimiter", "data_config", "task_name")
           if getattr(args, o) is not None]
    if (args.task is None) == (args.data is None):
        args.usage_error("give the task sst2 or your own data set, --data FILE_OR_HUB_ID (one of them)")
    if args.task is not None:
        if own:
            args.usage_error(f"--{own[0].replace('_', '-')} goes with --data only")
        return None
    from kd_teach.engine.tasks import TaskDataError, TaskSpec

    delimiter = "\t" if args.delimiter in ("tab", "\\t") else args.delimiter
    spec = TaskSpec(args.data, args.text_column or "text", args.label_column or "label", args.dev_data, delimiter,
                    args.data_config, args.task_name)
    try:
        spec.task_name  # an unusable name (empty, or sst2) is an argument error
    except TaskDataError as err:
        args.usage_error(str(err))
    return spec


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # a `kill` saves a checkpoint too, as Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "quiz":
        return _quiz(args)
    if args.command == "exercises":
        return _exercises(args)
    if args.command == "evaluate":
        from kd_teach.engine.measure import evaluate_command

        return evaluate_command(args)
    if args.command == "deploy":
        return _deploy(args)
    signal.signal(signal.SIGTERM, _interrupt)
    from kd_teach.engine.presets import get_preset  #heavy imports after argument errors

    preset = get_preset(args.preset)
    if args.command == "run":
        from kd_teach.engine.pipeline import expand_rows

        task = _task_spec(args)
        try:
            rows = expand_rows(args.rows, "sst2" if task is None else task.task_name)
        except ValueError as err:
            print(f"kd-teach: error: --{err}", file=sys.stderr)
            return 2
    try:
        from kd_teach.engine.models import resolve_teacher

        if args.teacher:  # fail fast, before any data is read, if a model cannot be had
            resolve_teacher(args.teacher)
        if getattr(args, "general_student", None):
            resolve_teacher(args.general_student, "Run without --general-student to distil the course's own "
                                                  "general TinyBERT")
            from dataclasses import replace

            preset = replace(preset, tinybert=replace(preset.tinybert, general_student=args.general_student))
        if args.command == "prepare-teacher":
            from kd_teach.engine.cache import mlm_teacher

            from kd_teach.distilbert.stages import PROBE_SENTENCES, top_predictions
            from kd_teach.engine.models import load_tokenizer

            teacher, info = mlm_teacher(preset, teacher_name=args.teacher)
            done = "cached" if info["cached"] else f"trained {info['steps']} steps in {info['train_seconds']:.0f} s"
            curve = [e for e in info.get("evals", []) if "masked_accuracy" in e]
            if len(curve) > 1:
                print("held-out masked-token accuracy by step: " +
                      ", ".join(f"{e['step']}: {e['masked_accuracy']:.3f}" for e in curve))
            tokenizer = load_tokenizer(args.teacher or preset.teacher)
            probes = {}
            for sentence in PROBE_SENTENCES:
                probes[sentence] = top_predictions(teacher, tokenizer, sentence, k=5)[0]
                print(f"{sentence}  ->  " + ", ".join(f"{t} {p:.2f}" for t, p in probes[sentence]))
            print(f"MLM teacher ({done}): held-out masked-token accuracy {info['accuracy_before']:.4f} before, "
                  f"{info['accuracy_after']:.4f} after, on {info['heldout_chunks']} held-out chunks; {info['path']}")
            if args.record:
                _record_mlm_teacher(args.record, preset, info, probes)
            return 0
        from kd_teach.engine.pipeline import run_task
        from kd_teach.engine.runtime import distributed_state
        from kd_teach.engine.tasks import TaskDataError

        log = print if distributed_state().is_main_process else (lambda *_: None)  # `accelerate launch`: one process speaks
        name = "sst2" if task is None else task.task_name
        try:
            run_task(preset, task, args.out or f"runs/{name}-{preset.name}", args.seeds or args.seed, args.teacher,
                     rows, args.force, log)
        except TaskDataError as err:  # the user's data set, as given, cannot be used: the message says why
            print(f"kd-teach: error: {err}", file=sys.stderr)
            return 2
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
