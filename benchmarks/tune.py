"""Recipe searches, scored on the tuning split (SST-2 train sentences no row trains on), never on dev.

    python benchmarks/tune.py one-layer|hinton [--preset cpu] [--seeds 0] [--out results/cpu-tuning]
    python benchmarks/tune.py labels [--seeds 0,1,2] [--runs results/cpu-labels] [--out results/cpu-tuning]

Each candidate is trained exactly as its row is and scored on the tuning split
(:attr:`kd_teach.engine.data.SST2Data.tuning`: 1,986 labelled SST-2 train sentences at ``cpu``, none of
them in any row's labelled or transfer set). Dev is not read. The candidate with the best mean tuning
accuracy is the recipe. Prints the table and writes ``OUT/<search>.{json,md}``.

- ``one-layer``: the deployment chapter's student (row ``distilbert-1layer``,
  :class:`kd_teach.engine.presets.OneLayerSettings`): task epochs x learning rate. DistilBERT's student
  cut to teacher layer 0 of the MLM-trained teacher, then logit KD from the SST-2 teacher over the
  labelled sentences and the transfer set. About 3-4 minutes a candidate and seed at ``cpu`` on 2 cores
  (plus the MLM teacher, once: 30 minutes).
- ``hinton``: the spine's ``hinton-kd`` row: temperature T x weight alpha of the hard-label loss
  (beta = 1 - alpha). About 3 minutes a candidate and seed at ``cpu``.
- ``general``: the ``tinybert`` row's general-distillation steps (200, 1,000, and 3,000: about the most that
  fits 30 minutes once). Each general student is cached (:func:`kd_teach.engine.cache.general_tinybert`), then
  given the row's task distillation; its held-out intermediate loss on the corpus is recorded beside the
  tuning accuracy. About 5 minutes a candidate past general distillation at ``cpu`` (1,000 steps: 504 s).
- ``labels``: the ``cpu`` preset's label budget. Trains nothing: it scores the baseline and hinton-kd models
  that ``benchmarks/kd_vs_labels.py`` trained at each budget (``RUNS/n<budget>/models``, the cpu budget's in
  ``results/cpu/models``) on that budget's own tuning split, and gives KD's gain with its 95% paired
  bootstrap interval (:func:`kd_teach.engine.verdicts.compare`). About 2 minutes.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from transformers import AutoModelForSequenceClassification

from kd_teach.distilbert.student import distilbert_classifier, init_distilbert_student
from kd_teach.engine.cache import finetuned_teacher, general_tinybert, mlm_teacher
from kd_teach.engine.data import SST2Data
from kd_teach.engine.evaluate import accuracy, scored_predictions, teacher_logits
from kd_teach.engine.model_folder import model_dir
from kd_teach.engine.models import build_student, load_tokenizer
from kd_teach.engine.pipeline import DATA_SEED
from kd_teach.engine.presets import Preset, get_preset, label_budget
from kd_teach.engine.report import machine_info, write_json
from kd_teach.engine.significance import encode_predictions
from kd_teach.engine.verdicts import compare, points, verdict
from kd_teach.hinton.stages import train_hinton_kd, transfer_set
from kd_teach.tinybert.rows import task_set
from kd_teach.tinybert.stages import task_distillation_step1, task_distillation_step2

SEARCHES = {  # search -> (row, candidates): distilbert-init's own recipe and the earlier tries among them
    "one-layer": ("distilbert-1layer", [{"task_epochs": e, "task_lr": lr}
                                        for e, lr in [(2, 5e-5), (3, 5e-5), (3, 1e-4), (3, 2e-4), (3, 4e-4)]]),
    "hinton": ("hinton-kd", [{"T": T, "alpha": a} for T, a in [(2.0, 0.5), (2.0, 0.1), (4.0, 0.5), (4.0, 0.1),
                                                               (8.0, 0.1)]]),
    "general": ("tinybert", [{"general_steps": n} for n in (200, 1000, 3000)]),
}


def trainer(search: str, preset: Preset, data: SST2Data) -> Callable:
    """``train(candidate, seed, checkpoint_dir) -> model`` (or ``(model, info)``): the row of ``search`` trained
    with ``candidate``."""
    teacher, _ = finetuned_teacher(preset, data)
    if search == "general":
        sentences = task_set(preset, data)[0]
        z_task = teacher_logits(teacher, sentences, data.tokenizer, preset.eval_batch_size)

        def train(c: dict, seed: int, ckpt: Path):
            p = replace(preset, tinybert=replace(preset.tinybert, general_steps=c["general_steps"]))
            distiller, info = general_tinybert(p, seed=seed)
            s = p.tinybert
            task_distillation_step1(s, teacher, distiller, sentences, data.tokenizer, p.batch_size, seed, ckpt / "step1",
                                    p.mixed_precision)
            model = task_distillation_step2(s, teacher, distiller.student, data, sentences, p.batch_size,
                                            p.eval_batch_size, seed, ckpt / "step2", p.mixed_precision, z_task).model
            return model, {"general_heldout_loss": info["heldout"]["heldout_loss"], "general_steps_run": info["steps"],
                           "general_seconds": info["train_seconds"]}
        return train
    z_t = teacher_logits(teacher, transfer_set(data), data.tokenizer, preset.eval_batch_size)
    if search == "one-layer":
        teacher_mlm, _ = mlm_teacher(preset)

        def train(c: dict, seed: int, ckpt: Path):
            model = distilbert_classifier(init_distilbert_student(teacher_mlm, [0]), seed=seed)
            return train_hinton_kd(preset, teacher, model, data, seed, ckpt, z_t, c["task_epochs"], c["task_lr"]).model
    else:
        def train(c: dict, seed: int, ckpt: Path):
            p = replace(preset, T=c["T"], alpha=c["alpha"], beta=1 - c["alpha"])
            student = build_student(teacher.config, p.student, num_labels=data.num_labels, seed=seed)
            return train_hinton_kd(p, teacher, student, data, seed, ckpt, z_t).model
    return train


def run_search(search: str, preset_name: str, seeds: list[int], out: Path) -> dict:
    """Train every candidate of ``SEARCHES[search]`` on every seed and score it on the tuning split."""
    row, grid = SEARCHES[search]
    preset = get_preset(preset_name)
    data = SST2Data.from_preset(load_tokenizer(preset.teacher), preset, seed=DATA_SEED)
    train, tuning = trainer(search, preset, data), data.tuning_loader(preset.eval_batch_size)
    partial = out / f"{search}.partial.json"    # scores so far: a stopped search resumes where it stopped
    done = json.loads(partial.read_text()) if partial.is_file() else {}
    candidates = []
    for c in grid:
        scores, infos = [], []
        for seed in seeds:
            name = "-".join([search, preset.name, *(f"{k}{v:g}" for k, v in c.items()), f"seed{seed}"])
            if name not in done:
                ckpt = Path("runs") / "tune" / name
                trained = train(c, seed, ckpt)
                model, info = trained if isinstance(trained, tuple) else (trained, {})
                done[name] = {"accuracy": accuracy(model, tuning), **info}
                write_json(partial, done)
                shutil.rmtree(ckpt, ignore_errors=True)
            scores.append(done[name]["accuracy"])
            infos.append({k: v for k, v in done[name].items() if k != "accuracy"})
            print(f"{c}, seed {seed}: tuning accuracy {scores[-1]:.4f} {infos[-1] or ''}", flush=True)
        candidates.append({**c, "seeds": seeds, "tuning_accuracy": scores, "mean": statistics.fmean(scores),
                           **({"per_seed": infos} if any(infos) else {})})
    best = max(candidates, key=lambda x: x["mean"])
    result = {"search": search, "row": row, "preset": preset.name, "split": "tuning",
              "tuning_sentences": len(data.tuning), "candidates": candidates,
              "chosen": {k: best[k] for k in grid[0]},
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info()}
    write_json(out / f"{search}.json", result)
    (out / f"{search}.md").write_text(table(result) + "\n")
    partial.unlink()
    return result


BUDGETS = [500, 2000, 8000, 16000]   # labelled sentences: the points of benchmarks/kd_vs_labels.py


def score_label_budgets(runs: Path, seeds: list[int], out: Path) -> dict:
    """KD's gain over the baseline at each label budget, on that budget's tuning split, from stored models.

    The ``cpu`` preset's 2,000 labels were first chosen after a 16,000-label recipe's gain came out inside the
    noise on dev; this scores the same question on sentences no row trains on, so that the choice rests on them.
    """
    tokenizer = load_tokenizer(get_preset("cpu").teacher)
    result = {"search": "labels", "row": "hinton-kd - baseline", "split": "tuning", "seeds": seeds, "points": [],
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info()}
    for n in BUDGETS:
        preset = label_budget(n)
        data = SST2Data.from_preset(tokenizer, preset, seed=DATA_SEED)
        loader = data.tuning_loader(preset.eval_batch_size)
        folder = Path("results/cpu") if preset == get_preset("cpu") else runs / f"n{n}"
        rows = []
        for name in ("baseline", "hinton-kd"):
            for seed in seeds:
                path = model_dir(folder, name, seed)
                if not (path / "config.json").is_file():
                    raise FileNotFoundError(f"no saved model at {path}: train budget {n} first "
                                            f"(python benchmarks/kd_vs_labels.py --budgets {n})")
                acc, predictions = scored_predictions(AutoModelForSequenceClassification.from_pretrained(path), loader)
                rows.append({"name": name, "seed": seed, "accuracy": acc, "predictions": predictions})
        gain = compare(rows, "hinton-kd", "baseline", encode_predictions(data.tuning_raw["label"]))
        result["points"].append({"n": n, "tuning_sentences": len(data.tuning_raw), "gain": gain["mean_diff"],
                                 "gain_interval": [gain["low"], gain["high"]], "verdict": verdict(gain),
                                 **{name: [r["accuracy"] for r in rows if r["name"] == name]
                                    for name in ("baseline", "hinton-kd")}})
        print(f"{n:,} labels: gain {points(gain['mean_diff'])} [{points(gain['low'])}, {points(gain['high'])}]",
              flush=True)
    write_json(out / "labels.json", result)
    (out / "labels.md").write_text(label_table(result) + "\n")
    return result


def label_table(result: dict) -> str:
    """The label-budget scores as Markdown: each budget's baseline and KD tuning accuracy and the gain."""
    lines = [f"KD's gain over the baseline on each budget's tuning split (SST-2 train sentences no row of that "
             f"budget trains on; dev not read), seeds {', '.join(map(str, result['seeds']))}, "
             f"{result['date'][:10]}.", "",
             "| labelled sentences | tuning sentences | baseline | hinton-kd | gain, points [95% interval] | verdict |",
             "|---|---|---|---|---|---|"]
    for p in result["points"]:
        low, high = p["gain_interval"]
        lines.append(f"| {p['n']:,} | {p['tuning_sentences']:,} | {statistics.fmean(p['baseline']):.4f} | "
                     f"{statistics.fmean(p['hinton-kd']):.4f} | {points(p['gain'])} [{points(low)}, {points(high)}] "
                     f"| {p['verdict']} |")
    return "\n".join(lines)


