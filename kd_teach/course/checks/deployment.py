"""Checkers for the exercises of notebook 09: reading a deployment table (``kd-teach deploy``'s rows).

Each deployment row is one model (``name``, ``seed``) served one way (``runtime``: torch, torch-int8, onnx,
onnx-int8), with its dev ``accuracy`` and its CPU ``latency_ms_b1`` (ms per sentence at batch 1).

- ``check_same_runtime_speedups``: each student row's batch-1 speed-up over the teacher *served the same
  way*, :func:`same_runtime_speedups`; it names the mistakes of dividing the wrong way round, of timing the
  teacher in another runtime (PyTorch float32, say), and of averaging the teacher over runtimes.
- ``check_int8_accuracy_loss``: what int8 costs each model, in points, against the same model and seed in
  float32 of the same runtime family, :func:`int8_accuracy_loss`; it names a flipped sign, fractions instead
  of points, and int8 held against the teacher instead of against the same model.
- ``check_pick_deployment``: the most accurate (model, runtime) within a batch-1 latency budget, averaged over
  seeds (ties: the faster), :func:`pick_deployment`.

Each runs on the course's reference deployment (``results/cpu-deploy/deployment.json``) and on random tables.
"""
from __future__ import annotations

import random
import statistics
from typing import Callable

from kd_teach.course.checks.core import CheckFailed
from kd_teach.engine.report import load_results, reference_results

FLOAT32 = {"torch-int8": "torch", "onnx-int8": "onnx"}  # int8 runtime -> the float32 runtime it quantises


def same_runtime_speedups(rows: list[dict]) -> dict[tuple[str, int, str], float]:
    """(name, seed, runtime) -> the teacher's ``latency_ms_b1`` in that runtime / the row's, for every row that is
    not the teacher. The teacher's latency per runtime is the mean of its rows in that runtime.

    Raises:
        ValueError: when a runtime of a student row has no teacher row.
    """
    teacher = {rt: statistics.fmean(r["latency_ms_b1"] for r in rows if r["name"] == "teacher" and r["runtime"] == rt)
               for rt in {r["runtime"] for r in rows if r["name"] == "teacher"}}
    missing = {r["runtime"] for r in rows if r["name"] != "teacher"} - teacher.keys()
    if missing:
        raise ValueError(f"no teacher row served as {sorted(missing)}: a speed-up compares like with like")
    return {(r["name"], r["seed"], r["runtime"]): teacher[r["runtime"]] / r["latency_ms_b1"]
            for r in rows if r["name"] != "teacher"}


def int8_accuracy_loss(rows: list[dict]) -> dict[tuple[str, str], float]:
    """(name, int8 runtime) -> float32 accuracy minus int8 accuracy of the same model, in points (x 100), paired
    seed by seed and averaged over the seeds both runtimes hold."""
    acc = {(r["name"], r["seed"], r["runtime"]): r["accuracy"] for r in rows}
    out = {}
    for (name, runtime) in sorted({(r["name"], r["runtime"]) for r in rows if r["runtime"] in FLOAT32}):
        seeds = sorted(s for (n, s, rt) in acc if n == name and rt == runtime and (n, s, FLOAT32[rt]) in acc)
        if seeds:
            out[name, runtime] = statistics.fmean(100 * (acc[name, s, FLOAT32[runtime]] - acc[name, s, runtime])
                                                  for s in seeds)
    return out


