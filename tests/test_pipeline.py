"""The main job end to end at the smoke preset, through the real command line and run_sst2.

Notebooks 02, 04 and 07 run the spine's, DistilBERT's and TinyBERT's rows at the smoke preset
under nbval, with asserts; these tests cover the command line and the table's bookkeeping.
"""
import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from kd_teach.engine.significance import decode_predictions

REQUIRED = {"name", "accuracy", "params", "size_mb", "latency_ms_b1", "latency_ms_b32", "speedup", "train_seconds"}


def _cli(*args, **env):
    return subprocess.run([sys.executable, "-m", "kd_teach.engine.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=600)


@pytest.mark.slow
def test_smoke_run_writes_the_results_table_skips_it_and_resumes_after_a_kill(tmp_path, smoke_teacher):
    """The command line end to end, one student row (notebook 02 runs the whole spine at the smoke preset):
    the table; a run killed mid-training and started again resumes from its checkpoint and ends as the
    uninterrupted one did."""
    import signal
    import time

    args = ["run", "sst2", "--preset", "smoke", "--rows", "baseline"]
    ref = tmp_path / "ref"
    done = _cli(*args, "--out", str(ref), TQDM_DISABLE="1")
    assert done.returncode == 0, done.stderr[-3000:]
    table = json.loads((ref / "results.json").read_text())
    rows = {r["name"]: r for r in table["rows"]}
    assert list(rows) == ["teacher", "baseline"]                  # the teacher is always measured: the reference
    for row in rows.values():
        assert REQUIRED <= row.keys()
        assert 0.0 <= row["accuracy"] <= 1.0 and row["latency_ms_b1"] > 0 and row["size_mb"] > 0
    assert rows["teacher"]["accuracy"] > 0.6  # a real fine-tuned teacher, well above chance (0.51)
    assert rows["teacher"]["speedup"] == 1.0
    assert rows["baseline"]["params"] < rows["teacher"]["params"]
    # every row keeps its predicted class on each dev sentence, scored against the table's dev labels
    labels = decode_predictions(table["dev_labels"])
    assert len(labels) == 872 and set(labels.tolist()) == {0, 1}
    for row in rows.values():
        predicted = decode_predictions(row["predictions"])
        assert row["accuracy"] == pytest.approx((predicted == labels).mean(), abs=1e-6)
    assert table["machine"]["cpus"] >= 1
    assert (ref / "results.md").read_text().startswith("| row |")
    assert (ref / "results.png").stat().st_size > 10_000
    assert "| baseline |" in done.stdout
    assert not any((ref / "checkpoints").glob("*/checkpoint.pt"))  # finished rows drop them

    # the same command again skips the stored row: test_several_seeds_are_stored_per_seed_and_summarised

    out, ckpt = tmp_path / "killed", tmp_path / "killed" / "checkpoints" / "baseline-smoke-seed0" / "checkpoint.pt"
    # --force: train it, although the cache now holds this very row (kd_teach.engine.row_cache)
    proc = subprocess.Popen([sys.executable, "-m", "kd_teach.engine.cli", *args, "--out", str(out), "--force"], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "TQDM_DISABLE": "1"})
    deadline = time.monotonic() + 300
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ckpt.exists(), "no checkpoint was written before the run ended"
    proc.send_signal(signal.SIGTERM)                                  # as `kill` does
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "run the same command again to resume" in err, err[-2000:]
    assert not (out / "results.json").exists() or "baseline" not in (out / "results.json").read_text()
    resumed = _cli(*args, "--out", str(out), "--force", TQDM_DISABLE="1")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming at step" in resumed.stdout + resumed.stderr
    after = next(r for r in json.loads((out / "results.json").read_text())["rows"] if r["name"] == "baseline")
    assert abs(after["accuracy"] - rows["baseline"]["accuracy"]) <= 2 / 872    # at most two dev sentences apart


@pytest.mark.slow
def test_a_row_trained_for_one_folder_is_measured_again_not_trained_for_another(tmp_path, smoke_preset, smoke_teacher):
    from kd_teach.engine.cache import cache_dir
    from kd_teach.engine.pipeline import run_sst2

    preset = tiny(smoke_preset, student_epochs=1, student_lr=4e-4)   # a recipe no other test trains
    quiet = lambda *_: None  # noqa: E731
    first = run_sst2(preset, tmp_path / "a", rows="baseline", log=quiet)
    said = []
    second = run_sst2(preset, tmp_path / "b", rows="baseline", log=said.append)
    assert any("from the cache (seed 0), measured again, not trained: baseline" in line for line in said), said
    a, b = (next(r for r in t["rows"] if r["name"] == "baseline") for t in (first, second))
    assert b["predictions"] == a["predictions"] and b["steps"] == a["steps"] and b["train_seconds"] == a["train_seconds"]
    assert b["cached_from"] == a["date"] and "cached_from" not in a
    ta, tb = (next(r for r in t["rows"] if r["name"] == "teacher") for t in (first, second))
    assert (tb["accuracy"], tb["predictions"]) == (ta["accuracy"], ta["predictions"])   # its scores, from the cache
    assert (tmp_path / "b" / "models" / "baseline" / "config.json").is_file()       # a complete folder, loadable
    curves = [json.loads((tmp_path / d / "curves.json").read_text())["baseline"] for d in "ab"]
    assert curves[0] == curves[1]
    # force trains it again: the kill-and-resume test above runs with --force, and needs a checkpoint to kill
    # a cached model that no longer gives its stored accuracy (another code version) is not used: trained again
    from kd_teach.engine.pipeline import preset_key

    entry = next(p for p in (cache_dir() / "rows").glob("baseline-seed0-*/row.json")
                 if json.loads(p.read_text())["recipe"] == preset_key(preset))
    entry.write_text(json.dumps({**json.loads(entry.read_text()), "accuracy": 0.0}))
    said = []
    run_sst2(preset, tmp_path / "d", rows="baseline", log=said.append)
    assert not any("from the cache" in line for line in said)


def test_stored_rows_count_only_for_the_same_preset_seed_and_teacher(tmp_path):
    from kd_teach.engine.pipeline import stored_rows
    from kd_teach.engine.presets import get_preset
    from kd_teach.engine.report import upsert_rows

    from kd_teach.engine.pipeline import preset_key

    smoke, path = get_preset("smoke"), tmp_path / "results.json"
    row = {"accuracy": 0.8, "params": 1, "size_mb": 1.0, "latency_ms_b1": 1.0, "latency_ms_b32": 1.0,
           "train_seconds": 1.0, "preset": "smoke", "recipe": preset_key(smoke)}
    upsert_rows(path, [{**row, "name": "teacher", "seed": 0, "teacher_key": "sst2-abc"},
                       {**row, "name": "baseline", "seed": 0}, {**row, "name": "hinton-kd", "seed": 1}])
    assert stored_rows(path, smoke, 0, "sst2-abc") == {"baseline"}
    assert stored_rows(path, smoke, 1, "sst2-abc") == {"hinton-kd"}
    assert stored_rows(path, get_preset("cpu"), 0, "sst2-abc") == set()
    assert stored_rows(path, replace(smoke, student_lr=1e-3), 0, "sst2-abc") == set()  # another recipe: recompute
    assert stored_rows(path, smoke, 0, "sst2-other") == set()     # another teacher: recompute everything
    # a row's recipe is the settings that shape it: another TinyBERT recipe leaves the spine's and DistilBERT's rows
    upsert_rows(path, [{**row, "name": n, "seed": 0, "recipe": preset_key(smoke, n)} for n in ("distilbert", "tinybert")])
    assert stored_rows(path, smoke, 0, "sst2-abc") == {"baseline", "distilbert", "tinybert"}
    other_tinybert = replace(smoke, tinybert=replace(smoke.tinybert, general_steps=99))
    assert stored_rows(path, other_tinybert, 0, "sst2-abc") == {"baseline", "distilbert"}
    other_spine = replace(smoke, student_lr=1e-3)                   # the common settings shape every row
    assert stored_rows(path, other_spine, 0, "sst2-abc") == set()
    assert stored_rows(tmp_path / "missing.json", smoke, 0, "sst2-abc") == set()


def test_a_table_written_with_another_teacher_is_set_aside_not_mixed(tmp_path):
    from kd_teach.engine.pipeline import set_aside_other_teachers_table
    from kd_teach.engine.report import upsert_rows

    path, row = tmp_path / "results.json", {"accuracy": 0.8, "latency_ms_b1": 1.0, "latency_ms_b32": 1.0}
    upsert_rows(path, [{**row, "name": "teacher", "seed": 0, "teacher_key": "sst2-abc"}])
    set_aside_other_teachers_table(path, "sst2-abc", log=lambda *_: None)        # same teacher: untouched
    assert path.is_file()
    said = []
    set_aside_other_teachers_table(path, "sst2-new", log=said.append)
    assert not path.exists() and (tmp_path / "results.sst2-abc.json").is_file() and "sst2-abc" in said[0]


@pytest.mark.slow
def test_several_seeds_are_stored_per_seed_and_summarised(tmp_path, smoke_preset, smoke_teacher):
    from kd_teach.engine.pipeline import run_sst2

    preset = tiny(smoke_preset, student_epochs=1)
    table = run_sst2(preset, tmp_path, [0, 1], rows="baseline", log=lambda *_: None)
    assert [(r["name"], r["seed"]) for r in table["rows"]] == [("teacher", 0), ("baseline", 0), ("baseline", 1)]
    b0, b1 = table["rows"][1:]
    assert b0["teacher_key"] == b1["teacher_key"] == table["rows"][0]["teacher_key"]
    assert b0["steps"] == b1["steps"] == 63 and b0["train_size"] == 2000
    assert (tmp_path / "models" / "baseline").is_dir() and (tmp_path / "models" / "baseline-seed1").is_dir()
    md = (tmp_path / "results.md").read_text().splitlines()
    assert md[0] == "| row | seed 0 | seed 1 | mean [95% interval] | % of teacher [95% interval] |"
    assert md[3].startswith("| baseline |")
    said = []
    again = run_sst2(preset, tmp_path, [1], rows="baseline", log=said.append)     # stored: skipped
    assert any("(seed 1), skipped: baseline (force=True or --force to recompute)" in line for line in said)
    kept = next(r for r in again["rows"] if r["name"] == "baseline" and r["seed"] == 1)
    assert kept["train_seconds"] == b1["train_seconds"] and kept["date"] == b1["date"]    # stored, not retrained


@pytest.mark.slow
def test_hub_teacher_offline_is_one_clear_line():
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache("bert-base-uncased", "config.json"), str):
        pytest.skip("bert-base-uncased is in the local hub cache, so it loads offline")
    done = _cli("run", "sst2", "--teacher", "bert-base-uncased", HF_HUB_OFFLINE="1")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot fetch 'bert-base-uncased'" in lines[0]
    assert "without --teacher" in lines[0]


