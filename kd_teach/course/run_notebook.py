"""Run a notebook in a fresh kernel without progress bars, so that what it stores is what a reader should see.

Used to store the outputs a learner or a teacher reads: ``kd-teach exercises build`` (the solution notebooks)
and ``scripts/rerun_cells.py`` (cells of a chapter notebook run again at ``cpu``). tqdm's, the Hub's and
datasets' progress bars would otherwise be stored as stderr debris. The settings go to the kernel only: the
caller's ``os.environ`` is left as it was.
"""
from __future__ import annotations

import os
from pathlib import Path

QUIET = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}


def run_notebook(nb, cwd: str | Path, timeout: int = 900, **env: str):
    """Execute every cell of ``nb`` (an ``nbformat`` notebook, changed in place) in a fresh ``python3`` kernel
    started in ``cwd``, with :data:`QUIET` and ``env`` added to this process's environment; return ``nb``.

    Raises:
        nbclient.exceptions.CellExecutionError: if a cell raises.
    """
    from nbclient import NotebookClient

    kernel_env = {**os.environ, **QUIET, **env}
    return NotebookClient(nb, timeout=timeout, kernel_name="python3",
                          resources={"metadata": {"path": str(cwd)}}).execute(env=kernel_env)
