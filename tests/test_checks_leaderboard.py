"""Tests for kd_teach.course.checks.leaderboard: choosing a row for a latency budget and believing a difference
(notebook 08); correct rewrites pass, each usual mistake is named in words."""
from __future__ import annotations

import re
import statistics

import pytest

from kd_teach.course.chapters import chapter_reference
from kd_teach.course.checks import CheckFailed
from kd_teach.course.checks.leaderboard import check_pick_within_budget, pick_within_budget

REFERENCE = chapter_reference("08_full_runs")   # the leaderboard's rows (notebook 08)


def test_the_reference_picks_by_the_mean_over_seeds():
    assert pick_within_budget(REFERENCE, 2.9) == "tinybert-same-steps"   # 0.822 at 2.88 ms; distilbert: 2.94
    assert pick_within_budget(REFERENCE, 2.5) == "tinybert"               # 0.818 at 2.48 ms
    assert pick_within_budget(REFERENCE, 7.0) == "teacher"
    with pytest.raises(ValueError, match="the fastest, 'tinybert-no-gd', takes 2.13 ms"):
        pick_within_budget(REFERENCE, 1.0)


# --------------------------------------------------------------------------- pick_within_budget
def pick(rows, budget, *, latency="latency_ms_b1", fit=statistics.fmean, rank="accuracy", best=max, strict=False,
         skip=(), none="raise"):
    """The choice written out; each keyword turned the wrong way is one usual mistake."""
    by = {}
    for r in rows:
        by.setdefault(r["name"], []).append(r)
    within = (lambda x: x < budget) if strict else (lambda x: x <= budget)
    fits = {n: statistics.fmean(r[rank] for r in g) for n, g in by.items()
            if n not in skip and within(fit(r[latency] for r in g))}
    if not fits:
        if none == "return":
            return None
        raise ValueError(f"no row within {budget} ms")
    return best(fits, key=fits.get)


def test_a_correct_pick_passes(capsys):
    check_pick_within_budget(pick)
    assert capsys.readouterr().out.startswith("✓ pick_within_budget picks the most accurate row within the budget")


def best_seed(rows, budget):
    fit = [r for r in rows if r["latency_ms_b1"] <= budget]
    if not fit:
        raise ValueError("none")
    return max(fit, key=lambda r: r["accuracy"])["name"]


def first_fit(rows, budget):
    names = list(dict.fromkeys(r["name"] for r in rows))
    for n in names:
        if statistics.fmean(r["latency_ms_b1"] for r in rows if r["name"] == n) <= budget:
            return n
    raise ValueError("none")


BUDGET_WRONG = [
    (best_seed, "you picked the best single seed"),
    (lambda rows, b: pick(rows, b, latency="latency_ms_b32"), "you used the latency at batch 32"),
    (lambda rows, b: pick(rows, b, fit=lambda xs: 0.0), "the budget is ignored"),
    (lambda rows, b: pick(rows, b, rank="latency_ms_b1", best=min), "you picked the fastest row within the budget"),
    (first_fit, "you picked the first row that fits"),
    (lambda rows, b: pick(rows, b, strict=True), "a row exactly at the budget was left out"),
    (lambda rows, b: pick(rows, b, skip=("teacher",)), "you left the teacher out"),
    (lambda rows, b: pick(rows, b, fit=min), "a row fitted as soon as one of its seeds was within the budget"),
    (lambda rows, b: pick(rows, b, fit=max), "a row fitted only if every seed was within the budget"),
    (lambda rows, b: pick(rows, b, none="return"), "say so when no row fits: raise ValueError"),
    (lambda rows, b: {"name": pick(rows, b)}, "return the row's name"),
    (lambda rows, b: pick(rows, b - 1), "fits (mean batch-1 latency at most the budget); raise ValueError only when"),
    (lambda rows: "teacher", "your function is called as pick_within_budget(rows, budget_ms)"),
]


@pytest.mark.parametrize("fn, phrase", BUDGET_WRONG, ids=[p[:40] for _, p in BUDGET_WRONG])
def test_a_wrong_pick_is_named(fn, phrase, capsys):
    with pytest.raises(CheckFailed, match=re.escape(phrase)):
        check_pick_within_budget(fn)
    assert "✓" not in capsys.readouterr().out


def test_the_message_shows_the_rows_and_the_budget():
    with pytest.raises(CheckFailed) as info:
        check_pick_within_budget(best_seed)
    message = str(info.value)
    assert "budget of" in message and "rows: teacher: accuracy" in message and "(3 seeds)" in message
