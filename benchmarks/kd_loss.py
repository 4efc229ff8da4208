"""Cost of the from-scratch Hinton distillation loss against torch's own kl_div, same tensors.

    python benchmarks/kd_loss.py

Times forward + backward of ``kd_teach.distillation_loss`` and of the reference
``F.kl_div(F.log_softmax(z_s/T), F.softmax(z_t/T), reduction="batchmean") * T**2``, for a
2-class task (SST-2) and a 30,522-way vocabulary (DistilBERT's L_ce over masked tokens), and
prints the ratio. Both are measured in the same run, interleaved, median of repeats.
"""
from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from kd_teach import distillation_loss

T = 2.0


def reference(z_s, z_t):
    return F.kl_div(F.log_softmax(z_s / T, -1), F.softmax(z_t / T, -1), reduction="batchmean") * T**2


def time_it(fn, z_s, z_t, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        z = z_s.detach().clone().requires_grad_(True)
        t0 = time.perf_counter()
        fn(z, z_t).backward()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, T = {T}")
    print(f"{'case':<34}{'kd_teach (ms)':>15}{'torch kl_div (ms)':>19}{'ratio':>8}")
    for name, shape, repeats in (("SST-2 logits (32, 2)", (32, 2), 2000),
                                 ("masked tokens (512, 30522)", (512, 30_522), 20)):
        z_s, z_t = torch.randn(shape), torch.randn(shape)
        torch.testing.assert_close(distillation_loss(z_s, z_t, T), reference(z_s, z_t), rtol=1e-4, atol=1e-6)
        ours, theirs = [], []
        for _ in range(3):  # interleave to spread any drift of the CPU's speed over both
            ours.append(time_it(lambda s, t: distillation_loss(s, t, T), z_s, z_t, repeats))
            theirs.append(time_it(reference, z_s, z_t, repeats))
        a, b = statistics.median(ours) * 1e3, statistics.median(theirs) * 1e3
        print(f"{name:<34}{a:>15.3f}{b:>19.3f}{a / b:>8.2f}")


if __name__ == "__main__":
    main()
