"""What a learner reads without running anything: the committed notebooks' stored outputs.

They are made by `make notebooks` at the `cpu` preset (real scale), so they must show real-scale
results, labelled, with no debris: no stderr, no warnings, no paths of the machine that made
them, and no table holding rows of a later chapter. nbval (`--nbval-lax`) executes the
notebooks at `smoke` separately; these tests read the committed files only.
"""
import json
import re
from pathlib import Path

import pytest

from kd_teach.course.chapters import CHAPTER_ROWS
from kd_teach.engine.pipeline import ROWS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
TRAINING = ["02_hinton_kd", "04_distilbert", "07_task_distillation", "08_full_runs", "09_deploying_the_student"]


def outputs(path: Path) -> list[tuple[int, str, str]]:
    """(cell index, output kind, text) for every stored output of the notebook."""
    found = []
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        for out in cell.get("outputs", []):
            if out["output_type"] == "stream":
                text = "".join(out["text"])
                if found and found[-1][:2] == (i, out["name"]):      # one print split over several outputs
                    found[-1] = (i, out["name"], found[-1][2] + text)
                else:
                    found.append((i, out["name"], text))
            elif out["output_type"] == "error":
                found.append((i, "error", out["ename"]))
            else:
                for mime, data in out.get("data", {}).items():
                    if mime.startswith("text/"):
                        found.append((i, mime, "".join(data)))
    return found


def test_every_notebook_is_here():
    assert [p.stem for p in NOTEBOOKS][:2] == ["01_dark_knowledge", "02_hinton_kd"] and len(NOTEBOOKS) == 10


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_debris_in_stored_outputs(path):
    for cell, kind, text in outputs(path):
        assert kind not in ("stderr", "error"), f"{path.name} cell {cell} stores {kind}: {text[:200]!r}"
        for debris in ("Warning:", "LOAD REPORT", "/root/", "/home/", "/work/", "/tmp/", "it/s]"):
            assert debris not in text, f"{path.name} cell {cell} stores {debris!r}: {text[:300]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_are_real_scale(path):
    """`make notebooks` runs at cpu: nothing stored may come from a smoke run."""
    for cell, _, text in outputs(path):
        assert "preset smoke" not in text, f"{path.name} cell {cell} was stored from a smoke run"


@pytest.mark.parametrize("chapter", TRAINING)
def test_a_chapters_tables_hold_only_its_rows_and_say_where_they_come_from(chapter):
    path = next(p for p in NOTEBOOKS if p.stem == chapter)
    allowed = set(CHAPTER_ROWS[chapter])
    texts = [text for _, kind, text in outputs(path) if kind in ("text/markdown", "stdout")]
    for text in texts:
        for first in re.findall(r"^\| `?([a-z0-9-]+)`? \|", text, flags=re.M):
            if first in ROWS:
                assert first in allowed, f"{chapter} shows {first!r}, a row of a later chapter"
    shown = "\n".join(texts)
    assert "preset cpu" in shown and "seeds 0, 1, 2" in shown   # the reference, labelled
    assert "your run (preset cpu, seed 0)" in shown              # the learner's run beside it


def test_notebook_2_stores_distillation_winning():
    text = "\n".join(t for _, kind, t in outputs(next(p for p in NOTEBOOKS if p.stem == "02_hinton_kd"))
                     if kind == "text/markdown")
    means = dict(re.findall(r"^\| (baseline|hinton-kd) \| .* \| ([0-9.]+) \[[0-9.]+, [0-9.]+\] \| .* \|$", text,
                            flags=re.M))                              # the reference's mean [95% interval] column
    assert float(means["hinton-kd"]) > float(means["baseline"]) + 0.02


def test_notebook_4_stores_a_masked_lm_teacher_with_different_guesses_per_blank():
    texts = [t for _, kind, t in outputs(next(p for p in NOTEBOOKS if p.stem == "04_distilbert")) if kind == "stdout"]
    predictions = next(t for t in texts if "[MASK]" in t and "T=1:" in t)
    top5 = [tuple(re.findall(r"(\S+) [01]\.\d{3}", line.split("(top-5")[0]))
            for line in predictions.splitlines() if "T=1:" in line]
    assert len(top5) == 3 and len(set(top5)) == 3, top5
    assert "coffee" in " ".join(top5[1]) or "tea" in top5[1], top5[1]   # "he drank a cup of [MASK] ."


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_stored_quiz_shows_its_answer_key_without_a_kernel(path):
    """A viewer with no kernel shows a widget's text/html: each stored quiz keeps its questions and, folded in
    <details>, their answers (kd_teach.course.quiz.Quiz.static_html)."""
    nb = json.loads(path.read_text())
    quizzes = [c for c in nb["cells"] if c["cell_type"] == "code" and "quiz" in "".join(c["source"])
               and "show(" in "".join(c["source"])]
    assert quizzes, f"{path.name} has no quiz"
    for cell in quizzes:
        pages = ["".join(o["data"]["text/html"]) for o in cell["outputs"] if "text/html" in o.get("data", {})]
        assert pages and all("<details><summary>Answer key" in p for p in pages), \
            f"{path.name}: a stored quiz has no answer key (python scripts/rerun_cells.py {path.relative_to(ROOT)} N)"


RUN_TIME = re.compile(r"\b\d[\d,.]*\s?(?:s|seconds?|minutes?|min|hours?)\b")
SOURCES = ("paper", "et al.", "benchmarks/", "results/")   # where a quoted time may come from


def sentences(markdown: str) -> list[str]:
    """A markdown cell's sentences; a list item, a table row and a heading start a new one."""
    blocks = re.split(r"\n\s*\n|\n(?=\s*(?:[-*|#>]|\d+\.)\s)", markdown)
    return [s for block in blocks for s in re.split(r"(?<=[.!?])\s+(?=[A-Z`*(])", block) if s.strip()]


@pytest.mark.parametrize("path", NOTEBOOKS + sorted((ROOT / "exercises").glob("[0-9]*.ipynb")), ids=lambda p: p.stem)
def test_a_time_in_prose_names_its_source(path):
    """A run time written into prose goes stale as the code changes (02 once said "about 5 minutes" beside a stored
    3,020 s). Times a learner waits for are printed by the cell, from the reference run
    (kd_teach.course.chapters.training_estimate); prose quotes a time only with its source: a paper, a benchmark
    script or a committed results file."""
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for sentence in sentences("".join(cell["source"])):
            if RUN_TIME.search(sentence):
                assert any(s in sentence for s in SOURCES), (
                    f"{path.name} cell {i} quotes a time without its source: {' '.join(sentence.split())!r}. "
                    f"Print it from the reference in the cell (training_estimate), or name where it comes from "
                    f"({', '.join(SOURCES)})")


def test_the_time_rule_catches_an_unsourced_time():
    bad = "- The paper's recipe.\n- The `cpu` preset takes about 5 minutes on two cores. It is cached."
    good = "DistilBERT trained for 90 hours (the paper). The reference took 240 s (`results/cpu/results.json`)."
    assert [bool(RUN_TIME.search(s)) and not any(x in s for x in SOURCES) for s in sentences(bad)] == [False, True, False]
    assert not any(RUN_TIME.search(s) and not any(x in s for x in SOURCES) for s in sentences(good))
