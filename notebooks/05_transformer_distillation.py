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
# # 5. TinyBERT: distilling what happens inside the teacher
#
# Hinton's loss (notebook 2) and DistilBERT's (notebook 4) teach the student from the
# teacher's *outputs*: its probabilities, and for DistilBERT its last hidden states. TinyBERT
# (Jiao et al., "TinyBERT: Distilling BERT for Natural Language Understanding", 2020) makes
# three contributions:
#
# 1. **Transformer distillation**: the student also learns the teacher's embeddings, the
#    output of its layers and its attention matrices, layer by layer (this notebook);
# 2. **two-stage learning**: general distillation on a large corpus, then task-specific
#    distillation on the task (notebooks 6 and 7);
# 3. **data augmentation** of the task data (notebook 7).
#
# A TinyBERT student can be *narrower* than its teacher (TinyBERT4: width 312 against
# BERT-base's 768), so its states are carried into the teacher's space by learnable matrices
# before they are compared. Student layer $m$ learns from teacher layer $n = g(m)$:
#
# | layer | loss | equation |
# |---|---|---|
# | embeddings ($m = 0$, $g(0) = 0$) | $L_{embd} = \mathrm{MSE}(E^S W_e,\ E^T)$ | Eq. 9 |
# | transformer layer $m$ | $L_{hidn} = \mathrm{MSE}(H^S_m W_h,\ H^T_{g(m)})$ | Eq. 8 |
# | its attention, $h$ heads | $L_{attn} = \frac{1}{h}\sum_{i=1}^{h} \mathrm{MSE}(A^S_{i},\ A^T_{i})$ | Eq. 7 |
# | prediction layer | $L_{pred} = \mathrm{CE}(z^T / t,\ z^S / t)$ | Eq. 10 |
#
# where $A = QK^\top / \sqrt{d_k}$ are the attention **scores before the softmax**. Every loss
# below comes from `kd_teach.tinybert.losses`; we check each against a direct computation.

# %%
# %matplotlib inline
import os

import torch
import torch.nn.functional as F
from transformers import AutoModel

from kd_teach.engine.cache import finetuned_teacher
from kd_teach.engine.data import SST2Data
from kd_teach.engine.models import load_tokenizer, resolve_teacher
from kd_teach.engine.presets import get_preset
from kd_teach.tinybert.attention import layer_outputs
from kd_teach.tinybert.losses import L_attn, L_embd, L_hidn, L_pred, scores_to_probs
from kd_teach.tinybert.mapping import describe_mapping, draw_mapping, layer_mapping
from kd_teach.tinybert.stages import new_distiller

torch.set_printoptions(precision=4, sci_mode=False)

# %% [markdown]
# `PRESET` sets the scale: `smoke`, the default and what the test suite runs, has a student of
# width 96 and a teacher fine-tuned on a few hundred sentences; `cpu`, what the stored outputs
# show (`make notebooks PRESET=cpu`), the cpu preset's student (3 layers, width 312, 12 heads)
# and its teacher. Nothing is trained here: either takes well under a minute once the teacher
# is cached.

# %% tags=["parameters"]
PRESET = os.environ.get("KD_TEACH_PRESET", "smoke")

# %%
from kd_teach.engine.report import run_label

preset = get_preset(PRESET)
print(run_label(preset.name))   # what every output below was made with
tokenizer = load_tokenizer(preset.teacher)
data = SST2Data(tokenizer, preset.train_size, preset.dev_size, preset.max_length)
teacher, _ = finetuned_teacher(preset, data)          # task-specific distillation's teacher (notebook 2)
distiller = new_distiller(teacher.config, preset.tinybert, seed=0)  # a random student and its W_e, W_h
student = distiller.student
t_cfg, s_cfg = teacher.config, student.config
print(f"teacher: {t_cfg.num_hidden_layers} layers, width d_T = {t_cfg.hidden_size}, {t_cfg.num_attention_heads} heads")
print(f"student: {s_cfg.num_hidden_layers} layers, width d_S = {s_cfg.hidden_size}, {s_cfg.num_attention_heads} heads")

