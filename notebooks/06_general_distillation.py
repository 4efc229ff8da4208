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
# # 6. TinyBERT, stage 1: general distillation
#
# TinyBERT learns in two stages (Jiao et al. 2020, Section 3.2). The first, **general
# distillation**, makes a small model that knows the language before it sees any task:
#
# - the teacher is the **pretrained** BERT, *not* fine-tuned: the student should learn what
#   the teacher knows about text in general, not about one task;
# - the data is a large **general corpus** with no labels (the paper: English Wikipedia,
#   3 epochs);
# - only the **intermediate layers** are distilled: $L_{embd}$, and $L_{hidn} + L_{attn}$ for
#   each student layer $m$ against teacher layer $g(m)$ (notebook 5). There is no prediction
#   layer to distil: a pretrained BERT has no task head.
#
# The result, a *general TinyBERT*, is the starting point of task-specific distillation
# (notebook 7); Huawei published theirs (`huawei-noah/TinyBERT_General_4L_312D`). Ours learns
# from all-MiniLM-L6-v2 on the course's 7 MB corpus; `kd_teach` caches it, so notebook 7 and
# `kd-teach run sst2 --rows tinybert` reuse it.
#
# > **Claims vs the paper.**
# > - *"General distillation also distils the prediction layer."* It does not. The paper's
# >   general distillation is intermediate-layer distillation only (Section 4.2; the
# >   reference's `general_distill.py` adds only the attention and hidden-state losses): the
# >   pretrained teacher has no task head whose logits could be matched. $L_{pred}$ comes in
# >   only in task-specific distillation (notebook 7). A cell below checks the logged terms.
# > - *"General distillation learns from Wikipedia alone."* TinyBERT's general distillation
# >   text is English Wikipedia (Section 4.2), but what it transfers is what its teacher
# >   learned: BERT-base was pre-trained on BooksCorpus and English Wikipedia (Devlin et al.
# >   2019, Section 3.1), and DistilBERT distils on that same mixture (Sanh et al. 2019,
# >   Section 3).

# %%
# %matplotlib inline
import os

import torch
from IPython.display import display
from transformers import BertModel

from kd_teach.course.live_plot import LiveLossCurves
from kd_teach.engine.cache import general_tinybert, shown
from kd_teach.engine.corpus import Corpus
from kd_teach.engine.models import load_encoder, load_tokenizer
from kd_teach.engine.presets import get_preset
from kd_teach.tinybert.mapping import describe_mapping
from kd_teach.tinybert.stages import check_compatible, heldout_intermediate_loss, new_distiller

# %% [markdown]
# `PRESET` sets the scale. `smoke`, the default and what the test suite runs: 30 steps of 16
# chunks of 32 tokens, seconds, the curves barely start. `cpu`, what the stored outputs show
# (`make notebooks PRESET=cpu`): 3,000 steps of 32 chunks of 64 tokens (the count chosen on the
# tuning split: `results/cpu-tuning/general.md`), the one slow cell of this notebook the first
# time; either is cached after, so this notebook then takes seconds.

# %% tags=["parameters"]
PRESET = os.environ.get("KD_TEACH_PRESET", "smoke")

# %%
from kd_teach.engine.report import run_label

preset = get_preset(PRESET)
print(run_label(preset.name))   # what every output below was made with
s = preset.tinybert
tokenizer = load_tokenizer(preset.teacher)
corpus = Corpus(tokenizer, preset.corpus_max_length, preset.corpus_heldout)
teacher = load_encoder(preset.teacher).eval()             # pretrained, not fine-tuned: a BertModel, no head
print(f"corpus: {len(corpus.train):,} chunks of at most {corpus.max_length} tokens, {len(corpus.heldout):,} held out")
print(f"teacher: {teacher.config.num_hidden_layers} layers, width {teacher.config.hidden_size}; "
      f"student: {s.student.layers} layers, width {s.student.hidden}, {s.student.heads} heads, FFN {s.student.ffn}")

# %%
random_student = new_distiller(teacher.config, s, seed=0)
g = check_compatible(random_student.student, teacher, s)
print(describe_mapping(g, teacher.config.num_hidden_layers))
heldout = corpus.heldout_loader(64)
before = heldout_intermediate_loss(random_student, teacher, g, heldout, s.attn_on)
print("held-out losses of the random student: " + ", ".join(f"{k[8:]} {v:.3f}" for k, v in before.items()))
assert before["heldout_loss"] > 0

# %% [markdown]
# ## Distil, with live curves
#
# Each step: a batch of corpus chunks, the frozen teacher's embeddings, hidden states and
# attention scores at layers $g(1..M)$, the student's at $1..M$, and
# $L = L_{embd} + \sum_m (L_{hidn} + L_{attn})$ (Eq. 11 with every weight 1). The optimiser
# trains the student and the projection $W$ together. Checkpoints every 50 steps make it
# resumable: interrupt the kernel and run the cell again.
#
# If this preset's general TinyBERT is already in the cache (the test suite makes the smoke
# one), the cell loads it instead of training, and the curves show how it was trained.

