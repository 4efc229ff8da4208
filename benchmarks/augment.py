"""TinyBERT's data augmentation: the batched candidates of kd_teach against the reference's one forward per word.

    python benchmarks/augment.py [--sentences 200] [--batch-size 128]

Both versions find the candidates of every replaceable word of the same SST-2 training
sentences with the same masked-LM teacher (all-MiniLM-L6-v2 with an MLM head) and GloVe:

- **unbatched** (:meth:`kd_teach.augment.Augmenter.candidates_unbatched`), the reference code's
  way: one forward per word, the whole vocabulary scored at every position, autograd on;
- **batched** (:meth:`kd_teach.augment.Augmenter.candidates`): one masked copy per word, many
  sentences' copies per forward, the vocabulary scored at the masked positions only, under
  ``torch.inference_mode``.

The script checks that both give the same candidates, then prints sentences per second and
the ratio, measured in the same run. The MLM head is freshly initialised (seeded): its
training changes the candidates, not the cost. Needs the SST-2 folder ($KD_TEACH_DATA_DIR).
"""
from __future__ import annotations

import argparse
import time

import torch

from kd_teach.augment import Augmenter, WordVectors
from kd_teach.data import load_sst2
from kd_teach.models import load_mlm_teacher, load_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=200, help="SST-2 training sentences (default 200)")
    parser.add_argument("--batch-size", type=int, default=128, help="masked copies per forward (default 128)")
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
    same = sum(b.candidates == u.candidates for b, u in zip(batched, unbatched))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(sentences)} SST-2 sentences, "
          f"{words} words with candidates (K = 15), batch of {args.batch_size} masked copies")
    print(f"identical candidates in {same} of {len(sentences)} sentences")
    print(f"{'version':<44}{'seconds':>9}{'sentences/s':>13}")
    print(f"{'unbatched: one forward per word (reference)':<44}{t_unbatched:>9.2f}{len(sentences) / t_unbatched:>13.1f}")
    print(f"{'batched: kd_teach.augment':<44}{t_batched:>9.2f}{len(sentences) / t_batched:>13.1f}")
    print(f"speed-up of the batched version: {t_unbatched / t_batched:.1f}x")


if __name__ == "__main__":
    main()
