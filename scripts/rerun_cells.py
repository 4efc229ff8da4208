"""Run some cells of a stored notebook again, in order, in one fresh kernel, and store their new outputs.

    python scripts/rerun_cells.py notebooks/08_full_runs.ipynb 1 3 5 [--preset cpu] [--prelude CODE] [--timeout S]

For cells whose output depends only on committed files (the reference tables, which read ``results/``,
and the bank summary), when those files change: the rest of the notebook keeps the outputs of its last
full run at ``cpu`` (which ``make notebooks`` makes, an hour or more on 2 cores), and the cells named here
get exactly what a full run would print now. Give every cell the named ones need (the imports), first;
``--prelude`` runs a line of set-up before them (say ``CHAPTER = "04_distilbert"`` where the cell that
defines it also trains), which is not stored.
Cell numbers count every cell, markdown included, from 0, as ``nbformat`` does. Each rerun cell keeps its
execution count, so the notebook still reads in its run's order.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

from kd_teach.course.run_notebook import run_notebook


def rerun(path: Path, cells: list[int], preset: str, prelude: str = "", timeout: int = 900) -> None:
    nb = nbformat.read(path, as_version=4)
    wrong = [i for i in cells if not (0 <= i < len(nb.cells)) or nb.cells[i].cell_type != "code"]
    if wrong:
        raise ValueError(f"cells {wrong} of {path} are not code cells (it has {len(nb.cells)} cells)")
    part = copy.deepcopy(nb)
    part.cells = [nbformat.v4.new_code_cell(prelude)] * bool(prelude) + [copy.deepcopy(nb.cells[i]) for i in cells]
    run_notebook(part, path.parent, timeout, KD_TEACH_PRESET=preset)
    for i, cell in zip(cells, part.cells[bool(prelude):]):
        nb.cells[i].outputs = [o for o in cell.outputs]
        for o in nb.cells[i].outputs:          # the stored run's numbering, not this partial run's
            if "execution_count" in o:
                o["execution_count"] = nb.cells[i].execution_count
    nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("cells", nargs="+", type=int)
    parser.add_argument("--preset", default="cpu", help="KD_TEACH_PRESET for the kernel (default cpu)")
    parser.add_argument("--prelude", default="", help="code run first, not stored (e.g. a constant a cell needs)")
    parser.add_argument("--timeout", type=int, default=900,
                        help="seconds a cell may run (default 900; a cell that trains rows at cpu needs more)")
    args = parser.parse_args(argv)
    rerun(args.notebook, args.cells, args.preset, args.prelude, args.timeout)
    print(f"{args.notebook}: cells {', '.join(map(str, args.cells))} run again and stored")
    return 0


if __name__ == "__main__":
    sys.exit(main())
