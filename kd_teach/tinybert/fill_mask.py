"""Masked-LM logits at one masked position per row, computing only what those logits depend on.

TinyBERT's augmentation asks a masked LM for the likeliest words at one blank per sentence
copy. A plain forward pass computes every layer at every position and the vocabulary-sized
head wherever it is asked; but the answer at the blank depends on less:

- layers 1 .. M-1 at **every** position (each position's output is context for the blank);
- the last layer at the **blank only**: it needs the keys and values of every position,
  but its query, attention output and feed-forward block only at the blank, since every
  other output of the last layer would be thrown away (about 14% of a 6-layer encoder);
- the head's decoder only over the **vocabulary rows wanted** (e.g. whole words, 22,501 of
  BERT's 30,522 rows).

The last layer is written out here with the layer's own modules, so it computes what
``BertLayer`` computes (Vaswani et al. 2017, Eq. 1), restricted to one query row:

    Attention(q, K, V) = softmax(q K^T / sqrt(d_k) + mask) V

A test checks the logits against the full model's at the blanks, padding included. The
shortcut calls ``BertLayer``'s parts as transformers 5 lays them out; if a transformers release
changes them, :func:`shortcut_works` notices on the first call (the shortcut and the plain
forward pass disagree, or the shortcut fails) and the plain pass is used instead, with a warning.
"""
from __future__ import annotations

import warnings

import torch
from torch import Tensor
from transformers import BertForMaskedLM


def _last_layer_at(layer: torch.nn.Module, h: Tensor, additive_mask: Tensor, pos: Tensor) -> Tensor:
    """One ``BertLayer`` on inputs ``h`` (B, L, D), output at position ``pos[b]`` of each row only -> (B, D)."""
    sa = layer.attention.self
    B, L, _ = h.shape
    H, d_k = sa.num_attention_heads, sa.attention_head_size
    x = h[torch.arange(B), pos]                                          # (B, D) the blanks' inputs
    q = sa.query(x).view(B, H, 1, d_k)                                   # (B, H, 1, d_k) one query per row
    k = sa.key(h).view(B, L, H, d_k).transpose(1, 2)                     # (B, H, L, d_k) every key
    v = sa.value(h).view(B, L, H, d_k).transpose(1, 2)                   # (B, H, L, d_k) every value
    a = (q @ k.transpose(-1, -2) / d_k ** 0.5 + additive_mask).softmax(-1)  # (B, H, 1, L) softmax(q K^T/sqrt(d_k) + mask)
    context = (a @ v).reshape(B, H * d_k)                                # (B, D) heads concatenated
    y = layer.attention.output(context, x)                               # (B, D) LayerNorm(x + W_o context)
    return layer.output(layer.intermediate(y), y)                        # (B, D) LayerNorm(y + FFN(y))


def decoder_rows(model: BertForMaskedLM, vocab_ids: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The MLM head's decoder restricted to ``vocab_ids``: weight (V', D) and bias (V',); all rows if None.

    Taken once, on the model's device, and passed to :func:`decode` (gathering the rows costs
    as much as using them).
    """
    W, b = model.cls.predictions.decoder.weight.detach(), model.cls.predictions.decoder.bias.detach()  # (V, D), (V,)
    return (W, b) if vocab_ids is None else (W[vocab_ids].contiguous(), b[vocab_ids].contiguous())


def _shortcut_features(model: BertForMaskedLM, input_ids: Tensor, attention_mask: Tensor, positions: Tensor) -> Tensor:
    """Layers 1 .. M-1 everywhere, the last layer and the head's transform at the blanks: (B, D)."""
    *layers, last = model.bert.encoder.layer
    h = model.bert.embeddings(input_ids=input_ids)                       # (B, L, D)
    # additive mask: 0 for real keys, the dtype's minimum for padded ones, (B, 1, 1, L)
    additive_mask = (1.0 - attention_mask[:, None, None, :].to(h.dtype)) * torch.finfo(h.dtype).min
    for layer in layers:                                                 # layers 1 .. M-1, every position
        out = layer(h, additive_mask)
        h = out[0] if isinstance(out, tuple) else out                    # (B, L, D)
    x = _last_layer_at(last, h, additive_mask, positions)                # (B, D) layer M, at the blanks
    return model.cls.predictions.transform(x)                            # (B, D) dense, activation, LayerNorm


