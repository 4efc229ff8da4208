"""Each chapter's table: its own rows in a fixed order, the committed reference, the learner's run beside it."""
import json
import pytest

from kd_teach.course.chapters import (CHAPTER_COMPARISONS, CHAPTER_ROWS, beside_reference, chapter_reference,
                                      chapter_rows, expectation, run_dir)
from kd_teach.engine.pipeline import CHAPTER_TABLE, ROWS
from kd_teach.engine.verdicts import compare, reference_labels

ORDER = ["02_hinton_kd", "04_distilbert", "07_task_distillation", "08_full_runs", "09_deploying_the_student"]


def test_a_chapter_never_shows_a_later_chapters_rows():
    assert list(CHAPTER_ROWS) == ORDER
    introduced = set()
    for chapter in ORDER[:-1]:
        introduced |= set(CHAPTER_ROWS[chapter])
        later = set(ROWS) - introduced
        assert not later & set(CHAPTER_ROWS[chapter])
        assert CHAPTER_ROWS[chapter][:2] == ("teacher", "baseline")
    assert CHAPTER_ROWS["08_full_runs"] == CHAPTER_TABLE   # the full leaderboard of notebooks 02-08
    table_6 = {"tinybert-no-embd", "tinybert-no-hidn", "tinybert-no-attn"}     # outside `all`, read in notebook 07
    deployment = {"distilbert-1layer", "tinybert-1layer"}                        # asked for by name, notebook 09
    assert set(ROWS) - set(CHAPTER_TABLE) == table_6 | deployment
    assert table_6 <= set(CHAPTER_ROWS["07_task_distillation"]) and deployment <= set(CHAPTER_ROWS["09_deploying_the_student"])


def test_chapter_rows_filters_and_orders():
    rows = [{"name": n, "seed": s} for n in ("tinybert", "hinton-kd", "teacher", "distilbert", "baseline")
            for s in (1, 0)]
    got = chapter_rows(rows, "02_hinton_kd")
    assert [(r["name"], r["seed"]) for r in got] == [("teacher", 0), ("teacher", 1), ("baseline", 0),
                                                      ("baseline", 1), ("hinton-kd", 0), ("hinton-kd", 1)]
    with pytest.raises(ValueError, match="chapter must be one of .*'03_teacher_student'"):
        chapter_rows(rows, "03_teacher_student")


@pytest.mark.parametrize("chapter", ORDER)
def test_the_committed_reference_has_every_row_of_the_chapter_over_three_seeds(chapter):
    reference = chapter_reference(chapter)
    assert {r["name"] for r in reference} == set(CHAPTER_ROWS[chapter])
    for name in CHAPTER_ROWS[chapter][1:]:
        assert sorted(r["seed"] for r in reference if r["name"] == name) == [0, 1, 2], name
    for a, b in CHAPTER_COMPARISONS[chapter]:
        assert compare(reference, a, b, reference_labels())["seeds"] == [0, 1, 2]


def test_the_learners_run_goes_beside_the_reference():
    reference = [{"name": "teacher", "seed": 0, "accuracy": 0.8, "preset": "cpu"}] + [
        {"name": n, "seed": s, "accuracy": a + s / 100, "preset": "cpu"}
        for n, a in (("baseline", 0.6), ("hinton-kd", 0.7)) for s in (0, 1, 2)]
    own = [{"name": "teacher", "seed": 0, "accuracy": 0.75, "preset": "smoke"},
           {"name": "hinton-kd", "seed": 0, "accuracy": 0.5, "preset": "smoke"},
           {"name": "tinybert", "seed": 0, "accuracy": 0.4, "preset": "smoke"}]
    lines = beside_reference(own, reference).splitlines()
    assert lines[0] == "| row | your run (preset smoke, seed 0) | reference (preset cpu, mean ± sd) | reference seeds |"
    assert lines[2:] == ["| teacher | 0.7500 | 0.8000 ± 0.0000 | 1 |",
                         "| baseline | not run here | 0.6100 ± 0.0100 | 3 |",
                         "| hinton-kd | 0.5000 | 0.7100 ± 0.0100 | 3 |"]   # tinybert: not in the reference


def test_each_notebook_trains_into_its_own_folder_and_says_what_to_expect():
    assert len({run_dir(c, "cpu") for c in ORDER}) == len(ORDER)
    assert str(run_dir("04_distilbert", "smoke")) == "runs/04_distilbert-smoke"
    assert "noise" in expectation("smoke") and "three seeds at `cpu`" in expectation("smoke")
    assert "one more seed" in expectation("cpu")
    assert "not one the reference was measured with" in expectation("tiny")


def test_a_cell_that_trains_says_how_long_before_it_starts():
    from pathlib import Path

    from kd_teach.course.chapters import training_estimate
    from kd_teach.engine.pipeline import expand_rows

    text = training_estimate("cpu", expand_rows("spine"))
    assert text.startswith("This cell trains 2 rows: in the reference run at `cpu`") and "minutes" in text
    assert "seconds" in training_estimate("smoke", ("teacher",)) and "No reference time" in training_estimate(
        "gpu-full", ("teacher",))
    assert "no reference time for nonexistent" in training_estimate("cpu", ("teacher", "nonexistent"))
    from kd_teach.course.chapters import mlm_teacher_estimate

    minutes = int(mlm_teacher_estimate("cpu").split("about ")[1].split(" minutes")[0])
    reference = json.loads((Path(__file__).resolve().parents[1] / "results/cpu/results.json").read_text())["rows"]
    assert minutes == round(max(r.get("mlm_teacher_seconds") or 0 for r in reference) / 60) > 0
    assert "seconds" in mlm_teacher_estimate("smoke") and "No reference time" in mlm_teacher_estimate("gpu-full")
    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    for source in sorted(notebooks.glob("0*.py")):
        s = source.read_text()
        if "run_sst2(preset" in s:       # every training run of a chapter prints its estimate first
            assert s.index("print(training_estimate(") < s.index("run_sst2(preset"), source.name
        if "mlm_teacher(preset" in s:    # and so does the first cell that may prepare the MLM teacher
            assert s.index("print(mlm_teacher_estimate(") < s.index("mlm_teacher(preset"), source.name
