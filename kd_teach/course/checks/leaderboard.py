"""Checkers for the exercises of notebook 08: reading the results table to choose, and to believe a difference.

``check_pick_within_budget`` compares the learner's choice of a model for a latency budget with
:func:`pick_within_budget` (the package's :func:`kd_teach.engine.frontier.best_under_budget`): the
row (by name) with the best mean dev accuracy over its seeds among the rows whose mean batch-1
latency is at most the budget; none fits: ValueError. It runs on the
course's reference table (``results/cpu/results.json``) and on random tables of several seeds per
row, and names the mistake its choices match (best single seed, batch-32 latency, budget ignored,
fastest instead of most accurate, ``<`` instead of ``<=``, the first row that fits, the teacher left
out, a row that fits in one seed only).

``check_resolved`` compares the learner's verdict "is row a ahead of row b by more than noise?"
with :func:`kd_teach.engine.report.compare`: every seed agrees on the sign of a - b, and the mean
difference is at least twice the larger of the two rows' sample standard deviations (n - 1), on
two seeds or more. Mistakes named: the population sd, the sd of the differences, the mean of the two
sds, once the spread instead of twice, no sign check, only a ahead counted, a single seed believed.
"""
from __future__ import annotations

import random
import statistics
from typing import Callable

from kd_teach.course.checks.core import CheckFailed, one_thread
from kd_teach.engine.frontier import best_under_budget, mean_points
from kd_teach.engine.report import compare, load_results, reference_results


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
        ref = load_results(reference_results("cpu") / "results.json")["rows"]
        teacher = [r["latency_ms_b1"] for r in ref if r["name"] == "teacher"]      # one seed: its mean is exact
        out = [("the reference table results/cpu/results.json", ref, [3.0, 2.5, 6.0, 3.4, 1.0] + teacher[:1])]
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


# --------------------------------------------------------------------------- resolved or noise
def resolved(a: list[float], b: list[float]) -> bool:
    """The package's verdict (:func:`kd_teach.engine.report.compare`) on per-seed values of rows a and b."""
    rows = [{"name": n, "seed": s, "accuracy": v} for n, vs in (("a", a), ("b", b)) for s, v in enumerate(vs)]
    return compare(rows, "a", "b")["resolved"]


def _verdict(spread: Callable, k: float = 2.0, signs=True, both_ways=True, one_seed=False) -> Callable:
    def judge(a, b):
        d = [x - y for x, y in zip(a, b)]
        if len(d) < 2:
            return one_seed and d[0] != 0
        m = statistics.fmean(d)
        agree = all(x > 0 for x in d) or (both_ways and all(x < 0 for x in d))
        return (agree or not signs) and (abs(m) if both_ways else m) >= k * spread(a, b, d)
    return judge


SAMPLE = lambda a, b, d: max(statistics.stdev(a), statistics.stdev(b))  # noqa: E731
RESOLVED_MISTAKES = [
    ("you used the population standard deviation (divide by n): the spread is the sample sd, n − 1 "
     "(statistics.stdev), the larger of the two rows'",
     _verdict(lambda a, b, d: max(statistics.pstdev(a), statistics.pstdev(b)))),
    ("you used the sd of the per-seed differences: the course's spread is the larger of the two rows' own sample sds",
     _verdict(lambda a, b, d: statistics.stdev(d))),
    ("you averaged the two rows' sds: the spread is the larger of them", _verdict(
        lambda a, b, d: (statistics.stdev(a) + statistics.stdev(b)) / 2)),
    ("the mean difference must be at least twice the spread, not once", _verdict(SAMPLE, k=1.0)),
    ("every seed must agree on the sign of a − b: one seed going the other way leaves the difference unresolved",
     _verdict(SAMPLE, signs=False)),
    ("only a ahead of b was counted: b ahead of a in every seed, by twice the spread, is resolved too (take |mean|)",
     _verdict(SAMPLE, both_ways=False)),
    ("one seed says nothing about noise: a single seed is never resolved", _verdict(SAMPLE, one_seed=True)),
]


def _resolved_cases() -> list[tuple[list[float], list[float]]]:
    """Per-seed accuracies of two rows: 1-5 seeds, spreads 0.2-4 points, gaps from -8 to 8 points."""
    rng, cases = random.Random(9), []
    for _ in range(400):
        n, sd, gap = rng.choice((1, 2, 3, 3, 3, 5)), rng.uniform(0.002, 0.04), rng.uniform(-0.08, 0.08)
        base = [rng.uniform(0.6, 0.8) for _ in range(n)]
        a = [x + gap + rng.gauss(0, sd) for x in base]
        b = [x + rng.gauss(0, sd) for x in base]
        cases.append((a, b))
    split = ([0.80, 0.80, 0.75], [0.70, 0.70, 0.751])     # ahead by 6.6 points on average, but one seed disagrees
    return cases + [split, split[::-1]]


@one_thread
def check_resolved(fn: Callable) -> None:
    """Check fn(a, b) -> bool against :func:`kd_teach.engine.report.compare` (a, b: per-seed accuracies)."""
    name, cases, got = "resolved", _resolved_cases(), []
    for a, b in cases:
        try:
            out = fn(list(a), list(b))
        except NotImplementedError:
            raise
        except Exception as e:
            hint = " Hint: your function is called as resolved(a, b)." if isinstance(e, TypeError) else \
                " Hint: one seed has no standard deviation; answer False (unresolved) for it." \
                if len(a) < 2 and ("two data points" in str(e) or "variance" in str(e)) else ""
            raise CheckFailed(f"{name} raised {type(e).__name__} for a = {a}, b = {b}: {e}.{hint}") from e
        if type(out).__name__ not in ("bool", "bool_"):
            raise CheckFailed(f"{name} returned {out!r} for a = {a}, b = {b}; expected True or False.")
        got.append(bool(out))
    for (a, b), out in zip(cases, got):
        want = resolved(a, b)
        if out == want:
            continue
        d = [x - y for x, y in zip(a, b)]
        spread = SAMPLE(a, b, d) if len(a) > 1 else 0.0
        hint = (next((h for h, m in RESOLVED_MISTAKES if all(m(x, y) == o for (x, y), o in zip(cases, got))), None)
                or next((h for h, m in RESOLVED_MISTAKES if m(a, b) == out), None)
                or "resolved = at least two seeds, every a − b of one sign, and |mean(a − b)| >= 2 × max(sd(a), "
                   "sd(b))")
        raise CheckFailed(f"{name} said {out} for a = {[round(x, 4) for x in a]}, b = {[round(x, 4) for x in b]}; "
                          f"expected {want} (a − b per seed: {[round(100 * x, 2) for x in d]} points, mean "
                          f"{100 * statistics.fmean(d):+.2f}, spread {100 * spread:.2f}).\nHint: {hint}.")
    print(f"✓ {name} agrees with kd_teach.engine.report.compare on {len(cases)} pairs of rows (1 to 5 seeds, "
          f"{sum(got)} resolved).")