def _means(rows: list[dict]) -> dict[tuple[str, str], tuple[float, float]]:
    """(name, runtime) -> (mean accuracy, mean latency_ms_b1) over its seeds."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["name"], r["runtime"]), []).append(r)
    return {k: (statistics.fmean(r["accuracy"] for r in g), statistics.fmean(r["latency_ms_b1"] for r in g))
            for k, g in groups.items()}


def pick_deployment(rows: list[dict], budget_ms: float) -> tuple[str, str]:
    """The (name, runtime) with the best mean accuracy over its seeds whose mean ``latency_ms_b1`` is at most
    ``budget_ms``; between equally accurate candidates, the faster (the same model in two float32 runtimes
    is equally accurate).

    Raises:
        ValueError: when none fits, naming the fastest.
    """
    mean = _means(rows)
    fits = [k for k, (_, ms) in mean.items() if ms <= budget_ms]
    if not fits:
        fastest = min(mean, key=lambda k: mean[k][1])
        raise ValueError(f"nothing runs within {budget_ms} ms per sentence at batch 1: the fastest, {fastest}, "
                         f"takes {mean[fastest][1]:.2f} ms")
    return max(fits, key=lambda k: (mean[k][0], -mean[k][1]))


# ------------------------------------------------------------------ the tables the checkers run on
def _reference() -> list[dict]:
    return load_results(reference_results("cpu-deploy") / "deployment.json")["rows"]


def _random_table(rng: random.Random, seeds: int = 3) -> list[dict]:
    rows = []
    for rt, speed in (("torch", 1.0), ("torch-int8", 0.3), ("onnx", 0.4), ("onnx-int8", 0.17)):
        rows.append({"name": "teacher", "seed": 0, "runtime": rt, "accuracy": rng.uniform(0.80, 0.85),
                     "latency_ms_b1": speed * rng.uniform(5, 9)})
        for name, size in (("small", 0.15), ("medium", 0.4)):
            for s in range(seeds):
                rows.append({"name": name, "seed": s, "runtime": rt, "accuracy": rng.uniform(0.70, 0.82),
                             "latency_ms_b1": speed * size * rng.uniform(5, 9)})
    return rows


def _tables() -> list[tuple[str, list[dict]]]:
    rng = random.Random(0)
    return [("the reference deployment (results/cpu-deploy)", _reference())] + \
        [(f"random table {k}", _random_table(rng)) for k in range(1, 4)]


def _call(fn: Callable, name: str, what: str, *args):
    try:
        return fn(*args)
    except NotImplementedError:
        raise
    except Exception as e:
        raise CheckFailed(f"{name} raised {type(e).__name__} on {what}: {e}") from e


def _close(a: dict, b: dict, tol: float) -> bool:
    return isinstance(a, dict) and a.keys() == b.keys() and all(abs(a[k] - b[k]) <= tol * max(1.0, abs(b[k]))
                                                                for k in b)


def _first_difference(out, want: dict) -> str:
    if not isinstance(out, dict):
        return f"got a {type(out).__name__}, expected a dict keyed {next(iter(want))!r}, ..."
    if out.keys() != want.keys():
        return (f"keys differ: missing {sorted(want.keys() - out.keys())[:3]}, unexpected "
                f"{sorted(out.keys() - want.keys(), key=str)[:3]}")
    k = max(want, key=lambda k: abs(out[k] - want[k]))
    return f"for {k!r}: got {out[k]:.4g}, expected {want[k]:.4g}"


# ------------------------------------------------------------------ exercise 1: speed-ups
def _speedups_inverted(rows):
    return {k: 1 / v for k, v in same_runtime_speedups(rows).items()}


def _speedups_against_one_teacher(rows, runtimes=None):
    """Every row against one teacher latency: its rows in ``runtimes`` (None: every runtime) averaged."""
    t = statistics.fmean(r["latency_ms_b1"] for r in rows if r["name"] == "teacher"
                         and (runtimes is None or r["runtime"] in runtimes))
    return {(r["name"], r["seed"], r["runtime"]): t / r["latency_ms_b1"] for r in rows if r["name"] != "teacher"}


def _speedups_against_torch(rows):
    return _speedups_against_one_teacher(rows, ("torch",))


def _speedups_against_all_runtimes(rows):
    return _speedups_against_one_teacher(rows)


SPEEDUP_MISTAKES = [
    (_speedups_inverted, "you divided the student's latency by the teacher's: a speed-up is teacher / student "
                         "(above 1 when the student is faster)."),
    (_speedups_against_torch, "every row was held against the teacher in PyTorch float32: an ONNX or int8 student "
                              "then gets credit for its runtime, not for distillation. Divide by the teacher served "
                              "the same way (the same runtime)."),
    (_speedups_against_all_runtimes, "the teacher's latency was averaged over its runtimes: take the teacher's rows "
                                     "of the row's own runtime only."),
]


def _check_table(fn: Callable, reference: Callable, mistakes: list, hint: str, success: str) -> None:
    """Run fn(rows) and ``reference(rows)`` (a dict of numbers) on every table; the first difference fails, with
    the hint of the mistake that reproduces fn's output (``hint`` when none does); all agree: ``success``."""
    name = reference.__name__
    for what, rows in _tables():
        out = _call(fn, name, what, [dict(r) for r in rows])
        want = reference(rows)
        if _close(out, want, 1e-6):
            continue
        hint = next((h for mistake, h in mistakes if _close(out, mistake(rows), 1e-6)), hint)
        raise CheckFailed(f"{name} differs on {what}: {_first_difference(out, want)}.\nHint: {hint}")
    print(f"✓ {name} {success}")


