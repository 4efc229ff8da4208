"""DistilBERT's dynamic masking for masked-language modelling (L_mlm), from scratch.

BERT (Devlin et al. 2019, Section 3.1) predicts 15% of the tokens; of those 80% become
[MASK], 10% a random token, 10% stay unchanged. BERT masked once, in preprocessing (static
masking); RoBERTa (Liu et al. 2019, Section 4.1) draws new masks for every batch (dynamic
masking), and DistilBERT (Sanh et al. 2019, Section 3) trains that way. Its reference code
(huggingface/transformers examples/research_projects/distillation, ``distiller.py``
``prepare_batch_mlm``, ``train.py``) also picks rare tokens more often: weight
``max(count, 1) ** -0.7``, 0 for special tokens.

Deliberate differences from the reference: special and padding positions are filtered out
explicitly (not only through weight 0); n_target counts the candidates (the reference counts
[CLS] and [SEP] too); a "random" token is drawn from the non-special ids only (the reference
and transformers' ``DataCollatorForLanguageModeling`` draw from the whole vocabulary).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

IGNORE_INDEX = -100  # label of a position that is not predicted (cross-entropy's ignore_index)


def token_counts(input_ids: Tensor | Iterable[Sequence[int]], vocab_size: int) -> Tensor:
    """How often each token id occurs in a corpus.

    Args:
        input_ids: an integer tensor (N,) or (batch, seq), or a list of lists of ints (e.g. a
            tokenised ``datasets`` column); padding is counted too, so pass unpadded ids.
        vocab_size: number of token ids, > 0.
    Returns:
        (vocab_size,) int64 tensor of counts, on the CPU.
    Raises:
        ValueError: if ``vocab_size`` < 1 or an id lies outside [0, vocab_size).
    """
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be >= 1, got {vocab_size!r}")
    if isinstance(input_ids, Tensor):
        flat = input_ids.reshape(-1).long()                        # (N,)
    else:
        flat = torch.tensor([i for ids in input_ids for i in ids], dtype=torch.long)  # (N,)
    if flat.numel() and (flat.min() < 0 or flat.max() >= vocab_size):
        raise ValueError(f"input_ids must lie in [0, vocab_size={vocab_size}), got ids from "
                         f"{flat.min().item()} to {flat.max().item()}")
    return torch.bincount(flat.cpu(), minlength=vocab_size)         # (V,)


def token_probs(counts: Tensor, special_ids: Iterable[int], smoothing: float = 0.7) -> Tensor:
    """Unnormalised weight of each token id to be chosen for masking: max(count, 1) ** -smoothing.

    smoothing = 0: every non-special token alike (BERT); 0.7 (DistilBERT): a token seen once
    is 1000**0.7 ~ 126 times likelier per occurrence than one seen 1000 times.

    Args:
        counts: (vocab,) corpus counts, e.g. from :func:`token_counts`.
        special_ids: ids never to mask ([CLS], [SEP], [PAD], [MASK], [UNK]...): weight 0.
        smoothing: exponent, a finite float >= 0.
    Returns:
        (vocab,) float32 tensor of weights >= 0 (not summing to 1).
    Raises:
        ValueError: if ``counts`` is not 1-D, ``smoothing`` < 0 or not finite, or a special
            id lies outside [0, vocab).
    Source: reference ``train.py``: ``np.maximum(counts, 1) ** -mlm_smoothing``.
    """
    if counts.dim() != 1:
        raise ValueError(f"counts must be 1-D (vocab,), got shape {tuple(counts.shape)}")
    if not (isinstance(smoothing, (int, float)) and math.isfinite(smoothing) and smoothing >= 0):
        raise ValueError(f"smoothing must be a finite number >= 0, got {smoothing!r}")
    special = _special_tensor(special_ids, len(counts), counts.device)
    probs = counts.double().clamp_min(1.0) ** -smoothing            # (V,) max(count, 1)^-s
    probs[special] = 0.0                                            # special tokens: never chosen
    return probs.float()


@dataclass(frozen=True)
class MaskingConfig:
    """BERT's masking rates (Devlin et al. 2019, Section 3.1; DistilBERT keeps them).

    mask_prob: share of the candidate tokens chosen as prediction targets, in (0, 1].
    word_mask / word_keep / word_rand: of the chosen tokens, the shares replaced by [MASK],
        kept unchanged, replaced by a random token; each in [0, 1], summing to 1.
    """

    mask_prob: float = 0.15
    word_mask: float = 0.8
    word_keep: float = 0.1
    word_rand: float = 0.1

    def __post_init__(self) -> None:
        for name in ("mask_prob", "word_mask", "word_keep", "word_rand"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
        if self.mask_prob == 0:
            raise ValueError(f"mask_prob must be in (0, 1], got {self.mask_prob!r}")
        total = self.word_mask + self.word_keep + self.word_rand
        if abs(total - 1.0) > 1e-6:
            raise ValueError(
                f"word_mask + word_keep + word_rand must sum to 1, got {self.word_mask!r} + "
                f"{self.word_keep!r} + {self.word_rand!r} = {total!r}"
            )


def _special_tensor(special_ids: Iterable[int] | Tensor, vocab: int, device) -> Tensor:
    """special_ids as a 1-D int64 tensor (S,) on ``device``, each checked to be in [0, vocab)."""
    ids = special_ids if isinstance(special_ids, Tensor) else list(special_ids)
    special = torch.as_tensor(ids, dtype=torch.long).reshape(-1).to(device)  # (S,)
    if special.numel() and (special.min() < 0 or special.max() >= vocab):
        raise ValueError(f"special_ids must lie in [0, vocab={vocab}), got {special.tolist()}")
    return special


def num_targets(n_candidates: int, mask_prob: float) -> int:
    """ceil(mask_prob * n_candidates), >= 1 if n_candidates > 0. The product is rounded to 9
    decimals first: in floating point 0.07 * 100 = 7.000000000000001, whose ceiling is 8."""
    if n_candidates == 0:
        return 0
    return max(1, math.ceil(round(mask_prob * n_candidates, 9)))


def mask_tokens(
    input_ids: Tensor,
    attention_mask: Tensor,
    token_probs: Tensor,
    mask_token_id: int,
    special_ids: Iterable[int] | Tensor,
    config: MaskingConfig = MaskingConfig(),
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Choose MLM targets for one batch and corrupt them with BERT's 80/10/10 rule.

    Dynamic masking: the masks are drawn per batch, every epoch anew (RoBERTa, DistilBERT),
    not once before training (BERT's static masking); each call advances the RNG.

    1. Candidates: positions with ``attention_mask == 1`` whose token is not special.
    2. n_target = ceil(mask_prob * candidates of the whole batch) (per batch, not per sentence,
       as in the reference), drawn without replacement with probability proportional to
       ``token_probs[token]``. Weight-0 candidates are never chosen: if fewer than n_target
       candidates have a positive weight, n_target is capped at their number.
    3. Each chosen position becomes [MASK] (word_mask), stays (word_keep) or becomes a random
       non-special token (word_rand); its label is the original token.

    Args:
        input_ids: (batch, seq) integer token ids.
        attention_mask: (batch, seq), 1 (or True) for real tokens, 0 for padding.
        token_probs: (vocab,) weights >= 0 from :func:`token_probs`; vocab > max id.
        mask_token_id: id of [MASK].
        special_ids: ids never chosen and never drawn as random replacements.
        config: the masking rates.
        generator: optional RNG for reproducible masks; numbers are drawn on its device (a
            CPU generator works for CUDA inputs) and moved to ``input_ids.device``.
    Returns:
        ``(masked_ids, mlm_labels)``, (batch, seq) int64 each, on ``input_ids.device``: the
        corrupted ids; the original id at chosen positions, ``IGNORE_INDEX`` elsewhere.
        The inputs are not modified.
    Raises:
        ValueError: on other shapes, ids outside [0, vocab), or negative/non-finite weights.
    Source: Devlin et al. 2019, Sec. 3.1; Liu et al. 2019, Sec. 4.1; Sanh et al. 2019, Sec. 3;
        reference ``distiller.py`` ``prepare_batch_mlm``.
    """
    if input_ids.dim() != 2 or attention_mask.shape != input_ids.shape:
        raise ValueError(
            "input_ids and attention_mask must both be 2-D (batch, seq) of the same shape, got "
            f"input_ids {tuple(input_ids.shape)} and attention_mask {tuple(attention_mask.shape)}"
        )
    if token_probs.dim() != 1:
        raise ValueError(f"token_probs must be 1-D (vocab,), got shape {tuple(token_probs.shape)}")
    vocab, device = len(token_probs), input_ids.device
    if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= vocab):
        raise ValueError(f"input_ids must lie in [0, len(token_probs)={vocab}), got ids from "
                         f"{input_ids.min().item()} to {input_ids.max().item()}")
    if not bool(torch.isfinite(token_probs).all()) or bool((token_probs < 0).any()):
        raise ValueError("token_probs must be finite and >= 0")
    if not 0 <= mask_token_id < vocab:
        raise ValueError(f"mask_token_id must lie in [0, {vocab}), got {mask_token_id!r}")
    special = _special_tensor(special_ids, vocab, device)            # (S,)
    rng = generator.device if generator is not None else device      # where numbers are drawn

    flat = input_ids.reshape(-1).long()                              # (B*L,) never written to
    is_cand = (attention_mask.reshape(-1) != 0) & ~torch.isin(flat, special)  # (B*L,)
    candidates = is_cand.nonzero().squeeze(1)                        # (C,) flat positions
    weights = token_probs.to(device)[flat[candidates]].double()      # (C,)
    n_target = min(num_targets(len(candidates), config.mask_prob), int((weights > 0).sum()))

    masked, labels = flat.clone(), torch.full_like(flat, IGNORE_INDEX)  # (B*L,) each
    if n_target == 0:
        return masked.view_as(input_ids), labels.view_as(input_ids)
    picks = torch.multinomial(weights.to(rng), n_target, replacement=False, generator=generator)
    chosen = candidates[picks.to(device)]                            # (N,) positions to predict
    rates = torch.tensor([config.word_mask, config.word_keep, config.word_rand], device=rng)
    action = torch.multinomial(rates, n_target, True, generator=generator).to(device)  # (N,) 0/1/2
    allowed = torch.ones(vocab, dtype=torch.bool, device=device)
    allowed[special] = False
    allowed_ids = allowed.nonzero().squeeze(1)                       # (V-S,) non-special ids
    rand_idx = torch.randint(len(allowed_ids), (n_target,), device=rng, generator=generator)
    original = flat[chosen]                                          # (N,)
    new = torch.where(action == 0, mask_token_id, original)          # word_mask: [MASK]
    new = torch.where(action == 2, allowed_ids[rand_idx.to(device)], new)  # word_rand; else kept
    masked[chosen], labels[chosen] = new, original
    return masked.view_as(input_ids), labels.view_as(input_ids)


@dataclass(frozen=True, eq=False)  # eq=False: comparing tensors field by field is ambiguous
class DynamicMasker:
    """:func:`mask_tokens` with the tokenizer's settings bound; fresh masks on every call:
    ``masked_ids, mlm_labels = masker(input_ids, attention_mask)``."""

    token_probs: Tensor
    mask_token_id: int
    special_ids: tuple[int, ...]
    config: MaskingConfig = MaskingConfig()

    @classmethod
    def from_tokenizer(cls, tokenizer, counts: Tensor, config: MaskingConfig = MaskingConfig(),
                       smoothing: float = 0.7) -> DynamicMasker:
        """Special ids = ``tokenizer.all_special_ids``, mask id = ``tokenizer.mask_token_id``;
        ``counts`` (vocab,) from :func:`token_counts` with ``vocab_size=len(tokenizer)``."""
        special = tuple(tokenizer.all_special_ids)
        probs = token_probs(counts, special, smoothing)                # (vocab,)
        return cls(probs, tokenizer.mask_token_id, special, config)

    def __call__(self, input_ids: Tensor, attention_mask: Tensor,
                 generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        return mask_tokens(input_ids, attention_mask, self.token_probs, self.mask_token_id,
                           self.special_ids, self.config, generator)
