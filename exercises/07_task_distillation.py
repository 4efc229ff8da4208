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
# # Exercises 7: task distillation's two steps, and TinyBERT's data augmentation
#
# These exercises go with the notebook `07_task_distillation`. TinyBERT's second stage
# (Jiao et al. 2020, Section 3.2) teaches the general student one task, from a teacher
# **fine-tuned on that task**, in two steps: first the intermediate layers (Eq. 11, as in
# general distillation), then the prediction layer alone (Eq. 10, $L_{pred}$). It trains on
# task sentences multiplied by **data augmentation** (Section 3.3, Algorithm 1): words
# swapped for similar ones, the new sentences labelled by the teacher.
#
# You write the loss of each step (exercise 1), the rule that finds candidate words
# (exercise 2), the random replacement that makes a new sentence (exercise 3), and you
# predict how often a draw changes nothing (exercise 4).
#
# As before: write each function's body, run its cell, read the checker's verdict. The
# notebook stops at the first exercise still to do.

# %%
import random

import torch

from kd_teach.course.checks import check_guess, check_replace_words, check_task_distillation_loss, \
    check_word_candidates
from kd_teach.tinybert.attention import LayerOutputs
from kd_teach.tinybert.augment import is_replaceable
from kd_teach.tinybert.losses import L_pred, intermediate_loss

torch.set_printoptions(precision=4, sci_mode=False)
torch.set_num_threads(1)                 # tiny models: extra threads would only wait for each other

# %% [markdown]
# ## Exercise 1: the loss switch of task distillation
#
# | step | what is distilled | loss |
# |---|---|---|
# | 1 | embeddings, hidden states, attention | $L_{embd} + \sum_m (L_{hidn} + L_{attn})$, Eq. 11 |
# | 2 | the prediction layer | $L_{pred} = -\sum_j \mathrm{softmax}(z^T/t)_j \log \mathrm{softmax}(z^S/t)_j$, Eq. 10 |
#
# - `step`: 1 or 2; anything else is a mistake in the caller: raise `ValueError`.
# - `student`, `teacher`: `LayerOutputs` as in exercises 6, now **with logits** (batch,
#   classes): both models have a task head. `g`, `W`: as in exercises 6.
# - `batch`: the batch as the data loader gives it, a dict with `"attention_mask"` (batch,
#   seq) and `"labels"` (batch,). The labels are there because SST-2 has them; TinyBERT's task
#   distillation does **not** use them: the teacher is the only source of targets.
# - `t`: the temperature of $L_{pred}$ (TinyBERT uses t = 1 and no t²).
#
# Use `intermediate_loss(student, teacher, g, W, attention_mask)`, which returns `(loss,
# terms)` (your exercise 6 computes its first element), and `L_pred(student_logits,
# teacher_logits, t)` from `kd_teach.tinybert.losses`.

# %%
def task_distillation_loss(step: int, student: LayerOutputs, teacher: LayerOutputs, g: list[int],
                           W: list[torch.Tensor], batch: dict, t: float = 1.0) -> torch.Tensor:
    """Step 1: Eq. 11 on the intermediate layers; step 2: L_pred (Eq. 10) on the logits; else ValueError."""
    raise NotImplementedError("write the body of task_distillation_loss here")


check_task_distillation_loss(task_distillation_loss)

# %% [markdown]
# Why the order matters, on two small random BERTs with task heads (only the mechanics
# count here: in notebook 7 the teacher is fine-tuned and the student general-distilled).
# In step 1 **no gradient reaches the student's classifier head**: no term of Eq. 11 reads
# it, which is why a student after step 1 alone classifies at chance (notebook 7, section
# 4). Step 2 trains it.

# %%
from transformers import BertConfig, BertForSequenceClassification

from kd_teach.tinybert.attention import layer_outputs


def tiny_bert(layers: int, width: int, seed: int) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    return BertForSequenceClassification(BertConfig(vocab_size=100, hidden_size=width, num_hidden_layers=layers,
                                                    num_attention_heads=2, intermediate_size=2 * width))


teacher, student = tiny_bert(4, 32, 0).eval(), tiny_bert(2, 16, 1)
g = [0, 2, 4]
W = [torch.randn(16, 32, requires_grad=True)] * 3                        # one shared projection
batch = {"input_ids": torch.randint(5, 100, (3, 7)), "attention_mask": torch.tensor([[1] * 7, [1] * 5 + [0] * 2,
                                                                                     [1] * 3 + [0] * 4]),
         "labels": torch.tensor([1, 0, 1])}
with torch.no_grad():
    t_out = layer_outputs(teacher, batch, g[1:])
