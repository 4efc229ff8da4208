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
# # Exercises 5: TinyBERT's transformer distillation
#
# These exercises go with the notebook `05_transformer_distillation`. TinyBERT (Jiao et al.,
# "TinyBERT: Distilling BERT for Natural Language Understanding", 2020, Section 3.1) does not
# only teach the student the teacher's answers: it also teaches what happens inside, layer by
# layer. Student layer m learns from teacher layer n = g(m) through four losses:
#
# | what is compared | loss | equation |
# |---|---|---|
# | attention scores of layer m, h heads | $L_{attn} = \frac{1}{h}\sum_{i=1}^{h} \mathrm{MSE}(A^S_i, A^T_i)$ | Eq. 7 |
# | hidden states of layer m | $L_{hidn} = \mathrm{MSE}(H^S W_h, H^T)$ | Eq. 8 |
# | embedding layer (m = 0) | $L_{embd} = \mathrm{MSE}(E^S W_e, E^T)$ | Eq. 9 |
# | predictions | $L_{pred} = \mathrm{CE}(z^T / t, z^S / t)$ | Eq. 10 |
#
# You write the three kinds of loss, the uniform layer mapping g, and you predict one loss
# before computing it.
#
# As before: write each function's body, run its cell, read the checker's verdict. The
# notebook stops at the first exercise still to do. Use plain torch operations (indexing,
# `@`, sums, means, `torch.log_softmax`); the checkers compare your function with
# `kd_teach.tinybert.losses` and `kd_teach.tinybert.mapping` on many random inputs, in float32
# and float64.
#
# The habit from exercises 4 holds here too: a batch is padded, and padding must not count.
# **Select the real entries first** with the attention mask, then average over them. The
# checkers fill every padded entry with huge garbage (standard deviation 1000), so a loss
# that lets one in shows it at once.

# %%
import torch

from kd_teach.course.checks import check_guess
from kd_teach.course.checks.mapping import check_layer_mapping
from kd_teach.course.checks.tinybert import check_L_attn, check_L_hidn, check_L_pred

torch.set_printoptions(precision=4, sci_mode=False)

# %% [markdown]
# ## Exercise 1: the hidden-state loss with a projection, L_hidn (and L_embd)
#
# A TinyBERT student is usually narrower than its teacher: TinyBERT4 has width d_S = 312,
# BERT-base d_T = 768. A student vector and a teacher vector then do not even have the same
# length, so they cannot be subtracted. TinyBERT adds a **learnable matrix W of shape
# (d_S, d_T)** that carries each student vector into the teacher's space; it is trained
# together with the student and dropped once distillation is over (Eq. 8):
#
# $$L_{hidn} = \mathrm{MSE}(H^S W_h,\ H^T)$$
#
# The embedding loss (Eq. 9) is the very same computation on the embedding layer's output,
# $E^S W_e$ against $E^T$, so one function serves both: `L_embd = L_hidn`.
#
# - Inputs: `H_S` (batch, seq, d_S), the student's states; `H_T` (batch, seq, d_T), the
#   teacher's for the same tokens; `W` (d_S, d_T); `attention_mask` (batch, seq) int64, 1 for
#   a real token and 0 for padding.
# - Return a scalar tensor: the mean of the squared differences over the **real entries**,
#   N real positions times d_T numbers each. W multiplies the student's states **on the
#   right**: `H_S @ W` is (batch, seq, d_T).
# - The gradient must reach both `H_S` and `W` (both are learnt). The teacher is a fixed
#   target: `.detach()` it, and never modify it in place.

