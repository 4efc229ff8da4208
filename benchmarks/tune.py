"""Recipe searches, scored on the tuning split (SST-2 train sentences no row trains on), never on dev.

    python benchmarks/tune.py one-layer [--preset cpu] [--seeds 0] [--out results/cpu-tuning]

``one-layer``: the deployment chapter's student (row ``distilbert-1layer``,
:class:`kd_teach.engine.presets.OneLayerSettings`): task epochs x learning rate. Each candidate is trained
exactly as the row is (DistilBERT's student cut to teacher layer 0 of the MLM-trained teacher, then logit
KD from the SST-2 teacher over the labelled sentences and the transfer set) and scored on the tuning split
(:attr:`kd_teach.engine.data.SST2Data.tuning`, 1,986 sentences at ``cpu``). Prints the table and writes
``OUT/one_layer.{json,md}``; the candidate with the best mean tuning accuracy is the recipe. Dev is not
read. About 3-4 minutes per candidate and seed at ``cpu`` on 2 cores (plus the MLM teacher, once: 30 minutes).
"""
from __future__ import annotations

import argparse
import shutil
import statistics
from datetime import datetime, timezone
from pathlib import Path

from kd_teach.distilbert.student import distilbert_classifier, init_distilbert_student
from kd_teach.engine.cache import finetuned_teacher, mlm_teacher
from kd_teach.engine.data import SST2Data
from kd_teach.engine.evaluate import accuracy, teacher_logits
from kd_teach.engine.models import load_tokenizer
from kd_teach.engine.pipeline import DATA_SEED
from kd_teach.engine.presets import get_preset
from kd_teach.engine.report import machine_info, write_json
from kd_teach.hinton.stages import train_hinton_kd, transfer_set

ONE_LAYER_GRID = [  # (task epochs, learning rate): distilbert-init's own recipe first, then larger steps
    (2, 5e-5), (3, 5e-5), (3, 1e-4), (3, 2e-4), (3, 4e-4),
]


def one_layer(preset_name: str, seeds: list[int], out: Path) -> dict:
    """Train every candidate of :data:`ONE_LAYER_GRID` on every seed; score each on the tuning split."""
    preset = get_preset(preset_name)
    data = SST2Data.from_preset(load_tokenizer(preset.teacher), preset, seed=DATA_SEED)
    teacher, _ = finetuned_teacher(preset, data)
    teacher_mlm, _ = mlm_teacher(preset)
    z_t = teacher_logits(teacher, transfer_set(data), data.tokenizer, preset.eval_batch_size)
    tuning = data.tuning_loader(preset.eval_batch_size)
    candidates = []
    for epochs, lr in ONE_LAYER_GRID:
        scores = []
        for seed in seeds:
            model = distilbert_classifier(init_distilbert_student(teacher_mlm, [0]), seed=seed)
            ckpt = Path("runs") / "tune" / f"one-layer-{preset.name}-e{epochs}-lr{lr:g}-seed{seed}"
            stage = train_hinton_kd(preset, teacher, model, data, seed, ckpt, z_t, epochs, lr,
                                    f"1 layer, {epochs} epochs at {lr:g}")
            scores.append(accuracy(stage.model, tuning))
            shutil.rmtree(ckpt, ignore_errors=True)
            print(f"epochs {epochs}, lr {lr:g}, seed {seed}: tuning accuracy {scores[-1]:.4f} "
                  f"({stage.seconds:.0f} s)", flush=True)
        candidates.append({"epochs": epochs, "lr": lr, "seeds": seeds, "tuning_accuracy": scores,
                           "mean": statistics.fmean(scores)})
    best = max(candidates, key=lambda c: c["mean"])
    result = {"search": "one-layer", "row": "distilbert-1layer", "preset": preset.name, "split": "tuning",
              "tuning_sentences": len(data.tuning), "candidates": candidates,
              "chosen": {"task_epochs": best["epochs"], "task_lr": best["lr"]},
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info()}
    write_json(out / "one_layer.json", result)
    (out / "one_layer.md").write_text(table(result) + "\n")
    return result


def table(result: dict) -> str:
    """The search as Markdown: each candidate's tuning accuracy per seed and its mean; the chosen one marked."""
    seeds = result["candidates"][0]["seeds"]
    lines = [f"Row `{result['row']}` at preset {result['preset']}: tuning accuracy on {result['tuning_sentences']:,} "
             f"SST-2 train sentences no row trains on (dev not read), {result['date'][:10]}.", "",
             "| task epochs | learning rate | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | |",
             "|---|---|" + "---|" * len(seeds) + "---|---|"]
    chosen = result["chosen"]
    for c in result["candidates"]:
        mark = "chosen" if (c["epochs"], c["lr"]) == (chosen["task_epochs"], chosen["task_lr"]) else ""
        lines.append(f"| {c['epochs']} | {c['lr']:g} | " + " | ".join(f"{a:.4f}" for a in c["tuning_accuracy"])
                     + f" | {c['mean']:.4f} | {mark} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("search", choices=["one-layer"])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    parser.add_argument("--out", default=None, help="output folder (default results/<preset>-tuning)")
    args = parser.parse_args()
    out = Path(args.out or f"results/{args.preset}-tuning")
    result = one_layer(args.preset, [int(s) for s in args.seeds.split(",")], out)
    print(table(result))


if __name__ == "__main__":
    main()
