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
# # Exercises 3: teacher and student
#
# These exercises go with the notebook `03_teacher_student`. You count BERT's parameters by
# hand, rename a teacher's weights into DistilBERT's student as `init_distilbert_student` does,
# and predict how much of the course's teacher a 3-layer student keeps.
#
# As before: write each function's body, run its cell, read the checker's verdict. The
# notebook stops at the first exercise still to do.

# %%
import torch
import transformers

from kd_teach.course.checks import check_guess
from kd_teach.course.checks.students import check_bert_parameter_count, check_student_weight_name
from kd_teach.distilbert.student import BERT_TO_DISTILBERT_LAYER, init_distilbert_student
from kd_teach.engine.models import count_parameters, load_mlm_teacher

transformers.logging.set_verbosity_error()

# %% [markdown]
# ## Exercise 1: BERT's parameters, by formula
#
# Count the parameters of a `BertModel` (with its pooler, as BERT's authors count it) from its
# shape alone. Every `Linear(n_in, n_out)` layer has a weight of n_in x n_out numbers **and a
# bias** of n_out; every `LayerNorm` has a weight and a bias of `hidden` numbers each.
#
# - **Embeddings**: one vector of size `hidden` for each of the `vocab` tokens, each of the
#   `max_positions` positions and each of the `type_vocab` token types (segments), then a
#   LayerNorm.
# - **Each of the `layers` layers**: attention's four projections, queries, keys, values and
#   output, each `hidden` -> `hidden` (the heads share them out: 12 heads of 64 make 768);
#   a LayerNorm; the feed-forward network `hidden` -> `ffn` -> `hidden`; a LayerNorm.
# - **Pooler**: one `hidden` -> `hidden` layer on the [CLS] vector.
#
# The checker compares your formula with torch's own count of real configs: BERT-base,
# all-MiniLM-L6-v2, TinyBERT4, a tiny BERT and BERT-large.

# %%
def bert_parameter_count(vocab: int, hidden: int, layers: int, ffn: int, max_positions: int, type_vocab: int) -> int:
    """Number of parameters of BertModel (embeddings, `layers` Transformer layers, pooler)."""
    raise NotImplementedError("write the body of bert_parameter_count here")


check_bert_parameter_count(bert_parameter_count)
print(f"BERT-base: {bert_parameter_count(30522, 768, 12, 3072, 512, 2):,} parameters")

# %% [markdown]
# ## Exercise 2: where does a teacher weight go?
#
# DistilBERT's student keeps the teacher layers listed in `layers` (increasing), and teacher
# layer `layers[k]` becomes student layer `k`. The eight parts of a layer are renamed as
# `BERT_TO_DISTILBERT_LAYER` says (for example `attention.self.query` -> `attention.q_lin`),
# and a `.weight` stays a `.weight`, a `.bias` a `.bias`.
#
# Write `student_weight_name(bert_name, layers)`: for a name such as
# `"bert.encoder.layer.2.attention.self.query.weight"` and `layers = [0, 2, 4]`, return
# `"distilbert.transformer.layer.1.attention.q_lin.weight"`; return `None` when the student
# does not keep that teacher layer. The checker runs every weight of teachers of 4, 6 and 12
# layers through your function and through the package's `distilbert_state_dict`.

# %%
print(BERT_TO_DISTILBERT_LAYER)


def student_weight_name(bert_name: str, layers: list[int]) -> str | None:
    """DistilBERT's name for the teacher weight `bert_name` (a layer's weight or bias), or None if dropped."""
    raise NotImplementedError("write the body of student_weight_name here")


check_student_weight_name(student_weight_name)

# %% [markdown]
# ## Exercise 3: predict, then run
#
# The course's teacher, all-MiniLM-L6-v2 loaded as a masked LM, has 22.7M parameters: 6 layers
# of hidden size 384 (FFN 1536) and BERT's vocabulary of 30,522 tokens. Its DistilBERT-style
# student keeps 3 of the 6 layers and drops the token-type embeddings.
#
# **Predict** the student's share of the teacher's parameters (a number between 0 and 1),
# before running the cell after it. Is it about one half? Use your `bert_parameter_count`, or
# reason about where the parameters are.

# %%
raise NotImplementedError("write share = (your prediction of the student's share of the teacher's parameters) here")

# %%
# NBVAL_IGNORE_OUTPUT
torch.manual_seed(0)
teacher = load_mlm_teacher()
student = init_distilbert_student(teacher)
actual = count_parameters(student) / count_parameters(teacher)
check_guess(share, actual, what="the 3-layer student's share of the teacher's parameters", tolerance=0.03,
            why="The word embeddings (30,522 x 384 = 11.7M) are copied whole: with a narrow teacher they "
                "outweigh the layers, so halving the depth keeps about three quarters of the parameters.")