# %%
def L_hidn(H_S: torch.Tensor, H_T: torch.Tensor, W: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """MSE(H_S W, H_T) over the real positions: (B, L, d_S), (B, L, d_T), (d_S, d_T), (B, L) -> scalar."""
    ### BEGIN SOLUTION
    real = attention_mask.bool()                                          # (B, L) real tokens
    projected = H_S[real] @ W                                             # (N, d_S) @ (d_S, d_T) -> (N, d_T)
    return ((projected - H_T[real].detach()) ** 2).mean()                 # mean over N x d_T entries
    ### END SOLUTION


check_L_hidn(L_hidn)

# %% [markdown]
# The shapes on one 10-token sentence, with a student of width 128 and a teacher of width
# 768 (random numbers; only the shapes matter): E_S (10, 128) @ W_e (128, 768) gives
# (10, 768), the shape of E_T. Padding the sentence with garbage must not change the loss.

# %%
L_embd = L_hidn                                                           # Eq. 9 is Eq. 8 on the embeddings
gen = torch.Generator().manual_seed(0)
E_S, E_T = torch.randn(1, 10, 128, generator=gen), torch.randn(1, 10, 768, generator=gen)   # one sentence
W_e = (torch.randn(128, 768, generator=gen) / 128**0.5).requires_grad_()
print(f"E_S {tuple(E_S.shape[1:])} @ W_e {tuple(W_e.shape)} = {tuple((E_S[0] @ W_e).shape)}  vs  "
      f"E_T {tuple(E_T.shape[1:])}; W_e holds {W_e.numel():,} learnable numbers")
loss = L_embd(E_S, E_T, W_e, torch.ones(1, 10, dtype=torch.long))
loss.backward()
padded = L_embd(torch.cat([E_S, 1e3 * torch.randn(1, 6, 128, generator=gen)], 1),
                torch.cat([E_T, 1e3 * torch.randn(1, 6, 768, generator=gen)], 1),
                W_e, torch.tensor([[1] * 10 + [0] * 6]))                  # 6 padded positions of garbage
print(f"L_embd = {loss.item():.4f}; with 6 padded positions of garbage: {padded.item():.4f}")
assert (E_S[0] @ W_e).shape == E_T[0].shape and W_e.grad.shape == (128, 768)
assert torch.allclose(loss, padded)

# %% [markdown]
# ## Exercise 2: the attention loss on raw scores, L_attn
#
# Each head of a layer computes scores A = QKᵀ / √d_k, one per (query, key) pair, before the
# softmax turns every row into attention probabilities. TinyBERT matches these **raw
# scores** (the paper reports that this converges faster and ends better than matching the
# probabilities), head by head, and averages over the h heads (Eq. 7):
#
# $$L_{attn} = \frac{1}{h}\sum_{i=1}^{h} \mathrm{MSE}(A^S_i,\ A^T_i)$$
#
# The student therefore needs as many heads as the teacher (TinyBERT4 keeps 12), but no
# projection: an attention matrix is seq × seq whatever the width.
#
# - Inputs: `A_S`, `A_T` (batch, heads, seq, seq), the scores **before** the softmax and
#   before the additive padding mask; `attention_mask` (batch, seq).
# - Return a scalar tensor: the mean squared difference over every head and every (query,
#   key) pair in which **both tokens are real**: `attention_mask[:, :, None] &
#   attention_mask[:, None, :]` is (batch, seq, seq); every head has the same pairs. A
#   sentence of n real tokens gives n² pairs per head.
# - Keep the negative scores: a strongly negative score says "do not look there", which is
#   worth learning too. (TextBrewer's attention MSE, when it is called without a mask, zeroes
#   every score at or below −0.001, meant to wipe the −10000 of the additive mask: it wipes the
#   real negative scores as well. Given the mask, it averages over real positions instead.)
#   No softmax.

# %%
def L_attn(A_S: torch.Tensor, A_T: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """MSE over heads and real (query, key) pairs: (B, h, L, L) x 2, (B, L) -> scalar."""
    ### BEGIN SOLUTION
    real = attention_mask.bool()                                          # (B, L) real tokens
    pairs = real[:, :, None] & real[:, None, :]                           # (B, L, L) query and key real
    pairs = pairs[:, None].expand_as(A_S)                                 # (B, h, L, L) same in every head
    return ((A_S[pairs] - A_T.detach()[pairs]) ** 2).mean()               # mean over h x real pairs
    ### END SOLUTION


check_L_attn(L_attn)

# %%
gen = torch.Generator().manual_seed(1)
am = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])                    # lengths 3 and 5
A_T = 2 * torch.randn(2, 12, 5, 5, generator=gen)                         # (B, h, L, L), many negative
real_pairs = (am.bool()[:, :, None] & am.bool()[:, None, :]).sum().item()
zeroed = L_attn(A_T.clamp(min=0), A_T, am)                                # TextBrewer-like: negatives dropped
print(f"real pairs per head: 3² + 5² = {real_pairs}; L_attn(A_T, A_T) = {L_attn(A_T, A_T, am).item():.4f}; "
      f"with the student's negative scores zeroed: {zeroed.item():.4f}")
assert real_pairs == 34 and L_attn(A_T, A_T, am) == 0 and zeroed > 1

# %% [markdown]
# ## Exercise 3: the prediction loss, L_pred
#
# At the prediction layer the student learns the teacher's soft labels, at temperature t
# (Eq. 10): the cross-entropy between the teacher's soft targets and the student's soft
# predictions,
#
# $$L_{pred} = -\frac{1}{B}\sum_{b=1}^{B}\sum_{j=1}^{C} \mathrm{softmax}(z^T_b / t)_j\,
# \log \mathrm{softmax}(z^S_b / t)_j$$
#
# summed over the C classes, averaged over the batch. Three differences with Hinton's loss
# (exercises 2) and DistilBERT's L_ce (exercises 4):
#
# - **no t²**: TinyBERT does not rescale (it uses t = 1 anyway in its task-specific stage);
# - a **cross-entropy**, not a KL: they differ by the teacher's entropy, a constant for the
#   student, so the gradients are the same, but L_pred is not 0 when the student matches;
# - the reference code averages over batch × classes (`.mean()`), which only divides by the
#   constant C; here we follow Eq. 10 per example: a sum over the classes.
#
# Inputs: `student_logits`, `teacher_logits` (batch, classes); `t` a float > 0. Return a
# scalar tensor. Use `torch.log_softmax` for the student (stable for large logits), and
# `.detach()` the teacher.

