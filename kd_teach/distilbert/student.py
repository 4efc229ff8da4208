"""DistilBERT's student: the teacher's width, one teacher layer in two (Sanh et al. 2019, Section 3).

:func:`init_distilbert_student` copies the teacher's embeddings, every other layer and its MLM
head into a ``DistilBertForMaskedLM`` (renaming BERT's weights into DistilBERT's:
:func:`distilbert_state_dict`); :func:`distilbert_classifier` then puts a fresh classification
head on the distilled encoder for the task. :func:`cut_bert_classifier` makes the same cut in BERT's own
classes, for a student that TinyBERT's losses (which read BERT's attention) will train.
"""
from __future__ import annotations

from typing import Sequence

import torch
from transformers import (BertConfig, BertForMaskedLM, BertForSequenceClassification, DistilBertConfig,
                          DistilBertForMaskedLM)

from kd_teach.engine.models import seeded


def default_student_layers(n_teacher_layers: int) -> list[int]:
    """Which teacher layers DistilBERT's student copies: one in two.

    For 12 layers, the reference's list [0, 2, 4, 7, 9, 11] (it keeps the last layer);
    otherwise 0, 2, 4, ... (for the 6-layer MiniLM: [0, 2, 4]).
    """
    if n_teacher_layers == 12:
        return [0, 2, 4, 7, 9, 11]
    return list(range(0, n_teacher_layers, 2))


def check_student_layers(layers: Sequence[int], n_teacher_layers: int) -> list[int]:
    """``layers`` as a list after checking it names distinct teacher layers in increasing order.

    Raises:
        ValueError: for an empty list, a non-integer, a repeat, a decreasing order or an index
            outside [0, n_teacher_layers); the message names the list and the teacher's depth.
    """
    layers = list(layers)
    ok = (len(layers) > 0 and all(isinstance(i, int) and not isinstance(i, bool) for i in layers)
          and all(0 <= i < n_teacher_layers for i in layers)
          and all(a < b for a, b in zip(layers, layers[1:])))
    if not ok:
        raise ValueError(
            f"layers must be increasing, distinct teacher layer indices in [0, {n_teacher_layers}) "
            f"(the teacher has {n_teacher_layers} layers), got {layers!r}"
        )
    return layers


def distilbert_config(teacher_config: BertConfig, n_layers: int) -> DistilBertConfig:
    """DistilBERT's config for a student of ``n_layers`` with the teacher's width and heads.

    Same hidden size, heads, FFN size, vocabulary, positions and dropout; no token types,
    no pooler (DistilBERT's classes have neither).
    """
    c = teacher_config
    return DistilBertConfig(
        vocab_size=c.vocab_size, max_position_embeddings=c.max_position_embeddings,
        n_layers=n_layers, n_heads=c.num_attention_heads, dim=c.hidden_size, hidden_dim=c.intermediate_size,
        dropout=c.hidden_dropout_prob, attention_dropout=c.attention_probs_dropout_prob,
        activation=c.hidden_act, initializer_range=c.initializer_range, pad_token_id=c.pad_token_id,
    )


# BERT layer weight name -> DistilBERT TransformerBlock weight name (the same computation).
BERT_TO_DISTILBERT_LAYER = {
    "attention.self.query": "attention.q_lin",
    "attention.self.key": "attention.k_lin",
    "attention.self.value": "attention.v_lin",
    "attention.output.dense": "attention.out_lin",
    "attention.output.LayerNorm": "sa_layer_norm",
    "intermediate.dense": "ffn.lin1",
    "output.dense": "ffn.lin2",
    "output.LayerNorm": "output_layer_norm",
}
# BERT's MLM head -> DistilBERT's (dense -> activation -> LayerNorm -> decoder tied to the embeddings).
BERT_TO_DISTILBERT_HEAD = {
    "cls.predictions.transform.dense": "vocab_transform",
    "cls.predictions.transform.LayerNorm": "vocab_layer_norm",
}


def distilbert_state_dict(teacher_state: dict[str, torch.Tensor], layers: Sequence[int]) -> dict[str, torch.Tensor]:
    """Rename a ``BertForMaskedLM`` state dict into a ``DistilBertForMaskedLM`` one, keeping ``layers``.

    Teacher layer ``layers[k]`` becomes student layer ``k``. BERT adds a token-type embedding
    to every token; DistilBERT has none, so the reference simply drops it and the student's
    first layer sees slightly different inputs. Here segment 0's embedding is added to every
    position embedding instead: for one-segment inputs (SST-2, the corpus) the student's
    embeddings then equal the teacher's exactly.
    """
    t, out = teacher_state, {}
    emb = "bert.embeddings."
    out["distilbert.embeddings.word_embeddings.weight"] = t[emb + "word_embeddings.weight"]
    out["distilbert.embeddings.position_embeddings.weight"] = (        # E_pos + E_type[0]
        t[emb + "position_embeddings.weight"] + t[emb + "token_type_embeddings.weight"][0])
    for p in ("weight", "bias"):
        out[f"distilbert.embeddings.LayerNorm.{p}"] = t[emb + f"LayerNorm.{p}"]
    for k, i in enumerate(layers):                                    # student layer k <- teacher layer i
        for bert_name, distil_name in BERT_TO_DISTILBERT_LAYER.items():
            for p in ("weight", "bias"):
                out[f"distilbert.transformer.layer.{k}.{distil_name}.{p}"] = t[f"bert.encoder.layer.{i}.{bert_name}.{p}"]
    for bert_name, distil_name in BERT_TO_DISTILBERT_HEAD.items():
        for p in ("weight", "bias"):
            out[f"{distil_name}.{p}"] = t[f"{bert_name}.{p}"]
    out["vocab_projector.weight"] = out["distilbert.embeddings.word_embeddings.weight"]  # tied
    out["vocab_projector.bias"] = t["cls.predictions.bias"]
    return {k: v.detach().clone() for k, v in out.items()}


