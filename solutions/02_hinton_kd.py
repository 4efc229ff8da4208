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
# # Exercises 2: the Hinton KD loss
#
# These exercises go with the notebook `02_hinton_kd`. You write the distillation loss (with
# and without the T² factor) and the combined KD loss, then predict how the gradient shrinks
# with T when the T² is left out.
#
# As in exercises 1: write each function's body, run its cell, read the checker's verdict.
# The notebook stops at the first exercise still to do. You may use `torch.log_softmax` and
# `torch.nn.functional.cross_entropy` here; exercises 1 had you write the softmax itself.

# %%
import torch
import torch.nn.functional as F

from kd_teach.course.checks import check_distillation_loss, check_guess, check_kd_loss

torch.set_printoptions(precision=4, sci_mode=False)

# %% [markdown]
# ## Exercise 1: the distillation loss
#
# Hinton et al. (2015), Section 2: the student's soft predictions q = softmax(z_s / T) are
# pulled towards the teacher's soft targets p = softmax(z_t / T). We measure the gap with the
# KL divergence, averaged over the examples of the batch ("batchmean"):
#
# $$L_{distil} = T^2 \cdot \frac{1}{B}\sum_b \sum_i p_{b,i} \,(\log p_{b,i} - \log q_{b,i})$$
#
# - The T² (Section 2.1) keeps the gradient's size about the same whatever T; with
#   `scale_by_T2=False` leave it out (as TinyBERT's prediction loss does).
# - The teacher's logits are constants: detach them.
# - Divide by the batch size only, not by the number of classes.

# %%
def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float = 2.0,
                      scale_by_T2: bool = True) -> torch.Tensor:
    """T² * KL(softmax(z_t/T) || softmax(z_s/T)), batchmean: (batch, classes) x 2 -> scalar, nats."""
    ### BEGIN SOLUTION
    log_p = torch.log_softmax(teacher_logits.detach() / T, dim=-1)   # (B, C) log soft targets
    log_q = torch.log_softmax(student_logits / T, dim=-1)            # (B, C) log soft predictions
    kl = (log_p.exp() * (log_p - log_q)).sum(-1).mean()              # sum over classes, mean over batch
    return kl * T**2 if scale_by_T2 else kl
    ### END SOLUTION


check_distillation_loss(distillation_loss)

# %% [markdown]
# ## Exercise 2: the combined KD loss
#
# $$L = \alpha \, L_{student} + \beta \, L_{distil}$$
#
# L_student is the ordinary cross-entropy of the student's *hard* predictions (T = 1) with the
# hard labels. Use your `distillation_loss` for the second term.

# %%
def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
            alpha: float = 0.5, beta: float = 0.5, T: float = 2.0) -> torch.Tensor:
    """alpha * CE(z_s, labels) + beta * T² * KL(soft targets || soft predictions); scalar, nats."""
    ### BEGIN SOLUTION
    L_student = F.cross_entropy(student_logits, labels)             # hard predictions, T = 1
    L_distil = distillation_loss(student_logits, teacher_logits, T)  # soft, with T²
    return alpha * L_student + beta * L_distil
    ### END SOLUTION


check_kd_loss(kd_loss)

# %% [markdown]
# ## Exercise 3: predict, then run
#
# Take a real teacher (all-MiniLM-L6-v2 fine-tuned on SST-2, the course's cached smoke-size
# copy) and an untrained student, whose logits are all about 0. Section 2.1 of Hinton et al.
# says that for large T the gradient of the KL *without* T² shrinks like 1/T².
#
# **Predict** the ratio ‖∂L/∂z_s‖ at T = 8 divided by ‖∂L/∂z_s‖ at T = 4, without the T², on
# 32 real dev sentences. Is the 1/T² rule already exact at T = 4 for these logits, or only
# roughly so? Write your guess, then run the cell after it.

# %%
# NBVAL_IGNORE_OUTPUT
from kd_teach.engine.cache import finetuned_teacher
from kd_teach.engine.data import SST2Data
from kd_teach.engine.models import load_tokenizer
from kd_teach.engine.presets import get_preset

preset = get_preset("smoke")
data = SST2Data(load_tokenizer(preset.teacher), preset.train_size, preset.dev_size, preset.max_length)
teacher, _ = finetuned_teacher(preset, data)
batch = next(iter(data.dev_loader(batch_size=32)))
with torch.no_grad():
    z_t = teacher(**{k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}).logits  # (32, 2)
print("teacher logit gaps (first 8):", (z_t[:, 1] - z_t[:, 0])[:8])

# %%
### BEGIN SOLUTION ratio = (your prediction of the gradient-norm ratio, T = 8 over T = 4)
# For logits small next to T, the gradient is about (z_s - z_t) / (B * C * T²) (Section 2.1),
# so doubling T divides it by about 4. These teacher logits differ by a few units, not much
# less than T = 4, so the ratio should be a little above 1/4.
ratio = 0.27
### END SOLUTION

# %%
# NBVAL_IGNORE_OUTPUT
def gradient_norm(T: float) -> float:
    z_s = torch.zeros_like(z_t, requires_grad=True)   # an untrained student: logits about 0
    distillation_loss(z_s, z_t, T, scale_by_T2=False).backward()
    return z_s.grad.norm().item()


measured = gradient_norm(8.0) / gradient_norm(4.0)
check_guess(ratio, measured, what="the gradient-norm ratio T = 8 over T = 4, without T²", tolerance=0.03)
print(f"with T²: ratio {measured * 64 / 16:.3f}, so the T² factor keeps the gradient's size comparable")