# %%
def L_pred(student_logits: torch.Tensor, teacher_logits: torch.Tensor, t: float) -> torch.Tensor:
    """-sum_j softmax(z_T/t)_j log softmax(z_S/t)_j, mean over the batch, no t²: (B, C) x 2 -> scalar."""
    ### BEGIN SOLUTION
    p_T = torch.softmax(teacher_logits.detach() / t, dim=-1)             # (B, C) soft targets
    log_p_S = torch.log_softmax(student_logits / t, dim=-1)              # (B, C) log soft predictions
    return -(p_T * log_p_S).sum(-1).mean()                               # sum over classes, mean over batch
    ### END SOLUTION


check_L_pred(L_pred)

# %%
z = torch.tensor([[2.0, -1.0], [0.5, 0.3], [-3.0, 3.0]])                 # 3 sentences, 2 classes (SST-2)
p = torch.softmax(z, -1)
teacher_entropy = -(p * p.log()).sum(-1).mean()
print(f"L_pred(z, z, t=1) = {L_pred(z, z, 1.0).item():.4f} = the teacher's mean entropy "
      f"{teacher_entropy.item():.4f}, not 0: a cross-entropy, not a KL")
assert torch.allclose(L_pred(z, z, 1.0), teacher_entropy)

# %% [markdown]
# ## Exercise 4: the uniform layer mapping, n = g(m)
#
# Which teacher layer does each student layer learn from? Layers are numbered as
# `hidden_states` numbers them: 0 is the embedding layer, then 1..M for the student's
# transformer layers and 1..N for the teacher's. The embeddings map to the embeddings,
# g(0) = 0. The **uniform** mapping spreads the student's layers evenly over the teacher's,
# g(m) = m × N / M: a 4-layer student of a 12-layer BERT learns from teacher layers 3, 6, 9
# and 12 (Section 3.1; the paper's comparison of mappings, Section 4.5, found uniform the
# best choice overall).
#
# - Inputs: `student_layers` M and `teacher_layers` N, two ints with 1 ≤ M ≤ N.
# - Return the list [0, g(1), ..., g(M)] of M + 1 Python ints.
# - When N is not divisible by M, no mapping is uniform (4 from 6 would need layer 1.5):
#   raise `ValueError` with a message that says so, rather than round silently.

# %%
def layer_mapping(student_layers: int, teacher_layers: int) -> list[int]:
    """Uniform g as a list [0, g(1), ..., g(M)], g(m) = m N / M; ValueError when N % M != 0."""
    ### BEGIN SOLUTION
    M, N = student_layers, teacher_layers
    if N % M:
        raise ValueError(f"a {M}-layer student from a {N}-layer teacher is not uniform: {N} / {M} is not whole")
    return [m * N // M for m in range(M + 1)]
    ### END SOLUTION


check_layer_mapping(layer_mapping)

# %%
print(f"TinyBERT4 from BERT-base: {layer_mapping(4, 12)}; a 2-layer student of all-MiniLM-L6-v2 (6 layers): "
      f"{layer_mapping(2, 6)}")
try:
    layer_mapping(4, 6)
    raise AssertionError("a misfit must raise ValueError")
except ValueError as e:
    print(f"layer_mapping(4, 6): ValueError: {e}")
assert layer_mapping(4, 12) == [0, 3, 6, 9, 12] and layer_mapping(2, 6) == [0, 3, 6]

# %% [markdown]
# ## Exercise 5: predict, then run
#
# A batch of 4 sentences of lengths 7, 3, 10 and 5, padded to 10 tokens, 12 heads. The
# student's score at every **real** (query, key) pair is exactly the teacher's minus 0.5; at
# every padded pair the student holds garbage, the teacher's score plus 100.
#
# **Predict** the value of your `L_attn(A_S, A_T, attention_mask)` on this batch. Write your
# guess, then run the cell after it.

# %%
### BEGIN SOLUTION guess = (your prediction: the value of L_attn on this batch)
# Every real entry differs by exactly 0.5, so every squared difference is 0.25, and the mean
# of equal numbers is that number; the padded pairs are not counted, whatever they hold.
guess = 0.25
### END SOLUTION

# %%
gen = torch.Generator().manual_seed(5)
lengths = torch.tensor([7, 3, 10, 5])
am = (torch.arange(10) < lengths[:, None]).long()                         # (4, 10)
real = (am.bool()[:, :, None] & am.bool()[:, None, :])[:, None]           # (4, 1, 10, 10)
A_T = 2 * torch.randn(4, 12, 10, 10, generator=gen)                       # (B, h, L, L)
A_S = torch.where(real, A_T - 0.5, A_T + 100)
measured = L_attn(A_S, A_T, am)
check_guess(guess, measured, what="L_attn", tolerance=0.01,
            why="every real pair differs by 0.5, so each squared difference is 0.25 and so is their mean; the "
                "padded pairs (where the student is 100 off) do not count. Counting them too would give about "
                f"{((A_S - A_T) ** 2).mean().item():.0f}.")
assert abs(measured.item() - 0.25) < 1e-6
