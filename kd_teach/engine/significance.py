"""Is a difference between two rows more than noise? Paired bootstrap intervals over dev sentences and seeds.

Every accuracy in the results table is measured on the same 872 SST-2 dev sentences. Their sampling
error alone is about +-1.4 points (the binomial standard error at 0.79 accuracy), larger than many
differences between rows, and the seed spread (dropout, initialisation, batch order) comes on top.
So a row keeps its predicted class for every dev sentence (:func:`encode_predictions`), and two rows
are compared sentence by sentence:

- **Paired bootstrap** (Koehn 2004, "Statistical Significance Tests for Machine Translation Evaluation";
  recommended for accuracy by Dror et al. 2018, "The Hitchhiker's Guide to Testing Statistical
  Significance in NLP"): draw 872 dev sentences with replacement, score *both* rows on the same draw,
  repeat. Pairing cancels what the two rows share (a sentence both get right, or both get wrong, moves
  neither), so the interval of a difference is much narrower than two accuracies' intervals side by side.
- **Seeds**: a sentence is drawn with every seed's prediction on it, and the statistic is the mean over
  the seeds both rows have. The interval so covers the sentences and the seed-to-seed disagreement on
  each sentence; a shift of a whole seed (one seed's model better on every sentence) is seen only
  through the per-seed differences printed beside it: with 3 seeds no interval can say more.
- The bootstrap itself is SciPy's (``scipy.stats.bootstrap``: BCa interval, 10,000 resamples, a fixed
  NumPy generator), not a formula of ours.

A difference is *resolved* when its 95% interval excludes 0; otherwise it is inside the noise.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

RESAMPLES = 10_000   # bootstrap resamples: on hinton-kd - baseline, the ends moved by up to 0.16 points between
                     # six generator seeds (low end 6.22 to 6.38): read an end printed to 0.1 point as +-0.1
LEVEL = 0.95         # confidence level of every interval
SEED = 0             # the bootstrap's own generator: the same table gives the same interval every time


def encode_predictions(classes: Sequence[int]) -> str:
    """Predicted class ids as one compact string: ``"0110..."`` (one character per sentence) when every id is a
    single digit, else comma-separated after a leading comma (``",0,12,3"``). The inverse of
    :func:`decode_predictions`.

    Raises:
        ValueError: for a negative or non-integer class id.
    """
    ids = [int(c) for c in classes]
    if any(i != c or i < 0 for i, c in zip(ids, classes)):
        raise ValueError(f"classes must be integer class ids >= 0, got {list(classes)[:10]}...")
    return "".join(map(str, ids)) if all(i < 10 for i in ids) else "," + ",".join(map(str, ids))


def decode_predictions(text: str) -> np.ndarray:
    """The class ids of :func:`encode_predictions`'s string, as an int array of shape (sentences,)."""
    if text.startswith(","):
        return np.array([int(t) for t in text[1:].split(",")], dtype=np.int64)
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int64) - ord("0")


@dataclass(frozen=True)
class Interval:
    """A statistic and its bootstrap confidence interval, in its own units (accuracy: a fraction)."""

    value: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def decode_labels(labels: str | Sequence[int] | np.ndarray | None,
                  table: str = "results table (results.json's 'dev_labels')") -> np.ndarray:
    """Dev labels as an int array of shape (sentences,), from a table's ``dev_labels`` string
    (:func:`encode_predictions`) or a sequence of class ids.

    Raises:
        ValueError: when ``labels`` is None, naming the ``table`` whose ``dev_labels`` to pass.
    """
    if labels is None:
        raise ValueError(f"labels must be the dev labels of the {table}, which the rows' predictions are scored "
                         "against; got None")
    return decode_predictions(labels) if isinstance(labels, str) else np.asarray(labels)