# %%
curves = LiveLossCurves(["loss", "L_embd", "L_hidn", "L_attn"], redraw_every=2, title="general distillation")
display(curves.widget)
distiller, info = general_tinybert(preset, corpus, preset.teacher, seed=0, on_log=curves.update)
curves.history = info["history"]
curves.draw()
print(f"{'loaded from the cache' if info['cached'] else 'trained'}: {info['steps']} steps, "
      f"{info['train_seconds']:.0f} s of training; saved in {shown(info['path'])}")

# %%
first, last = info["history"][0], info["history"][-1]
assert info["steps"] == s.general_steps and {"L_embd", "L_hidn", "L_attn"} <= last.keys()
assert "L_pred" not in last                   # general distillation: intermediate layers only, no prediction layer
assert last["L_hidn"] < first["L_hidn"] and last["L_embd"] < first["L_embd"]
curves.figure()   # the finished curves, still: a saved notebook keeps this, not the live widget

# %% [markdown]
# ## What it learned, on held-out text
#
# The same losses on held-out paragraphs, before and after. $L_{attn}$ is by far the largest
# (about nine times $L_{hidn}$ before training, five after): it is an MSE on pre-softmax attention scores,
# which span tens of units, while hidden states and embeddings are a few units wide. Which loss
# falls fastest is another question, and one run cannot answer it: the three fall by similar
# shares here, and a second seed could reorder them.

# %%
after = heldout_intermediate_loss(distiller, teacher, g, heldout, s.attn_on)
print(f"{'':>6} {'before':>9} {'after':>9}")
for key in ("heldout_L_embd", "heldout_L_hidn", "heldout_L_attn", "heldout_loss"):
    print(f"{key[8:]:>6} {before[key]:9.3f} {after[key]:9.3f}")
assert after["heldout_loss"] < before["heldout_loss"]

# %% [markdown]
# ## The general student is an ordinary transformers model
#
# It is saved as a BERT encoder folder, so `from_pretrained` loads it, with any head; the
# projection $W$ is saved beside it (`projections.pt`), because task distillation's first step
# continues from it (as the reference code does with its `fit_dense`).

# %%
encoder = BertModel.from_pretrained(info["path"])

# %%
same = all(torch.equal(w, distiller.student.bert.state_dict()[k]) for k, w in encoder.state_dict().items())
print(f"{sum(p.numel() for p in encoder.parameters()):,} parameters; identical to the trained student: {same}")
assert same

# %% [markdown]
# ## After distillation: the attention maps
#
# Compare with notebook 5, where the student was random. After general distillation the
# student's heads follow the teacher's patterns (the mass on [CLS], the diagonal); the cell
# below measures how closely for one head on one sentence (the mean squared difference of the
# two maps of attention probabilities).

# %%
from kd_teach.course.attention_view import AttentionExplorer

sentences = [tokenizer.decode(ids, skip_special_tokens=True) for ids in corpus.heldout[:12]["input_ids"]]
explorer = AttentionExplorer(teacher, distiller.student, tokenizer, sentences, g)
explorer

# %% [markdown]
# One choice of the explorer, drawn as a still picture (what the widget shows for it): the
# student's last layer against the teacher layer it learns from, as probabilities.

# %%
explorer.sentence.value = min(sentences, key=len)   # the shortest held-out chunk: a readable map
explorer.layer.value, explorer.head.value, explorer.view.value = len(g) - 1, 0, "probs"
print(f"student layer {explorer.layer.value} against teacher layer {g[-1]}, head 0: "
      f"L_attn on probabilities for this sentence = {explorer.loss:.4f}")
assert explorer.student_map.shape == explorer.teacher_map.shape == (len(explorer.tokens),) * 2
explorer.figure()

# %% [markdown]
# ## Online: start from Huawei's general TinyBERT
#
# With network access you can skip this stage and start task distillation from the published
# general TinyBERT (4 layers, width 312, distilled from BERT-base on Wikipedia):
#
# ```python
# from dataclasses import replace
# preset = get_preset("gpu-full")   # teacher bert-base-uncased, the student TinyBERT's shape
# preset = replace(preset, tinybert=replace(preset.tinybert, general_student="huawei-noah/TinyBERT_General_4L_312D"))
# ```
#
# It must share the teacher's vocabulary (bert-base-uncased's WordPiece, as ours does) and the
# teacher's 12 heads. Its projection was trained for BERT-base's width 768; `kd_teach` starts
# a fresh one.
#
# ## Next: exercise 06, then the quiz
#
# Practise what this chapter taught in [`exercises/06_general_distillation.ipynb`](../exercises/06_general_distillation.ipynb): each
# exercise ends with a checker that says what is wrong and how to fix it. Then check yourself
# with the quiz below.
#
# ## Check yourself

# %%
from kd_teach.course.quiz import show

show(chapter="06_general_distillation", n=5, seed=6)
