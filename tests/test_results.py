"""The committed reference results (``results/``) parse, hold what they claim, and agree with the README.

They come from real runs at the ``cpu`` preset (``kd-teach run sst2 --preset cpu --seeds 0,1,2 --out
results/cpu``; ``python benchmarks/kd_vs_labels.py``); what a learner reads quotes them.
"""
import json
from pathlib import Path

import pytest

from kd_teach.engine.pipeline import ROWS, expand_rows, preset_key
from kd_teach.engine.presets import get_preset, label_budget
from kd_teach.engine.report import HEADLINE_COMPARISONS, seed_summary
from kd_teach.engine.verdicts import comparison_table, interval_table

ROOT = Path(__file__).resolve().parents[1]
CPU = ROOT / "results" / "cpu" / "results.json"
LABELS = ROOT / "results" / "cpu-labels"


def cpu_rows() -> list[dict]:
    return json.loads(CPU.read_text())["rows"]


def cpu_labels() -> str:
    return json.loads(CPU.read_text())["dev_labels"]


def test_every_reference_row_is_stamped_with_its_date_machine_recipe_and_teacher():
    table = json.loads(CPU.read_text())
    teacher = next(r for r in table["rows"] if r["name"] == "teacher")
    for row in table["rows"]:
        assert {"date", "machine", "recipe", "teacher_key", "train_seconds", "accuracy"} <= row.keys(), row["name"]
        assert row["teacher_key"] == teacher["teacher_key"] and row["recipe"] in table["recipes"]
        assert row["machine"]["torch"] and row["date"].startswith("20")
    # every row was measured with its recipe exactly as the cpu preset now gives it (the settings that shape it)
    stale = [(r["name"], r["seed"]) for r in table["rows"] if r["recipe"] != preset_key(get_preset("cpu"), r["name"])]
    assert not stale


def test_the_spine_has_three_seeds_and_distillation_pays_in_every_seed():
    rows = [r for r in cpu_rows() if r["name"] in ("baseline", "hinton-kd")]
    acc = {(r["name"], r["seed"]): r["accuracy"] for r in rows}
    assert {s for _, s in acc} == {0, 1, 2}
    summary = {e["name"]: e for e in seed_summary(rows)}
    assert summary["hinton-kd"]["mean"] >= summary["baseline"]["mean"] + 0.02
    assert all(acc["hinton-kd", s] > acc["baseline", s] for s in (0, 1, 2))
    teacher = next(r for r in cpu_rows() if r["name"] == "teacher")
    assert teacher["accuracy"] >= 0.80 and teacher["train_size"] == 2000


def test_every_row_of_rows_all_has_three_seeds_and_the_readme_shows_them_all():
    rows = cpu_rows()
    summary = {e["name"]: e for e in seed_summary(rows)}
    assert set(expand_rows("all")) <= set(summary) <= set(ROWS)   # plus groups outside all (Table 6)
    assert all(e["seeds"] == [0, 1, 2] for name, e in summary.items() if name != "teacher")
    readme = (ROOT / "README.md").read_text()
    for line in comparison_table(rows, HEADLINE_COMPARISONS, cpu_labels()).splitlines()[2:]:
        assert line in readme, f"README.md does not show the committed comparison: {line}"


def test_the_readme_quotes_the_committed_spine_table():
    readme = (ROOT / "README.md").read_text()
    spine = [r for r in cpu_rows() if r["name"] in expand_rows("spine")]
    for line in interval_table(spine, cpu_labels()).splitlines()[2:]:
        assert line in readme, f"README.md does not show the committed row: {line}"


@pytest.mark.parametrize("chapter", ["distilbert", "tinybert"])
def test_the_readme_quotes_each_chapters_committed_table_and_comparisons(chapter):
    names = ("teacher", "baseline", "hinton-kd") + expand_rows(chapter)
    rows = [r for r in cpu_rows() if r["name"] in names]
    assert all(e["n"] == 3 for e in seed_summary(rows) if e["name"] != "teacher"), "3 seeds of every row"
    pairs = [(a, b) for a, b in HEADLINE_COMPARISONS if a in expand_rows(chapter)]
    readme = (ROOT / "README.md").read_text()
    for line in (interval_table(rows, cpu_labels()).splitlines()[2:]
                 + comparison_table(rows, pairs, cpu_labels()).splitlines()[2:]):
        assert line in readme, f"README.md does not show the committed {chapter} line: {line}"