for step in (1, 2):
    student.zero_grad()
    loss = task_distillation_loss(step, layer_outputs(student, batch, [1, 2]), t_out, g, W, batch)
    loss.backward()
    head = student.classifier.weight.grad
    print(f"step {step}: loss {loss.item():.4f}; gradient on the classifier head: "
          f"{'none' if head is None else f'{head.abs().sum().item():.3g}'}")
    assert (head is None) == (step == 1)

# %% [markdown]
# ## Exercise 2: the candidate words of Algorithm 1
#
# For each word of a sentence that is worth replacing (`is_replaceable(word)`: alphabetic and
# not a stop word; "the", "not", punctuation and numbers are kept as they are):
#
# - a word of **one WordPiece** gets the masked-LM teacher's K likeliest words at its
#   position, the word masked: `masked_lm_top(i, K)`, with i the word's index in `words`;
# - a word of **several pieces** ("unbearably" is `un ##be ##ara ##bly`) cannot be one
#   [MASK]; it gets its K nearest GloVe neighbours, `glove_top(word, K)`, which is `[]` for
#   a word GloVe does not know: such a word gets no entry.
#
# `tokenize(word)` gives the word's WordPieces. Return a dict {word index: (source,
# candidates)} with source `"mlm"` or `"glove"`.

# %%
def word_candidates(words: list[str], tokenize, masked_lm_top, glove_top, K: int) -> dict[int, tuple[str, list[str]]]:
    """{i: ("mlm", masked_lm_top(i, K))} for one-piece words, {i: ("glove", glove_top(word, K))} for the others."""
    raise NotImplementedError("write the body of word_candidates here")


check_word_candidates(word_candidates)

# %% [markdown]
# On a real sentence, with the course's WordPiece tokenizer and GloVe (400,000 words, 50
# dimensions). The masked LM is notebook 4's MLM teacher, which notebook 7 runs; here a
# stand-in marks where its k-th word would go: `MLM(dull)#2`.

# %%
from kd_teach.engine.models import load_tokenizer
from kd_teach.tinybert.augment import WordVectors

tokenizer, glove = load_tokenizer(), WordVectors.glove()
words = "the cinematography is unbearably dull , but the actors are wonderful .".split()
found = word_candidates(words, tokenizer.tokenize, lambda i, K: [f"MLM({words[i]})#{k + 1}" for k in range(K)],
                        lambda w, K: glove.neighbours([w], K)[0], K=4)
for i, (source, cands) in found.items():
    print(f"{words[i]:>15} {tokenizer.tokenize(words[i])!s:>32}  {source:>5}: {', '.join(cands)}")
assert {words[i]: s for i, (s, _) in found.items()} == {"cinematography": "mlm", "unbearably": "glove", "dull": "mlm",
                                                        "actors": "mlm", "wonderful": "mlm"}

# %% [markdown]
# ## Exercise 3: one new sentence
#
# Algorithm 1 then draws: **every** word with candidates is replaced, with probability p
# (the paper's $p_t$ = 0.4), by one of its candidates chosen uniformly at random; each word
# decides on its own. Draw every random number from `rng` (a `random.Random`), so that a
# seed reproduces the augmented data: `rng.random()` and `rng.choice(...)`.
#
# Return a new list of words (leave `words` unchanged).

# %%
def replace_words(words: list[str], candidates: dict[int, tuple[str, list[str]]], p: float,
                  rng: random.Random) -> list[str]:
    """A copy of words in which each word with candidates is replaced with probability p by a random candidate."""
    raise NotImplementedError("write the body of replace_words here")


check_replace_words(replace_words)

# %%
rng = random.Random(0)
for _ in range(4):
    print(" ".join(replace_words(words, found, 0.4, rng)))

# %% [markdown]
# ## Exercise 4: predict, then count
#
# A sentence has 5 words with candidates, p = 0.4. What **share of the draws** leave the
# sentence unchanged (every one of the 5 words kept)? Algorithm 1 drops those (and repeats),
# which is why a short sentence yields fewer than N = 20 new ones.

# %%
raise NotImplementedError("write guess = (your prediction: the share of draws that change nothing) here")

# %%
rng = random.Random(1)
draws = 20_000
unchanged = sum(replace_words(words, found, 0.4, rng) == words for _ in range(draws)) / draws
check_guess(guess, unchanged, what="the share of draws that change none of 5 words at p = 0.4", tolerance=0.01,
            why=f"each word stays with probability 0.6, independently: 0.6^5 = {0.6 ** 5:.4f}. Of N = 20 draws, about "
                f"{20 * 0.6 ** 5:.1f} are the original sentence again.")
assert abs(unchanged - 0.6 ** 5) < 0.01
