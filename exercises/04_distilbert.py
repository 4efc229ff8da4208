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
# # Exercises 4: DistilBERT's triple loss and BERT's masking
#
# These exercises go with the notebook `04_distilbert`. You write the three terms of
# DistilBERT's loss (Sanh, Debut, Chaumond and Wolf 2019, Section 2),
#
# $$L = \alpha_{ce}\,L_{ce} + \alpha_{mlm}\,L_{mlm} + \alpha_{cos}\,L_{cos},$$
#
# then BERT's 80/10/10 rule for corrupting the tokens to predict, and you predict how many
# [MASK] tokens one sentence gets.
#
# As before: write each function's body, run its cell, read the checker's verdict. The
# notebook stops at the first exercise still to do. Write the formulas with plain torch
# operations (`torch.log_softmax`, sums, means, indexing); the checkers compare your function
# with `kd_teach.distilbert.losses` on many random batches, in float32 and float64. Your value
# must agree within a relative 1e-4 in float32 (1e-5 in float64), plus a tiny absolute margin
# that grows with the size of the logits.
#
# One habit for all three losses: a batch is padded, and only some positions take part in a
# term. **Select those positions first** (`x[mask]` turns a (batch, seq, dim) tensor into
# (N, dim), one row per selected position), then average over the N rows. The checkers put
# large garbage values at the positions that must not count, so a loss that lets them in
# shows it.

# %%
import torch

from kd_teach.course.checks import check_guess
from kd_teach.course.checks.distilbert import check_L_ce, check_L_cos, check_L_mlm, check_bert_corruption

torch.set_printoptions(precision=4, sci_mode=False)

# %% [markdown]
# ## Exercise 1: the cosine loss L_cos
#
# DistilBERT pulls the **direction** of the student's last hidden state towards the teacher's,
# position by position (Sanh et al. 2019, Section 2; the reference code uses
# `nn.CosineEmbeddingLoss` with target 1):
#
# $$L_{cos} = \frac{1}{N}\sum_{n=1}^{N} \left(1 - \frac{h_s^{(n)} \cdot h_t^{(n)}}{\lVert h_s^{(n)}\rVert\,\lVert h_t^{(n)}\rVert}\right)$$
#
# over the N real (non-padding) positions of the batch.
#
# - Inputs: `student_hidden` and `teacher_hidden` of shape (batch, seq, hidden), the same
#   hidden size (DistilBERT keeps the teacher's width, so no projection is needed);
#   `attention_mask` (batch, seq) int64, 1 for a real token and 0 for padding.
# - Return a scalar tensor (shape ()): the mean of 1 - cos over the real positions. 0 means
#   same directions; lengths do not matter, so scaling h_s by 10 must not change it.
# - Do not use `F.cosine_similarity`: write the dot product over the norms (you may use
#   `.norm(dim=-1)`). The teacher is a fixed target: `.detach()` it.