def init_distilbert_student(teacher: BertForMaskedLM, layers: Sequence[int] | None = None) -> DistilBertForMaskedLM:
    """DistilBERT's student: the teacher's embeddings, one teacher layer in two and its MLM head.

    Sanh et al. (2019), Section 3: "we initialize the student from the teacher by taking one
    layer out of two". Hidden size and heads stay the teacher's, so L_cos can compare hidden
    states directly.

    Args:
        teacher: a ``BertForMaskedLM`` (its head trained: see :func:`load_mlm_teacher`).
        layers: teacher layers to copy, in order (default :func:`default_student_layers`).
    Returns:
        ``DistilBertForMaskedLM`` with ``len(layers)`` layers, in train mode.
    Raises:
        ValueError: if ``layers`` does not fit the teacher (:func:`check_student_layers`), or
            the teacher is not a BERT masked-LM.
    """
    if not isinstance(teacher, BertForMaskedLM):
        raise ValueError(f"teacher must be a BertForMaskedLM, got {type(teacher).__name__}")
    n = teacher.config.num_hidden_layers
    layers = check_student_layers(default_student_layers(n) if layers is None else layers, n)
    student = DistilBertForMaskedLM(distilbert_config(teacher.config, len(layers)))
    student.load_state_dict(distilbert_state_dict(teacher.state_dict(), layers), strict=True)
    student.tie_weights()
    student.config.kd_teacher_layers = layers  # saved with the model: where each layer came from
    return student.train()


def random_distilbert_student(teacher_config: BertConfig, n_layers: int, seed: int = 0) -> DistilBertForMaskedLM:
    """DistilBERT's student shape (the teacher's width and heads, ``n_layers`` layers) with random weights.

    The ablation of Sanh et al. (2019), Table 4, "random weights initialization": everything as
    :func:`init_distilbert_student` gives it except the weights, drawn from ``seed`` (the global
    random state is left as it was). ``config.kd_teacher_layers`` is None: no layer came from the teacher.

    Raises:
        ValueError: if ``n_layers`` < 1.
    """
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {n_layers}")
    with seeded(seed):
        student = DistilBertForMaskedLM(distilbert_config(teacher_config, n_layers))
    student.config.kd_teacher_layers = None
    return student.train()


def cut_bert_classifier(teacher: BertForSequenceClassification, layers: Sequence[int], seed: int = 0
                        ) -> BertForSequenceClassification:
    """DistilBERT's initialisation kept in BERT's classes: the teacher's embeddings, ``layers`` and pooler,
    and a new classification head drawn from ``seed``.

    A student TinyBERT's task distillation can continue from (its hooks read BERT's attention), with the
    teacher's width and heads. Layer ``layers[k]`` becomes layer ``k``; ``config.kd_teacher_layers``
    records them.

    Raises:
        ValueError: if ``layers`` does not fit the teacher (:func:`check_student_layers`), or the teacher is
            not a ``BertForSequenceClassification``.
    """
    if not isinstance(teacher, BertForSequenceClassification):
        raise ValueError(f"teacher must be a BertForSequenceClassification, got {type(teacher).__name__}")
    layers = check_student_layers(layers, teacher.config.num_hidden_layers)
    config = BertConfig.from_dict({**teacher.config.to_dict(), "num_hidden_layers": len(layers)})
    with seeded(seed):
        student = BertForSequenceClassification(config)
    rename = {"bert.embeddings.": "bert.embeddings.", "bert.pooler.": "bert.pooler."} | {
        f"bert.encoder.layer.{i}.": f"bert.encoder.layer.{k}." for k, i in enumerate(layers)}  # teacher i -> k
    state = {}
    for name, value in teacher.state_dict().items():
        prefix = next((p for p in rename if name.startswith(p)), None)
        if prefix is not None:
            state[rename[prefix] + name[len(prefix):]] = value.detach().clone()
    missing, unexpected = student.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith("classifier.") for k in missing), (missing, unexpected)
    student.config.kd_teacher_layers = layers
    return student.train()


def distilbert_classifier(student: DistilBertForMaskedLM, num_labels: int = 2, seed: int = 0
                          ) -> torch.nn.Module:
    """A ``DistilBertForSequenceClassification`` with ``student``'s encoder and a new, seeded head.

    The MLM head is dropped; DistilBERT classifies from the [CLS] position through a
    pre-classifier layer and a classifier, both freshly initialised.
    """
    from transformers import DistilBertForSequenceClassification

    config = DistilBertConfig.from_dict({**student.config.to_dict(), "num_labels": num_labels})
    with seeded(seed):
        model = DistilBertForSequenceClassification(config)
    encoder = {k: v for k, v in student.state_dict().items() if k.startswith("distilbert.")}
    missing, unexpected = model.load_state_dict(encoder, strict=False)
    assert not unexpected and all(k.startswith(("pre_classifier.", "classifier.")) for k in missing), missing
    return model