@pytest.mark.slow
def test_hub_general_student_offline_is_one_clear_line():
    done = _cli("run", "sst2", "--rows", "tinybert", "--general-student", "huawei-noah/TinyBERT_General_4L_312D",
                HF_HUB_OFFLINE="1")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot fetch 'huawei-noah/TinyBERT_General_4L_312D'" in lines[0]
    assert "without --general-student" in lines[0]


@pytest.mark.slow
def test_unknown_row_is_refused():
    done = _cli("run", "sst2", "--rows", "teacher,minibert")
    assert done.returncode == 2 and "'minibert'" in done.stderr and "tinybert" in done.stderr  # names the known rows


def tiny(preset, **chapter):
    """The smoke preset shrunk further for the pipeline tests: same cached teachers (their keys are unchanged),
    no transfer set, 200 dev sentences. Notebooks run the real smoke rows."""
    return replace(preset, transfer_size=0, dev_size=200, latency_repeats=1, **chapter)


def test_table_6_rows_are_a_group_of_their_own_with_tinyberts_recipe():
    from kd_teach.engine.pipeline import expand_rows, preset_key
    from kd_teach.engine.presets import get_preset

    losses = ("tinybert-no-embd", "tinybert-no-hidn", "tinybert-no-attn")
    assert expand_rows("tinybert-losses") == ("tinybert",) + losses
    assert not set(losses) & set(expand_rows("all"))                       # outside `--rows all`
    cpu = get_preset("cpu")
    assert {preset_key(cpu, n) for n in losses} == {preset_key(cpu, "tinybert")} != {preset_key(cpu, "baseline")}