# %% [markdown]
# ## 1. Shapes first: the 10-token example
#
# Take a sentence of 10 tokens, a student of width 128 and a teacher of width 768 (the
# numbers the paper's readers usually meet; random values here, for the shapes only). The
# student's embeddings $E^S$ are (10, 128); multiplied on the right by $W_e$ (128, 768) they
# become (10, 768), the shape of the teacher's $E^T$, and only then can an MSE compare them.
# $W_e$ is learned with the student and thrown away afterwards.

# %%
# NBVAL_CHECK_OUTPUT
E_S, W_e, E_T = torch.randn(10, 128), torch.randn(128, 768), torch.randn(10, 768)   # illustrative
print(f"E_S {tuple(E_S.shape)} @ W_e {tuple(W_e.shape)} = {tuple((E_S @ W_e).shape)}   vs   E_T {tuple(E_T.shape)}")
print(f"W_e holds {W_e.numel():,} learnable numbers")
assert (E_S @ W_e).shape == E_T.shape
assert torch.allclose(L_embd(E_S[None], E_T[None], W_e), F.mse_loss(E_S @ W_e, E_T))

# %% [markdown]
# > **Claim vs the paper: "$W_e E^S$".** Some write the projection on the left. With one row
# > per token, as the paper's $E^S \in \mathbb{R}^{l \times d'}$ and as every framework stores
# > them, $W_e$ must be on the right: $E^S W_e$ (Eq. 9). On the left the shapes do not fit:
# > $W_e$ is (128, 768) and $E^S$ (10, 128).
#
# > **Claim vs the paper: "$L_{embd}$ transfers the meaning of words in context".** The embedding
# > layer's output is **context-free**: a token's embedding is its word vector plus its position
# > (and segment) vector, normalised, the same whatever the other words are. Context enters only in
# > the Transformer layers, which $L_{hidn}$ and $L_{attn}$ distil (Eqs. 7-8). $L_{embd}$ (Eq. 9)
# > aligns the two embedding tables, through $W_e$.

# %%
# NBVAL_CHECK_OUTPUT
try:
    W_e @ E_S                                     # (128, 768) @ (10, 128): the inner sizes differ
except RuntimeError as e:
    print("W_e @ E_S fails:", str(e).split("(")[0].strip())
else:
    raise AssertionError("W_e @ E_S should not fit")

# %% [markdown]
# Our pair, on a real batch of SST-2 sentences. `hidden_states[0]` is the embedding layer's
# output, `hidden_states[m]` the output of layer $m$; the attention scores come from hooks on
# each layer's query and key projections (`kd_teach.tinybert.attention`), because transformers hands
# back only probabilities. One shared $W$ serves the embeddings and every layer, as in the
# reference code (`share_projection=False` gives $W_e$ and one $W_h$ per layer, the paper's
# notation).

# %%
g = layer_mapping(s_cfg.num_hidden_layers, t_cfg.num_hidden_layers, preset.tinybert.mapping)
batch = dict(tokenizer(data.dev_sentences[:8], padding=True, return_tensors="pt"))
am = batch["attention_mask"]                                                   # (B, L)
with torch.no_grad():
    t_out = layer_outputs(teacher.eval(), batch, g[1:])                       # teacher layers g(1..M)
    s_out = layer_outputs(student.eval(), batch, range(1, len(g)))             # student layers 1..M
W = distiller.projections
B, L = am.shape
print(f"g = {g}: student layer m learns from teacher layer g(m)")
print(f"E_S {tuple(s_out.hidden_states[0].shape)} @ W_e {tuple(W[0].shape)} vs E_T {tuple(t_out.hidden_states[0].shape)}")
for m in range(1, len(g)):
    print(f"layer {m}: H_S {tuple(s_out.hidden_states[m].shape)} vs H_T (teacher layer {g[m]}) "
          f"{tuple(t_out.hidden_states[g[m]].shape)}; A_S {tuple(s_out.scores[m].shape)} vs A_T {tuple(t_out.scores[g[m]].shape)}")
