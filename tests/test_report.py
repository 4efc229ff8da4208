"""The results table: rows upserted by name, ratios against the teacher, Markdown rendering."""
import json

import pytest

from kd_teach.engine.report import markdown_table, upsert_rows


def _row(name, acc, b32):
    return {"name": name, "accuracy": acc, "params": 1e6, "size_mb": 4.0, "latency_ms_b1": 2 * b32,
            "latency_ms_b32": b32, "train_seconds": 1.0}


def test_upsert_replaces_by_name_and_keeps_other_rows(tmp_path):
    path = tmp_path / "results.json"
    upsert_rows(path, [_row("teacher", 0.9, 8.0), _row("baseline", 0.8, 2.0)])
    table = upsert_rows(path, [_row("baseline", 0.81, 2.0), _row("hinton-kd", 0.85, 2.0)])
    assert [r["name"] for r in table["rows"]] == ["teacher", "baseline", "hinton-kd"]
    assert json.loads(path.read_text()) == table
    table = upsert_rows(path, [_row("teacher", 0.9, 8.0)])   # a re-measured teacher keeps its place
    assert [r["name"] for r in table["rows"]] == ["teacher", "baseline", "hinton-kd"]
    rows = {r["name"]: r for r in table["rows"]}
    assert rows["baseline"]["accuracy"] == 0.81
    assert rows["hinton-kd"]["speedup"] == 4.0 and rows["teacher"]["speedup"] == 1.0
    assert abs(rows["hinton-kd"]["share_of_teacher"] - 0.85 / 0.9) < 1e-12


def test_rows_of_several_seeds_are_kept_apart_and_summarised(tmp_path):
    from kd_teach.engine.report import seed_summary, seed_table

    path = tmp_path / "results.json"
    upsert_rows(path, [{**_row("teacher", 0.9, 8.0), "seed": 0}, {**_row("baseline", 0.70, 2.0), "seed": 0}])
    upsert_rows(path, [{**_row("baseline", 0.74, 2.0), "seed": 1}, {**_row("hinton-kd", 0.80, 2.0), "seed": 1}])
    table = upsert_rows(path, [{**_row("baseline", 0.72, 2.0), "seed": 0}])          # seed 0 re-measured in place
    assert [(r["name"], r["seed"]) for r in table["rows"]] == [("teacher", 0), ("baseline", 0), ("baseline", 1),
                                                                ("hinton-kd", 1)]
    summary = {e["name"]: e for e in seed_summary(table["rows"])}
    assert summary["baseline"]["values"] == [0.72, 0.74] and summary["baseline"]["n"] == 2
    assert abs(summary["baseline"]["mean"] - 0.73) < 1e-12 and abs(summary["baseline"]["sd"] - 0.02 ** 0.5 / 10) < 1e-12
    assert summary["hinton-kd"]["sd"] == 0.0                                            # one seed: no spread
    md = seed_table(table["rows"]).splitlines()
    assert md[0] == "| row | seed 0 | seed 1 | mean ± sd |"
    assert md[2] == "| teacher | 0.9000 | 0.9000 | 0.9000 ± 0.0000 |"
    assert md[3] == "| baseline | 0.7200 | 0.7400 | 0.7300 ± 0.0141 |"
    assert md[4] == "| hinton-kd |  | 0.8000 | 0.8000 ± 0.0000 |"


def test_markdown_table_formats_every_column(tmp_path):
    table = upsert_rows(tmp_path / "r.json", [_row("teacher", 0.9, 8.0), _row("baseline", 0.8, 2.0)])
    md = markdown_table(table["rows"]).splitlines()
    assert md[0].startswith("| row | dev acc | % of teacher |")
    assert md[3] == "| baseline | 0.8000 | 88.9% | 1.0 | 4.0 | 4.00 | 2.00 | 4.0x | 1 |"


