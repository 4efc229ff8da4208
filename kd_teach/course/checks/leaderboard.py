"""Checker for the first exercise of notebook 08: reading the results table to choose a model under a budget.

``check_pick_within_budget`` compares the learner's choice of a model for a latency budget with
:func:`pick_within_budget` (the package's :func:`kd_teach.engine.frontier.best_under_budget`): the
row (by name) with the best mean dev accuracy over its seeds among the rows whose mean batch-1
latency is at most the budget; none fits: ValueError. It runs on the
course's reference table (``results/cpu/results.json``) and on random tables of several seeds per
row, and names the mistake its choices match (best single seed, batch-32 latency, budget ignored,
fastest instead of most accurate, ``<`` instead of ``<=``, the first row that fits, the teacher left
out, a row that fits in one seed only).
"""
from __future__ import annotations

import random
import statistics
from typing import Callable

from kd_teach.course.checks.core import CheckFailed, one_thread
from kd_teach.engine.frontier import best_under_budget, mean_points
from kd_teach.engine.pipeline import CHAPTER_TABLE
from kd_teach.engine.report import load_results, reference_results


def _groups(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r["name"], []).append(r)
    return out


def pick_within_budget(rows: list[dict], budget_ms: float) -> str:
    """The name of the most accurate row (mean dev accuracy over its seeds) whose mean batch-1 latency
    (``latency_ms_b1``, ms per sentence) is at most ``budget_ms``; the teacher is a row like any other.

    The package's :func:`kd_teach.engine.frontier.best_under_budget` on :func:`~kd_teach.engine.frontier.mean_points`,
    which says None where this exercise asks to raise.

    Raises:
        ValueError: when no row fits, naming the fastest row and its latency.
    """
    points = mean_points(rows, "latency_ms_b1")                                 # one per name: means over seeds
    best = best_under_budget(points, budget_ms)
    if best is None:
        fastest = min(points, key=lambda p: p["cost"])
        raise ValueError(f"no row runs within {budget_ms} ms per sentence at batch 1: the fastest, "
                         f"{fastest['name']!r}, takes {fastest['cost']:.2f} ms")
    return best["name"]


def _picker(fit: Callable, score: Callable, skip=(), pick=max):
    """A picker redone with a mistake: fit(group, budget) says whether a row fits, score(group) ranks them."""
    def choose(rows: list[dict], budget: float):
        fits = {n: score(g) for n, g in _groups(rows).items() if n not in skip and fit(g, budget)}
        return pick(fits, key=fits.get) if fits else None
    return choose


def _mean(key: str) -> Callable:
    return lambda g: statistics.fmean(r[key] for r in g)


def _within(key: str, strict=False, how=statistics.fmean) -> Callable:
    return lambda g, b: how(r[key] for r in g) < b if strict else how(r[key] for r in g) <= b


def _best_seed(rows: list[dict], budget: float):
    fit = [r for r in rows if r["latency_ms_b1"] <= budget]
    return max(fit, key=lambda r: r["accuracy"])["name"] if fit else None


def _first(rows: list[dict], budget: float):
    return next((n for n, g in _groups(rows).items() if _within("latency_ms_b1")(g, budget)), None)


ACC, B1 = _mean("accuracy"), "latency_ms_b1"
BUDGET_MISTAKES = [
    ("you picked the best single seed: a row is judged by its mean accuracy over its seeds (one lucky seed is "
     "noise), and fits when its mean batch-1 latency is within the budget", _best_seed),
    ("you used the latency at batch 32: the budget is per sentence at batch 1 (latency_ms_b1), what one request "
     "costs", _picker(_within("latency_ms_b32"), ACC)),
    ("the budget is ignored: keep only the rows whose mean batch-1 latency is at most budget_ms",
     _picker(lambda g, b: True, ACC)),
    ("you picked the fastest row within the budget: among the rows that fit, take the most accurate",
     _picker(_within(B1), _mean(B1), pick=min)),
    ("you picked the first row that fits: among the rows that fit, take the most accurate",
     _first),
    ("a row exactly at the budget was left out: within the budget means latency <= budget_ms",
     _picker(_within(B1, strict=True), ACC)),
    ("you left the teacher out: it is a row like any other, and when it fits the budget and is the most accurate, "
     "it is the answer", _picker(_within(B1), ACC, skip=("teacher",))),
    ("a row fitted as soon as one of its seeds was within the budget: use its mean batch-1 latency over the seeds",
     _picker(_within(B1, how=min), ACC)),
    ("a row fitted only if every seed was within the budget: use its mean batch-1 latency over the seeds",
     _picker(_within(B1, how=max), ACC)),
]


