"""A run's deployment table (kd_teach.engine.deployment, `kd-teach deploy`): the real smoke teacher and a real
one-layer student saved as a run saves them, served in two runtimes, every ratio against the teacher in the
same runtime; the goal's arithmetic; the errors. No timing is asserted."""
from __future__ import annotations

import json
import shutil

import pytest

from kd_teach.engine.cli import main
from kd_teach.engine.deployment import GOAL, deploy_run, deployment_summary, deployment_table, plot_frontier
from kd_teach.engine.evaluate import evaluate
from kd_teach.engine.model_folder import model_dir, save_model_folder
from kd_teach.engine.models import load_mlm_teacher
from kd_teach.distilbert.student import distilbert_classifier, init_distilbert_student
from kd_teach.engine.report import upsert_rows


@pytest.fixture(scope="module")
def run(tmp_path_factory, smoke_preset, smoke_teacher, smoke_data, tokenizer):
    """A run folder as `kd-teach run` leaves it: results.json with the teacher and two seeds of a one-layer
    student (the real teacher's layer 0, untrained head: what is measured is the serving, not the student)."""
    out = tmp_path_factory.mktemp("run")
    teacher = smoke_teacher[0]
    loader = smoke_data.dev_loader(smoke_preset.eval_batch_size)
    rows = []
    for name, seed, model in [("teacher", smoke_preset.teacher_seed, teacher)] + [
            ("distilbert-1layer", s, distilbert_classifier(init_distilbert_student(load_mlm_teacher(), [0]), seed=s))
            for s in (0, 1)]:
        folder = save_model_folder(model.eval(), tokenizer, model_dir(out, name, seed), smoke_data.label_names)
        metrics = evaluate(model, loader, tokenizer, smoke_data.dev_sentences, 1, save_dir=folder)
        rows.append({"name": name, "seed": seed, "preset": smoke_preset.name, **metrics})
    upsert_rows(out / "results.json", rows)
    return out


@pytest.fixture(scope="module")
def deployed(run, smoke_preset):
    return deploy_run(run, ("distilbert-1layer",), smoke_preset, runtimes=("torch", "onnx-int8"), repeats=2)


@pytest.mark.slow
def test_every_saved_model_is_served_in_every_runtime_and_written_atomically(run, deployed):
    keys = [(r["name"], r["seed"], r["runtime"]) for r in deployed["rows"]]
    assert keys == [(n, s, rt) for n, s in (("teacher", 0), ("distilbert-1layer", 0), ("distilbert-1layer", 1))
                    for rt in ("torch", "onnx-int8")]
    assert json.loads((run / "deployment.json").read_text()) == deployed
    assert not (run / "deployment.json.tmp").exists()
    assert deployed["preset"] == "smoke" and deployed["machine"]["torch_threads"] >= 1


@pytest.mark.slow
def test_speedups_are_against_the_teacher_in_the_same_runtime_shares_against_the_teacher_as_trained(run, deployed):
    by = {(r["name"], r["seed"], r["runtime"]): r for r in deployed["rows"]}
    as_trained = by["teacher", 0, "torch"]["accuracy"]
    for (name, seed, runtime), r in by.items():
        assert r["share_of_teacher"] == pytest.approx(r["accuracy"] / as_trained)
        if name == "teacher":
            assert r["speedup_b1"] == r["speedup"] == 1.0
            paired = [s for s in by.values() if s["name"] != "teacher" and s["runtime"] == runtime]
            assert r["latency_ms_b1"] == pytest.approx(sum(s["teacher_latency_ms_b1"] for s in paired) / 2)
        else:  # against the teacher timed just before it, in the same runtime
            assert r["speedup_b1"] == pytest.approx(r["teacher_latency_ms_b1"] / r["latency_ms_b1"])
            assert r["speedup"] == pytest.approx(r["teacher_latency_ms_b32"] / r["latency_ms_b32"])
    stored = {(r["name"], r["seed"]): r for r in json.loads((run / "results.json").read_text())["rows"]}
    for (name, seed), row in stored.items():   # the served torch model is the saved one: the row's accuracy
        assert by[name, seed, "torch"]["accuracy"] == pytest.approx(row["accuracy"], abs=1e-9)
    assert by["teacher", 0, "onnx-int8"]["size_mb"] < 0.35 * by["teacher", 0, "torch"]["size_mb"]


@pytest.mark.slow
def test_the_summary_averages_seeds_and_the_table_shows_one_line_per_row_and_runtime(deployed):
    summary = deployment_summary(deployed["rows"], deployed["dev_labels"])
    assert [(e["name"], e["runtime"], e["n"]) for e in summary] == [
        ("teacher", "torch", 1), ("teacher", "onnx-int8", 1), ("distilbert-1layer", "torch", 2),
        ("distilbert-1layer", "onnx-int8", 2)]
    student = summary[2]
    seeds = [r for r in deployed["rows"] if r["name"] == "distilbert-1layer" and r["runtime"] == "torch"]
    assert student["latency_ms_b1"] == pytest.approx(sum(r["latency_ms_b1"] for r in seeds) / 2)
    assert len(deployment_table(deployed["rows"], deployed["dev_labels"]).splitlines()) == 2 + 4
    assert plot_frontier(deployed["rows"], deployed["dev_labels"]).axes[0].get_xlabel().startswith("batch-1 speed-up")


