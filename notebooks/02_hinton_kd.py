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
# # 2. Hinton knowledge distillation, term by term
#
# Notebook 1 showed what soft targets are. Here we turn them into the loss of Hinton, Vinyals
# and Dean (2015, Section 2) and train a student with it on SST-2:
#
# $$L = \alpha\, L_\text{student} + \beta\, L_\text{distil}$$
#
# - $L_\text{student} = \mathrm{CE}(y, \mathrm{softmax}(z_s))$: cross-entropy between the
#   **hard targets** $y$ and the student's **hard predictions** ($T = 1$);
# - $L_\text{distil} = T^2\, \mathrm{KL}\big(\mathrm{softmax}(z_t/T)\,\|\,\mathrm{softmax}(z_s/T)\big)$:
#   the **soft targets** against the student's **soft predictions**, both at temperature $T$.
#
# Every function used here lives in `kd_teach.hinton.losses`; the notebook only calls it.

# %%
# %matplotlib inline
import os

import torch
import torch.nn.functional as F

from kd_teach import distillation_loss, kd_loss, soft_targets, student_loss
from kd_teach.engine.cache import finetuned_teacher
from kd_teach.engine.data import SST2Data
from kd_teach.engine.models import build_student, load_tokenizer
from kd_teach.engine.presets import get_preset

torch.set_printoptions(precision=4, sci_mode=False)

# %% [markdown]
# `PRESET` sets the scale of everything this notebook trains. A **preset** is a named set of
# sizes (`kd_teach.engine.presets`): `smoke` (the default, and what the test suite runs: a few hundred
# sentences and tiny students, numbers that mean nothing) or `cpu` (the course's real scale).
# The cell that trains prints, before it starts, how long the reference run took at `cpu`. The
# outputs stored in this notebook were made at `cpu` (`make notebooks PRESET=cpu`).

# %% tags=["parameters"]
PRESET = os.environ.get("KD_TEACH_PRESET", "smoke")

# %% [markdown]
# ## Real teacher logits, an untrained student
#
# The teacher is all-MiniLM-L6-v2 fine-tuned on SST-2 (cached after its first fine-tuning);
# the student is a small, randomly initialised BERT that shares the teacher's vocabulary.
# We take one batch of real dev sentences.

# %%
from kd_teach.engine.report import run_label

preset = get_preset(PRESET)
print(run_label(preset.name))   # what every output below was made with
data = SST2Data(load_tokenizer(preset.teacher), preset.train_size, preset.dev_size, preset.max_length)
teacher, _ = finetuned_teacher(preset, data)
student = build_student(teacher.config, preset.student, seed=0)

batch = next(iter(data.dev_loader(batch_size=16)))
inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
with torch.no_grad():
    z_t = teacher(**inputs).logits          # (16, 2) teacher logits
z_s = student(**inputs).logits              # (16, 2) student logits, with gradients
y = batch["labels"]                          # (16,) hard targets
print("teacher logits", z_t.shape, " student logits", z_s.shape, " labels", y.shape)

# %% [markdown]
# ## The two terms
#
# The distillation loss is a KL divergence, which equals the cross-entropy with the soft
# targets minus the teacher's entropy, a constant for the student; so both give the same
# gradients, but the KL is exactly 0 when the student matches the teacher. It is averaged
# over the examples of the batch ("batchmean").

# %%
T = 2.0
L_student = student_loss(z_s, y)
L_distil = distillation_loss(z_s, z_t, T)
print(f"L_student = {L_student.item():.4f} nats   L_distil (T={T}) = {L_distil.item():.4f} nats")

# the same numbers from torch's own functions
reference = F.kl_div(F.log_softmax(z_s / T, -1), F.softmax(z_t / T, -1), reduction="batchmean") * T**2
assert torch.allclose(L_distil, reference, atol=1e-6)
assert torch.allclose(L_student, F.cross_entropy(z_s, y))
# a student that copies the teacher has nothing left to learn from it
assert distillation_loss(z_t.clone(), z_t, T).abs() < 1e-6