def check_same_runtime_speedups(fn: Callable) -> None:
    """Check fn(rows) -> {(name, seed, runtime): speed-up} against :func:`same_runtime_speedups`."""
    _check_table(fn, same_runtime_speedups, SPEEDUP_MISTAKES,
                 "the speed-up of a row is the teacher's mean latency_ms_b1 in the row's runtime divided by the "
                 "row's own; one entry per student row, keyed (name, seed, runtime), the teacher left out.",
                 "takes every student row's speed-up against the teacher served the same way.")


# ------------------------------------------------------------------ exercise 2: what int8 costs
def _loss_flipped(rows):
    return {k: -v for k, v in int8_accuracy_loss(rows).items()}


def _loss_in_fractions(rows):
    return {k: v / 100 for k, v in int8_accuracy_loss(rows).items()}


def _loss_against_the_teacher(rows):
    acc = {(r["name"], r["seed"], r["runtime"]): r["accuracy"] for r in rows}
    teacher = {rt: statistics.fmean(a for (n, _, r), a in acc.items() if n == "teacher" and r == rt)
               for rt in FLOAT32.values() if any(n == "teacher" and r == rt for (n, _, r) in acc)}
    out = {}
    for name, runtime in {(r["name"], r["runtime"]) for r in rows if r["runtime"] in FLOAT32}:
        values = [100 * (teacher[FLOAT32[runtime]] - a) for (n, _, r), a in acc.items() if n == name and r == runtime]
        out[name, runtime] = statistics.fmean(values)
    return out


LOSS_MISTAKES = [
    (_loss_flipped, "the sign is flipped: the loss is float32 minus int8 (positive when int8 costs accuracy)."),
    (_loss_in_fractions, "these are fractions of 1; the exercise asks for points (x 100)."),
    (_loss_against_the_teacher, "each int8 model was held against the teacher in float32; what int8 costs is "
                                "measured against the same model and seed in float32 (torch-int8 against torch, "
                                "onnx-int8 against onnx)."),
]


def check_int8_accuracy_loss(fn: Callable) -> None:
    """Check fn(rows) -> {(name, int8 runtime): points} against :func:`int8_accuracy_loss`."""
    _check_table(fn, int8_accuracy_loss, LOSS_MISTAKES,
                 "for each model and int8 runtime: 100 x (accuracy in the float32 runtime it quantises - accuracy "
                 "in int8), seed by seed, then the mean over the seeds.",
                 "holds int8 against the same model and seed in float32, in points.")


# ------------------------------------------------------------------ exercise 3: choosing under a budget
def check_pick_deployment(fn: Callable) -> None:
    """Check fn(rows, budget_ms) -> (name, runtime) against :func:`pick_deployment` (ValueError when none fits)."""
    name = "pick_deployment"
    for what, rows in _tables():
        means = sorted(ms for _, ms in _means(rows).values())
        for budget in (means[0] * 0.9, means[0], means[len(means) // 3], means[len(means) // 2] * 1.01, means[-1]):
            try:
                want = pick_deployment(rows, budget)
            except ValueError:
                want = None
            try:
                out = fn([dict(r) for r in rows], budget)
            except NotImplementedError:
                raise
            except ValueError as e:
                out = e
            except Exception as e:
                raise CheckFailed(f"{name} raised {type(e).__name__} on {what}, budget {budget:.4g} ms: {e}") from e
            right = isinstance(out, ValueError) if want is None else \
                isinstance(out, (tuple, list)) and tuple(out) == want
            if right:
                continue
            hint = ("raise ValueError when no (model, runtime) runs within the budget" if want is None else
                    "each (name, runtime) is one candidate: its mean accuracy and mean latency_ms_b1 over its seeds; "
                    "among those at most the budget, the most accurate; return (name, runtime)")
            raise CheckFailed(f"{name} gave {out!r} on {what} with a budget of {budget:.4g} ms; expected "
                              f"{'a ValueError' if want is None else repr(want)}.\nHint: {hint}.")
    print(f"✓ {name} finds the most accurate model and runtime within each budget.")
