"""Exercise notebooks generated from solution notebooks: one source, two audiences.

A solution notebook (a jupytext percent ``.py`` under ``solutions/``) marks each answer::

    def softmax_with_temperature(logits, T=1.0, dim=-1):
        ### BEGIN SOLUTION
        z = logits / T
        ...
        ### END SOLUTION

:func:`strip_solutions` replaces every marked block, markers included, by one line at the
block's indentation, ``raise NotImplementedError("write the body of softmax_with_temperature here")``,
and changes nothing else. The text after ``BEGIN SOLUTION`` names what to write; without it,
the enclosing function's name does. :func:`build` writes ``exercises/<name>.py`` and ``.ipynb``
for learners and ``solutions/<name>.ipynb`` for teachers (``kd-teach exercises build``), and runs each
solution notebook it rewrote (:func:`execute`), so a teacher reads every checker passing without a kernel.
A solution notebook is up to date when its cells' sources are the source file's: its stored outputs
are the run's, not part of the comparison.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import jupytext

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
_DEF = re.compile(r"^(\s*)def\s+(\w+)\s*\(")


def _what(lines: list[str], begin: int, indent: str) -> str:
    """What the learner writes for the block starting at line ``begin``."""
    named = lines[begin].strip()[len(BEGIN):].strip()
    if named:
        return named
    for line in reversed(lines[:begin]):  # the nearest enclosing def, indented less than the block
        m = _DEF.match(line)
        if m and len(m.group(1)) < len(indent):
            return f"the body of {m.group(2)}"
    return "your answer"


def strip_solutions(source: str, name: str = "<source>") -> str:
    """``source`` with every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block made a placeholder.

    Args:
        source: text of a solution notebook (jupytext percent format).
        name: shown in error messages (e.g. the file name).
    Returns:
        The exercise text: each block becomes ``raise NotImplementedError("write <what> here")``.
    Raises:
        ValueError: for a BEGIN without its END (or the reverse), or nested blocks, naming the line.
    """
    lines = source.splitlines(keepends=True)
    out, begin = [], None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if begin is not None:
                raise ValueError(f"{name}, line {i + 1}: {BEGIN} inside the block opened on line {begin + 1}")
            begin = i
        elif stripped.startswith(END):
            if begin is None:
                raise ValueError(f"{name}, line {i + 1}: {END} without a {BEGIN} before it")
            indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
            out.append(f'{indent}raise NotImplementedError("write {_what(lines, begin, indent)} here")\n')
            begin = None
        elif begin is None:
            out.append(line)
    if begin is not None:
        raise ValueError(f"{name}, line {begin + 1}: {BEGIN} never closed by {END}")
    return "".join(out)


def _ipynb(text: str) -> str:
    nb = jupytext.reads(text, fmt="py:percent")
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"  # fixed ids (not random ones), so a rebuild is byte-identical
    return jupytext.writes(nb, fmt="ipynb")


def expected_files(solutions_dir: str | Path, exercises_dir: str | Path) -> dict[Path, str]:
    """Every generated file and the text it must hold, for each ``solutions/[0-9]*.py``.

    Raises:
        FileNotFoundError: if ``solutions_dir`` holds no solution notebook.
        ValueError: if a solution has no exercise block, or unbalanced markers.
    """
    solutions_dir, exercises_dir = Path(solutions_dir), Path(exercises_dir)
    sources = sorted(solutions_dir.glob("[0-9]*.py"))
    if not sources:
        raise FileNotFoundError(f"no solution notebooks (solutions/[0-9]*.py) in {solutions_dir}")
    files = {}
    for src in sources:
        solution = src.read_text()
        exercise = strip_solutions(solution, src.name)
        if exercise == solution:
            raise ValueError(f"{src.name}: no {BEGIN} block, so the exercise would equal the solution")
        files[exercises_dir / src.name] = exercise
        files[exercises_dir / f"{src.stem}.ipynb"] = _ipynb(exercise)
        files[solutions_dir / f"{src.stem}.ipynb"] = _ipynb(solution)
    return files


def _cells(ipynb_text: str) -> list[tuple[str, str]]:
    """(cell type, source) of every cell: a notebook without its outputs."""
    return [(c["cell_type"], "".join(c["source"])) for c in json.loads(ipynb_text)["cells"]]


def _up_to_date(path: Path, text: str, solutions_dir: Path) -> bool:
    """Whether ``path`` holds ``text``: byte for byte, or for a solution notebook cell for cell (its outputs are
    the stored run's)."""
    if not path.is_file():
        return False
    if path.suffix == ".ipynb" and path.parent == solutions_dir:
        return _cells(path.read_text()) == _cells(text)
    return path.read_text() == text


def execute(notebook: str | Path, timeout: int = 900) -> None:
    """Run ``notebook`` in a fresh kernel from the repository root (where the solutions find ``results/``) and
    store its outputs, as a teacher should read it: every checker's line printed.

    Raises:
        nbclient.exceptions.CellExecutionError: if a cell fails (a checker that does not pass, say).
    """
    import nbformat

    from kd_teach.course.run_notebook import run_notebook

    notebook = Path(notebook)
    nb = nbformat.read(notebook, as_version=4)
    nbformat.write(run_notebook(nb, notebook.resolve().parents[1], timeout), notebook)


def build(solutions_dir: str | Path = "solutions", exercises_dir: str | Path = "exercises",
          run: bool = True) -> list[Path]:
    """Write the exercise notebooks (``.py`` and ``.ipynb``) and the solutions' ``.ipynb``; run each solution
    notebook written (:func:`execute`) unless ``run`` is False.

    Returns:
        The files written or rewritten (those already up to date are left alone).
    """
    solutions_dir = Path(solutions_dir)
    written = []
    for path, text in expected_files(solutions_dir, exercises_dir).items():
        if not _up_to_date(path, text, solutions_dir):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
            if run and path.suffix == ".ipynb" and path.parent == solutions_dir:
                execute(path)
    return written


def stale_files(solutions_dir: str | Path = "solutions", exercises_dir: str | Path = "exercises") -> list[Path]:
    """Generated files that are missing or differ from what :func:`build` would write (a solution notebook's
    stored outputs aside)."""
    return [p for p, text in expected_files(solutions_dir, exercises_dir).items()
            if not _up_to_date(p, text, Path(solutions_dir))]