assert s_out.scores[1].shape == t_out.scores[g[1]].shape == (B, s_cfg.num_attention_heads, L, L)

# %% [markdown]
# ## 2. The four losses, by hand and through `kd_teach`
#
# Padding must not count: a padded position holds whatever the model computed for a [PAD]
# token. `kd_teach` takes every MSE over the real entries only: real positions for
# $L_{embd}$ and $L_{hidn}$, pairs of two real tokens for $L_{attn}$. (The reference code
# takes each MSE over the whole padded tensor; for $L_{attn}$ it first zeroes every score at
# or below -100, where its additive mask put the padded keys, so those pairs add 0, but padded
# queries and padded hidden states still count.) By hand, we select the real rows first.

# %%
real = am.bool()                                                               # (B, L)
pairs = (real[:, :, None] & real[:, None, :])[:, None].expand_as(s_out.scores[1])   # (B, H, L, L)
with torch.no_grad():
    ours = {"L_embd": L_embd(s_out.hidden_states[0], t_out.hidden_states[0], W[0], am)}
    hand = {"L_embd": F.mse_loss(s_out.hidden_states[0][real] @ W[0], t_out.hidden_states[0][real])}
    for m in range(1, len(g)):
        H_S, H_T = s_out.hidden_states[m], t_out.hidden_states[g[m]]
        ours[f"L_hidn[{m}]"] = L_hidn(H_S, H_T, W[m], am)
        hand[f"L_hidn[{m}]"] = F.mse_loss(H_S[real] @ W[m], H_T[real])
        ours[f"L_attn[{m}]"] = L_attn(s_out.scores[m], t_out.scores[g[m]], am)
        hand[f"L_attn[{m}]"] = F.mse_loss(s_out.scores[m][pairs], t_out.scores[g[m]][pairs])
    ours["L_pred"] = L_pred(s_out.logits, t_out.logits, t=1.0)
    hand["L_pred"] = F.cross_entropy(s_out.logits, F.softmax(t_out.logits, -1))   # soft targets, t = 1
for name in ours:
    print(f"{name:>10}: kd_teach {ours[name].item():9.4f}   by hand {hand[name].item():9.4f}")
    assert torch.allclose(ours[name], hand[name], rtol=1e-5, atol=1e-6), name

# %% [markdown]
# The untrained student is far from the teacher everywhere; the attention scores, which can
# reach tens in magnitude, give the largest term. Note what $L_{pred}$ is *not*: it has no
# $T^2$ (TinyBERT uses $t = 1$ in its prediction step, where it makes no difference), and it
# is a cross-entropy, not a KL, so its minimum is the teacher's entropy rather than 0.

# %% [markdown]
# ## 3. Why scores, not probabilities?
#
# The softmax forgets anything added to a whole row of scores: $\mathrm{softmax}(a + c) =
# \mathrm{softmax}(a)$. The paper distils the scores before the softmax and reports faster
# convergence and better results than with probabilities. First, check that the scores our
# hooks capture are the model's: softmax over the real keys gives exactly the attention
# probabilities transformers returns with `output_attentions=True` (which needs the "eager"
# attention implementation).

# %%
eager = AutoModel.from_pretrained(resolve_teacher(preset.teacher), attn_implementation="eager").eval()

# %%
with torch.no_grad():
    probs = eager(**batch, output_attentions=True).attentions                  # layers x (B, H, L, L)
    raw = layer_outputs(eager, batch, [1]).scores[1]                           # (B, H, L, L) pre-softmax
gap = (scores_to_probs(raw, am) - probs[0]).abs().max().item()
assert gap < 1e-5                 # the size of the gap is rounding noise, and differs between CPUs: not printed
print("softmax(our scores) equals the model's attention probabilities (largest difference below 1e-5)")
print(f"scores of layer 1 range from {raw[pairs].min():.1f} to {raw[pairs].max():.1f}: negative scores are real")