# %% [markdown]
# **A pitfall.** `torch.nn.KLDivLoss()` defaults to `reduction="mean"`, which divides by the
# number of *elements* (examples x classes), not the number of examples. That is not the KL
# divergence; `reduction="batchmean"` is. (PyTorch warns each time `"mean"` is used with
# `kl_div`; we silence that warning here because we use `"mean"` on purpose.)

# %%
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    mean_version = F.kl_div(F.log_softmax(z_s / T, -1), F.softmax(z_t / T, -1), reduction="mean") * T**2
classes = z_s.shape[-1]
print(f"batchmean {L_distil.item():.4f}  vs  mean {mean_version.item():.4f} (= batchmean / {classes})")
assert torch.allclose(mean_version * classes, L_distil, atol=1e-6)

# %% [markdown]
# ## Why multiply by T²?
#
# The gradient of the soft term with respect to a student logit is
# $\frac{1}{T}(q_i - p_i)$, where $q$ and $p$ are the soft predictions and soft targets;
# for large $T$ both tend to uniform and $q_i - p_i \approx (z_{s,i} - z_{t,i}) / (C T)$, so
# the gradient shrinks like $1/T^2$ (Hinton et al. 2015, Section 2.1). Multiplying by $T^2$
# keeps it about the same size at any $T$, so changing $T$ does not silently change how much
# the soft targets count against the hard ones.

# %%
def grad_norm(T: float, scale_by_T2: bool) -> float:
    z = z_s.detach().clone().requires_grad_(True)
    distillation_loss(z, z_t, T, scale_by_T2=scale_by_T2).backward()
    return z.grad.norm().item()


print(" T    |grad| with T^2   |grad| without T^2")
norms = {}
for T_ in (1.0, 2.0, 5.0, 10.0, 20.0):
    norms[T_] = (grad_norm(T_, True), grad_norm(T_, False))
    print(f"{T_:4.0f}   {norms[T_][0]:12.5f}   {norms[T_][1]:14.7f}")

# %% [markdown]
# Without $T^2$, going from $T = 10$ to $T = 20$ divides the gradient by about 4; with it,
# the gradient barely moves.

# %%
ratio_without = norms[20.0][1] / norms[10.0][1]
ratio_with = norms[20.0][0] / norms[10.0][0]
assert 0.2 < ratio_without < 0.3, ratio_without   # ~ (10/20)^2 = 0.25
assert 0.8 < ratio_with < 1.25, ratio_with         # ~ 1

# %% [markdown]
# ## Weighting the terms: alpha and beta
#
# `kd_loss` is just the weighted sum. With $\alpha = 1, \beta = 0$ it is ordinary training
# on labels (our *baseline*); with $\alpha = 0$ the student learns from the teacher alone.

# %%
for alpha, beta in ((1.0, 0.0), (0.5, 0.5), (0.0, 1.0)):
    L = kd_loss(z_s, z_t, y, alpha=alpha, beta=beta, T=T)
    assert torch.allclose(L, alpha * L_student + beta * L_distil)
    print(f"alpha={alpha}, beta={beta}:  L = {L.item():.4f}")

# %% [markdown]
# ## Try it: the KD loss under sliders
#
# The widget below recomputes everything above on the same 16 sentences, for the $T$,
# $\alpha$ and $\beta$ you choose: the student loss, the distillation loss with and without
# $T^2$, their weighted sum $L$, and the size of the gradient each sends to the student's
# logits. The chart on the right draws the soft term's gradient against $T$.
#
# Predict before you move a slider: going from $T = 2$ to $T = 8$, by what factor does the
# gradient of the soft term shrink without $T^2$? With it? Then untick "total uses T²", set
# $T = 10$, and compare the student loss's gradient with the soft term's: which of the two
# targets is the student still learning from?

# %% tags=["widget"]
from kd_teach.course.kd_loss_explorer import KDLossExplorer