# %%
def L_cos(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over real positions of 1 - cos(h_s, h_t): (B, S, H) x 2, (B, S) -> scalar."""
    raise NotImplementedError("write the body of L_cos here")


check_L_cos(L_cos)

# %%
h_t = torch.randn(2, 4, 8)
am = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
print(f"L_cos(3 h_t, h_t) = {abs(L_cos(3 * h_t, h_t, am)):.4f}: same directions; "
      f"L_cos(-h_t, h_t) = {L_cos(-h_t, h_t, am):.4f}: opposite ones")
assert abs(L_cos(3 * h_t, h_t, am)) < 1e-6 and abs(L_cos(-h_t, h_t, am) - 2) < 1e-6

# %% [markdown]
# ## Exercise 2: soft targets over the vocabulary, L_ce
#
# Hinton's distillation loss, with one softmax over the whole vocabulary (30,522 tokens for
# BERT) at each selected position: the teacher's soft targets p = softmax(z_t / T) against the
# student's soft predictions q = softmax(z_s / T), the same T on both sides:
#
# $$L_{ce} = T^2 \cdot \frac{1}{N}\sum_{n=1}^{N} \sum_{i=1}^{V} p^{(n)}_i \left(\log p^{(n)}_i - \log q^{(n)}_i\right)$$
#
# - Inputs: `student_logits` and `teacher_logits` of shape (batch, seq, vocab); `mask`
#   (batch, seq) **bool**, True at the N positions to use; `T` a float > 0.
# - Return a scalar tensor: the KL summed over the vocabulary, averaged over the N selected
#   positions (the reference code's `KLDivLoss(reduction="batchmean")` on the selected rows),
#   times T². The T² keeps the gradient's size about the same whatever T (Hinton et al. 2015,
#   Section 2.1).
# - The paper writes L_ce as a cross-entropy, Σ p log q; the reference code and `kd_teach`
#   use the KL, which differs only by the teacher's entropy: the same gradients, and 0 when the
#   student matches the teacher. Write the KL.
# - Which positions? The reference code uses every real token by default and only the masked
#   ones with `restrict_ce_to_mask`; `kd_teach` defaults to the masked ones (cheaper on a CPU).
#   Your function takes whatever `mask` it is given.

# %%
def L_ce(student_logits: torch.Tensor, teacher_logits: torch.Tensor, mask: torch.Tensor, T: float) -> torch.Tensor:
    """T² KL(softmax(z_t/T) || softmax(z_s/T)), averaged over the selected positions: scalar, nats."""
    raise NotImplementedError("write the body of L_ce here")


check_L_ce(L_ce)

# %% [markdown]
# ## Exercise 3: the masked-language-model loss, L_mlm
#
# The student's ordinary MLM loss with the true tokens (hard targets, T = 1; Devlin et al.
# 2019, Section 3.1): at every position chosen for prediction, minus the log-probability the
# student gives the original token,
#
# $$L_{mlm} = -\frac{1}{N}\sum_{n=1}^{N} \log \operatorname{softmax}(z_s^{(n)})_{y_n}$$
#
# - Inputs: `student_logits` (batch, seq, vocab); `mlm_labels` (batch, seq) int64: the
#   original token id at a position to predict, **-100** everywhere else (unchosen and padding
#   positions; the label `transformers` and `F.cross_entropy` ignore).
# - Return a scalar tensor: the mean over the N labelled positions.
# - Use `torch.log_softmax` and pick each position's true token (indexing or `.gather`);
#   not `F.cross_entropy`, which does it all in one call (with `ignore_index=-100`): use it
#   afterwards to check your answer. Note that -100 is not a token id: select first.

# %%
def L_mlm(student_logits: torch.Tensor, mlm_labels: torch.Tensor) -> torch.Tensor:
    """Mean over labelled positions of -log p_s(true token): (B, S, V), (B, S) -> scalar, nats."""
    raise NotImplementedError("write the body of L_mlm here")


check_L_mlm(L_mlm)

# %% [markdown]
# ## Exercise 4: BERT's 80/10/10 rule
#
# BERT chooses 15% of the tokens as prediction targets, but does not turn them all into
# [MASK] (Devlin et al. 2019, Section 3.1): of the chosen tokens, **80% become [MASK], 10% a
# random token and 10% stay unchanged**. [MASK] never appears when the model is later used on
# a task, so a model trained only on [MASK] positions would learn something it never needs;
# and since a chosen token may be random or unchanged, the model cannot tell from the input
# which positions it will be asked about, so it must keep a good representation of every
# token. DistilBERT keeps the rule; RoBERTa (Liu et al. 2019, Section 4.1) and DistilBERT draw
# the choice anew for every batch (dynamic masking), which is why your function takes a
# random generator.
#
# - Inputs: `chosen_ids` (N,) int64, the ids of the tokens already chosen for prediction;
#   `mask_token_id`; `vocab_size`; `generator`, a `torch.Generator`.
# - Return a new (N,) int64 tensor: each id replaced by `mask_token_id` with probability 0.8,
#   by a random id drawn uniformly from [0, vocab_size) with probability 0.1, and left as it
#   is otherwise. Do not modify `chosen_ids` (the originals are the labels).
# - Pass `generator=generator` to every random draw, so that one seed gives one result.
#
# The checker runs your function on 20,000 chosen tokens with fixed seeds and measures the
# three shares: each must lie within 2 points of 80%, 10% and 10%.

# %%
def bert_corruption(chosen_ids: torch.Tensor, mask_token_id: int, vocab_size: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """80% -> [MASK], 10% -> a random id, 10% unchanged: (N,) int64 -> (N,) int64."""
    raise NotImplementedError("write the body of bert_corruption here")


check_bert_corruption(bert_corruption)

# %% [markdown]
# ## Exercise 5: predict, then run
#
# Take one sentence of 64 tokens: [CLS], 62 words, [SEP]. `kd_teach.distilbert.masking.mask_tokens`, which
# the chapter's training uses, chooses 15% of the candidate tokens of the batch, **rounded
# up** (special tokens such as [CLS] and [SEP] are never candidates), then applies the
# 80/10/10 rule. Here every word is equally likely to be chosen (no rare-token weighting), and
# each draw is a new batch with new masks.
#
# **Predict** how many of the 62 words the model sees as [MASK], on average over many draws.
# Write your guess, then run the cell after it.

# %%
raise NotImplementedError("write guess = (your prediction: [MASK] tokens per draw, on average) here")

# %%
# NBVAL_IGNORE_OUTPUT
from kd_teach.distilbert.masking import IGNORE_INDEX, mask_tokens, num_targets, token_probs

V, CLS, SEP, MASK = 30522, 101, 102, 103                      # bert-base-uncased's vocabulary and ids
special = [0, 100, CLS, SEP, MASK]                             # [PAD], [UNK], [CLS], [SEP], [MASK]
gen = torch.Generator().manual_seed(0)
words = torch.randint(1000, V, (62,), generator=gen)
sentence = torch.cat([torch.tensor([CLS]), words, torch.tensor([SEP])])[None]   # (1, 64)
uniform = token_probs(torch.ones(V, dtype=torch.long), special, smoothing=0.0)  # every word alike
n_mask = []
for _ in range(2000):                                          # 2,000 batches, new masks each time
    masked, labels = mask_tokens(sentence, torch.ones_like(sentence), uniform, MASK, special, generator=gen)
    assert int((labels != IGNORE_INDEX).sum()) == num_targets(62, 0.15) == 10   # always 10 targets
    n_mask.append(int((masked == MASK).sum()))
measured = sum(n_mask) / len(n_mask)
check_guess(guess, measured, what="the number of [MASK] tokens per draw", tolerance=0.25,
            why="ceil(0.15 × 62) = ceil(9.3) = 10 words are chosen every time; 80% of them, 8 on average, become "
                "[MASK], about 1 a random token and 1 stays as it is. 0.15 × 62 × 0.8 = 7.44 forgets the rounding up.")
print(f"[MASK] tokens per draw: from {min(n_mask)} to {max(n_mask)}, at new positions in every batch (dynamic masking)")
