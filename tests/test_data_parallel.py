"""The shared loop on two processes (gloo, on the CPU): data-parallel, as `accelerate launch` runs it on GPUs."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

WORKER = Path(__file__).with_name("data_parallel_worker.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(out: Path, world: int, accum: int) -> None:
    port, procs = str(_free_port()), []
    for rank in range(world):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
               "LOCAL_WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port,
               "CUDA_VISIBLE_DEVICES": "", "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
        if world == 1:
            for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
                env.pop(k)
        procs.append(subprocess.Popen([sys.executable, str(WORKER), str(out), str(accum)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for p in procs:
        output, _ = p.communicate(timeout=300)
        assert p.returncode == 0, output[-3000:]


def test_two_processes_split_the_batches_and_step_as_one_process_accumulating_two(tmp_path):
    (tmp_path / "dp").mkdir()
    (tmp_path / "one").mkdir()
    _launch(tmp_path / "dp", world=2, accum=1)        # each process: every other batch, gradients averaged
    _launch(tmp_path / "one", world=1, accum=2)       # one process: two batches per step, gradients averaged
    r0, r1 = (torch.load(tmp_path / "dp" / f"rank{r}.pt") for r in (0, 1))
    one = torch.load(tmp_path / "one" / "rank0.pt")

    # the two processes trained on disjoint halves of the batches, together all of them
    assert len(r0["seen"]) == len(r1["seen"]) == len(one["seen"]) // 2 == 4
    assert sorted(r0["seen"] + r1["seen"]) == sorted(one["seen"])
    assert not set(map(str, r0["seen"])) & set(map(str, r1["seen"]))
    # they end with the same weights, those of one process accumulating the same batches two by two
    for name, w in one["weights"].items():
        assert torch.equal(r0["weights"][name], r1["weights"][name]), name
        torch.testing.assert_close(r0["weights"][name], w, atol=1e-5, rtol=1e-4, msg=name)
