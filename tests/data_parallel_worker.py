"""One process of the data-parallel test (tests/test_data_parallel.py): not a test itself.

    accelerate launch --multi_gpu --num_processes N tests/data_parallel_worker.py OUT ACCUM
    python tests/data_parallel_worker.py OUT ACCUM        (one process: the reference)

Trains a tiny student, dropout off, for one epoch on 64 real SST-2 rows in batches of 8 through
the shared loop, then writes OUT/rank<r>.pt: its final weights and the batches it trained on
(their first token ids). One process with ACCUM=n is the reference for n processes with ACCUM=1.
"""
import os
import sys

import torch

from kd_teach.engine.data import load_sst2, make_loader, tokenize
from transformers import AutoConfig

from kd_teach.engine.finetune import hard_label_loss
from kd_teach.engine.models import build_student, load_tokenizer, resolve_teacher
from kd_teach.engine.presets import StudentSize
from kd_teach.engine.runtime import distributed_state
from kd_teach.engine.train import Trainer, TrainConfig


def main(out: str, accum: int) -> None:
    torch.set_num_threads(1)
    tokenizer = load_tokenizer()
    rows = tokenize(load_sst2()["train"].select(range(64)), tokenizer, 32)
    loader = make_loader(rows, tokenizer, 8, shuffle=True, seed=3)
    model = build_student(AutoConfig.from_pretrained(resolve_teacher()), StudentSize(layers=1, hidden=32, heads=2, ffn=64), seed=1)
    for m in model.modules():                       # no dropout: processes would draw the same masks
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    seen = []

    def loss_fn(m, batch):
        seen.append(batch["input_ids"][:, :4].tolist())
        return hard_label_loss(m, batch)

    trainer = Trainer(model, loader, loss_fn, TrainConfig(epochs=1, lr=1e-2, grad_accum_steps=accum, max_grad_norm=1.0,
                                                          warmup_ratio=0.0, desc="data parallel"))
    trainer.run()
    rank = distributed_state().process_index                   # accelerate's, as the loop sees it
    torch.save({"weights": model.state_dict(), "seen": seen, "processes": distributed_state().num_processes,
                "wrapper": type(trainer.objective).__name__},
               os.path.join(out, f"rank{rank}.pt"))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
