"""Each chapter's quiz asks only what its notebook, or an earlier one, has taught.

Every question names the notebook that teaches it (``taught_in``). The quiz calls of
``notebooks/NN_*.py`` (``quiz.show(...)`` or ``show(...)``) are read from the sources, and the
pool each one can draw from (before sampling: any seed, any shuffle) must hold no question
taught in a later notebook.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kd_teach.course.bank import NOTEBOOKS, load_bank
from kd_teach.course.quiz import show

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
ORDER = list(NOTEBOOKS)
BANK = load_bank()
FILTERS = ("chapter", "topic", "upto")


def quiz_calls(source: str) -> list[dict]:
    """The keyword arguments of every ``show(...)`` / ``quiz.show(...)`` call in a notebook's source.

    A keyword may be a literal or a name assigned a literal at the top level (``TOPIC = "kd-loss"``).
    Raises:
        AssertionError: if a call passes positional arguments, which this test could not check.
        ValueError: for a keyword value that is neither.
    """
    tree, calls = ast.parse(source), []
    constants = {}                                          # NAME = "literal" at the top level (a parameters cell)
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                constants[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass

    def value(v: ast.expr):
        return constants[v.id] if isinstance(v, ast.Name) and v.id in constants else ast.literal_eval(v)

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (
                (isinstance(node.func, ast.Name) and node.func.id == "show")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "show"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "quiz")):
            assert not node.args, f"line {node.lineno}: pass the quiz's filters by name, got {ast.unparse(node)}"
            calls.append({kw.arg: value(kw.value) for kw in node.keywords})
    return calls


def later_questions(notebook: str, call: dict) -> list[str]:
    """Ids of the questions ``call`` could draw in ``notebook`` that a later notebook teaches."""
    pool = load_bank(**{k: call.get(k) for k in FILTERS})
    return [f"{q.id} ({q.taught_in})" for q in pool if ORDER.index(q.taught_in) > ORDER.index(notebook)]


def test_the_bank_knows_every_notebook_of_the_course():
    assert sorted(NOTEBOOKS) == sorted(p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))


def test_every_question_is_taught_in_a_notebook_that_exists():
    missing = [f"{q.id}: notebooks/{q.taught_in}.py" for q in BANK if not (NOTEBOOK_DIR / f"{q.taught_in}.py").is_file()]
    assert not missing, missing
    assert {q.taught_in for q in BANK} >= set(ORDER[:8])  # every chapter teaches something the bank asks


@pytest.mark.parametrize("notebook", ORDER)
def test_a_chapter_quiz_holds_nothing_taught_later(notebook):
    calls = quiz_calls((NOTEBOOK_DIR / f"{notebook}.py").read_text(encoding="utf-8"))
    assert calls, f"notebooks/{notebook}.py has no quiz.show(...) call"
    for call in calls:
        later = later_questions(notebook, call)
        assert not later, f"notebooks/{notebook}.py: show({call}) can ask what only later notebooks teach: {later}"
        pool = load_bank(**{k: call.get(k) for k in FILTERS})
        assert len(pool) >= (call.get("n") or 1), f"notebooks/{notebook}.py: show({call}) has {len(pool)} questions"


def test_the_check_catches_a_quiz_that_reaches_ahead():
    assert later_questions("01_dark_knowledge", {"upto": "08_full_runs"})      # a review of the whole course
    assert later_questions("08_full_runs", {"topic": "results-ablations"})     # 08's old call: one 99-only question
    assert later_questions("03_teacher_student", {"chapter": "04_distilbert"}) == [
        f"{q.id} (04_distilbert)" for q in load_bank(chapter="04_distilbert")]
    assert not later_questions("05_transformer_distillation", {"upto": "05_transformer_distillation"})
    with pytest.raises(AssertionError, match="pass the quiz's filters by name"):
        quiz_calls('show("01_dark_knowledge")')


def test_notebook_01s_quiz_asks_about_temperature_and_dark_knowledge():
    [call] = quiz_calls((NOTEBOOK_DIR / "01_dark_knowledge.py").read_text(encoding="utf-8"))
    topics = [item.question.topic for item in show(**call).items]
    assert {"temperature", "dark-knowledge"} <= set(topics), topics
    assert not {"student-design", "distilbert"} & set(topics)