# %%
# NBVAL_CHECK_OUTPUT
shifted = s_out.scores[1] + 3.0                                                 # every row moved by +3
on_probs = L_attn(scores_to_probs(shifted, am), scores_to_probs(s_out.scores[1], am), am, on="probs")
on_scores = L_attn(shifted, s_out.scores[1], am)
assert on_probs < 1e-10                    # zero up to rounding noise (whose size differs between CPUs)
assert abs(on_scores - 9.0) < 1e-4                                              # (3)^2: the scores see it
print(f"L_attn on probabilities: below 1e-10 (zero but for rounding)   on scores: {on_scores:.2f}")

# %% [markdown]
# ## 4. Teacher and student attention, side by side
#
# Choose a sentence, a student layer $m$ (shown against teacher layer $g(m)$), a head, and
# scores or probabilities. Rows are queries (the token looking), columns keys (the token
# looked at). The student here is untrained: its maps are noise around the diagonal. Run
# notebook 6 to see them after general distillation.

# %%
from kd_teach.course.attention_view import AttentionExplorer

explorer = AttentionExplorer(teacher, student, tokenizer, data.dev_sentences[:20], g)
explorer

# %%
explorer.layer.value, explorer.head.value, explorer.view.value = len(g) - 1, 3, "probs"
row_sums = explorer.teacher_map.sum(-1)
assert torch.allclose(row_sums, torch.ones_like(row_sums), atol=1e-5)          # each query's probabilities sum to 1
expected = L_attn(explorer.student_map[None, None], explorer.teacher_map[None, None], on="probs").item()
assert abs(explorer.loss - expected) < 1e-9 and "head 3" in explorer.text.value

# %% [markdown]
# ## 5. Where does the attention go? The [SEP] (and [CLS]) pattern
#
# Clark et al. ("What Does BERT Look At?", 2019) found that many heads of BERT-base put most
# of their attention on [SEP], a token present in every input, and read it as a "no-op": a
# head with nothing useful to attend to parks its mass there. TinyBERT's student is asked to
# copy these patterns too. Here is the share of attention on [SEP] and on [CLS], per layer,
# averaged over heads and over the real tokens of 200 dev sentences, against what a uniform
# head would give one token.

# %%
from kd_teach.course.attention_view import special_token_share

share = special_token_share(eager, tokenizer, data.dev_sentences[:200])
print(f"{'layer':>5}  {'[SEP]':>6}  {'[CLS]':>6}   (uniform: {share['uniform']:.3f} per token)")
for m in range(len(share["[SEP]"])):
    print(f"{m + 1:>5}  {share['[SEP]'][m].mean():6.3f}  {share['[CLS]'][m].mean():6.3f}")
print(f"heads with more than half their mass on [CLS]: {int((share['[CLS]'] > 0.5).sum())} of {share['[CLS]'].numel()}")

# %%
assert share["[CLS]"][1:].mean() > 3 * share["uniform"]                        # far above an even spread

# %% [markdown]
# Our teacher, all-MiniLM-L6-v2, parks its attention on **[CLS]** rather than [SEP]: from
# layer 2 on, about half of the mass goes there, several times a uniform head's share, while
# [SEP] gets little more than its share. This model was itself distilled (MiniLM) and then
# trained to produce sentence embeddings, which may explain the move; the "sink" is the same
# phenomenon on another token. With `bert-base-uncased` (online) you should see Clark et al.'s
# [SEP] pattern in the middle layers. Either way, $L_{attn}$ makes the student copy it.
#
# ## 6. Layer mapping, $n = g(m)$
#
# The student has fewer layers, so each student layer learns from one teacher layer. The
# embedding layer maps to the embedding layer ($g(0) = 0$) and the prediction layer to the
# prediction layer; in between, TinyBERT's default is **uniform**, $g(m) = m \cdot N / M$
# (a 4-layer student of BERT-base learns from layers 3, 6, 9 and 12). The paper also tried
# the teacher's **top** and **bottom** layers, and found uniform best (Section 4.5).

# %%
print(describe_mapping(g, t_cfg.num_hidden_layers))
draw_mapping(g, t_cfg.num_hidden_layers, title=f"{PRESET} preset: uniform")

# %%
from matplotlib.figure import Figure