def test_leaderboard_and_the_papers_next_to_this_run(tmp_path):
    from kd_teach.engine.report import leaderboard, paper_comparison

    table = upsert_rows(tmp_path / "r.json", [_row("teacher", 0.9, 8.0), _row("distilbert", 0.85, 4.0),
                                               {**_row("tinybert-aug", 0.87, 2.0), "params": 0.25e6}])
    assert [r["name"] for r in leaderboard(table["rows"])] == ["teacher", "tinybert-aug", "distilbert"]
    md = paper_comparison(table["rows"]).splitlines()
    assert len(md) == 4 and md[0].startswith("| method | paper: split | student / teacher |")
    distil, tiny = md[2], md[3]
    assert "| dev | 91.3 / 92.7 | 98.5% | 1.7x | 1.6x | `distilbert` | 85.0 / 90.0 | 94.4% | 1.0x | 2.0x |" in distil
    assert "| test | 92.6 / 93.4 | 99.1% | 7.5x | 9.4x | `tinybert-aug` | 87.0 / 90.0 | 96.7% | 4.0x | 4.0x |" in tiny
    assert "not run" in paper_comparison(table["rows"][:1]).splitlines()[2]


def test_training_curves_get_one_panel_per_stage(tmp_path):
    from kd_teach.engine.report import plot_curves

    curves = {"baseline": [{"step": 1, "loss": 0.7}, {"step": 2, "loss": 0.5}], "empty": [],
              "tinybert-step1": [{"step": 1, "loss": 9.0}]}
    fig = plot_curves(curves, tmp_path / "curves.png")
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["baseline", "tinybert-step1"]
    assert (tmp_path / "curves.png").stat().st_size > 5_000


def test_the_full_run_preset_follows_the_hardware_and_never_starts_cpu_by_itself(monkeypatch):
    import torch

    from kd_teach.engine.presets import preset_for_hardware

    monkeypatch.delenv("KD_TEACH_PRESET", raising=False)
    assert preset_for_hardware() == ("gpu-full" if torch.cuda.is_available() else "smoke")
    monkeypatch.setenv("KD_TEACH_PRESET", "cpu")                       # the learner's (or make notebooks') choice
    assert preset_for_hardware() == "cpu"


def test_planned_steps_count_each_stage():
    from kd_teach.engine.presets import get_preset, planned_steps

    cpu = planned_steps(get_preset("cpu"))
    assert cpu["teacher fine-tuning"] == 3 * 63 and cpu["baseline"] == 16 * 63 == cpu["hinton-kd"]  # compute-matched
    assert cpu["tinybert step 1 (each of 2 rows)"] == 1008 == cpu["hinton-kd"]                         # 32,256 / 32, 1 epoch
    assert cpu["hinton-kd-tinybert-shape"] == 2 * 1008                                                  # both steps' worth
    assert cpu["tinybert-aug step 1 (at most; tinybert-same-steps as many)"] == 1133                    # + 2 x 2,000: 36,256
    full = planned_steps(get_preset("gpu-full"))
    assert full["teacher fine-tuning"] == 3 * 2105 and full["MLM head for the teacher"] == 0            # BERT has its head


def test_label_budgets_keep_the_students_compute_matched():
    from kd_teach.engine.presets import get_preset, label_budget, planned_steps

    assert label_budget(2000) == get_preset("cpu")                      # the cpu preset is the 2,000-label point
    for n in (500, 2000, 8000, 16000):
        steps = planned_steps(label_budget(n))
        assert steps["baseline"] == steps["hinton-kd"] and abs(steps["baseline"] - 1008) <= 8, (n, steps)
    assert label_budget(500).teacher_epochs == 12 and label_budget(16000).teacher_epochs == 1
    with pytest.raises(ValueError, match="exceed"):
        label_budget(60000, steps=4000)