def table(result: dict) -> str:
    """The search as Markdown: each candidate's tuning accuracy per seed and its mean; the chosen one marked."""
    keys, seeds = list(result["chosen"]), result["candidates"][0]["seeds"]
    extra = sorted({k for c in result["candidates"] for info in c.get("per_seed", []) for k in info})  # e.g. losses
    lines = [f"Row `{result['row']}` at preset {result['preset']}: accuracy on the tuning split "
             f"({result['tuning_sentences']:,} SST-2 train sentences no row trains on; dev not read), "
             f"{result['date'][:10]}.", "",
             "| " + " | ".join(keys) + " | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | "
             + "".join(f"{k} (mean) | " for k in extra) + " |",
             "|" + "---|" * (len(keys) + len(seeds) + len(extra) + 2)]
    for c in result["candidates"]:
        mark = "chosen" if all(c[k] == result["chosen"][k] for k in keys) else ""
        shown = "".join(f"{statistics.fmean(i[k] for i in c['per_seed']):.4g} | " for k in extra)
        lines.append("| " + " | ".join(f"{c[k]:g}" for k in keys) + " | "
                     + " | ".join(f"{a:.4f}" for a in c["tuning_accuracy"]) + f" | {c['mean']:.4f} | {shown}{mark} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("search", choices=sorted([*SEARCHES, "labels"]))
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (default 0; labels: 0,1,2)")
    parser.add_argument("--out", default=None, help="output folder (default results/<preset>-tuning)")
    parser.add_argument("--runs", default="results/cpu-labels", help="labels: kd_vs_labels.py's output folder")
    args = parser.parse_args()
    if args.search == "labels":
        score_label_budgets(Path(args.runs), [int(s) for s in (args.seeds or "0,1,2").split(",")],
                            Path(args.out or "results/cpu-tuning"))
        return
    result = run_search(args.search, args.preset, [int(s) for s in (args.seeds or "0").split(",")],
                        Path(args.out or f"results/{args.preset}-tuning"))
    print(table(result))


if __name__ == "__main__":
    main()
