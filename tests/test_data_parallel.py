"""The shared loop on two processes (gloo, on the CPU) through `accelerate launch`: accelerate's own
DistributedDataParallel, as it runs on several GPUs."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("data_parallel_worker.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(out: Path, processes: int, accum: int) -> None:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    if processes == 1:
        cmd = [sys.executable, str(WORKER), str(out), str(accum)]
    else:  # --multi_gpu picks torchrun; without a GPU, accelerate joins the processes through gloo
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(_free_port()), str(WORKER), str(out), str(accum)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]


@pytest.mark.slow
def test_two_processes_split_the_batches_and_step_as_one_process_accumulating_two(tmp_path):
    (tmp_path / "dp").mkdir()
    (tmp_path / "one").mkdir()
    _run(tmp_path / "dp", processes=2, accum=1)        # each process: every other batch, DDP averages gradients
    _run(tmp_path / "one", processes=1, accum=2)       # one process: two batches per step, gradients averaged
    r0, r1 = (torch.load(tmp_path / "dp" / f"rank{r}.pt") for r in (0, 1))
    one = torch.load(tmp_path / "one" / "rank0.pt")
    assert r0["processes"] == r1["processes"] == 2 and one["processes"] == 1
    assert r0["wrapper"] == "DistributedDataParallel" and one["wrapper"] == "Objective"  # accelerate's DDP, not ours

    # the two processes trained on disjoint halves of the batches, together all of them
    assert len(r0["seen"]) == len(r1["seen"]) == len(one["seen"]) // 2 == 4
    assert sorted(r0["seen"] + r1["seen"]) == sorted(one["seen"])
    assert not set(map(str, r0["seen"])) & set(map(str, r1["seen"]))
    # they end with the same weights, those of one process accumulating the same batches two by two
    for name, w in one["weights"].items():
        assert torch.equal(r0["weights"][name], r1["weights"][name]), name
        torch.testing.assert_close(r0["weights"][name], w, atol=1e-5, rtol=1e-4, msg=name)
