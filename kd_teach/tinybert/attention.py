"""What TinyBERT distils from inside a BERT: hidden states and pre-softmax attention scores.

transformers hands back hidden states (``output_hidden_states=True``) but only attention
*probabilities* (``output_attentions=True``, and with the default ``sdpa`` attention not even
those). TinyBERT's L_attn wants the scores before the softmax (Jiao et al. 2020, Eq. 7):

    A = Q K^T / sqrt(d_k)                        (batch, heads, seq, seq), per layer

We get them without touching the model: forward hooks on each chosen layer's query and key
projections keep Q and K as the model computes them, and A is one matmul away. The hooks
sit inside the autograd graph, so a student's scores carry gradients; they work with any
attention implementation (eager or sdpa), since Q and K are computed the same way in all.
The additive padding mask is *not* in A: :func:`kd_teach.tinybert.losses.L_attn` leaves
padded pairs out instead.
"""
from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from kd_teach.engine.models import model_inputs


def bert_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The transformer layers of a BERT (``BertModel`` or any ``Bert*`` model with a ``.bert``).

    Raises:
        ValueError: for a model that is not BERT-shaped (e.g. DistilBERT, whose layers are named otherwise).
    """
    encoder = getattr(getattr(model, "bert", model), "encoder", None)
    if encoder is None or not hasattr(encoder, "layer"):
        raise ValueError(f"model must be a BERT (BertModel or a Bert* model with .bert), got {type(model).__name__}")
    return encoder.layer


@contextmanager
def capture_attention_scores(model: torch.nn.Module, layers: Iterable[int]):
    """Collect the pre-softmax scores A = Q K^T / sqrt(d_k) of ``layers`` during the forward passes inside the block.

    Args:
        model: a BERT (see :func:`bert_layers`).
        layers: 1-based layer numbers (layer m is ``encoder.layer[m - 1]``, whose output is
            ``hidden_states[m]``).
    Yields:
        A dict, filled after each forward pass: layer m -> (batch, heads, seq, seq) scores.
    Raises:
        ValueError: for a layer number outside 1..number of layers.
    """
    blocks = bert_layers(model)
    layers = sorted(set(layers))
    if any(not 1 <= m <= len(blocks) for m in layers):
        raise ValueError(f"layers must be in 1..{len(blocks)} (the model's layers), got {layers}")
    scores: dict[int, Tensor] = {}
    qk: dict[tuple[int, str], Tensor] = {}
    handles = []

    def keep(m: int, which: str, self_attn):
        def hook(module, inputs, output):                         # output: (B, L, H * d_k)
            qk[(m, which)] = output
            if (m, "q") in qk and (m, "k") in qk:
                B, L, _ = output.shape
                h, d_k = self_attn.num_attention_heads, self_attn.attention_head_size
                q = qk.pop((m, "q")).view(B, L, h, d_k).transpose(1, 2)   # (B, H, L, d_k)
                k = qk.pop((m, "k")).view(B, L, h, d_k).transpose(1, 2)   # (B, H, L, d_k)
                scores[m] = q @ k.transpose(-1, -2) / d_k ** 0.5          # (B, H, L, L)  A = Q K^T / sqrt(d_k)
        return hook

    for m in layers:
        self_attn = blocks[m - 1].attention.self
        handles.append(self_attn.query.register_forward_hook(keep(m, "q", self_attn)))
        handles.append(self_attn.key.register_forward_hook(keep(m, "k", self_attn)))
    try:
        yield scores
    finally:
        for handle in handles:
            handle.remove()


@dataclass
class LayerOutputs:
    """A BERT's outputs for one batch, as TinyBERT's losses read them."""

    hidden_states: tuple[Tensor, ...]   # M + 1 tensors (batch, seq, hidden): [0] embeddings, [m] layer m's output
    scores: dict[int, Tensor]           # layer m -> (batch, heads, seq, seq) pre-softmax attention scores
    logits: Tensor | None               # (batch, classes), or None for an encoder without a head


def layer_outputs(model: torch.nn.Module, batch: dict, score_layers: Iterable[int] = ()) -> LayerOutputs:
    """Run ``model`` on ``batch`` and return its hidden states, the scores of ``score_layers`` and its logits.

    Args:
        model: a BERT (``BertModel`` or ``BertForSequenceClassification``).
        batch: ``input_ids``, ``attention_mask`` (and ``token_type_ids``), each (batch, seq).
        score_layers: 1-based layers whose attention scores to keep (none: no hooks).
    """
    with capture_attention_scores(model, score_layers) as scores:
        out = model(**model_inputs(model, batch), output_hidden_states=True)
    return LayerOutputs(tuple(out.hidden_states), dict(scores), getattr(out, "logits", None))
