# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 8. Full runs: every method, one table
#
# Seven chapters built the pieces: a fine-tuned teacher, a baseline student, Hinton's
# soft targets (notebook 2), DistilBERT's student cut from the teacher and its pre-training
# distillation (notebooks 3-4), TinyBERT's layer-by-layer distillation in two stages with
# augmented data (notebooks 5-7). This notebook runs **all of them as one experiment**, on
# the same task (SST-2), the same teacher and the same data, and puts the results side by
# side: accuracy against size and speed, the training curves, and what the papers report at
# full scale next to what this run measured.
#
# Nothing here is new code: every row comes from `kd_teach.engine.pipeline.run_sst2`, the function
# behind `kd-teach run sst2 --rows all` on the command line.

# %%
# %matplotlib inline
import json

from IPython.display import Markdown, display

from kd_teach.engine.pipeline import expand_rows, run_sst2
from kd_teach.engine.presets import SST2_TRAIN_ROWS, get_preset, planned_steps, preset_for_hardware
from kd_teach.engine.report import leaderboard, markdown_table, paper_comparison, plot_curves, plot_results

# %% [markdown]
# ## The reference leaderboard: every row, three seeds at the `cpu` preset
#
# First what the course measured, committed in `results/cpu/` (`kd-teach run sst2 --preset cpu
# --rows all --seeds 0,1,2`): every row's dev accuracy per seed, its mean with a 95% interval
# and its share of the teacher, most accurate first; then each chapter's headline comparison.
# A difference counts as resolved only when its 95% interval excludes 0; the section after
# this one shows where the intervals come from.

# %%
# NBVAL_CHECK_OUTPUT
from kd_teach.course.chapters import (CHAPTER_COMPARISONS, beside_reference, chapter_reference, chapter_rows,
                                      expectation, run_dir, training_estimate)
from kd_teach.engine.report import provenance, seed_summary
from kd_teach.engine.verdicts import comparison_table, interval_table, reference_labels

CHAPTER = "08_full_runs"
reference = chapter_reference(CHAPTER)
by_mean = [e["name"] for e in sorted(seed_summary(reference), key=lambda e: -e["mean"])]
print(provenance(reference))
labels = reference_labels()   # SST-2 dev's labels, which every row's stored predictions are scored against
display(Markdown(interval_table(sorted(reference, key=lambda r: by_mean.index(r["name"])), labels)))
display(Markdown(comparison_table(reference, CHAPTER_COMPARISONS[CHAPTER], labels)))

# %% [markdown]
# How to read it, chapter by chapter (notebooks 2, 4 and 7 say more):
#
# - **Hinton KD** (notebook 2): the teacher's soft targets on 30,256 sentences nobody
#   labelled lift the small student by 9.1 points [+6.2, +11.7] over the same student
#   trained on the 2,000 labels alone.
# - **DistilBERT** (notebook 4): the student cut from the teacher's own layers is 3.7 points
#   [+1.6, +5.9] above a student of the same shape with random weights and the same task
#   training (`hinton-kd-distilbert-shape`), while size and shape alone buy nothing
#   (`hinton-kd-distilbert-shape` minus `hinton-kd`: -0.2 [-1.4, +1.1]): the start is what
#   pays. Pre-training distillation on 7 MB of text adds nothing measurable on top (0.0
#   [-0.7, +0.6]).
# - **TinyBERT** (notebook 7): at its own size it is 3.4 points [+1.9, +5.1] above plain KD
#   (`hinton-kd-tinybert-shape`: the same sentences, as many steps), 98.2% of the teacher.
#   Task distillation is worth 6.7 points [+4.4, +8.9], general distillation 2.8 [+1.5, +4.2],
#   step 1 nothing measurable; with 30,256 unlabelled sentences to distil on already,
#   augmentation is 1.0 point behind as many steps without it [-2.0, -0.1].

# %% [markdown]
# ## Is a difference real? Sentences, seeds and the paired bootstrap
#
# Two things make a row's dev accuracy move without the method changing. **The sentences**:
# 872 is a small sample of what SST-2's sentences could have been; an accuracy near 0.79
# measured on 872 of them is known to about ±1.4 points (the binomial standard error,
# $\sqrt{0.79 \times 0.21 / 872}$). **The seed**: initialisation, batch order and dropout
# give another model, right on somewhat different sentences. The intervals above resample
# the sentences and average over the seeds (three seeds cannot be resampled usefully).
#
# Comparing two rows, the trick is to **pair** them. Both rows are scored on the same 872
# sentences, and most sentences are easy (both rows right) or hard (both wrong) for both:
# those say nothing about which row is better. Only the sentences where the rows disagree
# do. Here is the spine's comparison, sentence by sentence:

# %%
# NBVAL_CHECK_OUTPUT
import numpy as np

from kd_teach.engine.significance import accuracy_interval, correctness, difference_interval

right = {name: correctness(sorted((r for r in reference if r["name"] == name), key=lambda r: r["seed"]), labels)
         for name in ("hinton-kd", "baseline")}                                # (seeds, sentences) of 0/1
kd, base = right["hinton-kd"], right["baseline"]
print("seed 0, of 872 dev sentences:")
print(f"  both right {int((kd[0] * base[0]).sum())}, both wrong {int(((1 - kd[0]) * (1 - base[0])).sum())}, "
      f"only hinton-kd right {int((kd[0] * (1 - base[0])).sum())}, only the baseline right "
      f"{int(((1 - kd[0]) * base[0]).sum())}")
a, b, d = accuracy_interval(kd), accuracy_interval(base), difference_interval(kd, base)
print(f"hinton-kd {a.value:.4f} [{a.low:.4f}, {a.high:.4f}], baseline {b.value:.4f} [{b.low:.4f}, {b.high:.4f}]"
      " (each over its 3 seeds)")
print(f"hinton-kd - baseline: {100 * d.value:+.1f} points, paired 95% interval [{100 * d.low:+.1f}, "
      f"{100 * d.high:+.1f}]; width {100 * (d.high - d.low):.1f} points, against "
      f"{100 * np.hypot(a.high - a.low, b.high - b.low):.1f} for two separate accuracies")
assert d.low > 0 and d.high - d.low < np.hypot(a.high - a.low, b.high - b.low)   # pairing narrows it

# %% [markdown]
# How the interval is made (Koehn 2004's paired bootstrap; Dror et al. 2018 recommend it for
# accuracy in NLP):
#
# 1. For each sentence, the difference a − b, averaged over the seeds both rows have (−1, 0
#    or +1 per seed: right or wrong).
# 2. Draw 872 sentences **with replacement** from the 872, and average their differences:
#    one *resampled* difference. A sentence is drawn with every seed's predictions of both
#    rows on it, so what the rows share stays shared.
# 3. Repeat 10,000 times. The middle 95% of the resampled differences is the interval
#    (`kd_teach.engine.significance` uses SciPy's `bootstrap`, whose BCa interval also
#    corrects for a skewed spread; you write the plain percentile one in exercise 8).
#
# **What it means:** had the dev set been another 872 sentences like these, scored by the
# same seeds' models, the difference would land in the interval about 95 times in 100. A difference
# is **resolved** when the interval excludes 0, and then only in the direction it shows; a
# difference inside the noise is not evidence that the rows are equal, only that this table
# cannot tell them apart. Two limits: one seed says nothing about how a new seed would move
# the rows (a verdict needs two seeds or more), and a seed that is better on *every*
# sentence, a shift of the whole model, shows only in the per-seed differences printed
# beside each interval: with three seeds, no interval can say more.

# %% [markdown]
# ## The scale: picked from the hardware
#
# One pipeline, three presets (`kd_teach.engine.presets`):
#
# | preset | teacher | data | meant for |
# |---|---|---|---|
# | `gpu-full` | BERT-base | all 67,349 SST-2 sentences; the papers' epochs, learning rates, 20 augmented sentences per example; bf16 | a GPU: hours |
# | `cpu` | all-MiniLM-L6-v2 (6 layers, 22.7M parameters) | 2,000 labelled + 30,256 unlabelled sentences; hundreds to thousands of distillation steps | 2 CPU cores: the run cell prints, before it starts, how long the reference run took |
# | `smoke` | all-MiniLM-L6-v2 | a few hundred to 2,000 sentences, tiny students | the test suite: every row in under a minute, numbers that mean little |
#
# `preset_for_hardware()` picks `gpu-full` when CUDA is available and `smoke` otherwise, so
# that "Run All" on a laptop finishes in minutes; `KD_TEACH_PRESET` overrides it, and so can
# you, in the next cell: `PRESET = "cpu"` for the course's real scale on a CPU (the run cell
# prints how long the reference run took before it starts). The stored outputs of this notebook were made at `cpu` (`make notebooks PRESET=cpu`). A notebook is one process, so one GPU; on several, run the same experiment from a
# terminal, one process per GPU, data-parallel (`benchmarks/RESULTS.md`, "Every row"):
# `accelerate launch --num_processes 4 -m kd_teach.engine.cli run sst2 --rows all --preset gpu-full`.

