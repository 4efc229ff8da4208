"""The main job end to end at the smoke preset, through the real command line."""
import json
import os
import subprocess
import sys
import time

import pytest

REQUIRED = {"name", "accuracy", "params", "size_mb", "latency_ms_b1", "latency_ms_b32", "speedup", "train_seconds"}


def _cli(*args, **env):
    return subprocess.run([sys.executable, "-m", "kd_teach.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=600)


@pytest.mark.slow
def test_smoke_run_writes_the_results_table(tmp_path, smoke_teacher):
    t0 = time.perf_counter()
    done = _cli("run", "sst2", "--preset", "smoke", "--out", str(tmp_path), TQDM_DISABLE="1")
    assert done.returncode == 0, done.stderr[-3000:]
    assert time.perf_counter() - t0 < 180
    table = json.loads((tmp_path / "results.json").read_text())
    rows = {r["name"]: r for r in table["rows"]}
    assert list(rows) == ["teacher", "baseline", "hinton-kd"]
    for row in rows.values():
        assert REQUIRED <= row.keys()
        assert 0.0 <= row["accuracy"] <= 1.0 and row["latency_ms_b1"] > 0 and row["size_mb"] > 0
    assert rows["teacher"]["accuracy"] > 0.6  # a real fine-tuned teacher, well above chance (0.51)
    assert rows["teacher"]["speedup"] == 1.0
    assert rows["baseline"]["params"] == rows["hinton-kd"]["params"] < rows["teacher"]["params"]
    assert rows["hinton-kd"]["T"] == 4.0
    assert (tmp_path / "results.md").read_text().startswith("| row |")
    assert (tmp_path / "results.png").stat().st_size > 10_000
    assert "| hinton-kd |" in done.stdout
    assert not any((tmp_path / "checkpoints").glob("*/checkpoint.pt"))  # finished rows drop them


def test_hub_teacher_offline_is_one_clear_line():
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache("bert-base-uncased", "config.json"), str):
        pytest.skip("bert-base-uncased is in the local hub cache, so it loads offline")
    done = _cli("run", "sst2", "--teacher", "bert-base-uncased", HF_HUB_OFFLINE="1")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot fetch 'bert-base-uncased'" in lines[0]
    assert "without --teacher" in lines[0]


def test_unknown_row_is_refused():
    done = _cli("run", "sst2", "--rows", "teacher,tinybert")
    assert done.returncode == 2 and "tinybert" in done.stderr


@pytest.mark.slow
def test_distilbert_rows_join_the_table(tmp_path, smoke_teacher, smoke_mlm_teacher):
    earlier = {"name": "baseline", "accuracy": 0.7, "params": 1, "size_mb": 1.0, "latency_ms_b1": 1.0,
               "latency_ms_b32": 1.0, "train_seconds": 1.0}
    (tmp_path / "results.json").write_text(json.dumps({"rows": [earlier]}))  # a row of an earlier chapter
    done = _cli("run", "sst2", "--preset", "smoke", "--rows", "distilbert", "--out", str(tmp_path), TQDM_DISABLE="1")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {r["name"]: r for r in json.loads((tmp_path / "results.json").read_text())["rows"]}
    assert set(rows) == {"baseline", "teacher", "distilbert", "distilbert-init"}  # the earlier row is kept
    db, init = rows["distilbert"], rows["distilbert-init"]
    for row in (db, init):
        assert REQUIRED <= row.keys() and 0.5 < row["accuracy"] <= 1.0
        assert row["teacher_layers"] == [0, 2, 4] and row["task"] == "logit KD"
    assert db["params"] == init["params"] < rows["teacher"]["params"]
    assert db["pretrain_steps"] > 0 and "pretrain_steps" not in init  # the ablation skips pre-training distillation
    assert 0.0 <= init["student_masked_accuracy"] <= 1.0 and 0.0 <= db["student_masked_accuracy"] <= 1.0
    assert db["train_seconds"] > db["task_seconds"]
    curves = json.loads((tmp_path / "curves.json").read_text())
    assert {"L_ce", "L_mlm", "L_cos"} <= curves["distilbert-pretraining"][-1].keys()
    assert "| distilbert-init |" in done.stdout
    assert not any((tmp_path / "checkpoints").glob("*/checkpoint.pt"))