LABELS = "1" * 872  # every sentence positive: a row predicting 1 on k of them has k right


def _row(name, runtime, right, b1, seed=0):
    """A deployment row right on the first ``right`` of 872 sentences (the teacher: 700), at batch-1 speed-up 5 / b1."""
    predictions = "1" * right + "0" * (872 - right)
    return {"name": name, "runtime": runtime, "seed": seed, "accuracy": right / 872, "predictions": predictions,
            "size_mb": 1.0, "latency_ms_b1": b1, "latency_ms_b32": b1, "share_of_teacher": right / 700,
            "speedup_b1": 5.0 / b1, "speedup": 5.0 / b1}


@pytest.mark.parametrize("right, b1, verdict", [
    ((693, 692), 1.0, "met: the whole interval is at or above 95%"),      # 98.9%, its interval above 95% too
    ((665, 665), 1.0, "not met: the interval reaches below 95%"),          # 95.0% on the mean: inside the noise
    ((640, 650), 1.0, "not met: below 95%"),
    ((699, 699), 1.01, "not met: b1 speed-up 4.95x, under 5x"),             # 5 / 1.01
])
def test_the_goal_is_met_only_when_the_shares_whole_interval_clears_95_percent(right, b1, verdict):
    rows = [_row("teacher", "torch", 700, 5.0)] + [_row("s", "torch", k, b1, seed) for seed, k in enumerate(right)]
    assert GOAL == {"share_of_teacher": 0.95, "speedup_b1": 5.0}
    student = deployment_summary(rows, LABELS)[1]
    assert student["share_of_teacher"] == pytest.approx(sum(right) / 2 / 700)
    assert student["share_low"] <= student["share_of_teacher"] <= student["share_high"]
    assert student["meets_goal"] is verdict.startswith("met")
    assert deployment_table(rows, LABELS).splitlines()[-1].endswith(f"| {verdict} |")
    assert deployment_table(rows[:1], LABELS).splitlines()[-1].endswith("|  |")          # the teacher: no verdict


def test_the_frontier_tells_several_students_apart_by_marker_and_one_student_by_label():
    rows = [_row("teacher", r, 700, 5.0) for r in ("torch", "onnx")]
    one = rows + [_row("a", r, 680, 1.0) for r in ("torch", "onnx")]
    two = one + [_row("b", r, 690, 2.0) for r in ("torch", "onnx")]
    ax = plot_frontier(one, LABELS).axes[0]
    assert {"torch", "onnx"} <= {t.get_text() for t in ax.texts}                 # each point named by its runtime
    assert "a" not in {t.get_text() for t in ax.get_legend().get_texts()}
    ax = plot_frontier(two, LABELS).axes[0]
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert {"a", "b", "torch", "onnx"} <= legend and not {"torch", "onnx"} & {t.get_text() for t in ax.texts}
    assert ax.get_title().startswith("a, b served four ways,\n")


def test_a_deployment_table_without_predictions_or_labels_says_what_to_do():
    rows = [_row("teacher", "torch", 700, 5.0), _row("s", "torch", 690, 1.0)]
    with pytest.raises(ValueError, match="labels must be the dev labels of the deployment table"):
        deployment_summary(rows, None)
    del rows[1]["predictions"]
    with pytest.raises(ValueError, match="'s' \\(seed 0\\) has no per-sentence predictions"):
        deployment_summary(rows, LABELS)


@pytest.mark.slow
def test_a_row_the_run_lacks_or_a_missing_folder_or_runtime_is_named(run, smoke_preset, tmp_path):
    with pytest.raises(ValueError, match=r"\['hinton-kd'\] are not rows of .* at preset smoke"):
        deploy_run(run, ("hinton-kd",), smoke_preset)
    with pytest.raises(ValueError, match="runtime must be one of"):
        deploy_run(run, ("distilbert-1layer",), smoke_preset, runtimes=("tensorrt",))
    (tmp_path / "models").mkdir()
    (tmp_path / "results.json").write_text((run / "results.json").read_text())
    shutil.copytree(run / "models" / "teacher", tmp_path / "models" / "teacher")
    with pytest.raises(FileNotFoundError, match="no saved model at .*distilbert-1layer"):
        deploy_run(tmp_path, ("distilbert-1layer",), smoke_preset, runtimes=("torch",))


def test_the_command_refuses_a_folder_without_a_run(tmp_path, capsys):
    assert main(["deploy", str(tmp_path)]) == 2
    assert "holds no results.json" in capsys.readouterr().err
