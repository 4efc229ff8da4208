"""The accuracy-cost frontier and the budget pick (kd_teach.engine.frontier), and notebook 08's explorer over them."""
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kd_teach.course.leaderboard import LeaderboardExplorer
from kd_teach.engine.frontier import best_under_budget, mean_points, pareto_front

ROOT = Path(__file__).resolve().parents[1]


def _row(name, seed, acc, ms, params=1e6):
    return {"name": name, "seed": seed, "accuracy": acc, "latency_ms_b1": ms, "latency_ms_b32": ms / 2,
            "params": params, "size_mb": params * 4e-6}


ROWS = [_row("teacher", 0, 0.90, 8.0, 4e6),
        _row("small", 0, 0.80, 2.0), _row("small", 1, 0.84, 2.2),
        _row("mid", 0, 0.86, 4.0), _row("mid", 1, 0.88, 4.0),
        _row("slow-and-bad", 0, 0.70, 6.0), _row("slow-and-bad", 1, 0.72, 6.0)]


def test_seeds_are_averaged_and_the_frontier_drops_dominated_rows():
    points = {p["name"]: p for p in mean_points(ROWS)}
    assert points["small"]["n"] == 2 and points["small"]["accuracy"] == pytest.approx(0.82)
    assert points["small"]["sd"] == pytest.approx(0.028284271, rel=1e-6)   # sample sd of 0.80, 0.84
    assert points["small"]["cost"] == pytest.approx(2.1) and points["teacher"]["sd"] == 0.0
    assert pareto_front(list(points.values())) == ["small", "mid", "teacher"]  # cheapest first; slow-and-bad beaten
    assert [p["name"] for p in mean_points(ROWS, seeds=[1])] == ["small", "mid", "slow-and-bad"]  # teacher: seed 0 only


def test_the_budget_picks_the_most_accurate_row_that_fits():
    points = mean_points(ROWS)
    assert best_under_budget(points, 5.0)["name"] == "mid"
    assert best_under_budget(points, 2.1)["name"] == "small"       # a cost equal to the budget fits
    assert best_under_budget(points, 1.0) is None                  # nothing fits
    assert best_under_budget(mean_points(ROWS, cost="params"), 4e6)["name"] == "teacher"


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="cost must be one of .*'latency'"):
        mean_points(ROWS, cost="latency")
    with pytest.raises(ValueError, match="budget must be a positive cost, got -1"):
        best_under_budget(mean_points(ROWS), -1)
    with pytest.raises(ValueError, match="rows is empty"):
        LeaderboardExplorer([])


points_strategy = st.lists(st.tuples(st.floats(0, 1), st.floats(0.1, 100)), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(points_strategy, st.floats(0.1, 120))
def test_the_best_row_within_any_budget_is_on_the_frontier(pairs, budget):
    points = [{"name": f"r{i}", "accuracy": a, "cost": c} for i, (a, c) in enumerate(pairs)]
    front = pareto_front(points)

    def beats(q, p):   # at least as accurate and at most as costly, strictly better in one
        return (q["accuracy"] >= p["accuracy"] and q["cost"] <= p["cost"]
                and (q["accuracy"] > p["accuracy"] or q["cost"] < p["cost"]))
    assert [p["name"] for p in points if not any(beats(q, p) for q in points)] == sorted(
        front, key=lambda n: int(n[1:]))                          # the frontier is exactly the unbeaten rows
    best = best_under_budget(points, budget)
    assert (best is None) == all(p["cost"] > budget for p in points)
    if best is not None:
        assert best["name"] in front and best["cost"] <= budget


def test_the_explorer_follows_its_controls_on_the_reference_table():
    rows = json.loads((ROOT / "results" / "cpu" / "results.json").read_text())["rows"]
    explorer = LeaderboardExplorer(rows, cost="latency_ms_b1")
    assert explorer.best["name"] == "teacher"                      # the budget starts where everything fits
    assert {p["name"] for p in explorer.points} == {r["name"] for r in rows}
    teacher = next(p for p in explorer.points if p["name"] == "teacher")
    explorer.budget_box.value = teacher["cost"] / 2
    assert explorer.best == best_under_budget(explorer.points, teacher["cost"] / 2)
    assert explorer.best["name"] != "teacher" and explorer.best["name"] in explorer.front
    assert f"<b>{explorer.best['name']}</b>" in explorer.text.value
    assert explorer.figure().axes[0].get_title() == "means over the seeds (preset cpu, seeds 0, 1, 2)"
    explorer.seed_boxes[0].value = False                           # the teacher ran with seed 0 only
    assert "teacher" not in {p["name"] for p in explorer.points}
    assert all(p["n"] == 2 for p in explorer.points)
    assert explorer.figure().axes[0].get_title().endswith("(preset cpu, seeds 1, 2)")
    explorer.rows_box.value = ("baseline", "hinton-kd")
    assert explorer.front == pareto_front(mean_points([r for r in rows if r["name"] in ("baseline", "hinton-kd")],
                                                      "latency_ms_b1", [1, 2]))
    chart = bytes(explorer.chart.value)
    explorer.cost_box.value = "params"                             # another cost: the budget slider re-spans it
    assert explorer.budget_box.max >= max(r["params"] for r in rows) and bytes(explorer.chart.value) != chart
    assert "parameters" in explorer.text.value
    assert explorer.budget_box.value == explorer.budget_box.max and "No chosen row fits" not in explorer.text.value


def test_changing_the_cost_redraws_once():
    rows = json.loads((ROOT / "results" / "cpu" / "results.json").read_text())["rows"]
    explorer = LeaderboardExplorer(rows, cost="latency_ms_b1")
    drawn = []
    figure = explorer.figure
    explorer.figure = lambda: drawn.append(explorer.cost) or figure()
    explorer.cost_box.value = "params"          # re-ranging the budget slider moves its value: still one redraw
    assert drawn == ["params"]
    explorer.budget_box.value = explorer.budget_box.max / 3
    assert drawn == ["params", "params"]


def test_given_the_dev_labels_the_explorer_shows_each_rows_95_percent_interval_over_the_chosen_seeds():
    from kd_teach.engine.significance import accuracy_interval, correctness, encode_predictions

    labels = encode_predictions([1] * 100)
    rows = [{"name": n, "seed": s, "accuracy": k / 100, "latency_ms_b1": c, "latency_ms_b32": c, "params": 1,
             "size_mb": 1.0, "predictions": "1" * k + "0" * (100 - k)}
            for n, c, ks in (("big", 4.0, (90, 88)), ("small", 1.0, (70, 75))) for s, k in enumerate(ks)]
    explorer = LeaderboardExplorer(rows, labels=labels)
    small = next(p for p in explorer.points if p["name"] == "small")
    want = accuracy_interval(correctness(rows[2:], [1] * 100))
    assert (small["low"], small["high"]) == (want.low, want.high) and small["low"] < 0.725 < small["high"]
    assert "mean [95% interval]" in explorer.text.value and f"[{want.low:.4f}, {want.high:.4f}]" in explorer.text.value
    explorer.seed_boxes[0].value = False                           # seed 1 alone: its own interval
    small = next(p for p in explorer.points if p["name"] == "small")
    assert small["accuracy"] == 0.75 and small["low"] < 0.75 < small["high"]
