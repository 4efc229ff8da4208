"""Verdicts on the results table: each row's accuracy and share of the teacher with a 95% interval, and every
comparison of two rows paired sentence by sentence (:mod:`kd_teach.engine.significance`).

A results table (``results.json``) keeps, for every row and seed, its predicted class on each dev sentence
(``predictions``) and, once for the table, the dev labels (``dev_labels``). From them:

- :func:`compare` (row a against row b): the mean accuracy difference over the seeds both have, its 95%
  paired-bootstrap interval, and the verdict: *resolved* when the interval excludes 0 (on two seeds or more).
- :func:`row_intervals`: each row's mean accuracy and its share of the teacher, each with its interval.
- :func:`comparison_table` and :func:`interval_table`: the same as Markdown, for results.md, the README and
  the notebooks.
"""
from __future__ import annotations

from kd_teach.engine.report import load_results, reference_results, seed_summary
from kd_teach.engine.significance import (accuracy_interval, correctness, decode_labels, difference_interval,
                                          share_interval)

COMPARISON_RULE = ("a difference is resolved when its 95% paired-bootstrap interval over dev sentences and seeds "
                   "excludes 0")


def reference_labels(name: str = "cpu") -> str:
    """The dev labels (``dev_labels``) of the committed reference ``results/<name>/results.json``: what its rows'
    ``predictions`` are scored against.

    Raises:
        FileNotFoundError: outside a checkout of the course (:func:`kd_teach.engine.report.reference_results`).
        KeyError: for a table written before rows kept their predictions.
    """
    return load_results(reference_results(name) / "results.json")["dev_labels"]


def _by_seed(rows: list[dict], name: str) -> dict:
    group = {r.get("seed"): r for r in rows if r["name"] == name}
    if not group:
        raise ValueError(f"rows has no row named {name!r}; it has {sorted({r['name'] for r in rows})}")
    return group


def compare(rows: list[dict], a: str, b: str, labels) -> dict:
    """Row ``a`` against row ``b`` on the seeds both have: the accuracy difference and its 95% paired interval.

    The interval is the paired bootstrap over dev sentences (Koehn 2004), each sentence drawn with every
    shared seed's predictions of both rows on it (:func:`kd_teach.engine.significance.difference_interval`).
    A difference is *resolved* when the interval excludes 0 and the rows share more than one seed (one
    seed says nothing of the seed-to-seed spread); otherwise it is inside the noise, and a chapter must
    say so rather than read a story into it.

    Args:
        rows: results rows with ``predictions`` (every seed of ``a`` and ``b``).
        labels: the dev labels (results.json's ``dev_labels`` string, or a sequence of class ids).
    Returns:
        ``{"a", "b", "seeds", "diffs", "mean_diff", "low", "high", "spread", "resolved"}``: ``diffs`` are
        ``a - b`` per shared seed, ``mean_diff`` their mean and ``low``/``high`` its interval, as accuracy
        fractions (0.01 = 1 point); ``spread`` the larger of the two rows' seed sds.
    Raises:
        ValueError: when ``rows`` has no row named ``a`` or ``b``, they share no seed, or a row lacks predictions.
    """
    ra, rb = _by_seed(rows, a), _by_seed(rows, b)
    seeds = sorted(set(ra) & set(rb), key=lambda s: s or 0)
    if not seeds:
        raise ValueError(f"rows {a!r} (seeds {sorted(ra)}) and {b!r} (seeds {sorted(rb)}) share no seed")
    y = decode_labels(labels)
    ci = difference_interval(correctness([ra[s] for s in seeds], y), correctness([rb[s] for s in seeds], y))
    sds = [e["sd"] for e in seed_summary([r for r in rows if r["name"] in (a, b)])]
    return {"a": a, "b": b, "seeds": seeds, "diffs": [ra[s]["accuracy"] - rb[s]["accuracy"] for s in seeds],
            "mean_diff": ci.value, "low": ci.low, "high": ci.high, "spread": max(sds),
            "resolved": len(seeds) > 1 and ci.excludes_zero}


