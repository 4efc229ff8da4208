"""Checker for the exercise of notebook 08 on believing a difference: the paired bootstrap over dev sentences.

``check_paired_bootstrap`` runs the learner's ``paired_bootstrap(correct_a, correct_b, n_resamples, seed) ->
(low, high)`` (``correct_*``: (seeds, sentences) arrays of 0/1, which sentences each seed of each row got
right) on simulated pairs of rows, 1 to 5 seeds, 200 to 872 sentences, and compares its 95% interval of
``accuracy(a) - accuracy(b)`` with the package's (:func:`kd_teach.engine.significance.difference_interval`,
SciPy's percentile bootstrap, another random generator): ends within 6% of the interval's width of each
other pass (10,000 resamples move an end by about 1%). Mistakes named: resampling a and b independently
(unpaired), one resample per seed, a 90% interval, b - a, seed 0 alone, resampling seeds instead of sentences.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from kd_teach.course.checks.core import CheckFailed
from kd_teach.engine.significance import difference_interval

TOLERANCE = 0.06  # of the reference interval's width


def paired_bootstrap(correct_a: np.ndarray, correct_b: np.ndarray, n_resamples: int = 10_000,
                     seed: int = 0) -> tuple[float, float]:
    """The package's answer: the 95% percentile interval of a - b by the paired bootstrap over sentences."""
    ci = difference_interval(np.asarray(correct_a, float), np.asarray(correct_b, float), n_resamples=n_resamples,
                             seed=seed, method="percentile")
    return ci.low, ci.high


def _bootstrap(d_of_idx: Callable, n: int, n_resamples: int, seed: int, level: float = 0.95) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    stats = np.array([d_of_idx(rng, rng.integers(0, n, n)) for _ in range(n_resamples)])
    return tuple(np.quantile(stats, [(1 - level) / 2, (1 + level) / 2]))


MISTAKES = [  # (hint, the bootstrap redone with that mistake)
    ("a and b were resampled independently: draw one set of sentence indices and score both rows on it (paired), "
     "or what the rows share (sentences both get right or wrong) counts as noise",
     lambda a, b, r, s: _bootstrap(lambda g, i: a.mean(0)[i].mean() - b.mean(0)[g.integers(0, a.shape[1], a.shape[1])]
                                   .mean(), a.shape[1], r, s)),
    ("each seed got its own resample: draw the sentences once and keep every seed's predictions on them (the same "
     "hard sentences are hard for every seed)",
     lambda a, b, r, s: _bootstrap(lambda g, i: np.mean([(a[k] - b[k])[g.integers(0, a.shape[1], a.shape[1])].mean()
                                                         for k in range(len(a))]), a.shape[1], r, s)),
    ("that is a 90% interval: take the 2.5th and 97.5th percentiles for 95%",
     lambda a, b, r, s: _bootstrap(lambda g, i: (a.mean(0) - b.mean(0))[i].mean(), a.shape[1], r, s, level=0.90)),
    ("the interval is of b - a: the difference is accuracy(a) - accuracy(b)",
     lambda a, b, r, s: _bootstrap(lambda g, i: (b.mean(0) - a.mean(0))[i].mean(), a.shape[1], r, s)),
    ("only the first seed was used: average the difference over every seed both rows have",
     lambda a, b, r, s: _bootstrap(lambda g, i: (a[0] - b[0])[i].mean(), a.shape[1], r, s)),
    ("seeds were resampled instead of sentences: the 872 dev sentences are the sample whose noise the interval "
     "measures",
     lambda a, b, r, s: _bootstrap(lambda g, i: (a - b)[g.integers(0, len(a), len(a))].mean(), a.shape[1], r, s)),
]


def _cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Pairs of rows as trained rows look: each sentence has a difficulty shared by both rows and every seed, and
    each seed flips a few sentences of its own."""
    rng, out = np.random.default_rng(25), []
    for seeds, n, gap in [(3, 872, 0.03), (1, 872, 0.0), (2, 500, -0.04), (5, 300, 0.01), (3, 200, 0.08),
                          (3, 872, -0.01)]:
        p = rng.beta(4, 1.5, size=n)                                       # most sentences easy, some hard
        base_a, base_b = rng.random(n) < np.clip(p + gap / 2, 0, 1), rng.random(n) < np.clip(p - gap / 2, 0, 1)
        flip = lambda base: np.where(rng.random((seeds, n)) < 0.06, ~base, base).astype(float)  # noqa: E731
        out.append((f"{seeds} seed{'s' * (seeds > 1)} x {n} sentences, a - b near {100 * gap:+.0f} points",
                    flip(base_a), flip(base_b)))
    return out


def _close(got, want) -> bool:
    return all(abs(g - w) <= TOLERANCE * max(want[1] - want[0], 1e-3) for g, w in zip(got, want))


def check_paired_bootstrap(fn: Callable, n_resamples: int = 10_000) -> None:
    """Check fn(correct_a, correct_b, n_resamples, seed) -> (low, high) against :func:`paired_bootstrap`."""
    name = "paired_bootstrap"
    for what, a, b in _cases():
        try:
            out = fn(a.copy(), b.copy(), n_resamples, 0)
        except NotImplementedError:
            raise
        except Exception as e:
            hint = " Hint: it is called as paired_bootstrap(correct_a, correct_b, n_resamples, seed)." \
                if isinstance(e, TypeError) else ""
            raise CheckFailed(f"{name} raised {type(e).__name__} on {what}: {e}.{hint}") from e
        try:
            low, high = (float(x) for x in out)
        except (TypeError, ValueError):
            raise CheckFailed(f"{name} returned {out!r} on {what}; expected two numbers (low, high).") from None
        want = paired_bootstrap(a, b, n_resamples, seed=1)
        if _close((low, high), want):
            continue
        hint = next((h for h, m in MISTAKES if _close((low, high), m(a, b, 2000, 0))), None)
        hint = hint or ("d = correct_a.mean(0) - correct_b.mean(0) per sentence; draw n_resamples sets of sentence "
                        "indices with replacement; the 2.5th and 97.5th percentiles of d's mean over each set")
        raise CheckFailed(f"{name} gave [{100 * low:+.2f}, {100 * high:+.2f}] points on {what} (a - b = "
                          f"{100 * (a.mean() - b.mean()):+.2f}); expected about [{100 * want[0]:+.2f}, "
                          f"{100 * want[1]:+.2f}].\nHint: {hint}.")
    print(f"✓ {name} agrees with kd_teach.engine.significance.difference_interval on {len(_cases())} pairs of rows "
          "(1 to 5 seeds, 200 to 872 sentences), each end within 6% of the interval's width.")
