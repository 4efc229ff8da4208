"""Process-wide settings: seeds, devices, the processes of a multi-GPU run, numerics set only while needed."""
from __future__ import annotations

import os
import random
from contextlib import contextmanager

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def default_device() -> torch.device:
    """This process's device: the GPU when CUDA is available (under ``accelerate launch`` on several
    GPUs, this process's own one, ``cuda:<LOCAL_RANK>``), else the CPU."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", int(os.environ["LOCAL_RANK"])) if "LOCAL_RANK" in os.environ else torch.device("cuda")


# --- Several processes (`accelerate launch --num_processes N`): one per GPU, the same code in each ---

def world_size() -> int:
    """How many processes run this program together (1 unless launched by ``accelerate launch`` or torchrun)."""
    return int(os.environ.get("WORLD_SIZE", 1))


def progress_disabled() -> bool:
    """True when ``$TQDM_DISABLE`` asks for no progress bars. tqdm honours it in a terminal but tqdm.notebook
    does not (it sets ``disable`` itself), so kd_teach passes it on: `make notebooks` and the tests set it."""
    return bool(os.environ.get("TQDM_DISABLE"))


def is_main_process() -> bool:
    """True in the one process that writes files (caches, checkpoints, results); every process computes."""
    return int(os.environ.get("RANK", 0)) == 0


def wait_for_everyone() -> None:
    """A barrier across processes: return when all have reached it (nothing to wait for in one process)."""
    if world_size() > 1:
        from accelerate import PartialState

        PartialState(cpu=not torch.cuda.is_available()).wait_for_everyone()


def average_gradients(model: torch.nn.Module) -> None:
    """Data parallelism by hand: replace every process's gradients by their mean over all processes.

    Each process computed its gradients on its own share of the batches; after this all hold
    the same mean gradient, so the same optimiser step keeps their weights equal. This is what
    ``DistributedDataParallel`` does (without overlapping it with the backward pass); the loop
    does it itself so that the stages' losses can call into the model's parts (a wrapper would
    hide them). One all-reduce over all gradients flattened into one buffer.

    Raises:
        RuntimeError: if the processes disagree on which parameters have gradients.
    """
    import torch.distributed as dist

    grads = [p.grad for p in model.parameters() if p.grad is not None]
    count = torch.tensor([len(grads), -len(grads)], device=next(model.parameters()).device)
    dist.all_reduce(count, op=dist.ReduceOp.MAX)                     # [max n, -min n] over processes
    if count[0] != -count[1]:
        raise RuntimeError(f"processes disagree on which parameters have gradients: between {-count[1].item()} "
                           f"and {count[0].item()} of them")
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])                  # (sum of numels,)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= world_size()                                              # the mean gradient
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def _denormals_flushed() -> bool:
    tiny = torch.tensor(1e-30, dtype=torch.float32)
    return (tiny * 1e-10).item() == 0.0  # 1e-40 is a denormal float32: 0 when flushed


@contextmanager
def flush_denormals():
    """Treat denormal floats as zero inside the block; restore the previous mode after.

    Tiny (denormal) values appear in a freshly initialised BERT's activations and Adam state
    after a few dozen steps; on this course's CPUs they made every training step about 20x
    slower (measured: 113 s against 5 s for the same smoke student). The mode is global to the
    process, so it is switched back on exit (hypothesis, for one, refuses to run under it).
    """
    before = _denormals_flushed()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


@contextmanager
def fast_matmuls():
    """On a CUDA GPU, let float32 matrix products use TF32 inside the block; restore the mode after.

    TF32 keeps float32's range with a 10-bit mantissa in the tensor cores: several times the
    float32 throughput of an A100 or H100, at the precision bf16 autocast already accepts.
    Nothing changes on a CPU.
    """
    if not torch.cuda.is_available():
        yield
        return
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