def _random_table(rng: random.Random) -> list[dict]:
    """Rows of 1-3 seeds: accuracies 0.5-0.9, batch-1 latencies 1-8 ms, batch-32 ones in another order."""
    rows = []
    for name in ["teacher"] + rng.sample(["baseline", "hinton-kd", "distilbert", "tinybert", "tinybert-aug",
                                          "tiny-a", "tiny-b"], 5):
        acc, lat = rng.uniform(0.5, 0.9), rng.uniform(1, 8)
        for seed in range(1 if name == "teacher" else rng.choice((1, 3, 3))):
            rows.append({"name": name, "seed": seed, "accuracy": acc + rng.gauss(0, 0.03),
                         "latency_ms_b1": max(0.5, lat + rng.gauss(0, 1.0)), "latency_ms_b32": rng.uniform(0.3, 6)})
    return rows


def _tables() -> list[tuple[str, list[dict], list[float]]]:
    """(what, rows, budgets): the reference table, then random ones; budgets exactly at a one-seed row's
    latency, between rows, above every row and below every row."""
    try:
        ref = [r for r in load_results(reference_results("cpu") / "results.json")["rows"]
               if r["name"] in CHAPTER_TABLE]                                      # notebook 08's rows
        teacher = [r["latency_ms_b1"] for r in ref if r["name"] == "teacher"]      # one seed: its mean is exact
        out = [("the reference table results/cpu/results.json", ref, [2.9, 2.5, 6.0, 3.4, 1.0] + teacher[:1])]
    except FileNotFoundError:                                                       # an installed package
        out = []
    rng = random.Random(8)
    for k in range(12):
        rows = _random_table(rng)
        singles = [r["latency_ms_b1"] for n, g in _groups(rows).items() if len(g) == 1 for r in g]
        budgets = [rng.uniform(1.5, 7), rng.uniform(2, 8), 9.0, 0.4] + singles[:2]
        out.append((f"random table {k + 1}", rows, budgets))
    return out


def _show(rows: list[dict]) -> str:
    g = _groups(rows)
    return "; ".join(f"{n}: accuracy {statistics.fmean(r['accuracy'] for r in x):.3f}, "
                     f"b1 {statistics.fmean(r['latency_ms_b1'] for r in x):.2f} ms ({len(x)} seeds)"
                     for n, x in g.items())


@one_thread
def check_pick_within_budget(fn: Callable) -> None:
    """Check fn(rows, budget_ms) -> row name against :func:`pick_within_budget` (ValueError when none fits).

    rows: a results table's rows (``results.json``: name, seed, accuracy, latency_ms_b1, latency_ms_b32, ...).
    """
    name, got = "pick_within_budget", {}
    tables = _tables()
    for what, rows, budgets in tables:
        for budget in budgets:
            try:
                got[(what, budget)] = fn([dict(r) for r in rows], budget)
            except NotImplementedError:
                raise
            except ValueError as e:
                got[(what, budget)] = e
            except Exception as e:
                hint = " Hint: your function is called as pick_within_budget(rows, budget_ms)." \
                    if isinstance(e, TypeError) else ""
                raise CheckFailed(f"{name} raised {type(e).__name__} for {what}, budget {budget:.4g} ms: {e}.{hint}") \
                    from e
    for what, rows, budgets in tables:
        for budget in budgets:
            out = got[(what, budget)]
            try:
                want = pick_within_budget(rows, budget)
            except ValueError:
                want = None
            if (want is None and isinstance(out, ValueError)) or (want is not None and out == want):
                continue
            text = (f"{name} gave {out!r} for {what} with a budget of {budget:.4g} ms; expected "
                    f"{'a ValueError (no row fits)' if want is None else repr(want)}.\n  rows: {_show(rows)}")
            if want is None:
                raise CheckFailed(f"{text}\nHint: say so when no row fits: raise ValueError (naming the fastest row "
                                  "and its latency), rather than returning a row or None.")
            if isinstance(out, ValueError):
                raise CheckFailed(f"{text}\nHint: {want!r} fits (mean batch-1 latency at most the budget); raise "
                                  "ValueError only when no row does.")
            if isinstance(out, dict):
                raise CheckFailed(f"{text}\nHint: return the row's name (row['name']), a str.")
            pairs = [(t, b) for t, _, bs in tables for b in bs if not isinstance(got[(t, b)], ValueError)]
            rows_of = {t: r for t, r, _ in tables}
            explains = lambda m, ps: all(m(rows_of[t], b) == got[(t, b)] for t, b in ps)  # noqa: E731
            hint = (next((h for h, m in BUDGET_MISTAKES if explains(m, pairs)), None)
                    or next((h for h, m in BUDGET_MISTAKES if explains(m, [(what, budget)])), None)
                    or "group the rows by name, average accuracy and batch-1 latency over the seeds, keep the rows "
                       "within the budget, return the most accurate")
            raise CheckFailed(f"{text}\nHint: {hint}.")
    n = sum(len(b) for _, _, b in tables)
    print(f"✓ {name} picks the most accurate row within the budget (mean over seeds, batch-1 latency) for {n} "
          "budgets "
          f"on {len(tables)} tables, the reference among them, and raises ValueError when none fits.")
