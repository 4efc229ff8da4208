"""TinyBERT's transformer-layer distillation losses, from scratch.

Jiao et al., "TinyBERT: Distilling BERT for Natural Language Understanding" (2020), Section 3.1.
The student (M layers, width d_S) learns from the teacher (N layers, width d_T) layer by layer,
student layer m from teacher layer g(m) (:mod:`kd_teach.tinybert.mapping`):

    L_attn = (1/h) sum_i MSE(A_i^S, A_i^T)     Eq. 7   attention scores of head i, A = Q K^T / sqrt(d_k)
    L_hidn = MSE(H^S W_h, H^T)                 Eq. 8   a layer's output hidden states
    L_embd = MSE(E^S W_e, E^T)                 Eq. 9   the embedding layer's output
    L_pred = CE(z^T / t, z^S / t)              Eq. 10  the prediction layer, soft cross-entropy at t
    L_model = L_embd + sum_m (L_hidn + L_attn) Eq. 11  layers 0..M (lambda_m = 1): :func:`intermediate_loss`

W_h and W_e, of shape (d_S, d_T), are learnable: they carry the narrow student's states into
the teacher's space. They are trained with the student and thrown away afterwards.

How padding is handled (the reference code, huawei-noah/Pretrained-Language-Model TinyBERT,
takes every MSE over the whole padded tensor; it zeroes attention scores <= -100, the additive
mask, so padded keys add 0 - 0; TextBrewer's attention MSE, called without a mask, zeroes every
score at or below -1e-3, real negative scores too; given the mask, it averages over real positions). Here every MSE is a mean over the *real* entries only: positions where the
attention mask is 1, and for attention the (query, key) pairs where both are real. Adding
padding to a batch therefore changes no loss, and real negative scores are kept.

Empty batch, one rule for every loss here (and in :mod:`kd_teach.hinton.losses` and
:mod:`kd_teach.distilbert.losses`): a batch of size 0, or a mask that keeps no position, gives a
loss of 0.0 that stays connected to the graph, so ``.backward()`` gives zero gradients instead of
a NaN (0 / 0) that would poison the weights at the next optimizer step.

L_pred carries no T^2 (Hinton and DistilBERT scale by T^2; TinyBERT does not, and its
task-specific prediction step uses t = 1, where it makes no difference). The reference averages
it over batch x classes; ``reduction="mean"`` reproduces that, the default ``"batchmean"`` is
the cross-entropy per example of Eq. 10.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
from torch import Tensor

from kd_teach.temperature import check_temperature, log_softmax_with_temperature, softmax_with_temperature

if TYPE_CHECKING:  # types only: the losses import no stage
    from kd_teach.tinybert.attention import LayerOutputs
    from kd_teach.tinybert.stages import Projections


def _check_shape(x: Tensor, dims: int, name: str, layout: str) -> None:
    if x.dim() != dims:
        raise ValueError(f"{name} must be {dims}-D {layout}, got shape {tuple(x.shape)}")


def _masked_mse(diff: Tensor, keep: Tensor | None) -> Tensor:
    """Mean of diff**2 over the entries where ``keep`` (broadcastable to diff) is True; 0 if none."""
    sq = diff.pow(2)
    if keep is None:
        return sq.sum() / max(sq.numel(), 1)                 # 0 (with a graph) for an empty batch
    keep = keep.to(sq.dtype).expand_as(sq)
    return (sq * keep).sum() / keep.sum().clamp_min(1.0)   # 0 (with a graph) if nothing is real


def _check_mask(attention_mask: Tensor | None, batch: int, seq: int, name: str) -> Tensor | None:
    if attention_mask is None:
        return None
    if attention_mask.shape != (batch, seq):
        raise ValueError(f"attention_mask must be (batch, seq) = ({batch}, {seq}) to match {name}, "
                         f"got {tuple(attention_mask.shape)}")
    return attention_mask != 0                                        # (B, L) bool: real tokens


def _check_dtypes(s: Tensor, t: Tensor, W: Tensor | None, s_name: str, t_name: str, w_name: str) -> None:
    """Floating-point states and W, of one dtype, unless torch.autocast chooses the matmul's dtype.

    Outside autocast ``S @ W`` fails on two dtypes and ``S W - T`` promotes silently (a float64
    teacher would turn a float32 student's loss float64): both are refused, naming the dtypes.
    Under autocast (mixed-precision training) the states come out of matmuls in float16/bfloat16
    and out of LayerNorm in float32 while W stays float32: that mix is accepted, as autocast casts
    both sides of ``S @ W``; only float64 against another dtype, which autocast leaves alone and
    the matmul rejects, is refused.
    """
    named = [(s, s_name), (t, t_name)] + ([] if W is None else [(W, w_name)])
    for x, name in named:
        if not x.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if torch.is_autocast_enabled(s.device.type):
        if W is not None and (s.dtype == torch.float64) != (W.dtype == torch.float64):
            raise ValueError(f"{s_name} is {s.dtype} and {w_name} is {W.dtype}: autocast does not cast float64, "
                             f"so {s_name} @ {w_name} needs both float64 or neither")
        return
    for x, name in named[1:]:
        if x.dtype != s.dtype:
            raise ValueError(f"{s_name}, {t_name} and {w_name} must share one dtype, got {s_name} {s.dtype} and "
                             f"{name} {x.dtype}; cast one (e.g. {name}.to({s_name}.dtype))")


def _projected_mse(s: Tensor, t: Tensor, W: Tensor | None, attention_mask: Tensor | None,
                   s_name: str, t_name: str, w_name: str) -> Tensor:
    """MSE(S W, T) over real positions; shared by L_embd and L_hidn."""
    _check_shape(s, 3, s_name, "(batch, seq, d_S)")
    _check_shape(t, 3, t_name, "(batch, seq, d_T)")
    _check_dtypes(s, t, W, s_name, t_name, w_name)
    if s.shape[:2] != t.shape[:2]:
        raise ValueError(f"{s_name} and {t_name} must share (batch, seq): teacher and student read the same "
                         f"tokens; got {s_name} {tuple(s.shape)} and {t_name} {tuple(t.shape)}")
    d_s, d_t = s.shape[-1], t.shape[-1]
    if W is None:
        if d_s != d_t:
            raise ValueError(f"{w_name}=None needs the same width in student and teacher, got d_S={d_s} and "
                             f"d_T={d_t}; pass a learnable {w_name} of shape ({d_s}, {d_t})")
        projected = s
    else:
        if W.shape != (d_s, d_t):
            raise ValueError(f"{w_name} must be (d_S, d_T) = ({d_s}, {d_t}), got {tuple(W.shape)}")
        projected = s @ W                                             # (B, L, d_S) @ (d_S, d_T) -> (B, L, d_T)
    keep = _check_mask(attention_mask, *s.shape[:2], s_name)
    return _masked_mse(projected - t.detach(), None if keep is None else keep[..., None])


def L_embd(E_S: Tensor, E_T: Tensor, W_e: Tensor | None, attention_mask: Tensor | None = None) -> Tensor:
    """Embedding-layer loss: L_embd = MSE(E_S W_e, E_T).

    Args:
        E_S: (batch, seq, d_S) the student's embedding-layer output (word + position + type
            embeddings after LayerNorm: ``hidden_states[0]``).
        E_T: (batch, seq, d_T) the teacher's, for the same tokens; no gradient reaches it.
        W_e: (d_S, d_T) learnable projection, or None when d_S == d_T.
        attention_mask: (batch, seq) 1 for real tokens, 0 for padding; None: every position.
    Returns:
        Scalar tensor: mean squared error per real entry (positions x d_T).
        Empty batch: a batch of size 0 or a mask with no real token gives 0.0, with a graph
        (zero gradients), not NaN.
    Raises:
        ValueError: if a tensor has the wrong rank, (batch, seq) differ, W_e does not map d_S
            to d_T, the mask does not fit, or the dtypes are not floating point and equal
            (outside torch.autocast; under it the mix autocast produces is accepted), naming them.
    Source: TinyBERT, Jiao et al. 2020, Eq. 9.
    """
    return _projected_mse(E_S, E_T, W_e, attention_mask, "E_S", "E_T", "W_e")


def L_hidn(H_S: Tensor, H_T: Tensor, W_h: Tensor | None, attention_mask: Tensor | None = None) -> Tensor:
    """Hidden-state loss of one mapped layer: L_hidn = MSE(H_S W_h, H_T).

    Args:
        H_S: (batch, seq, d_S) output of student layer m.
        H_T: (batch, seq, d_T) output of teacher layer g(m); no gradient reaches it.
        W_h: (d_S, d_T) learnable projection (one shared by all layers, as the reference code,
            or one per layer), or None when d_S == d_T.
        attention_mask: (batch, seq) 1 for real tokens, 0 for padding; None: every position.
    Returns:
        Scalar tensor: mean squared error per real entry (positions x d_T).
        Empty batch: as :func:`L_embd`, 0.0 with a graph.
    Raises:
        ValueError: as :func:`L_embd`: shapes, mask, or dtypes (``H_S``, ``H_T`` and ``W_h`` must
            share one floating dtype outside torch.autocast), naming the argument and the value.
    Source: TinyBERT, Jiao et al. 2020, Eq. 8.
    """
    return _projected_mse(H_S, H_T, W_h, attention_mask, "H_S", "H_T", "W_h")


def L_attn(A_S: Tensor, A_T: Tensor, attention_mask: Tensor | None = None, on: str = "scores") -> Tensor:
    """Attention loss of one mapped layer: L_attn = (1/h) sum_i MSE(A_i^S, A_i^T).

    The paper distils the *unnormalised* scores A = Q K^T / sqrt(d_k) (before the softmax and
    before the additive padding mask): "we found it leads to faster convergence and better
    performance" than the probabilities. transformers returns probabilities; get the scores
    with :func:`kd_teach.tinybert.attention.attention_scores`.

    Args:
        A_S: (batch, heads, seq, seq) the student's scores (or probabilities) of layer m.
        A_T: (batch, heads, seq, seq) the teacher's, of layer g(m); no gradient reaches it.
            Student and teacher must have the same number of heads.
        attention_mask: (batch, seq) 1 for real tokens, 0 for padding. Only (query, key)
            pairs of two real tokens count; None: every pair.
        on: "scores" (the paper) or "probs" (MSE between attention probabilities; then pass
            probabilities, each row summing to 1 over the real keys).
    Returns:
        Scalar tensor: mean squared error over heads and real (query, key) pairs. Averaging
        over heads then pairs equals averaging over all (head, pair) entries, as every head
        has the same pairs. Empty batch: a batch of size 0 or a mask with no real token gives
        0.0, with a graph (zero gradients), not NaN.
    Raises:
        ValueError: if the shapes differ (naming heads when the head counts do), a tensor is
            not 4-D with square attention, or ``on`` is neither choice.
    Source: TinyBERT, Jiao et al. 2020, Eq. 7.
    """
    if on not in ("scores", "probs"):
        raise ValueError(f"on must be 'scores' or 'probs', got {on!r}")
    _check_shape(A_S, 4, "A_S", "(batch, heads, seq, seq)")
    _check_shape(A_T, 4, "A_T", "(batch, heads, seq, seq)")
    if A_S.shape[1] != A_T.shape[1]:
        raise ValueError(f"student and teacher must have the same number of attention heads to compare "
                         f"attention matrices head by head, got {A_S.shape[1]} (A_S) and {A_T.shape[1]} (A_T); "
                         "give the student the teacher's head count or map heads explicitly")
    if A_S.shape != A_T.shape or A_S.shape[-1] != A_S.shape[-2]:
        raise ValueError(f"A_S and A_T must both be (batch, heads, seq, seq), got {tuple(A_S.shape)} and "
                         f"{tuple(A_T.shape)}")
    B, _, L, _ = A_S.shape
    real = _check_mask(attention_mask, B, L, "A_S")
    pairs = None if real is None else (real[:, :, None] & real[:, None, :])[:, None]  # (B, 1, L, L)
    return _masked_mse(A_S - A_T.detach(), pairs)


def L_pred(student_logits: Tensor, teacher_logits: Tensor, t: float = 1.0, reduction: str = "batchmean") -> Tensor:
    """Prediction-layer loss: the soft cross-entropy -sum_j softmax(z_T/t)_j * log softmax(z_S/t)_j.

    No T^2 factor (unlike :func:`kd_teach.hinton.losses.distillation_loss`): its gradient with
    respect to z_S is (softmax(z_S/t) - softmax(z_T/t)) / t per example, and once t is large
    against the logits the difference of the two softmaxes itself shrinks like 1/t, so the
    gradient shrinks like 1/t^2 (Hinton et al. 2015, Section 2.1; the T^2 factor undoes it).
    Its minimum over the student is the teacher's entropy, not 0.

    Args:
        student_logits: (batch, classes) z_S.
        teacher_logits: (batch, classes) z_T, same shape; no gradient reaches it.
        t: temperature, a finite float > 0 (TinyBERT's task distillation: 1).
        reduction: "batchmean" (sum over classes, mean over the batch: Eq. 10 per example) or
            "mean" (mean over batch x classes, as the reference ``soft_cross_entropy``).
    Returns:
        Scalar tensor, in nats. Empty batch: (0, classes) logits give 0.0, with a graph (zero
        gradients), not the NaN of a mean over no rows.
    Raises:
        ValueError: if the shapes differ or are not (batch, classes), t is not a finite
            number > 0, or ``reduction`` is unknown.
    Source: TinyBERT, Jiao et al. 2020, Eq. 10.
    """
    if reduction not in ("batchmean", "mean"):
        raise ValueError(f"reduction must be 'batchmean' or 'mean', got {reduction!r}")
    if student_logits.shape != teacher_logits.shape or student_logits.dim() != 2:
        raise ValueError(f"student_logits and teacher_logits must both be (batch, classes), got "
                         f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")
    t = check_temperature(t, "t")
    p_t = softmax_with_temperature(teacher_logits.detach(), t)      # (B, C) soft targets
    log_q_s = log_softmax_with_temperature(student_logits, t)      # (B, C) log soft predictions
    ce = -(p_t * log_q_s)                                          # (B, C)
    count = ce.shape[0] if reduction == "batchmean" else ce.numel()  # B or B x C
    return ce.sum() / max(count, 1)                                # 0 (with a graph) for an empty batch


def scores_to_probs(scores: Tensor, attention_mask: Tensor) -> Tensor:
    """Attention probabilities from scores, as BERT computes them: softmax over keys, padded keys excluded.

    Args:
        scores: (batch, heads, seq, seq) pre-softmax scores.
        attention_mask: (batch, seq) 1 for real tokens, 0 for padding.
    Returns:
        (batch, heads, seq, seq) probabilities; each row sums to 1 over the real keys.
    """
    padded_key = (attention_mask == 0)[:, None, None, :]                  # (B, 1, 1, L)
    return scores.masked_fill(padded_key, torch.finfo(scores.dtype).min).softmax(dim=-1)


INTERMEDIATE_TERMS = ("L_embd", "L_hidn", "L_attn")


def intermediate_loss(s: "LayerOutputs", t: "LayerOutputs", g: Sequence[int], W: "Projections",
                      attention_mask: torch.Tensor, attn_on: str = "scores",
                      terms: Sequence[str] = INTERMEDIATE_TERMS) -> tuple[torch.Tensor, dict]:
    """Transformer-layer distillation of one batch: L_embd + sum over m = 1..M of (L_hidn + L_attn).

    Eq. 11 with every weight lambda_m = 1, as the paper and the reference code.

    Args:
        s, t: the student's and teacher's :class:`kd_teach.tinybert.attention.LayerOutputs`; the
            student's scores for layers 1..M, the teacher's for layers g(1)..g(M).
        g: [0, g(1), ..., g(M)].
        W: the projections.
        attention_mask: (batch, seq).
        attn_on: "scores" or "probs" (see :func:`L_attn`).
        terms: the terms the loss sums (the paper's Table 6 drops one at a time); every term is
            still computed and returned, so a curve shows the dropped one too.
    Returns:
        (loss, {"L_embd", "L_hidn", "L_attn"} as floats, each summed over layers). Empty batch:
        every term is 0.0 with a graph, so the loss is too.
    Raises:
        ValueError: ``terms`` is empty or names a term not in ``INTERMEDIATE_TERMS``.
    Source: TinyBERT, Jiao et al. 2020, Eqs. 6-9 and 11; Table 6 for ``terms``.
    """
    if not terms or not set(terms) <= set(INTERMEDIATE_TERMS):
        raise ValueError(f"terms must be a non-empty subset of {INTERMEDIATE_TERMS}, got {tuple(terms)!r}")
    l_embd = L_embd(s.hidden_states[0], t.hidden_states[0], W[0], attention_mask)          # m = 0
    l_hidn = sum(L_hidn(s.hidden_states[m], t.hidden_states[n], W[m], attention_mask)       # m -> n = g(m)
                 for m, n in enumerate(g) if m > 0)
    A = (lambda a: a) if attn_on == "scores" else (lambda a: scores_to_probs(a, attention_mask))
    l_attn = sum(L_attn(A(s.scores[m]), A(t.scores[n]), attention_mask, on=attn_on)
                 for m, n in enumerate(g) if m > 0)
    every = {"L_embd": l_embd, "L_hidn": l_hidn, "L_attn": l_attn}
    loss = sum(every[k] for k in terms)                                                    # Eq. 11 (all three)
    return loss, {k: float(v.detach()) for k, v in every.items()}
