# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 8: reading the results table to choose a model, and to believe a difference
#
# These exercises go with the notebook `08_full_runs`. A results table is only useful if
# you read it honestly. Two questions every distillation project ends with:
#
# 1. **Which model do I ship?** Given a latency budget, the most accurate row that fits it.
# 2. **Is row a really better than row b,** or is the difference the noise of 872 dev
#    sentences and three seeds?
#
# Both work on the rows of `results.json` (notebook 8, `kd_teach.engine.report`): one dict
# per trained model and seed, with `name`, `seed`, `accuracy` (SST-2 dev), `latency_ms_b1`
# and `latency_ms_b32` (CPU milliseconds per sentence at batch 1 and 32), `params`, ... The
# course's reference table, every row over seeds 0, 1 and 2 at the `cpu` preset, is
# `results/cpu/results.json`.
#
# As before: write each function's body, run its cell, read the checker's verdict. The
# notebook stops at the first exercise still to do.

# %%
import statistics

import numpy as np
from IPython.display import Markdown, display

from kd_teach.course.chapters import chapter_reference
from kd_teach.course.checks import check_paired_bootstrap, check_pick_within_budget
from kd_teach.engine.report import HEADLINE_COMPARISONS, seed_summary
from kd_teach.engine.significance import correctness
from kd_teach.engine.verdicts import compare, comparison_table, reference_labels

rows = chapter_reference("08_full_runs")   # notebook 8's rows of results/cpu (it also holds Table 6's and more)
print(f"{len(rows)} rows: " + ", ".join(f"{e['name']} ({e['n']} seed{'s' * (e['n'] > 1)})" for e in seed_summary(rows)))

# %% [markdown]
# ## Exercise 1: the best model within a latency budget
#
# A service answers one request at a time and may spend `budget_ms` milliseconds per
# sentence. Return the **name** of the row to ship:
#
# - a row is a model, over all its seeds: judge it by its **mean** dev accuracy and its
#   **mean** batch-1 latency (`latency_ms_b1`) over its rows; one lucky seed proves nothing,
#   and the latency of one measurement is noisy too (the reference's seven rows of TinyBERT's
#   shape, one architecture, were timed between 2.0 and 3.1 ms);
# - it fits when its mean batch-1 latency is **at most** `budget_ms`;
# - among the rows that fit, the one with the best mean accuracy; the teacher is a row like
#   any other;
# - when no row fits, say so: raise `ValueError`, naming the fastest row and its latency.
#
# (The package does the same in `kd_teach.engine.frontier`: `best_under_budget` over
# `mean_points`, behind notebook 8's budget picker. Write your own from the rows.)

# %%
def pick_within_budget(rows: list[dict], budget_ms: float) -> str:
    """The name of the most accurate row (mean over seeds) whose mean batch-1 latency is at most budget_ms."""
    raise NotImplementedError("write the body of pick_within_budget here")


check_pick_within_budget(pick_within_budget)

# %%
for budget in (7.0, 4.0, 2.9, 2.5, 1.0):
    try:
        print(f"{budget:4.1f} ms: {pick_within_budget(rows, budget)}")
    except ValueError as e:
        print(f"{budget:4.1f} ms: {e}")
assert pick_within_budget(rows, 7.0) == "teacher" and pick_within_budget(rows, 2.9) == "tinybert-same-steps"

# %% [markdown]
# Read the lines. At 2.9 ms the pick is `tinybert-same-steps`, 98.6% of the teacher at 2.88
# ms; `distilbert` is exactly as accurate (2,151 of its 2,616 answers right over three seeds,
# as many) and misses by 0.04 ms. At 4 ms the pick is `distilbert-init`, ahead of `distilbert`
# by 0.04 points on average: a choice between two rows whose difference the next exercise
# finds inside the noise (ship either). At 2.5 ms `tinybert` fits by 0.025 ms (its mean is
# 2.475). Each row was timed in its own run: a pick that turns on hundredths of a millisecond
# is decided by less than a measurement's spread.

# %% [markdown]
# ## Exercise 2: a difference, or noise? The paired bootstrap
#
# Every accuracy here is measured on the same 872 dev sentences. An accuracy near 0.79 on 872
# sentences is only known to about ±1.4 points, and a new seed moves it too: a difference
# between two rows means something only when it is larger than what a different draw of
# sentences and seeds would give. Notebook 8 measures that with the **paired bootstrap**
# (Koehn 2004): pretend the 872 dev sentences are a sample of all the sentences the model
# could meet, draw 872 of them *with replacement*, score **both rows on the same draw**, and
# repeat many times; the middle 95% of the differences is the interval.
#
# Write it. The inputs say which sentences each seed of each row got right:
# `correct_a[s, i]` is 1 when seed s of row a classified dev sentence i correctly, else 0;
# `correct_b` the same for row b, seed s of a paired with seed s of b. Shapes (seeds,
# sentences).
#
# 1. Average over the seeds first: `d = correct_a.mean(axis=0) - correct_b.mean(axis=0)`,
#    each sentence's difference (shape (sentences,)). The mean of `d` is the accuracy
#    difference a − b over the seeds.
# 2. With `rng = np.random.default_rng(seed)`, draw `n_resamples` sets of sentence indices,
#    each `len(d)` integers in `[0, len(d))` with replacement (`rng.integers`), and take the
#    mean of `d` over each set: `n_resamples` resampled differences.
# 3. Return their 2.5th and 97.5th percentiles (`np.percentile`), as `(low, high)`.
#
# Two mistakes to avoid: resampling a and b *independently* (each with its own indices),
# which throws away what the rows share, and resampling each seed on its own, as if the same
# hard sentence were not hard for every seed. The checker compares your interval with the
# package's (`kd_teach.engine.significance.difference_interval`, SciPy's bootstrap) on
# simulated rows; its ends must fall within 6% of the interval's width of the package's.

# %%
def paired_bootstrap(correct_a: np.ndarray, correct_b: np.ndarray, n_resamples: int = 10_000,
                     seed: int = 0) -> tuple[float, float]:
    """95% interval of accuracy(a) - accuracy(b), averaged over seeds, by the paired bootstrap over sentences."""
    raise NotImplementedError("write the body of paired_bootstrap here")


check_paired_bootstrap(paired_bootstrap)

# %% [markdown]
# Your intervals on the chapters' headline comparisons, next to the table the notebooks show
# (whose intervals are SciPy's BCa bootstrap: a percentile interval corrected for bias and
# skew; on these differences the two agree to about a tenth of a point). A difference is
# resolved when its interval excludes 0.

# %%
labels = reference_labels()
right = {e["name"]: correctness(sorted((r for r in rows if r["name"] == e["name"]), key=lambda r: r["seed"]), labels)
         for e in seed_summary(rows)}                                          # name -> (seeds, sentences) of 0/1
mine = {}
for a, b in HEADLINE_COMPARISONS:
    low, high = mine[a, b] = paired_bootstrap(right[a], right[b])
    print(f"{a} - {b}: [{100 * low:+.1f}, {100 * high:+.1f}] points: "
          + ("resolved" if low > 0 or high < 0 else "inside the noise"))
display(Markdown(comparison_table(rows, HEADLINE_COMPARISONS, labels)))
for (a, b), (low, high) in mine.items():   # your verdicts are the package's
    assert (low > 0 or high < 0) == compare(rows, a, b, labels)["resolved"], (a, b)
