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
# # 1. Dark knowledge and the temperature softmax
#
# **Why distil at all?** BERT-base has 12 layers, a hidden size of 768, 12 attention heads and
# about 110 million parameters. It was pre-trained with masked language modelling and
# next-sentence prediction, and it is too slow and too large for many phones, browsers and
# edge devices. *Knowledge distillation* trains a small **student** to imitate a large
# **teacher**, so that the student keeps most of the teacher's accuracy at a fraction of its cost.
#
# **What does the student imitate?** Not only the teacher's answer. Hinton, Vinyals and Dean
# ("Distilling the Knowledge in a Neural Network", 2015) point out that a trained network's
# probabilities for the *wrong* answers are informative. Their example (Section 1): an image
# of a BMW may have only a very small chance of being mistaken for a garbage truck, but that
# mistake is still many times more probable than mistaking it for a carrot. In language (our
# example, not theirs): asked to fill in "I finished writing my ___", a good model gives
# "essay" and "report" far more probability than "bicycle". Those small numbers, which the
# usual one-hot label throws away, are what they call **dark knowledge**.
#
# In this notebook you will
# 1. compute the softmax with a temperature $T$ and see what $T$ does (with a slider);
# 2. check three facts: larger $T$ softens, smaller $T$ sharpens, and the ranking never changes;
# 3. meet the four kinds of targets and predictions of distillation, on a real teacher's logits.

# %%
# %matplotlib inline
import math
import os

import torch

from kd_teach import entropy, entropy_at_temperature, soft_targets, softmax_with_temperature
from kd_teach.course.widgets import TemperatureExplorer

torch.set_printoptions(precision=4, sci_mode=False)

# %% [markdown]
# ## Softmax with temperature
#
# A classifier ends with one raw score per class, its **logits** $z$. The softmax turns them
# into probabilities. Hinton et al. (2015, Eq. 1) divide the logits by a temperature $T > 0$
# first:
#
# $$\mathrm{softmax}_T(z)_i = \frac{\exp(z_i / T)}{\sum_j \exp(z_j / T)}$$
#
# $T = 1$ is the ordinary softmax. The package's `softmax_with_temperature` subtracts the
# largest logit before exponentiating, which changes nothing mathematically but keeps
# `exp` from overflowing.
#
# The logits below are **illustrative**: we chose them by hand so that the example is easy
# to read. Later in this notebook we use a real teacher's logits.

# %%
# NBVAL_CHECK_OUTPUT
words = ["essay", "report", "homework", "novel", "bicycle"]
logits = torch.tensor([6.0, 5.2, 4.5, 2.0, -1.0])  # illustrative, hand-made logits

for T in (0.5, 1.0, 2.0, 5.0):
    p = softmax_with_temperature(logits, T)
    print(f"T = {T:>3}:", "  ".join(f"{w} {q:.3f}" for w, q in zip(words, p.tolist())))
    assert torch.isclose(p.sum(), torch.tensor(1.0))           # probabilities sum to 1
    assert torch.equal(p.argsort(), logits.argsort())          # the ranking never changes

# %% [markdown]
# Read the columns from left to right: at $T = 0.5$ almost everything sits on "essay"; at
# $T = 5$ even "bicycle" gets a visible share. The order of the words is the same in every
# row: dividing all logits by the same positive number cannot swap two of them.
#
# ## Move the temperature yourself
#
# Drag the slider (or click it and use the arrow keys). The bars are
# $\mathrm{softmax}_T(z)$ for the illustrative logits above; the text gives the **entropy**
# $H(p) = -\sum_i p_i \log p_i$ in nats, a measure of how spread out the distribution is.
# It is 0 for a one-hot distribution and $\log 5 \approx 1.609$ for a uniform one over 5 words.

# %%
explorer = TemperatureExplorer(logits, words, T=1.0, title="Illustrative logits:")
explorer

# %% [markdown]
# The widget is ordinary Python underneath, so we can drive it from code, exactly as the
# slider does, and check that what it shows is what the package computes:

# %%
# NBVAL_CHECK_OUTPUT
explorer.slider.value = 5.0
assert torch.allclose(explorer.probs, softmax_with_temperature(logits.double(), 5.0))
high = explorer.entropy
explorer.slider.value = 1.0
low = explorer.entropy
print(f"entropy at T=1: {low:.3f} nats, at T=5: {high:.3f} nats")
assert high > low