def test_small_task_has_no_transfer_set_and_trains_the_augmented_rows_as_long_as_the_main_setting():
    from kd_teach.engine.pipeline import preset_key
    from kd_teach.engine.presets import get_preset, label_budget, planned_steps, small_task

    small, cpu = small_task(500), get_preset("cpu")
    assert (small.train_size, small.transfer_size, small.tinybert.augment.N) == (500, 0, 20)
    assert small.teacher_epochs == label_budget(500).teacher_epochs            # the teacher of the same 500 labels
    steps, main = planned_steps(small), planned_steps(cpu)
    assert abs(steps["tinybert-aug step 1 (at most; tinybert-same-steps as many)"]
               - main["tinybert step 1 (each of 2 rows)"]) < 40                 # 987 against 1,008
    assert small.tinybert.general_steps == cpu.tinybert.general_steps          # the same general TinyBERT
    assert preset_key(small, "tinybert") != preset_key(cpu, "tinybert")        # its own rows, never the main table's
    with pytest.raises(ValueError, match="N .* got 0"):
        small_task(500, N=0)


def test_provenance_names_preset_seeds_dates_and_machine():
    from kd_teach.engine.report import provenance

    machine = {"cpus": 2, "cuda": None, "torch": "2.13.0+cpu"}
    rows = [{"name": "teacher", "seed": 0, "preset": "cpu", "date": "2026-12-04T00:01:00+00:00", "machine": machine}] + [
        {"name": "kd", "seed": s, "preset": "cpu", "date": "2026-12-03T10:00:00+00:00", "machine": machine} for s in (2, 0, 1)]
    assert provenance(rows) == "preset cpu, seeds 0, 1, 2; measured 2026-12-03 on 2 CPU cores, torch 2.13.0+cpu"
    rows[2]["date"] = "2026-12-05T10:00:00+00:00"
    assert "measured 2026-12-03 to 2026-12-05 on" in provenance(rows)
    gpu = [{**rows[1], "machine": {"cpus": 16, "cuda": "NVIDIA H200", "torch": "2.13.0"}}]
    assert provenance(gpu) == "preset cpu, seeds 2; measured 2026-12-03 on NVIDIA H200 GPU, torch 2.13.0"


def test_run_label_names_preset_date_and_machine():
    import datetime

    import torch

    from kd_teach.engine.report import run_label

    label = run_label("cpu")
    assert label.startswith(f"preset cpu; run {datetime.date.today().isoformat()} on ")
    assert ("CPU cores" in label or "GPU" in label) and f"torch {torch.__version__}" in label


def test_the_results_plot_names_its_preset_and_seeds():
    from kd_teach.engine.report import plot_results, run_caption

    rows = [{"name": n, "seed": s, "preset": "cpu", "params": p, "latency_ms_b32": ms, "accuracy": acc}
            for n, s, p, ms, acc in (("teacher", 0, 22.7e6, 4.0, 0.83), ("hinton-kd", 0, 11.2e6, 2.0, 0.79),
                                     ("hinton-kd", 1, 11.2e6, 2.1, 0.78))]
    assert run_caption(rows) == "preset cpu, seeds 0, 1"
    assert run_caption(rows[:2]) == "preset cpu, seed 0"
    assert run_caption([{"name": "x"}]) == "preset unknown, seeds unknown"
    assert plot_results(rows[:2])._suptitle.get_text() == "SST-2: accuracy against size and speed (preset cpu, seed 0)"



def test_machine_info_names_the_cpu_and_its_int8_instruction_set(tmp_path):
    # int8 accuracy may differ between CPUs (the torch-int8 teacher: 0.8245 on 2026-12-07, 0.8337 on 2026-12-08),
    # so every table records which CPU measured it
    from kd_teach.engine.report import INT8_FLAGS, cpu_model, machine_info

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 avx512f\n\n"
                    "processor\t: 1\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 avx512f\n")
    assert cpu_model(info) == ("Some CPU", "avx512f")                     # the best of INT8_FLAGS it has
    assert cpu_model(tmp_path / "absent") == (None, None)                 # not Linux: unknown, not an error
    machine = machine_info()
    assert machine["cpu_int8"] in (*INT8_FLAGS, None) and (machine["cpu_model"], machine["cpu_int8"]) == cpu_model()