@pytest.mark.parametrize("n", [500, 2000, 8000, 16000])
def test_the_label_curve_in_results_md_is_the_committed_runs(n):
    table = (LABELS / "kd_vs_labels.md").read_text()
    line = next((l for l in table.splitlines() if l.startswith(f"| {n:,} |")), None)
    assert line is not None, f"results/cpu-labels/kd_vs_labels.md has no row for {n:,} labels"
    folder = CPU.parent if label_budget(n) == get_preset("cpu") else LABELS / f"n{n}"
    rows = json.loads((folder / "results.json").read_text())["rows"]
    summary = {e["name"]: e for e in seed_summary(rows)}
    for name in ("baseline", "hinton-kd"):
        e = summary[name]
        assert e["n"] == 3 and f"{e['mean']:.4f} ± {e['sd']:.4f}" in line
    assert line in (ROOT / "benchmarks" / "RESULTS.md").read_text()


def _deployment(folder: str, students: set[str]) -> dict:
    """``results/<folder>``'s deployment, checked: three seeds of every student in every runtime, each torch row
    the run's own row, and docs/deploy.md showing every row of its table."""
    from kd_teach.engine.deploy import RUNTIMES
    from kd_teach.engine.deployment import deployment_table

    table = json.loads((ROOT / "results" / folder / "deployment.json").read_text())
    assert table["preset"] == "cpu" and table["date"].startswith("20") and table["machine"]["torch"]
    assert {r["name"] for r in table["rows"]} == {"teacher", *students}
    for name in students:
        rows = [r for r in table["rows"] if r["name"] == name]
        assert sorted({r["seed"] for r in rows}) == [0, 1, 2] and {r["runtime"] for r in rows} == set(RUNTIMES)
    run = json.loads((ROOT / "results" / folder / "results.json").read_text())["rows"]
    for r in (r for r in table["rows"] if r["runtime"] == "torch"):   # the deployed model is the run's row
        assert r["accuracy"] == pytest.approx(next(x["accuracy"] for x in run if x["name"] == r["name"]
                                                   and x["seed"] == r["seed"]), abs=1e-9)
    page = (ROOT / "docs" / "deploy.md").read_text()
    for line in deployment_table(table["rows"], table["dev_labels"]).splitlines()[2:]:
        assert line in page, f"docs/deploy.md does not show the committed deployment row of {folder}: {line}"
    return table


def test_the_deployment_reference_holds_three_seeds_every_runtime_and_the_readme_quotes_it():
    from kd_teach.engine.deployment import deployment_summary

    table = _deployment("cpu-deploy", {"distilbert-1layer"})
    # what the README, docs/deploy.md and notebook 9 say: the mean share clears 95% in float32, its interval does not
    student = [e for e in deployment_summary(table["rows"], table["dev_labels"]) if e["name"] == "distilbert-1layer"]
    assert not any(e["meets_goal"] for e in student) and student[0]["share_of_teacher"] >= 0.95 > student[0]["share_low"]


def test_tinyberts_students_deployed_beside_distilberts_miss_the_goal_for_the_reasons_docs_give():
    # issue 26, item 7: what docs/deploy.md and notebook 9 say of results/cpu-deploy-tinybert
    from kd_teach.engine.deployment import GOAL, deployment_summary

    table = _deployment("cpu-deploy-tinybert", {"distilbert-1layer", "tinybert-1layer", "tinybert"})
    summary = [e for e in deployment_summary(table["rows"], table["dev_labels"]) if e["name"] != "teacher"]
    assert not any(e["meets_goal"] for e in summary)
    by = {(e["name"], e["runtime"]): e for e in summary}
    three = [by["tinybert", r] for r in ("torch", "torch-int8", "onnx", "onnx-int8")]
    assert all(e["share_low"] >= GOAL["share_of_teacher"] and e["speedup_b1"] < GOAL["speedup_b1"] for e in three)  # accurate, slow
    ones = [e for e in summary if e["name"].endswith("1layer")]
    assert all(e["share_low"] < GOAL["share_of_teacher"] for e in ones)           # every one-layer point: too inaccurate
    assert max(e["speedup_b1"] for e in ones) >= GOAL["speedup_b1"]


REFERENCES = sorted((ROOT / "results").glob("cpu*/**/results.json"))


@pytest.mark.parametrize("path", REFERENCES, ids=lambda p: str(p.relative_to(ROOT / "results")))
def test_every_row_keeps_predictions_that_give_back_its_accuracy(path):
    # A row's per-sentence predictions (issue 25) are what every paired comparison reads: scored against the
    # table's dev labels they must give the stored accuracy, to the float32 it was computed in.
    from kd_teach.engine.significance import decode_predictions

    table = json.loads(path.read_text())
    rows = table["rows"]
    missing = [f"{r['name']} seed {r.get('seed')}" for r in rows if not r.get("predictions")]
    assert not missing, f"{path.relative_to(ROOT)}: rows without per-sentence predictions: {missing}"
    labels = decode_predictions(table["dev_labels"])
    assert len(labels) == 872 and labels.sum() == 444                  # SST-2 dev: 444 positive, 428 negative
    for r in rows:
        predicted = decode_predictions(r["predictions"])
        assert predicted.shape == labels.shape, (r["name"], r.get("seed"))
        assert r["accuracy"] == pytest.approx((predicted == labels).mean(), abs=1e-7), (r["name"], r.get("seed"))