fig = Figure(figsize=(12, 5.2), layout="constrained")
for ax, strategy in zip(fig.subplots(1, 3), ("uniform", "top", "bottom")):
    draw_mapping(layer_mapping(4, 12, strategy), 12, ax=ax, title=f"TinyBERT4 from BERT-base: {strategy}")
fig

# %%
# NBVAL_CHECK_OUTPUT
assert layer_mapping(4, 12) == [0, 3, 6, 9, 12]
assert layer_mapping(4, 12, "top") == [0, 9, 10, 11, 12] and layer_mapping(4, 12, "bottom") == [0, 1, 2, 3, 4]
try:
    layer_mapping(4, 6)                                  # 6 / 4 is not a whole number of layers
except ValueError as err:
    print(f"ValueError: {err}")
    assert "not uniform" in str(err) and "[2, 3, 5, 6]" in str(err)

# %% [markdown]
# A mapping that does not fit is an error with a suggestion, not a crash deep in training (the
# reference code assumed $N$ divisible by $M$). The same goes for heads: $L_{attn}$ compares
# heads one to one, so the student keeps the teacher's 12 heads even at width 96 or 312
# (heads of size 8 or 26), and `kd_teach` refuses a student with another head count.

# %% [markdown]
# ## Try it: pick a mapping
#
# Choose the student's depth $M$, the teacher's depth $N$ and a strategy, or type your own
# list of teacher layers. The drawing shows which teacher layer each student layer learns
# from, for its hidden states and its attention; the embeddings always learn from the
# embeddings ($0 \to 0$) and the prediction layer from the prediction layer. The picker
# starts at this notebook's pair. Predict first, then try: a 4-layer student of our 6-layer
# teacher with "uniform"; then "custom" with `2, 3, 5, 6`; then `3, 2, 5, 6`. Which are
# refused, and what does the message suggest?

# %% tags=["widget"]
from kd_teach.course.mapping_picker import MappingPicker

ours = preset.tinybert.mapping                           # "uniform", "top", "bottom" or a list of layers
mapping_picker = MappingPicker(s_cfg.num_hidden_layers, t_cfg.num_hidden_layers,
                               ours if isinstance(ours, str) else "custom",
                               custom="" if isinstance(ours, str) else ", ".join(map(str, ours)))
mapping_picker

# %% [markdown]
# Driven from code, the picker answers what `layer_mapping` answers, and a misfit shows
# `layer_mapping`'s own error message.

# %% tags=["widget"]
assert mapping_picker.g == g and mapping_picker.error is None          # this notebook's mapping
mapping_picker.student_layers.value, mapping_picker.teacher_layers.value = 4, 6
mapping_picker.strategy.value = "uniform"
try:
    layer_mapping(4, 6, "uniform")
    raise AssertionError("a uniform mapping of 4 student layers onto 6 teacher layers should be refused")
except ValueError as refusal:
    assert mapping_picker.g is None and mapping_picker.error == str(refusal)
    assert str(refusal) in mapping_picker.message                                    # what the learner reads
mapping_picker.strategy.value, mapping_picker.custom.value = "custom", "2, 3, 5, 6"
assert mapping_picker.g == layer_mapping(4, 6, [2, 3, 5, 6]) == [0, 2, 3, 5, 6]
mapping_picker.student_layers.value = s_cfg.num_hidden_layers                 # back to this notebook's pair
mapping_picker.custom.value = "" if isinstance(ours, str) else ", ".join(map(str, ours))
mapping_picker.strategy.value = ours if isinstance(ours, str) else "custom"
assert mapping_picker.g == g

# %% [markdown]
# ## Next: exercise 05, then the quiz
#
# Practise what this chapter taught in [`exercises/05_transformer_distillation.ipynb`](../exercises/05_transformer_distillation.ipynb): each
# exercise ends with a checker that says what is wrong and how to fix it. Then check yourself
# with the quiz below.
#
# ## Check yourself

# %%
from kd_teach.course.quiz import show

show(chapter="05_transformer_distillation", n=5, seed=5)
