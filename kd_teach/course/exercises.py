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
for learners and ``solutions/<name>.ipynb`` for teachers (``kd-teach exercises build``).
"""
from __future__ import annotations

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


def build(solutions_dir: str | Path = "solutions", exercises_dir: str | Path = "exercises") -> list[Path]:
    """Write the exercise notebooks (``.py`` and ``.ipynb``) and the solutions' ``.ipynb``.

    Returns:
        The files written or rewritten (those already up to date are left alone).
    """
    written = []
    for path, text in expected_files(solutions_dir, exercises_dir).items():
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written


def stale_files(solutions_dir: str | Path = "solutions", exercises_dir: str | Path = "exercises") -> list[Path]:
    """Generated files that are missing or differ from what :func:`build` would write."""
    return [p for p, text in expected_files(solutions_dir, exercises_dir).items()
            if not p.is_file() or p.read_text() != text]
