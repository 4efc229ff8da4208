"""Notebook 09's checkers: the references pass, and each usual mistake is refused with its own hint."""
import pytest

from kd_teach.course.checks import (CheckFailed, check_int8_accuracy_loss, check_pick_deployment,
                                    check_same_runtime_speedups)
from kd_teach.course.checks import deployment as d


def test_the_references_pass(capsys):
    check_same_runtime_speedups(d.same_runtime_speedups)
    check_int8_accuracy_loss(d.int8_accuracy_loss)
    check_pick_deployment(d.pick_deployment)
    assert capsys.readouterr().out.count("✓") == 3


def test_the_reference_deployment_reads_as_the_course_says():
    rows = d._reference()
    speedups = d.same_runtime_speedups(rows)
    student = [v for (name, _, rt), v in speedups.items() if name == "distilbert-1layer" and rt == "onnx-int8"]
    assert len(student) == 3 and all(4 < v < 6 for v in student)              # about 5x in ONNX int8 (docs/deploy.md)
    loss = d.int8_accuracy_loss(rows)
    assert 0.5 < loss["teacher", "torch-int8"] < 1.5 and abs(loss["teacher", "onnx-int8"]) < 0.5   # 0.9 and 0.1 points


@pytest.mark.parametrize("mistake, hint", [(m, h) for m, h in d.SPEEDUP_MISTAKES])
def test_each_speedup_mistake_gets_its_hint(mistake, hint):
    with pytest.raises(CheckFailed, match="Hint: " + hint[:40].replace("(", r"\(").replace(")", r"\)")):
        check_same_runtime_speedups(mistake)


@pytest.mark.parametrize("mistake, hint", [(m, h) for m, h in d.LOSS_MISTAKES])
def test_each_int8_mistake_gets_its_hint(mistake, hint):
    with pytest.raises(CheckFailed, match="Hint: " + hint[:40].replace("(", r"\(").replace(")", r"\)")):
        check_int8_accuracy_loss(mistake)


def test_a_pick_that_ignores_the_runtime_or_the_budget_is_refused():
    def fastest(rows, budget_ms):                                    # the fastest, not the most accurate
        r = min(rows, key=lambda r: r["latency_ms_b1"])
        return r["name"], r["runtime"]

    def any_seed(rows, budget_ms):                                   # one lucky seed instead of the means
        fits = [r for r in rows if r["latency_ms_b1"] <= budget_ms]
        if not fits:
            raise ValueError("none")
        r = max(fits, key=lambda r: r["accuracy"])
        return r["name"], r["runtime"]

    for wrong in (fastest, any_seed):
        with pytest.raises(CheckFailed, match="pick_deployment gave"):
            check_pick_deployment(wrong)


def test_a_placeholder_propagates():
    def todo(rows):
        raise NotImplementedError("write same_runtime_speedups here")

    with pytest.raises(NotImplementedError):
        check_same_runtime_speedups(todo)
