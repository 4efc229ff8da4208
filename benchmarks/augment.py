"""TinyBERT's data augmentation: the batched candidates of kd_teach against the reference's one forward per word.

    python benchmarks/augment.py [--sentences 200] [--batch-size 32]

All versions find the candidates of every replaceable word of the same SST-2 training
sentences with the same masked-LM teacher (all-MiniLM-L6-v2 with an MLM head) and GloVe:

- **reference** (:meth:`kd_teach.tinybert.augment.Augmenter.candidates_unbatched` with
  ``second_segment=True``), what the reference code (huawei-noah/Pretrained-Language-Model,
  ``TinyBERT/data_augmentation.py``) runs: one forward per word on ``[CLS] masked [SEP]
  original [SEP]``, the whole vocabulary scored at every position, autograd on;
- **unbatched** (the same method, ``second_segment=False``): that loop on kd_teach's input,
  the masked sentence alone — so the batching is measured on its own;
- **batched** (:meth:`kd_teach.tinybert.augment.Augmenter.candidates`): one masked copy per word, many
  sentences' copies per forward, the last layer and the head computed at the masked positions
  only, over the whole-word rows of the vocabulary only (:mod:`kd_teach.tinybert.fill_mask`), under
  ``torch.inference_mode``.

The script checks that the unbatched and batched versions give the same candidates (the
reference's differ: its second segment shows the masked word), then prints sentences per
second and the ratios, measured in the same run. The MLM head is freshly initialised
(seeded): its training changes the candidates, not the cost. Needs the SST-2 folder
($KD_TEACH_DATA_DIR).
"""
from __future__ import annotations

import argparse
import time

import torch

from kd_teach.engine.data import load_sst2
from kd_teach.engine.models import load_mlm_teacher, load_tokenizer
from kd_teach.tinybert.augment import Augmenter, WordVectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=200, help="SST-2 training sentences (default 200)")
    parser.add_argument("--batch-size", type=int, default=32, help="masked copies per forward (default 32)")
    args = parser.parse_args()

    torch.manual_seed(0)
    tokenizer, teacher = load_tokenizer(), load_mlm_teacher().eval()
    augmenter = Augmenter(teacher, tokenizer, WordVectors.glove(), K=15, batch_size=args.batch_size)
    sentences = load_sst2()["train"]["sentence"][:args.sentences]
    words = sum(len(augmenter.parse(s)[2]) + len(augmenter.parse(s)[3]) for s in sentences)

    augmenter.candidates(sentences[:8])                                   # warm-up: allocations, lazy init
    t0 = time.perf_counter()
    batched = augmenter.candidates(sentences)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    unbatched = [augmenter.candidates_unbatched(s) for s in sentences]
    t_unbatched = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s in sentences:
        augmenter.candidates_unbatched(s, second_segment=True)
    t_reference = time.perf_counter() - t0
    same = sum(b.candidates == u.candidates for b, u in zip(batched, unbatched))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(sentences)} SST-2 sentences, "
          f"{words} words with candidates (K = 15), batch of {args.batch_size} masked copies")
    print(f"identical candidates, batched vs unbatched: {same} of {len(sentences)} sentences")
    print(f"| {'version':<62} | {'seconds':>8} | {'sentences/s':>11} | {'batched is':>10} |")
    print(f"|{'-' * 64}|{'-' * 9}:|{'-' * 12}:|{'-' * 11}:|")
    for name, t in [("reference: one forward per word, [CLS] masked [SEP] original [SEP]", t_reference),
                    ("unbatched: one forward per word, masked sentence alone", t_unbatched),
                    ("batched: kd_teach.tinybert.augment", t_batched)]:
        print(f"| {name:<62} | {t:>8.2f} | {len(sentences) / t:>11.1f} | {f'{t / t_batched:.1f}x':>10} |")
    print(f"speed-up of the batched version: {t_reference / t_batched:.1f}x over the reference's way, "
          f"{t_unbatched / t_batched:.1f}x over the same input unbatched")

if __name__ == "__main__":
    main()