# %% [markdown]
# ## Entropy grows with T; the limits are one-hot and uniform
#
# As $T \to 0$ the largest logit wins everything (the softmax becomes an argmax); as
# $T \to \infty$ every class gets $1/C$. In between, the entropy grows steadily with $T$.

# %%
from matplotlib.figure import Figure

temperatures = torch.logspace(-1.3, 2, 60)  # 0.05 ... 100
entropies = torch.stack([entropy_at_temperature(logits, float(T)) for T in temperatures])

fig = Figure(figsize=(6, 3), layout="constrained")
ax = fig.subplots()
ax.semilogx(temperatures, entropies, marker=".")
ax.axhline(math.log(len(words)), ls="--", color="gray", label="log C (uniform)")
ax.set_xlabel("temperature T")
ax.set_ylabel("entropy (nats)")
ax.legend()
fig

# %%
# NBVAL_CHECK_OUTPUT
assert (entropies.diff() >= -1e-6).all(), "entropy should never decrease as T grows"
one_hot = softmax_with_temperature(logits, 0.05)
uniform = softmax_with_temperature(logits, 1000.0)
print("T = 0.05:", one_hot)
print("T = 1000:", uniform)
assert one_hot.argmax() == logits.argmax() and one_hot.max() > 0.999
assert torch.allclose(uniform, torch.full((5,), 0.2), atol=1e-2)

# %% [markdown]
# > **Claim vs the paper: "raising T reorders the words".** A table that circulates widely in
# > distillation tutorials shows a fill-in-the-blank with five words at $T = 1, 2, 5$, where
# > two of the words swap places as $T$ grows, and a row that does not add up to 1. No set of
# > logits can produce such a table: dividing every logit by the same $T > 0$ keeps their
# > order (Hinton et al. 2015, Eq. 1), and every softmax sums to 1. The cell below takes a
# > table of that kind (made up here, as those are) and checks it. From the $T = 1$ row alone
# > the other rows are fixed: the logits are $\log p$ up to a constant, and
# > $\mathrm{softmax}(\log p / T)$ gives the row at $T$. When you meet a table like that, it
# > was made up, not computed.

# %%
# NBVAL_CHECK_OUTPUT
claimed = {1.0: [0.60, 0.25, 0.10, 0.04, 0.01],    # a made-up table of the kind that circulates
           2.0: [0.40, 0.30, 0.15, 0.10, 0.05],
           5.0: [0.25, 0.20, 0.25, 0.20, 0.15]}    # "homework" catches up with "report"; sums to 1.05
z = torch.tensor(claimed[1.0], dtype=torch.float64).log()   # logits behind the T = 1 row (up to a constant)
for T, row in claimed.items():
    rebuilt = softmax_with_temperature(z, T)
    print(f"T = {T:g}  claimed: {' '.join(f'{q:.2f}' for q in row)}  (sum {sum(row):.2f})   "
          f"computed: {' '.join(f'{q:.2f}' for q in rebuilt.tolist())}  (sum {rebuilt.sum():.2f})")
    assert torch.isclose(rebuilt.sum(), torch.tensor(1.0, dtype=torch.float64))   # a softmax sums to 1
    assert rebuilt.argsort().tolist() == z.argsort().tolist()                      # and keeps the order
assert abs(sum(claimed[5.0]) - 1.05) < 1e-9 and claimed[5.0][2] > claimed[5.0][1]  # the claim fails both

# %% [markdown]
# ## Soft targets, soft predictions, hard predictions, hard targets
#
# Distillation uses four related quantities. Hinton et al. (2015, Section 2) speak of *soft
# targets* and of the *correct labels*; "soft predictions", "hard predictions" and "hard
# targets" are the names courses and code give the other three:
#
# | name | what | at |
# |---|---|---|
# | **soft targets** | the teacher's probabilities | temperature $T > 1$ |
# | **soft predictions** | the student's probabilities | the same $T$ |
# | **hard predictions** | the student's probabilities | $T = 1$ |
# | **hard targets** | the true labels, one-hot | – |
#
# The student learns to match its soft predictions to the soft targets (the *distillation
# loss*) and its hard predictions to the hard targets (the *student loss*); notebook 2 builds
# both losses.
#
# Here is a **real** teacher: the pretrained all-MiniLM-L6-v2 encoder (6 layers, hidden 384,
# 22.7 M parameters, installed from PyPI) fine-tuned on the SST-2 sentiment task. Fine-tuning
# happens once and is cached. `PRESET` sets its scale: `smoke` (the default, and what the
# tests run: a few hundred sentences) or `cpu` (2,000 labelled sentences; the stored outputs
# below). Either way the teacher is far from perfect, which makes its uncertainty easy to see.

