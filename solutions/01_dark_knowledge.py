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
# # Exercises 1: dark knowledge and temperature
#
# These exercises go with the notebook `01_dark_knowledge`. You write, from scratch, three
# functions the `kd_teach` package already has, then make one prediction before you check it.
#
# **How it works.** Each exercise is a function with a body for you to write. Run its cell:
# the line after the function calls a *checker* from `kd_teach.course.checks`, which compares your
# function with the package's on many random inputs (several shapes, float32 and float64,
# temperatures from 0.05 to 100, logits up to ±10,000). If something differs, it tells you
# what and gives a hint; if all agree, it says so. Run the notebook from the top: it stops
# at the first exercise you have not done yet, with the message `write ... here`.
#
# Use plain torch operations (`exp`, `log`, `sum`, `amax`, ...), not `torch.softmax` or
# `kd_teach`: the point is to write them yourself.

# %%
import math

import torch

from kd_teach.course.checks import check_entropy, check_guess, check_soft_targets, check_softmax_with_temperature

torch.set_printoptions(precision=4, sci_mode=False)

# %% [markdown]
# ## Exercise 1: softmax with temperature
#
# Hinton, Vinyals and Dean (2015), Eq. 1:
#
# $$q_i = \frac{\exp(z_i / T)}{\sum_j \exp(z_j / T)}$$
#
# - `logits` has any shape; normalise along `dim`. Return the same shape and dtype.
# - `exp` overflows for large inputs: `exp(10000 / 0.05)` is infinite in any float type.
#   Subtracting the largest logit first changes nothing in the ratio (the factor cancels)
#   and keeps every exponent at or below 0.

# %%
def softmax_with_temperature(logits: torch.Tensor, T: float = 1.0, dim: int = -1) -> torch.Tensor:
    """softmax(logits / T) along ``dim``: (..., classes) -> (..., classes), rows summing to 1."""
    ### BEGIN SOLUTION
    z = logits / T                                # Eq. 1: divide every logit by T
    z = z - z.amax(dim=dim, keepdim=True)         # the largest becomes 0, so exp cannot overflow
    e = z.exp()
    return e / e.sum(dim=dim, keepdim=True)       # normalise: each row sums to 1
    ### END SOLUTION


check_softmax_with_temperature(softmax_with_temperature)

# %% [markdown]
# ## Exercise 2: soft targets
#
# The teacher's probabilities at temperature T are the student's *soft targets*. They are
# targets, constants to the student: no gradient may flow back into the teacher through
# them. Use your `softmax_with_temperature`.

# %%
def soft_targets(teacher_logits: torch.Tensor, T: float = 2.0) -> torch.Tensor:
    """The teacher's softmax at T, detached: (batch, classes) -> (batch, classes)."""
    ### BEGIN SOLUTION
    return softmax_with_temperature(teacher_logits.detach(), T)   # constants for the student
    ### END SOLUTION


check_soft_targets(soft_targets)

# %% [markdown]
# ## Exercise 3: entropy
#
# The entropy of a distribution p, in nats (natural log):
#
# $$H(p) = -\sum_i p_i \log p_i$$
#
# A probability of exactly 0 contributes 0 (the limit of p log p as p goes to 0), but in
# floating point `0 * log(0)` is `0 * -inf = nan`. `torch.xlogy(p, p)` computes p log p with
# that limit built in.

# %%
def entropy(probs: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """H(p) = -sum_i p_i log p_i along ``dim``, in nats: (..., classes) -> (...)."""
    ### BEGIN SOLUTION
    return -torch.xlogy(probs, probs).sum(dim)    # xlogy(0, 0) = 0: empty classes add nothing
    ### END SOLUTION


check_entropy(entropy)

# %% [markdown]
# Your functions agree with the package's. One consequence to see with them: the
# temperature changes how sure the distribution looks, never which class wins.

# %%
z = torch.tensor([3.0, 1.0, 0.2, -1.5])           # illustrative logits for 4 classes
for T in (0.5, 1.0, 2.0, 5.0, 20.0):
    p = softmax_with_temperature(z, T)
    print(f"T = {T:>4}: p = {p}, entropy = {entropy(p).item():.3f} nats")
    assert torch.equal(p.argsort(descending=True), z.argsort(descending=True))  # ranking kept
assert entropy(softmax_with_temperature(z, 20.0)) > entropy(softmax_with_temperature(z, 1.0))
assert abs(entropy(softmax_with_temperature(z, 1e6)).item() - math.log(4)) < 1e-5  # T -> inf: uniform, log(classes)

# %% [markdown]
# ## Exercise 4: predict, then run
#
# A real teacher: all-MiniLM-L6-v2 fine-tuned on SST-2 (the smoke-size copy the course
# caches; the first run fine-tunes it, about half a minute). Below are its logits for the
# first dev sentence, and the temperature slider from notebook 1.
#
# **Before you move the slider**, predict the entropy of the teacher's soft targets at T = 5,
# in nats. Reason it out: two classes, so the entropy is between 0 and log 2 = 0.693; what
# does dividing the logits by 5 do to the gap between them? Write your guess, then run the
# cell after it, or move the slider to 5 yourself.

# %%
# NBVAL_IGNORE_OUTPUT
from kd_teach.course.widgets import TemperatureExplorer
from kd_teach.engine.cache import finetuned_teacher
from kd_teach.engine.data import SST2Data
from kd_teach.engine.models import load_tokenizer
from kd_teach.engine.presets import get_preset

preset = get_preset("smoke")
data = SST2Data(load_tokenizer(preset.teacher), preset.train_size, preset.dev_size, preset.max_length)
teacher, _ = finetuned_teacher(preset, data)
sentence = data.dev_sentences[0]
with torch.no_grad():
    z_t = teacher(**data.tokenizer([sentence], return_tensors="pt")).logits[0]   # (2,)
print(repr(sentence), "-> teacher logits", z_t)
explorer = TemperatureExplorer(z_t, ["negative", "positive"], T=1.0, title="real teacher logits")
explorer

# %%
### BEGIN SOLUTION guess = (your prediction of the entropy at T = 5, in nats)
# The teacher is sure at T = 1 (a logit gap of a few units); at T = 5 the gap shrinks five
# times, so the two probabilities get close to 0.5 and the entropy close to log 2 = 0.693.
guess = 0.65
### END SOLUTION

# %%
# NBVAL_IGNORE_OUTPUT
explorer.slider.value = 5.0        # what moving the slider to 5 does
check_guess(guess, explorer.entropy, what="the entropy of the soft targets at T = 5 (nats)", tolerance=0.05)
