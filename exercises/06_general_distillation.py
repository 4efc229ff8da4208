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
# # Exercises 6: one step of TinyBERT's general distillation
#
# These exercises go with the notebook `06_general_distillation`. TinyBERT's first stage
# (Jiao et al., "TinyBERT: Distilling BERT for Natural Language Understanding", 2020,
# Section 3.2) distils a **pretrained** BERT into a small random student on a general corpus.
# Every step computes one loss, Eq. 11 of the paper with every weight λ = 1:
#
# $$L = L_{embd}(E^S W_0, E^T) + \sum_{m=1}^{M} \Big[ L_{hidn}(H^S_m W_m, H^T_{g(m)}) + L_{attn}(A^S_m, A^T_{g(m)}) \Big]$$
#
# the embedding layer (m = 0), then each of the student's M transformer layers against the
# teacher layer n = g(m) it is mapped to (notebook 5). You wrote the three losses in exercises
# 5; here you put them together, then watch your loss train a real student for a few steps.
#
# **What is not in it: the prediction layer.** A common claim is that general distillation
# also distils the teacher's predictions. It cannot: the teacher of this stage is the
# pretrained BERT, which has no task head, and the paper's general distillation uses the
# intermediate layers only. $L_{pred}$ comes in task distillation (exercises 7).
#
# As before: write the function's body, run its cell, read the checker's verdict. The
# notebook stops at the first exercise still to do.

# %%
import torch

from kd_teach.course.checks import check_general_distillation_loss, check_guess
from kd_teach.tinybert.attention import LayerOutputs
from kd_teach.tinybert.losses import L_attn, L_embd, L_hidn, intermediate_loss
from kd_teach.tinybert.mapping import layer_mapping

torch.set_printoptions(precision=4, sci_mode=False)
torch.set_num_threads(1)                 # small tensors: extra threads would only wait for each other

# %% [markdown]
# ## Exercise 1: the general-distillation loss, Eq. 11
#
# - `student`, `teacher`: the models' outputs on one batch, as
#   `kd_teach.tinybert.attention.layer_outputs` returns them (a `LayerOutputs`):
#   - `.hidden_states`: a tuple of M + 1 tensors (batch, seq, d_S) for the student, N + 1
#     (batch, seq, d_T) for the teacher; `[0]` is the embedding layer's output, `[m]` layer m's;
#   - `.scores`: a dict {layer: (batch, heads, seq, seq)} of pre-softmax attention scores,
#     layers 1..M for the student, the teacher's layers g(1)..g(M) (or all of them);
#   - `.logits`: None for a model without a task head (or (batch, classes) for one with).
# - `g`: the mapping as a list [0, g(1), ..., g(M)] (`layer_mapping(M, N)` makes the uniform
#   one; use the `g` you are given, which need not be uniform).
# - `W`: a list of M + 1 projections (d_S, d_T): `W[0]` is $W_0$ (the paper's $W_e$) for the
#   embeddings, `W[m]` is layer m's ($W_h$). They may all be the same matrix.
# - `attention_mask`: (batch, seq), 1 for real tokens.
#
# Return the scalar L. Call `L_embd(E_S, E_T, W, attention_mask)`,
# `L_hidn(H_S, H_T, W, attention_mask)` and `L_attn(A_S, A_T, attention_mask)` from
# `kd_teach.tinybert.losses` (your own versions from exercises 5 would do too).

# %%
def general_distillation_loss(student: LayerOutputs, teacher: LayerOutputs, g: list[int], W: list[torch.Tensor],
                              attention_mask: torch.Tensor) -> torch.Tensor:
    """Eq. 11: L_embd (m = 0) + sum over m = 1..M of L_hidn + L_attn, student layer m against teacher layer g[m]."""
    raise NotImplementedError("write the body of general_distillation_loss here")


check_general_distillation_loss(general_distillation_loss)