def correctness(rows: Sequence[dict], labels: str | Sequence[int] | np.ndarray) -> np.ndarray:
    """Which dev sentences each row got right: (seeds, sentences) array of 0/1, one line per row of ``rows``
    (a row's seeds, say), from their stored ``predictions`` against ``labels`` (class ids, or results.json's
    ``dev_labels`` string of them).

    Raises:
        ValueError: when ``labels`` is None, a row has no stored predictions (it was measured before rows kept
            them: run it again), or its predictions do not cover ``labels``' sentences.
    """
    labels = decode_labels(labels)
    out = []
    for r in rows:
        if not r.get("predictions"):
            raise ValueError(f"row {r['name']!r} (seed {r.get('seed')}) has no per-sentence predictions: it was "
                             "measured before rows kept them; run it again (kd-teach run ... --force)")
        pred = decode_predictions(r["predictions"])
        if pred.shape != labels.shape:
            raise ValueError(f"row {r['name']!r} (seed {r.get('seed')}) has {pred.size} predictions for "
                             f"{labels.size} labelled dev sentences")
        out.append(pred == labels)
    return np.stack(out).astype(np.float64)


def bootstrap_interval(samples: tuple[np.ndarray, ...], statistic, n_resamples: int = RESAMPLES,
                       level: float = LEVEL, seed: int = SEED, method: str = "BCa") -> Interval:
    """``statistic(*samples)`` and its interval by ``scipy.stats.bootstrap`` over the sentences (BCa by default).

    Args:
        samples: arrays of shape (sentences,), one value per dev sentence each; resampled together
            (``paired=True``: one draw of sentence indices for all of them).
        statistic: a function of the samples (vectorised over a last ``axis``), e.g. a mean difference.
        method: SciPy's interval method: ``"BCa"`` (bias-corrected and accelerated, the default: it also
            corrects a skewed bootstrap distribution, as a ratio's is) or ``"percentile"`` (the quantiles of
            the resampled statistics, the textbook bootstrap the exercise of notebook 08 writes).
    Returns:
        :class:`Interval`; when every resample gives the same value (no variation: a row against itself)
        the interval is that value at both ends.
    """
    value = float(statistic(*samples, axis=-1))

    def run(how: str):
        with warnings.catch_warnings():   # a constant jackknife (a row against itself) makes BCa divide 0 by 0
            warnings.simplefilter("ignore", stats.DegenerateDataWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            return stats.bootstrap(samples, statistic, paired=True, vectorized=True, n_resamples=n_resamples,
                                   confidence_level=level, method=how, rng=np.random.default_rng(seed))

    res = run(method)
    if np.ptp(res.bootstrap_distribution) == 0:                        # every resample gives the same value
        return Interval(value, value, value)
    low, high = res.confidence_interval
    if not (np.isfinite(low) and np.isfinite(high)):                   # BCa undefined here: the plain percentiles
        low, high = run("percentile").confidence_interval
    return Interval(value, float(low), float(high))


def _mean_difference(a, b, axis=-1):
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def _ratio(a, b, axis=-1):
    return np.mean(a, axis=axis) / np.mean(b, axis=axis)


def _mean(a, axis=-1):
    return np.mean(a, axis=axis)


def accuracy_interval(correct: np.ndarray, **kw) -> Interval:
    """Mean accuracy over seeds and its 95% interval: ``correct`` is (seeds, sentences) of 0/1."""
    return bootstrap_interval((correct.mean(axis=0),), _mean, **kw)


def difference_interval(correct_a: np.ndarray, correct_b: np.ndarray, **kw) -> Interval:
    """Accuracy of a minus accuracy of b (mean over their seeds) and its 95% paired interval.

    Args:
        correct_a, correct_b: (seeds, sentences) of 0/1 on the same sentences, seed i of a paired with seed i of b.
    """
    if correct_a.shape != correct_b.shape:
        raise ValueError(f"correct_a and correct_b must be (seeds, sentences) of the same shape, got "
                         f"{correct_a.shape} and {correct_b.shape}")
    return bootstrap_interval((correct_a.mean(axis=0), correct_b.mean(axis=0)), _mean_difference, **kw)


def share_interval(correct: np.ndarray, correct_teacher: np.ndarray, **kw) -> Interval:
    """The row's share of the teacher's accuracy (mean over the row's seeds / the teacher's) and its 95% interval.

    Args:
        correct: (seeds, sentences) of 0/1, the row's; correct_teacher: (sentences,) or (1, sentences), the
            teacher's on the same sentences (it is fine-tuned once).
    """
    return bootstrap_interval((correct.mean(axis=0), np.asarray(correct_teacher).reshape(-1, correct.shape[1])
                               .mean(axis=0)), _ratio, **kw)