kd_explorer = KDLossExplorer(z_s, z_t, y, T=2.0, alpha=0.5, beta=0.5)
kd_explorer

# %% [markdown]
# The widget is ordinary Python underneath: set its sliders from code and it computes what
# `kd_teach.hinton.losses` computes. With $T^2$ the gradient is exactly $T^2$ times the
# gradient without it; nothing else differs.

# %% tags=["widget"]
kd_explorer.set(T=10.0, alpha=0.3, beta=0.7)             # as moving the three sliders does
shown = kd_explorer.values
assert abs(shown["distillation_loss"] - distillation_loss(z_s, z_t, 10.0).item()) < 1e-6
assert abs(shown["total"] - kd_loss(z_s, z_t, y, alpha=0.3, beta=0.7, T=10.0).item()) < 1e-6
assert abs(shown["grad_distil"] / shown["grad_distil_no_T2"] - 10.0**2) < 1e-3
kd_explorer.set(T=2.0, alpha=0.5, beta=0.5)                # back to the start

# %% [markdown]
# ## The whole spine on SST-2
#
# `run_sst2` (also `kd-teach run sst2` on the command line) runs three **rows** (a row is one
# trained model of the results table) with the same teacher; together they are the course's
# **spine**, the comparison every later chapter builds on:
#
# 1. **teacher**: all-MiniLM-L6-v2 fine-tuned on the labelled SST-2 sentences (cached);
# 2. **baseline**: a small BERT trained on those labelled sentences, hard labels only;
# 3. **hinton-kd**: the same small BERT, same initialisation, trained with
#    $\alpha L_\text{student} + \beta L_\text{distil}$ on the labelled sentences **plus a
#    transfer set**: more SST-2 sentences whose labels we withhold. Hinton et al. (2015,
#    Section 2) train the student on a "transfer set" that "could consist entirely of
#    unlabeled data or we could use the original training set"; we use both. On a transfer
#    sentence only the distillation loss applies: the teacher's soft targets are the only
#    targets there are. The baseline cannot use those sentences at all.
#
# It then measures each row: dev accuracy, parameters, size on disk, CPU latency per
# sentence at batch 1 and 32, speed-up over the teacher, and training time.

# %%
from kd_teach.engine.data import UNLABELLED

kd_data = SST2Data.from_preset(data.tokenizer, preset)
print(f"{len(kd_data.train):,} labelled sentences; a transfer set of {len(kd_data.transfer):,} more")
assert set(kd_data.transfer["labels"]) == {UNLABELLED}  # no hard labels: only the teacher teaches here

# %% [markdown]
# ### The reference: three seeds at the `cpu` preset
#
# First what the spine does at the course's real scale, measured with
# `kd-teach run sst2 --preset cpu --seeds 0,1,2` and committed in `results/cpu/`. Each row's
# mean comes with a 95% interval: 872 dev sentences measure an accuracy near 0.79 only to
# about ±1.4 points (the binomial standard error), and seeds move it too. A difference counts
# as **resolved** only when its own 95% interval excludes 0: the paired bootstrap over the dev
# sentences and the seeds (Koehn 2004; `kd_teach.engine.verdicts.compare`). Notebook 8 shows
# how it works and has you write it.

# %%
# NBVAL_CHECK_OUTPUT
from IPython.display import Markdown, display

from kd_teach.course.chapters import CHAPTER_COMPARISONS, beside_reference, chapter_reference, expectation, run_dir
from kd_teach.engine.report import provenance
from kd_teach.engine.verdicts import comparison_table, interval_table, reference_labels

CHAPTER = "02_hinton_kd"
reference = chapter_reference(CHAPTER)
print(provenance(reference))
labels = reference_labels()   # SST-2 dev's labels, which every row's stored predictions are scored against
display(Markdown(interval_table(reference, labels)))
display(Markdown(comparison_table(reference, CHAPTER_COMPARISONS[CHAPTER], labels)))