# %% [markdown]
# ## Your loss on real models: a few steps of general distillation
#
# The teacher is the course's pretrained encoder (all-MiniLM-L6-v2, 6 layers, width 384, 12
# heads, **no task head**), frozen. The student is the `smoke` preset's random TinyBERT
# (notebook 6 distils the `PRESET`'s one; here the smallest is enough), with its
# projection W, which is learnt together with it. We run your loss on a batch of general
# text, check it against the package's `intermediate_loss`, then take ten optimiser steps on
# that batch: the loss must fall (a student memorising one batch, only to see the loop work).

# %%
from kd_teach.engine.models import load_encoder, load_tokenizer
from kd_teach.engine.presets import get_preset
from kd_teach.tinybert.attention import layer_outputs
from kd_teach.tinybert.stages import check_compatible, new_distiller

settings = get_preset("smoke").tinybert
tokenizer = load_tokenizer()
teacher = load_encoder().eval().requires_grad_(False)
distiller = new_distiller(teacher.config, settings, seed=0)
g = check_compatible(distiller.student, teacher, settings)               # [0, 3, 6]: 2 student layers of 6
M = len(g) - 1
W = [distiller.projections[m] for m in range(M + 1)]                       # one shared W here (d_S, d_T)
text = ["The river rises in the hills and flows north to the sea.",
        "She had never seen so many books in one room before.",
        "In 1850 the town had a population of about two thousand.",
        "He closed the door quietly and walked down the stairs."]
batch = dict(tokenizer(text, padding=True, return_tensors="pt"))
with torch.no_grad():
    t_out = layer_outputs(teacher, batch, g[1:])                           # teacher layers g(1..M), frozen
print(f"mapping g = {g}; student width {distiller.student.config.hidden_size}, teacher width "
      f"{teacher.config.hidden_size}, W {tuple(W[0].shape)}; teacher logits: {t_out.logits}")

# %%
torch.manual_seed(0)
optimizer = torch.optim.AdamW(distiller.parameters(), lr=1e-3)
losses = []
for step in range(10):
    s_out = layer_outputs(distiller.student, batch, range(1, M + 1))       # student layers 1..M
    loss = general_distillation_loss(s_out, t_out, g, W, batch["attention_mask"])
    if step == 0:
        package, terms = intermediate_loss(s_out, t_out, g, distiller.projections, batch["attention_mask"])
        print(f"step 0: yours {loss.item():.4f}, the package's {package.item():.4f} "
              f"(L_embd {terms['L_embd']:.3f}, L_hidn {terms['L_hidn']:.3f}, L_attn {terms['L_attn']:.3f})")
        assert torch.allclose(loss, package)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
print("loss over 10 steps:", " ".join(f"{x:.2f}" for x in losses))
assert losses[-1] < losses[0]

# %% [markdown]
# Where the gradient goes: the student's layers, its embeddings and W all learn; the
# teacher, frozen, gets none; and the student's classification head (a
# `BertForSequenceClassification` has one, random) gets **nothing** either, since no term of
# Eq. 11 reads it. It is trained later, in task distillation's second step.

# %%
head = distiller.student.classifier.weight
print(f"gradient on W: {W[0].grad.abs().sum().item():.3g}; on the student's classifier head: {head.grad}")
assert W[0].grad.abs().sum() > 0 and head.grad is None

# %% [markdown]
# ## Exercise 2: predict, then count
#
# TinyBERT4 (M = 4 layers) learns from BERT-base (N = 12) with the uniform mapping. **How
# many separate MSE terms** does Eq. 11 add up in one step (count L_embd, each L_hidn and each
# L_attn as one)?

# %%
raise NotImplementedError("write guess = (your prediction: the number of MSE terms for M = 4) here")

# %%
g4 = layer_mapping(4, 12)
terms = ["L_embd(0 -> 0)"] + [f"{name}({m} -> {g4[m]})" for m in range(1, 5) for name in ("L_hidn", "L_attn")]
check_guess(guess, len(terms), what="the number of MSE terms in Eq. 11 for TinyBERT4 from BERT-base", tolerance=0,
            why="one L_embd, then L_hidn + L_attn per student layer: " + ", ".join(terms) + ". No L_pred: general "
                "distillation has no prediction layer.")
assert len(terms) == 9
