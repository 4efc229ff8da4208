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


def test_every_saved_model_is_served_in_every_runtime_and_written_atomically(run, deployed):
    keys = [(r["name"], r["seed"], r["runtime"]) for r in deployed["rows"]]
    assert keys == [(n, s, rt) for n, s in (("teacher", 0), ("distilbert-1layer", 0), ("distilbert-1layer", 1))
                    for rt in ("torch", "onnx-int8")]
    assert json.loads((run / "deployment.json").read_text()) == deployed
    assert not (run / "deployment.json.tmp").exists()
    assert deployed["preset"] == "smoke" and deployed["machine"]["torch_threads"] >= 1


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


def test_the_summary_averages_seeds_and_the_table_shows_one_line_per_row_and_runtime(deployed):
    summary = deployment_summary(deployed["rows"])
    assert [(e["name"], e["runtime"], e["n"]) for e in summary] == [
        ("teacher", "torch", 1), ("teacher", "onnx-int8", 1), ("distilbert-1layer", "torch", 2),
        ("distilbert-1layer", "onnx-int8", 2)]
    student = summary[2]
    seeds = [r for r in deployed["rows"] if r["name"] == "distilbert-1layer" and r["runtime"] == "torch"]
    assert student["latency_ms_b1"] == pytest.approx(sum(r["latency_ms_b1"] for r in seeds) / 2)
    assert len(deployment_table(deployed["rows"]).splitlines()) == 2 + 4
    assert plot_frontier(deployed["rows"]).axes[0].get_xlabel().startswith("batch-1 speed-up")


def _row(name, runtime, accuracy, b1, seed=0):
    return {"name": name, "runtime": runtime, "seed": seed, "accuracy": accuracy, "size_mb": 1.0,
            "latency_ms_b1": b1, "latency_ms_b32": b1, "share_of_teacher": accuracy / 0.80, "speedup_b1": 5.0 / b1,
            "speedup": 5.0 / b1}


@pytest.mark.parametrize("accuracies, b1, meets", [
    ((0.76, 0.76), 1.0, True),                 # 95.0% at 5.0x: the goal's edge counts
    ((0.77, 0.75), 1.0, True),                 # the mean over seeds, not every seed
    ((0.75, 0.75), 1.0, False),                # 93.75%
    ((0.79, 0.79), 1.01, False),               # 4.95x
])
def test_the_goal_is_met_by_the_mean_over_seeds(accuracies, b1, meets):
    rows = [_row("teacher", "onnx", 0.80, 5.0)] + [_row("s", "onnx", a, b1, seed) for seed, a in enumerate(accuracies)]
    assert GOAL == {"share_of_teacher": 0.95, "speedup_b1": 5.0}
    assert deployment_summary(rows)[1]["meets_goal"] is meets


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


def test_the_goal_column_says_whether_every_seed_meets_it():
    teacher = _row("teacher", "onnx", 0.80, 5.0)
    one = deployment_table([teacher, _row("s", "onnx", 0.79, 0.5)]).splitlines()[-1]
    every = deployment_table([teacher, _row("s", "onnx", 0.79, 0.5), _row("s", "onnx", 0.78, 0.5, 1)])
    mean_only = deployment_table([teacher, _row("s", "onnx", 0.80, 0.5), _row("s", "onnx", 0.75, 0.5, 1)])
    assert one.endswith("| meets |")
    assert every.splitlines()[-1].endswith("| meets, every seed |")
    assert mean_only.splitlines()[-1].endswith("| meets on the mean, not every seed |")   # 0.75 is 93.75%
    assert deployment_table([teacher]).splitlines()[-1].endswith("|  |")                # the teacher: no verdict