def _plain_features(model: BertForMaskedLM, input_ids: Tensor, attention_mask: Tensor, positions: Tensor) -> Tensor:
    """The plain forward pass: every layer at every position, then the head's transform at the blanks: (B, D)."""
    h = model.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, L, D)
    return model.cls.predictions.transform(h[torch.arange(len(positions)), positions])    # (B, D)


_SHORTCUT_WORKS: dict[tuple, bool] = {}  # (model class, attention implementation) -> verdict


@torch.inference_mode()
def shortcut_works(model: BertForMaskedLM) -> bool:
    """Whether the shortcut computes what the plain forward pass does for this kind of model.

    Checked once per model class and attention implementation, on a small padded batch with
    the model's own weights; a failure or a difference (beyond 1e-4) means transformers' layer
    internals are not the ones the shortcut was written for: a warning, and False.
    """
    key = (type(model), getattr(model.config, "_attn_implementation", None))
    if key not in _SHORTCUT_WORKS:
        device = next(model.parameters()).device
        ids = torch.tensor([[101, 2023, 103, 2003, 2204, 102], [101, 103, 2919, 102, 0, 0]], device=device)
        ids = ids % model.config.vocab_size
        mask, pos = (ids != 0).long(), torch.tensor([2, 1], device=device)
        try:
            fast, plain = _shortcut_features(model, ids, mask, pos), _plain_features(model, ids, mask, pos)
            works = fast.shape == plain.shape and bool(torch.allclose(fast, plain, atol=1e-4, rtol=1e-4))
        except (AttributeError, TypeError, ValueError, IndexError, RuntimeError):
            works = False
        if not works:
            warnings.warn(f"fill_mask: {type(model).__name__}'s layers differ from what the shortcut expects "
                          "(another transformers version?); using the plain forward pass: the same logits, slower",
                          RuntimeWarning, stacklevel=3)
        _SHORTCUT_WORKS[key] = works
    return _SHORTCUT_WORKS[key]


@torch.inference_mode()
def fill_mask_features(model: BertForMaskedLM, input_ids: Tensor, attention_mask: Tensor, positions: Tensor) -> Tensor:
    """Everything of the MLM forward pass before the head's decoder, at one position per row.

    Args:
        model: a ``BertForMaskedLM`` (in eval mode).
        input_ids, attention_mask: (batch, seq); padding marked 0 in ``attention_mask``.
        positions: (batch,) the position of each row's blank (its ``[MASK]``).
    Returns:
        (batch, hidden): the head's transformed hidden states at the blanks; :func:`decode` turns
        them into logits. Computed by the shortcut, or by the plain forward pass where
        :func:`shortcut_works` says the shortcut does not fit this transformers version.
    Raises:
        ValueError: for a model that is not a ``BertForMaskedLM``, or ``positions`` not of shape (batch,).
    Source: BERT's masked LM (Devlin et al. 2019, Section 3.1); the last layer's attention for one
    query row, Vaswani et al. 2017, Eq. 1.
    """
    if not isinstance(model, BertForMaskedLM):
        raise ValueError(f"model must be a BertForMaskedLM, got {type(model).__name__}")
    if positions.shape != input_ids.shape[:1]:
        raise ValueError(f"positions must have shape (batch,) = {tuple(input_ids.shape[:1])}, "
                         f"got {tuple(positions.shape)}")
    features = _shortcut_features if shortcut_works(model) else _plain_features
    return features(model, input_ids, attention_mask, positions)


@torch.inference_mode()
def decode(features: Tensor, decoder: tuple[Tensor, Tensor]) -> Tensor:
    """Logits (n, V') from head features (n, D) and decoder rows ((V', D), (V',)) from :func:`decoder_rows`.

    Best run once over many blanks: at a few dozen rows the product is bound by reading the
    weights (34 MB for 22,501 rows of width 384), not by arithmetic.
    """
    W, b = decoder
    return features @ W.T + b                                            # (n, V')


def fill_mask_logits(model: BertForMaskedLM, input_ids: Tensor, attention_mask: Tensor, positions: Tensor,
                     decoder: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """The MLM logits at one position per row, the last layer and the head computed there only.

    Args and errors as :func:`fill_mask_features`; ``decoder``: the rows to score, from
    :func:`decoder_rows` (None: the whole vocabulary).
    Returns:
        (batch, V') logits, equal (to float rounding) to ``model(...).logits[rows, positions]``,
        restricted to the decoder's rows.
    """
    features = fill_mask_features(model, input_ids, attention_mask, positions)  # (B, D)
    return decode(features, decoder if decoder is not None else decoder_rows(model))
