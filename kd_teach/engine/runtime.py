"""Process-wide settings: the device and processes (accelerate's state), progress bars, numerics set only while needed."""
from __future__ import annotations

import os
from contextlib import contextmanager

import torch
from accelerate import PartialState


def distributed_state() -> PartialState:
    """accelerate's view of this run: one process, or one of several under ``accelerate launch``.

    It gives the process's rank (``process_index``), ``num_processes``, ``is_main_process``,
    ``wait_for_everyone()`` and ``device``. ``cpu=True`` when there is no CUDA GPU, so that
    several processes on CPUs join through gloo (what the data-parallel test runs).
    """
    return PartialState(cpu=not torch.cuda.is_available())


def default_device() -> torch.device:
    """This process's device: its own GPU under ``accelerate launch`` on several GPUs
    (``cuda:<LOCAL_RANK>``), the GPU when there is one, else the CPU."""
    return distributed_state().device


def progress_disabled() -> bool:
    """True when ``$TQDM_DISABLE`` asks for no progress bars. tqdm honours it in a terminal but tqdm.notebook
    does not (it sets ``disable`` itself), so kd_teach passes it on: `make notebooks` and the tests set it."""
    return bool(os.environ.get("TQDM_DISABLE"))


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