# %% tags=["parameters"]
PRESET = preset_for_hardware()  # or "smoke", "cpu", "gpu-full"
ROWS = "all"                     # or "spine", "distilbert", "tinybert", or row names joined by commas
SEED = 0

# %%
from kd_teach.engine.report import run_label

preset = get_preset(PRESET)
print(run_label(preset.name))   # what every output below was made with
print(f"teacher {preset.teacher or 'all-MiniLM-L6-v2 (packaged)'}; "
      f"students: {preset.student} (baseline, hinton-kd), {preset.tinybert.student} (tinybert)")

# %% [markdown]
# What that means in optimiser steps, stage by stage (`planned_steps`): the cost of a full
# run at this preset, before it starts.

# %%
plan = planned_steps(preset)
labelled = min(preset.train_size or SST2_TRAIN_ROWS, SST2_TRAIN_ROWS)
assert plan["baseline"] == -(-labelled // preset.batch_size) * preset.student_epochs   # ceil(sentences / batch) x epochs
Markdown("| stage | optimiser steps |\n|---|---:|\n" + "\n".join(f"| {k} | {v:,} |" for k, v in plan.items()))

# %% [markdown]
# ## Run every row
#
# The rows, in table order: the teacher, then each chapter's students and ablations.
# They go to this notebook's own folder, `runs/08_full_runs-<preset>`: rows that its
# `results.json` already holds for this preset, seed and teacher are **not trained again**
# (run the cell twice and the second run only measures); `force=True` retrains them. What a
# run makes once is cached across runs: the fine-tuned teacher, the MLM teacher, the general
# TinyBERT, the augmented sentences, and every finished row. A row that notebooks 2, 4 or 7
# already trained with this preset and seed is copied from the cache and **measured again**
# here (dev accuracy and latency, beside this run's teacher), keeping its training time and
# curves: the same seed and recipe give the same model. A row stopped
# half-way (Ctrl-C, a closed laptop) resumes from its last checkpoint when you run the cell
# again.

# %%
# NBVAL_CHECK_OUTPUT
names = expand_rows(ROWS)
print(", ".join(names))

# %%
out_dir = run_dir(CHAPTER, preset.name)
print(training_estimate(preset.name, names))   # before it starts: how long
table = run_sst2(preset, out_dir=out_dir, seed=SEED, rows=ROWS)

# %%
rows = {r["name"]: r for r in table["rows"]}
assert set(names) <= rows.keys(), f"missing rows: {set(names) - rows.keys()}"
teacher = rows["teacher"]
for r in rows.values():
    assert 0.0 <= r["accuracy"] <= 1.0 and r["params"] > 0 and r["latency_ms_b32"] > 0
    assert abs(r["share_of_teacher"] - r["accuracy"] / teacher["accuracy"]) < 1e-9  # share = acc / teacher acc
    assert abs(r["speedup"] - teacher["latency_ms_b32"] / r["latency_ms_b32"]) < 1e-9  # speed-up at batch 32
for name in (n for n in names if n != "teacher"):
    assert rows[name]["params"] < teacher["params"], f"{name} is not smaller than the teacher"

# %% [markdown]
# ## Your run beside the reference

# %%
print(expectation(preset.name))
Markdown(beside_reference(table["rows"], reference))

# %% [markdown]
# ## Your leaderboard
#
# Most accurate first. "% of teacher" is the share of the teacher's dev accuracy a student
# keeps; "speed-up" is the teacher's latency over the student's, per sentence, at batch 32
# on this machine's CPU; "train (s)" is the wall time of the row's own training (for the
# TinyBERT rows it includes the shared general distillation).

# %%
print(f"measured on {table['machine']['processor']}, {table['machine']['cpus']} CPUs, torch {table['machine']['torch']}")
Markdown(markdown_table(leaderboard(table["rows"])))

# %% [markdown]
# Accuracy against parameters and against latency: the best students sit top left, as
# accurate as possible for their size and speed.

# %%
plot_results(table["rows"])

# %% [markdown]
# ## Choose a student: the frontier and a budget
#
# A student ships when it meets a budget: at most so many milliseconds per sentence, so many
# megabytes. The explorer below reads the reference table (three seeds per row): pick the cost
# (batch-1 latency is what one user waiting for one answer feels), the rows and the seeds, and
# drag the budget. It averages each row over the chosen seeds, stars the **Pareto frontier**
# (the rows no other row beats on both accuracy and cost; `kd_teach.engine.frontier`) and picks
# the most accurate row within the budget. Only frontier rows are ever worth choosing: any
# other row has a rival at least as accurate and at most as costly. Unticking seeds shows how
# much a single seed can move a row.

# %%
from kd_teach.course.leaderboard import LeaderboardExplorer

explorer = LeaderboardExplorer(reference, cost="latency_ms_b1", labels=labels)   # intervals: bootstrap over sentences
explorer

# %%
teacher_ms = next(p["cost"] for p in explorer.points if p["name"] == "teacher")
explorer.budget_box.value = teacher_ms / 2        # what dragging the budget does, in code
best = explorer.best
print(f"within half the teacher's batch-1 latency: {best['name']}, "
      f"{best['accuracy'] / next(p['accuracy'] for p in explorer.points if p['name'] == 'teacher'):.1%} of the teacher")
assert best["name"] in explorer.front            # the best row within any budget is on the frontier

# %% [markdown]
# ## Training curves
#
# The loss of every stage the rows went through (general distillation runs once and is
# cached, so it appears only in the run that made it; notebook 6 shows its curves).
# Losses of different stages are on different scales: compare shapes, not heights.

# %%
curves = json.loads((out_dir / "curves.json").read_text())
plot_curves({name: curves[name] for name in curves if name != "teacher"})

# %% [markdown]
# ## The papers at full scale, and this run
#
# Both papers distil BERT-base (110M parameters) on full data with days of GPU time;
# TinyBERT's 14.5M-parameter student used general distillation on English Wikipedia and 20
# augmented sentences per SST-2 example. On SST-2 both papers report a share of the
# teacher's accuracy above 98%; over all of GLUE it is 96.9% for DistilBERT (notebook 4) and
# 96.8% for TinyBERT4 (notebook 9). Mind the **split**: DistilBERT's Table 1 reports GLUE's dev sets,
# TinyBERT's Table 1 the test sets, scored by GLUE's server (their labels are not public).
# This course measures SST-2 dev, like DistilBERT; the two papers' rows are not measured on
# the same sentences, so compare each with its own teacher, never with each other.
#
# > **Claim vs the papers: "TinyBERT beats DistilBERT on every metric".** TinyBERT's tables
# > (Table 1) compare TinyBERT4 with a **4-layer** DistilBERT that its authors trained
# > themselves (DistilBERT4), at TinyBERT's own size, not with the released 6-layer
# > DistilBERT (66M parameters) of Sanh et al. A 4-layer student beating another 4-layer
# > student says nothing about the 6-layer model; and its GLUE scores are test-set scores,
# > DistilBERT's paper reports dev sets.

# %%
Markdown(paper_comparison(table["rows"]))

# %% [markdown]
# How to read the comparison honestly:
#
# - **Shares, not accuracies.** Our teacher is smaller than BERT-base and the data and
#   budgets are smaller, so compare the share of the teacher each student keeps.
# - **Size and speed depend on both shapes.** DistilBERT's student keeps the teacher's width
#   and half its layers: 1.7x smaller from BERT-base, 1.3x from our 6-layer MiniLM, whose
#   word embeddings (30,522 x 384) are half its 22.7M parameters. TinyBERT4's 7.5x comes
#   from a narrow student (width 312) and a 110M teacher; the `cpu` preset's TinyBERT (3
#   layers, width 312, 13.2M parameters of which 9.5M are word embeddings) is 1.7x smaller
#   than our teacher. The smoke preset's tiny students make the ratios look better than they
#   would be at any useful size.
# - **Latency here is a CPU's,** per sentence on this machine; the papers timed other
#   hardware. Ratios measured in the same run are what to compare.
# - **One seed per row.** One run cannot tell a difference from noise: `run_sst2(...,
#   seed=[0, 1, 2])` (or `kd-teach run sst2 --seeds 0,1,2`) trains every row once per seed and
#   writes each mean with its 95% interval and each comparison's verdict, as the reference does.
#
# ## Next: exercise 08, then the quiz
#
# Practise what this chapter taught in [`exercises/08_full_runs.ipynb`](../exercises/08_full_runs.ipynb): each
# exercise ends with a checker that says what is wrong and how to fix it. Then check yourself
# with the quiz below.
#
# ## Check yourself

# %%
from kd_teach.course.quiz import show

show(chapter="08_full_runs", n=5, seed=8)
