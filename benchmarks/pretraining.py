"""Does DistilBERT's pre-training distillation pay at our scale if it runs longer, or on in-domain text?

    python benchmarks/pretraining.py --variant longer|in-domain [--seeds 0,1,2] [--out results/cpu-pretraining]
                                     [--report-only]

At the ``cpu`` preset the ``distilbert`` row (300 steps of pre-training distillation on the general corpus,
7 MB of Wikipedia and novels) ends level with ``distilbert-init`` (none). Two reasons are possible: too few
steps, or text too far from SST-2's. Each variant changes that one thing and nothing else (the student cut
from the MLM teacher, the triple loss, the SST-2 training, the seeds):

- ``longer``: 3,000 steps on the general corpus (ten times the preset's);
- ``in-domain``: the preset's 300 steps on the transfer set's 30,256 SST-2 sentences (their text only).

Each seed's ``distilbert`` row is trained into ``OUT/<variant>/`` (model folders and ``results.json`` with its
per-sentence dev predictions; rows stored for a seed are skipped, so an interrupted run resumes), then compared
with ``results/cpu``'s ``distilbert-init`` and ``distilbert`` of the same seeds: the paired bootstrap over dev
sentences and seeds (:func:`kd_teach.engine.verdicts.compare`). Writes ``OUT/<variant>/pretraining.md``.
``longer`` takes about 45 minutes a seed on 2 CPU cores, ``in-domain`` about 8.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from datasets import Dataset

from kd_teach.distilbert.rows import distilbert_rows
from kd_teach.engine.cache import finetuned_teacher
from kd_teach.engine.corpus import Corpus
from kd_teach.engine.data import SST2Data
from kd_teach.engine.models import load_tokenizer
from kd_teach.engine.pipeline import DATA_SEED, preset_key
from kd_teach.engine.presets import Preset, get_preset
from kd_teach.engine.report import load_results, machine_info, reference_results, upsert_rows
from kd_teach.engine.significance import encode_predictions
from kd_teach.engine.verdicts import comparison_table

VARIANTS = ("longer", "in-domain")


def variant_preset(variant: str) -> Preset:
    """The ``cpu`` preset with the variant's pre-training distillation."""
    cpu = get_preset("cpu")
    return replace(cpu, distilbert=replace(cpu.distilbert, steps=3000)) if variant == "longer" else cpu


def variant_corpus(variant: str, data: SST2Data, preset: Preset) -> Corpus | None:
    """The transfer set's sentences as the corpus for ``in-domain``; None (the general corpus) otherwise."""
    if variant != "in-domain":
        return None
    texts = Dataset.from_dict({"text": data.transfer_sentences})
    return Corpus(data.tokenizer, preset.corpus_max_length, preset.corpus_heldout, texts=texts)


def train(variant: str, seeds: list[int], out: Path) -> None:
    """Train the variant's ``distilbert`` row for each seed not yet in ``out/results.json``."""
    preset = variant_preset(variant)
    tokenizer = load_tokenizer(preset.teacher)
    data = SST2Data.from_preset(tokenizer, preset, seed=DATA_SEED)
    teacher, info = finetuned_teacher(preset, data)
    corpus = variant_corpus(variant, data, preset)
    done = {r["seed"] for r in load_results(out / "results.json").get("rows", []) if r["name"] == "distilbert"}
    for seed in (s for s in seeds if s not in done):
        rows, _ = distilbert_rows(preset, teacher, data, out, seed, ("distilbert",), corpus=corpus)
        stamped = [{**r, "variant": variant, "pretrain_corpus": "general" if corpus is None else "transfer set",
                    "recipe": preset_key(preset, r["name"]), "teacher_key": info["key"],
                    "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info()}
                   for r in rows]
        upsert_rows(out / "results.json", stamped, dev_labels=encode_predictions(data.dev_raw["label"]))


def report(variant: str, seeds: list[int], out: Path) -> str:
    """The variant's rows beside ``results/cpu``'s, and the comparisons, as Markdown."""
    ours = [{**r, "name": f"distilbert-{variant}"} for r in load_results(out / "results.json")["rows"]
            if r["name"] == "distilbert" and r["seed"] in seeds]
    reference = load_results(reference_results("cpu") / "results.json")
    theirs = [r for r in reference["rows"] if r["name"] in ("distilbert", "distilbert-init") and r["seed"] in seeds]
    pairs = [(f"distilbert-{variant}", "distilbert-init"), (f"distilbert-{variant}", "distilbert")]
    steps = "; ".join(f"seed {r['seed']}: {r['pretrain_steps']:,} steps in {r['pretrain_seconds']:.0f} s on the "
                      f"{r['pretrain_corpus']} corpus, masked-token accuracy on its held-out text "
                      f"{r['student_masked_accuracy']:.3f}" for r in ours)
    return f"{steps}\n\n" + comparison_table(ours + theirs, pairs, reference["dev_labels"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=VARIANTS, required=True)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", default="results/cpu-pretraining")
    parser.add_argument("--report-only", action="store_true", help="rebuild the report from the stored rows")
    args = parser.parse_args()
    seeds, out = [int(s) for s in args.seeds.split(",")], Path(args.out) / args.variant
    if not args.report_only:
        train(args.variant, seeds, out)
    text = report(args.variant, seeds, out)
    print(text)
    (out / "pretraining.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