@pytest.mark.slow
def test_tinybert_rows_join_the_table(tmp_path, smoke_preset, smoke_teacher, smoke_mlm_teacher, smoke_general_tinybert):
    from kd_teach.engine.pipeline import run_sst2

    s = smoke_preset.tinybert
    preset = replace(tiny(smoke_preset, tinybert=replace(s, task_size=200, step2_epochs=1, augment=replace(s.augment, N=1))),
                     transfer_size=100, student_epochs=1)
    table = run_sst2(preset, tmp_path, rows=("tinybert", "tinybert-no-attn", "tinybert-1layer"), log=lambda *_: None)
    rows = {r["name"]: r for r in table["rows"]}
    no_attn = rows.pop("tinybert-no-attn")                              # Table 6: step 1 without L_attn
    assert no_attn["step1_terms"] == ["L_embd", "L_hidn"] and no_attn["step1_steps"] == rows["tinybert"]["step1_steps"]
    one = rows.pop("tinybert-1layer")                                   # the teacher cut to layer 0, then both steps
    assert (one["student_layers"], one["student_hidden"], one["teacher_layers"]) == (1, 384, [0])
    assert one["step1_steps"] == rows["tinybert"]["step1_steps"] and "general_steps" not in one
    assert one["params"] < rows["teacher"]["params"]
    names = ("tinybert", "hinton-kd-tinybert-shape", "tinybert-aug", "tinybert-same-steps", "tinybert-no-gd",
             "tinybert-no-step1", "tinybert-no-td")
    assert set(rows) == {"teacher", *names}
    tb, kd, aug, same, no_gd, no_step1, no_td = (rows[n] for n in names)
    for row in rows.values():
        if row["name"] != "teacher":
            assert REQUIRED <= row.keys() and 0.0 <= row["accuracy"] <= 1.0
            assert row["params"] == tb["params"] < rows["teacher"]["params"]        # one shape for the chapter
    assert tb["mapping"] == "uniform" and tb["step1_terms"] == ["L_embd", "L_hidn", "L_attn"]
    assert tb["general_steps"] == smoke_preset.tinybert.general_steps and "general_steps" not in no_gd
    assert no_step1["step1_seconds"] == 0.0 < tb["step1_seconds"]
    assert tb["train_sentences"] == 200 + 100                           # the labelled sentences and the transfer set
    assert aug["train_sentences"] == tb["train_sentences"] + aug["augmented_sentences"] > tb["train_sentences"]
    # compute-matched: the same sentences repeated, as many steps as with augmentation
    assert same["train_sentences"] == aug["train_sentences"] and same["augmented_sentences"] == 0
    assert (same["step1_steps"], same["step2_steps"]) == (aug["step1_steps"], aug["step2_steps"]) > (tb["step1_steps"],
                                                                                                   tb["step2_steps"])
    # the paper's comparison at equal size: KD on the same sentences for both steps' worth of steps
    assert kd["train_sentences"] == tb["train_sentences"] and kd["steps"] == tb["step1_steps"] + tb["step2_steps"]
    assert no_td["general_steps"] == tb["general_steps"] and no_td["steps"] == 63      # 2,000 labels, 1 epoch
    assert no_td["train_sentences"] == 2000
    curves = json.loads((tmp_path / "curves.json").read_text())
    assert {"L_embd", "L_hidn", "L_attn"} <= curves["tinybert-step1"][-1].keys()
    assert "tinybert-no-step1-step1" not in curves and "tinybert-no-step1-step2" in curves
    assert not any((tmp_path / "checkpoints").glob("**/checkpoint.pt"))
