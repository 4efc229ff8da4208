"""Exercises are generated from the solutions, stay in sync, and stop cleanly where unsolved."""
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from kd_teach.course.exercises import stale_files, strip_solutions

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = sorted((ROOT / "exercises").glob("[0-9]*.ipynb"))


def test_exercises_are_up_to_date_with_the_solutions():
    stale = [str(p.relative_to(ROOT)) for p in stale_files(ROOT / "solutions", ROOT / "exercises")]
    assert not stale, f"out of date with solutions/: {stale}; run `kd-teach exercises build`"


SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9]*.ipynb"))


@pytest.mark.parametrize("notebook", SOLUTIONS, ids=lambda p: p.stem)
def test_every_solution_notebook_is_stored_run_with_its_checkers_passing(notebook):
    """A teacher reads the solutions without a kernel: every code cell ran (in order) and every checker called
    printed its success line; no error, no stderr (`kd-teach exercises build` runs what it rewrites)."""
    nb = nbformat.read(notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    assert all(counts) and counts == sorted(counts), f"{notebook.name} is not stored run: `kd-teach exercises build`"
    for cell in code:
        kinds = {o.get("name", o["output_type"]) for o in cell.outputs}
        assert not kinds & {"error", "stderr"}, f"{notebook.name}: {cell.source[:80]!r} stored {kinds}"
        text = "".join(o.get("text", "") for o in cell.outputs if o["output_type"] == "stream")
        calls = [l for l in cell.source.splitlines() if l.startswith("check_") or l.startswith("check(")]
        assert text.count("✓") >= len(calls) and "✗" not in text, \
            f"{notebook.name}: a checker in {cell.source[:80]!r} did not pass: {text[-300:]!r}"


def test_a_rebuild_keeps_a_run_solutions_outputs_and_reruns_one_that_changed(tmp_path):
    from kd_teach.course.exercises import build

    sol, ex = tmp_path / "solutions", tmp_path / "exercises"
    sol.mkdir()
    (sol / "01_demo.py").write_text("# %%\nx = 1\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION\nprint(x + y)\n")
    assert len(build(sol, ex, run=False)) == 3
    stored = nbformat.read(sol / "01_demo.ipynb", as_version=4)
    stored.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="3\n")]
    nbformat.write(stored, sol / "01_demo.ipynb")
    assert build(sol, ex, run=False) == [] and stale_files(sol, ex) == []       # outputs are not staleness
    assert nbformat.read(sol / "01_demo.ipynb", as_version=4).cells[0].outputs   # and survive a rebuild
    (sol / "01_demo.py").write_text("# %%\nx = 2\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION\nprint(x + y)\n")
    assert stale_files(sol, ex) == [ex / "01_demo.py", ex / "01_demo.ipynb", sol / "01_demo.ipynb"]

    # build runs the solution it rewrote, from the folder above solutions/, without progress bars, and
    # sets that for the kernel only (kd_teach.course.run_notebook), never in the caller's environment
    (sol / "01_demo.py").write_text("# %%\nimport os\nx = 2\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION\n"
                                    "print(x + y, os.environ['TQDM_DISABLE'], os.getcwd())\n")
    caller = dict(os.environ)
    build(sol, ex)
    assert nbformat.read(sol / "01_demo.ipynb", as_version=4).cells[0].outputs[0]["text"] == f"4 1 {tmp_path.resolve()}\n"
    assert dict(os.environ) == caller


def test_there_is_an_exercise_notebook_per_chapter_and_the_find_the_bug_set():
    assert [p.stem for p in EXERCISES] == ["01_dark_knowledge", "02_hinton_kd", "03_teacher_student",
                                            "04_distilbert", "05_transformer_distillation",
                                            "06_general_distillation", "07_task_distillation", "08_full_runs", "09_deploying_the_student",
                                            "90_find_the_bug"]


def test_a_block_becomes_one_placeholder_at_its_indentation_and_nothing_else_changes():
    solution = (
        "import torch\n\n"
        "def f(x):\n"
        '    """Doc."""\n'
        "    ### BEGIN SOLUTION\n"
        "    y = x + 1\n"
        "    return y\n"
        "    ### END SOLUTION\n\n\n"
        "check(f)\n"
        "### BEGIN SOLUTION guess = (your guess)\n"
        "guess = 3\n"
        "### END SOLUTION\n"
    )
    assert strip_solutions(solution) == (
        "import torch\n\n"
        "def f(x):\n"
        '    """Doc."""\n'
        '    raise NotImplementedError("write the body of f here")\n\n\n'
        "check(f)\n"
        'raise NotImplementedError("write guess = (your guess) here")\n'
    )


def test_text_without_blocks_is_unchanged():
    text = "# %%\nx = 1  # ### not a marker\n"
    assert strip_solutions(text) == text


@pytest.mark.parametrize("bad, where", [
    ("### BEGIN SOLUTION\nx = 1\n", "line 1: ### BEGIN SOLUTION never closed"),
    ("x = 1\n### END SOLUTION\n", "line 2: ### END SOLUTION without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "line 2: ### BEGIN SOLUTION inside"),
])
def test_unbalanced_markers_are_reported_with_their_line(bad, where):
    with pytest.raises(ValueError, match=where):
        strip_solutions(bad, "demo.py")


@pytest.mark.slow
@pytest.mark.parametrize("notebook", EXERCISES, ids=lambda p: p.stem)
def test_an_exercise_run_as_given_stops_at_its_first_placeholder(notebook):
    nb = nbformat.read(notebook, as_version=4)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    first = next(i for i in code if 'raise NotImplementedError("write' in nb.cells[i].source)
    expected = nb.cells[first].source.split('raise NotImplementedError("', 1)[1].split('")', 1)[0]
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
    with pytest.raises(CellExecutionError) as err:
        client.execute()
    assert err.value.ename == "NotImplementedError"
    assert err.value.evalue == expected              # the placeholder's own words, not a confusing error
    failed = [i for i in code if any(o.get("output_type") == "error" for o in nb.cells[i].get("outputs", []))]
    assert failed == [first], f"expected the first placeholder (cell {first}) to stop the run, got {failed}"
    assert all(nb.cells[i].get("execution_count") for i in code if i < first)  # every cell before it ran