def verdict(c: dict) -> str:
    """:func:`compare`'s result in words."""
    if len(c["seeds"]) < 2:
        return "one seed: cannot tell"
    if c["resolved"]:
        return f"`{c['a'] if c['mean_diff'] > 0 else c['b']}` ahead (the interval excludes 0)"
    return "inside the noise (the interval holds 0)"


def points(x: float, sign: bool = True) -> str:
    """A fraction in points with one decimal (``0.0123`` -> ``+1.2``), never a signed zero."""
    text = f"{100 * x:+.1f}" if sign else f"{100 * x:.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def comparison_table(rows: list[dict], pairs: list[tuple[str, str]], labels) -> str:
    """Markdown: for each ``(a, b)`` in ``pairs``, a - b in points per seed, their mean with its 95% paired
    interval, and the verdict of :func:`compare`."""
    lines = ["| comparison | a - b per seed (points) | mean | 95% interval | verdict |", "|---|---|---|---|---|"]
    for a, b in pairs:
        c = compare(rows, a, b, labels)
        lines.append(f"| `{a}` - `{b}` | {', '.join(points(d) for d in c['diffs'])} | {points(c['mean_diff'])} | "
                     f"[{points(c['low'])}, {points(c['high'])}] | {verdict(c)} |")
    return "\n".join(lines)


def row_intervals(rows: list[dict], labels) -> list[dict]:
    """Each row name's mean accuracy over its seeds and its share of the teacher's accuracy, each with its 95%
    bootstrap interval over dev sentences, in table order.

    Returns:
        ``[{"name", "seeds", "accuracy": Interval, "share": Interval | None}]`` (``share`` is None without a
        ``teacher`` row; see :class:`kd_teach.engine.significance.Interval`).
    Raises:
        ValueError: when a row lacks predictions.
    """
    y = decode_labels(labels)
    teacher = [r for r in rows if r["name"] == "teacher"][:1]
    correct_teacher = correctness(teacher, y)[0] if teacher else None
    out = []
    for e in seed_summary(rows):
        group = sorted((r for r in rows if r["name"] == e["name"]), key=lambda r: r.get("seed") or 0)
        correct = correctness(group, y)                                      # (seeds, sentences)
        out.append({"name": e["name"], "seeds": e["seeds"], "accuracy": accuracy_interval(correct),
                    "share": None if correct_teacher is None else share_interval(correct, correct_teacher)})
    return out


def interval_table(rows: list[dict], labels) -> str:
    """Markdown: each row's dev accuracy per seed, its mean with the 95% interval, and its share of the teacher
    with its own (the teacher is fine-tuned once: one seed, shown in every seed's column)."""
    summary = seed_summary(rows)
    intervals = {e["name"]: e for e in row_intervals(rows, labels)}
    seeds = sorted({s for e in summary for s in e["seeds"] if s is not None})
    lines = ["| row | " + " | ".join(f"seed {s}" for s in seeds) + " | mean [95% interval] | % of teacher [95% interval] |",
             "|---|" + "---|" * len(seeds) + "---|---|"]
    for e in summary:
        per_seed = dict(zip(e["seeds"], e["values"]))
        cells = [f"{per_seed[s]:.4f}" if s in per_seed else "" for s in seeds]
        if e["name"] == "teacher":
            cells = [f"{e['values'][0]:.4f}"] * len(seeds)
        acc, share = intervals[e["name"]]["accuracy"], intervals[e["name"]]["share"]
        shown = f"{share.value:.1%} [{share.low:.1%}, {share.high:.1%}]" if share else ""
        lines.append(f"| {e['name']} | " + " | ".join(cells) + f" | {acc.value:.4f} [{acc.low:.4f}, {acc.high:.4f}] | "
                     f"{shown} |")
    return "\n".join(lines)
