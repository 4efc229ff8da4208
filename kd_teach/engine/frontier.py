"""The accuracy-cost frontier of a results table, and the best row under a budget.

A student is worth shipping when no other row is both at least as accurate and at most as
costly (latency, parameters or size). Those rows form the Pareto frontier; a budget (e.g. a
batch-1 latency of at most 5 ms) then picks the most accurate row that fits. Rows are the
dicts of ``results.json`` (:mod:`kd_teach.engine.report`); several seeds of a row are first
averaged (:func:`mean_points`).
"""
from __future__ import annotations

import statistics
from collections.abc import Iterable

COSTS = {  # results.json key -> what it measures, for axis labels and messages
    "latency_ms_b1": "batch-1 latency (ms per sentence)",
    "latency_ms_b32": "batch-32 latency (ms per sentence)",
    "params": "parameters",
    "size_mb": "size (MB)",
}


def _check_cost(cost: str) -> None:
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {sorted(COSTS)}, got {cost!r}")


def mean_points(rows: Iterable[dict], cost: str = "latency_ms_b1", seeds: Iterable[int] | None = None) -> list[dict]:
    """One point per row name: accuracy mean and sample sd, and mean cost, over the chosen seeds.

    Args:
        rows: results rows (``name``, ``seed``, ``accuracy`` and the ``cost`` key).
        cost: a key of :data:`COSTS`.
        seeds: keep only these seeds (None: all).
    Returns:
        ``[{"name", "n", "accuracy", "sd", "cost"}]`` in first-seen order; ``sd`` is 0.0 for one seed.
    Raises:
        ValueError: for an unknown ``cost``.
    """
    _check_cost(cost)
    keep = None if seeds is None else set(seeds)
    groups: dict[str, list[dict]] = {}
    for r in rows:
        if keep is None or r.get("seed") in keep:
            groups.setdefault(r["name"], []).append(r)
    points = []
    for name, rs in groups.items():
        acc = [r["accuracy"] for r in rs]
        points.append({"name": name, "n": len(rs), "accuracy": statistics.fmean(acc),
                       "sd": statistics.stdev(acc) if len(acc) > 1 else 0.0,
                       "cost": statistics.fmean(r[cost] for r in rs)})
    return points


def pareto_front(points: list[dict]) -> list[str]:
    """Names of the points no other point dominates (as accurate or more at as low a cost or lower,
    strictly better in one), cheapest first.

    Args:
        points: dicts with ``name``, ``accuracy`` and ``cost`` (e.g. from :func:`mean_points`).
    """
    def dominated(p: dict) -> bool:
        return any(q["accuracy"] >= p["accuracy"] and q["cost"] <= p["cost"]
                   and (q["accuracy"] > p["accuracy"] or q["cost"] < p["cost"]) for q in points)
    return [p["name"] for p in sorted(points, key=lambda p: (p["cost"], -p["accuracy"])) if not dominated(p)]


def best_under_budget(points: list[dict], budget: float) -> dict | None:
    """The most accurate point whose cost is at most ``budget`` (ties: the cheaper); None if none fits.

    Raises:
        ValueError: if ``budget`` is not a positive number.
    """
    if not budget > 0:
        raise ValueError(f"budget must be a positive cost, got {budget!r}")
    fits = [p for p in points if p["cost"] <= budget]
    return max(fits, key=lambda p: (p["accuracy"], -p["cost"])) if fits else None