@pytest.mark.skipif(not __import__("os").environ.get("KD_TEACH_DATA_DIR"), reason="KD_TEACH_DATA_DIR not set")
def test_the_stored_dev_labels_are_sst2_dev():
    from kd_teach.engine.data import load_sst2
    from kd_teach.engine.significance import encode_predictions

    labels = encode_predictions(load_sst2()["validation"]["label"])
    for path in REFERENCES:
        stored = json.loads(path.read_text()).get("dev_labels")
        assert stored in (None, labels), path


def test_the_one_layer_recipe_is_the_one_its_search_on_the_tuning_split_chose():
    # README: "dev is never used to choose anything". The distilbert-1layer recipe comes from a search scored on
    # the tuning split (benchmarks/tune.py one-layer), committed with the date and machine it ran on.
    from kd_teach.engine.presets import one_layer_settings

    search = json.loads((ROOT / "results" / "cpu-tuning" / "one-layer.json").read_text())
    assert search["split"] == "tuning" and search["preset"] == "cpu" and search["tuning_sentences"] >= 1900
    best = max(search["candidates"], key=lambda c: c["mean"])
    assert search["chosen"] == {"task_epochs": best["task_epochs"], "task_lr": best["task_lr"]}
    one = one_layer_settings(get_preset("cpu"))
    assert (one.task_epochs, one.task_lr) == (best["task_epochs"], best["task_lr"])
    assert (ROOT / "results" / "cpu-tuning" / "one-layer.md").read_text().count("| chosen |") == 1


def test_the_cpu_label_budget_is_the_most_labels_at_which_kd_pays_on_the_tuning_split():
    # The cpu preset teaches Hinton's transfer-set setting; its 2,000 labels are the most at which KD's gain
    # over the baseline is resolved on the tuning split (benchmarks/tune.py labels), not on dev.
    search = json.loads((ROOT / "results" / "cpu-tuning" / "labels.json").read_text())
    assert search["split"] == "tuning" and len(search["seeds"]) >= 3
    resolved = [p["n"] for p in search["points"] if p["gain_interval"][0] > 0]
    assert get_preset("cpu").train_size == max(resolved)


def test_hinton_kds_temperature_and_alpha_are_the_ones_its_search_on_the_tuning_split_chose():
    search = json.loads((ROOT / "results" / "cpu-tuning" / "hinton.json").read_text())
    assert search["split"] == "tuning" and search["preset"] == "cpu" and search["tuning_sentences"] >= 1900
    best = max(search["candidates"], key=lambda c: c["mean"])      # ties: the first in the search's list
    preset = get_preset("cpu")
    assert search["chosen"] == {"T": best["T"], "alpha": best["alpha"]} == {"T": preset.T, "alpha": preset.alpha}
    assert preset.beta == pytest.approx(1 - preset.alpha)


def test_tinyberts_general_distillation_steps_are_the_ones_its_search_on_the_tuning_split_chose():
    search = json.loads((ROOT / "results" / "cpu-tuning" / "general.json").read_text())
    assert search["split"] == "tuning" and search["preset"] == "cpu" and search["row"] == "tinybert"
    best = max(search["candidates"], key=lambda c: c["mean"])
    assert search["chosen"] == {"general_steps": best["general_steps"]}
    assert get_preset("cpu").tinybert.general_steps == best["general_steps"]
    for c in search["candidates"]:                                     # each general student ran its full length
        assert [s["general_steps_run"] for s in c["per_seed"]] == [c["general_steps"]] * len(c["seeds"])


@pytest.mark.parametrize("variant, seeds", [("in-domain", [0, 1, 2]), ("longer", [0])])
def test_the_pretraining_variants_report_is_its_rows_and_results_md_quotes_it(variant, seeds):
    # issue 26, item 5: benchmarks/pretraining.py's committed report, rebuilt from its rows and results/cpu's
    import importlib.util

    spec = importlib.util.spec_from_file_location("pretraining", ROOT / "benchmarks" / "pretraining.py")
    pretraining = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pretraining)
    out = ROOT / "results" / "cpu-pretraining" / variant
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert sorted(r["seed"] for r in rows if r["name"] == "distilbert") == seeds
    text = pretraining.report(variant, seeds, out)
    assert (out / "pretraining.md").read_text() == text + "\n"
    results_md = " ".join((ROOT / "benchmarks" / "RESULTS.md").read_text().split())   # line breaks as spaces
    for line in text.splitlines()[-2:]:                   # each comparison's mean and interval, as RESULTS.md gives them
        mean, interval = line.split(" | ")[2:4]
        assert f"{mean} points {interval}" in results_md or f"{mean} {interval}" in results_md, (variant, line)
