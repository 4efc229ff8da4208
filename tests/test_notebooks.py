"""Notebooks are kept as jupytext percent sources; the executed .ipynb must match them."""
from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9]*.py"))


def test_there_are_notebooks():
    assert [p.stem for p in SOURCES][:3] == ["01_dark_knowledge", "02_hinton_kd", "03_teacher_student"]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_ipynb_is_in_sync_with_its_py_source(source):
    ipynb = source.with_suffix(".ipynb")
    assert ipynb.is_file(), f"{ipynb.name} missing: run `make notebooks`"
    cells = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
    assert cells(jupytext.read(ipynb)) == cells(jupytext.read(source)), f"{ipynb.name} is stale: run `make notebooks`"
    executed = [c for c in jupytext.read(ipynb).cells if c.cell_type == "code"]
    assert all(c.get("outputs") is not None and c.execution_count for c in executed), \
        f"{ipynb.name} was not executed: run `make notebooks`"
