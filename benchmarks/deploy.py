"""One classifier served four ways on the CPU: torch, torch int8, ONNX Runtime, ONNX Runtime int8.

    python benchmarks/deploy.py [MODEL_DIR] [--preset cpu] [--repeats 5]

Each runtime is measured by :func:`kd_teach.engine.deploy.measure_deployed`, as the results
table measures its rows: dev accuracy on all 872 SST-2 dev sentences, size of the weight file the
runtime loads (MB), CPU latency per sentence at batch 1 and 32 over the first 64 dev sentences
(median of ``--repeats`` passes, torch's thread count for both runtimes). The last two columns
divide torch float32's latency, measured in the same run, by each runtime's: the speed-up that
serving the same model another way buys. ``MODEL_DIR`` is a saved sequence classifier (a run's
``runs/<run>/models/<row>``); by default the preset's fine-tuned teacher from the cache (fine-tuned
now if it is not there: about 30 s at ``smoke``, 70 s at ``cpu`` on 2 cores). Needs the SST-2 folder.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import onnxruntime
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from kd_teach.engine.cache import finetuned_teacher, shown
from kd_teach.engine.data import SST2Data
from kd_teach.engine.deploy import RUNTIMES, measure_deployed
from kd_teach.engine.models import load_tokenizer
from kd_teach.engine.presets import get_preset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="a saved classifier folder (default: the preset's cached teacher)")
    parser.add_argument("--preset", default="cpu", help="truncation length, eval batch size, teacher (default cpu)")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per batch size (default 5)")
    args = parser.parse_args()

    preset = get_preset(args.preset)
    folder = Path(args.model) if args.model else None
    has_tokenizer = folder is not None and (folder / "tokenizer_config.json").is_file()
    tokenizer = AutoTokenizer.from_pretrained(folder) if has_tokenizer else load_tokenizer(preset.teacher)
    data = SST2Data(tokenizer, preset.train_size, preset.dev_size, preset.max_length)  # the preset's rows' data
    if folder is None:
        model, info = finetuned_teacher(preset, data)
        folder = Path(info["path"])
    else:
        model = AutoModelForSequenceClassification.from_pretrained(folder)
    model.eval()
    loader = data.dev_loader(preset.eval_batch_size)
    rows = [measure_deployed(model, loader, tokenizer, data.dev_sentences, runtime, args.repeats) for runtime in RUNTIMES]

    torch_row = rows[0]
    print(f"{shown(folder)}: {type(model).__name__}, {torch_row['params'] / 1e6:.1f}M parameters; torch "
          f"{torch.__version__} ({torch.backends.quantized.engine} int8 kernels), onnxruntime {onnxruntime.__version__}, "
          f"threads: {torch.get_num_threads()}; {torch_row['dev_sentences']} dev sentences, preset {preset.name}")
    print(f"| {'runtime':<10} | {'dev acc':>7} | {'size (MB)':>9} | {'ms/sent b1':>10} | {'ms/sent b32':>11} | "
          f"{'b1 vs torch':>11} | {'b32 vs torch':>12} |")
    print(f"|{'-' * 12}|{'-' * 8}:|{'-' * 10}:|{'-' * 11}:|{'-' * 12}:|{'-' * 12}:|{'-' * 13}:|")
    for r in rows:
        b1 = torch_row["latency_ms_b1"] / r["latency_ms_b1"]
        b32 = torch_row["latency_ms_b32"] / r["latency_ms_b32"]
        print(f"| {r['runtime']:<10} | {r['accuracy']:>7.4f} | {r['size_mb']:>9.1f} | {r['latency_ms_b1']:>10.2f} | "
              f"{r['latency_ms_b32']:>11.2f} | {b1:>10.2f}x | {b32:>11.2f}x |")


if __name__ == "__main__":
    main()