# %% [markdown]
# ### Your run
#
# The same three rows, trained now at `PRESET`, seed 0, into this notebook's own folder
# `runs/02_hinton_kd-<preset>` (later notebooks write to theirs, so no table mixes chapters).

# %%
from kd_teach.course.chapters import training_estimate
from kd_teach.engine.pipeline import expand_rows, run_sst2

out_dir = run_dir(CHAPTER, preset.name)
# force=True: train again even if results.json already holds these rows (`kd-teach run` skips them unless --force)
print(training_estimate(preset.name, expand_rows("spine")))   # before it starts: how long
table = run_sst2(preset, out_dir=out_dir, seed=0, force=True)

# %%
from kd_teach.course.chapters import chapter_rows
from kd_teach.engine.report import markdown_table, plot_results

own = chapter_rows(table["rows"], CHAPTER)
rows = {r["name"]: r for r in own}
assert list(rows) == ["teacher", "baseline", "hinton-kd"]   # this chapter's rows, in table order, nothing else
assert all(0.0 <= r["accuracy"] <= 1.0 for r in own)
assert rows["hinton-kd"]["params"] == rows["baseline"]["params"] < rows["teacher"]["params"]
assert rows["teacher"]["speedup"] == 1.0

# %%
print(expectation(preset.name))
display(Markdown(beside_reference(own, reference)))
display(Markdown(markdown_table(own)))

# %%
plot_results(own)

# %% [markdown]
# ## Training curves
#
# The Hinton-KD run logs both terms. Both fall as the student learns, on different scales:
# the student loss measures the distance to one-hot labels, the distillation loss (times T²)
# the distance to the teacher's softened targets, which a student can match more closely.

# %%
import json

from matplotlib.figure import Figure

curves = json.loads((out_dir / "curves.json").read_text())
fig = Figure(figsize=(10, 3), layout="constrained")
left, right = fig.subplots(1, 2)
for name in ("baseline", "hinton-kd"):
    left.plot([e["step"] for e in curves[name]], [e["loss"] for e in curves[name]], label=name)
left.set(xlabel="step", ylabel="training loss", title=f"total loss (preset {preset.name}, seed 0)")
left.legend()
kd = curves["hinton-kd"]
for term in ("student_loss", "distillation_loss"):
    right.plot([e["step"] for e in kd], [e[term] for e in kd], label=term)
right.set(xlabel="step", ylabel="nats", title="hinton-kd: the two terms")
right.legend()
fig

# %% [markdown]
# ## Reading the table
#
# - **% of teacher** is the student's accuracy divided by the teacher's: how much of the
#   teacher's skill survived the compression.
# - **speed-up** is the teacher's latency divided by the row's (batch 32, CPU).
# - The baseline and the Hinton-KD student have the same architecture, initialisation and
#   labelled sentences; the KD student also learns from the transfer set, where the teacher's
#   soft targets are the only targets. Both take the same number of optimiser steps (at the
#   `cpu` preset 1,008: the baseline 16 epochs over 2,000 labelled sentences, the KD student 1
#   epoch over those plus 30,256 unlabelled ones), so the comparison is compute-matched.
# - In the reference the KD student is ahead by 9.1 points on average (0.7871 against 0.6965,
#   with a teacher at 0.8337), and the paired interval of that difference, [+6.2, +11.7],
#   excludes 0 by a wide margin: resolved. It keeps 94.4% of the teacher, though that share's
#   own interval is wide ([91.5%, 97.3%]): the student and the teacher disagree on many
#   sentences, so a share of the teacher is known less precisely than a difference between two
#   similar students.
# - Where does the gain come from? With two classes a soft target is one number per
#   sentence, how sure the teacher is, so there is little dark knowledge per sentence. The
#   gain comes from the teacher labelling sentences nobody labelled, which is what
#   distillation offers in practice: labels are scarce, unlabelled text is not. The next
#   section measures how scarce they must be.
#
# Later chapters add rows to this comparison, each in its own notebook and table: DistilBERT's
# initialisation from teacher layers and its triple loss, then TinyBERT's layer-to-layer
# distillation. Notebook 8 puts every row in one leaderboard.