# %% tags=["parameters"]
PRESET = os.environ.get("KD_TEACH_PRESET", "smoke")

# %%
from kd_teach.engine.cache import finetuned_teacher
from kd_teach.engine.data import SST2Data
from kd_teach.engine.evaluate import predict_logits
from kd_teach.engine.models import load_tokenizer
from kd_teach.engine.presets import get_preset

from kd_teach.engine.report import run_label

preset = get_preset(PRESET)
print(run_label(preset.name))   # what every output below was made with
data = SST2Data(load_tokenizer(preset.teacher), preset.train_size, preset.dev_size, preset.max_length)
teacher, info = finetuned_teacher(preset, data)
print(f"teacher: {info['teacher']} fine-tuned on {len(data.train):,} SST-2 sentences (preset {preset.name}; "
      f"{'from the cache' if info['cached'] else 'just fine-tuned'})")

# %%
sentences = data.dev_sentences[:4]
labels = data.dev_raw["label"][:4]
batch = data.tokenizer(sentences, padding=True, return_tensors="pt")
with torch.no_grad():
    teacher_logits = teacher(**batch).logits  # (4, 2): scores for negative, positive
for T in (1.0, 2.0, 5.0):
    print(f"soft targets at T = {T}:")
    for s, y, p in zip(sentences, labels, soft_targets(teacher_logits, T)):
        print(f"   label {y}  p(negative) {p[0]:.3f}  p(positive) {p[1]:.3f}   {s[:60]!r}")

# %%
for T in (1.0, 2.0, 5.0):
    q = soft_targets(teacher_logits, T)
    assert torch.allclose(q.sum(-1), torch.ones(len(sentences)))       # each row is a distribution
    assert torch.equal(q.argmax(-1), teacher_logits.argmax(-1))         # T never changes the decision
    assert not q.requires_grad                                          # targets are constants
hot = entropy(soft_targets(teacher_logits, 5.0))
cold = entropy(soft_targets(teacher_logits, 1.0))
assert (hot >= cold - 1e-6).all()  # softer targets carry more of the teacher's uncertainty

# %% [markdown]
# With two classes there is only one "wrong answer" per sentence, so SST-2 carries little
# dark knowledge per example: the soft target says *how sure* the teacher is. With many
# classes (the 30,522-word vocabulary of a masked language model, in the DistilBERT chapter)
# the soft targets also say *which* wrong answers are nearly right.
#
# ## What to remember
# - $\mathrm{softmax}_T(z) = \mathrm{softmax}(z / T)$; $T = 1$ is the usual softmax.
# - Larger $T$ softens (towards uniform), smaller $T$ sharpens (towards one-hot); the
#   ranking never changes; the entropy grows with $T$.
# - Soft targets are the teacher's probabilities at $T > 1$; they expose the dark knowledge in
#   the small probabilities that a one-hot label discards.
#
# Next: notebook 2 turns soft targets into a loss and trains a student with it.

# %% [markdown]
# ## Next: exercise 01, then the quiz
#
# Practise what this chapter taught in [`exercises/01_dark_knowledge.ipynb`](../exercises/01_dark_knowledge.ipynb): each
# exercise ends with a checker that says what is wrong and how to fix it. Then check yourself
# with the quiz below.
#
# ## Check yourself
#
# Five questions from the course's question bank on what this notebook taught (why distil,
# dark knowledge, temperature, soft targets), one topic after another. Choose an answer and
# press **Check**: you see whether it is right, why, and a running score. Every question of the bank is in `99_interview_prep`, and in the terminal
# with `kd-teach quiz --chapter 01_dark_knowledge`.

# %%
from kd_teach.course import quiz

check_yourself = quiz.show(chapter="01_dark_knowledge", n=5, shuffle=False)
assert len(check_yourself.items) == 5 and check_yourself.score == 0
assert {"temperature", "dark-knowledge"} <= {item.question.topic for item in check_yourself.items}
check_yourself

# %%
check_yourself