# %% [markdown]
# ## When does distillation pay?
#
# The same comparison at four label budgets: for each, the teacher is fine-tuned on the
# labelled sentences, the baseline learns from them alone, and the KD student from them plus
# unlabelled sentences, compute-matched (about 1,008 optimiser steps each), three seeds per
# point. These are reference runs committed with the course (`results/cpu-labels/`, made by
# `python benchmarks/kd_vs_labels.py`, about 20 minutes per budget on 2 CPU cores); this cell
# only reads them.

# %%
# NBVAL_CHECK_OUTPUT
from kd_teach.engine.report import label_curve_figure, reference_results
from kd_teach.engine.verdicts import points

curve = json.loads((reference_results("cpu-labels") / "kd_vs_labels.json").read_text())
print(f"measured {curve['date'][:10]}, {curve['machine']['cpus']} CPU cores, torch {curve['machine']['torch']}")
for p in curve["points"]:
    low, high = p["gain_interval"]
    print(f"{p['n']:>6,} labels: teacher {p['teacher']:.3f}   KD gain over the baseline "
          f"{points(p['gain']):>5} points [{points(low)}, {points(high)}]: {p['verdict']}")
assert all(len(p["baseline"]) == len(p["hinton-kd"]) >= 3 for p in curve["points"])
label_curve_figure(curve["points"])

# %% [markdown]
# How to read the curve (numbers from the committed reference runs above; each gain with its 95%
# paired-bootstrap interval over dev sentences and the three seeds):
#
# - **Fewer labels, bigger gain.** With 500 labelled sentences the baseline reaches 0.615 and
#   the KD student 0.783: +16.7 points [+13.7, +19.6]. At 2,000 labels +9.1 [+6.2, +11.7], at
#   8,000 +3.4 [+1.1, +5.5]. The teacher saw the same few labels, yet its soft targets on
#   31,756 unlabelled sentences teach the small student far more than the labels alone can.
# - **Enough labels, little left.** At 16,000 labels (the whole training split the course
#   uses, no more unlabelled sentences than labelled ones) KD's gain is +0.8 points, interval
#   [-0.9, +2.4]: it holds 0, so this is inside the noise. With plenty of labels a small
#   student learns most of what it can from them directly.
# - **The student follows the teacher, not the labels.** The KD student keeps 98% of its
#   teacher's accuracy at 500 labels (0.783 of 0.800) and 92% at 16,000 (0.794 of 0.861): a
#   better teacher helps only as far as a 4-layer student with hidden size 256 can follow.
#   DistilBERT and TinyBERT (next chapters) attack exactly that limit, by starting the
#   student from the teacher and by distilling what happens inside its layers.
# - **Why the `cpu` preset uses 2,000 labels.** It is the setting distillation exists for, and
#   the budget was chosen without reading dev: scored on the *tuning split* (1,986 SST-2 train
#   sentences no row of that budget trains on; `results/cpu-tuning/labels.md`), 2,000 is the
#   most labels at which KD's gain is resolved (+10.2 [+8.5, +11.8]; at 8,000 +0.9 [-0.4, +2.3]).
#   Choosing on dev and then reporting dev would flatter the choice: the dev numbers above are
#   read only after it was made.
#
# ## Next: exercise 02, then the quiz
#
# Practise what this chapter taught in [`exercises/02_hinton_kd.ipynb`](../exercises/02_hinton_kd.ipynb): each
# exercise ends with a checker that says what is wrong and how to fix it. Then check yourself
# with the quiz below.
#
# ## Check yourself
#
# Five questions on what this notebook taught (the KD loss, T², reading the results), from the
# course's question bank, drawn at random each time you run the cell. Choose an answer and
# press **Check**. All of them, in order: `kd-teach quiz --chapter 02_hinton_kd` in a
# terminal, or `99_interview_prep`.

# %%
from kd_teach.course import quiz

quiz.show(chapter="02_hinton_kd", n=5)
