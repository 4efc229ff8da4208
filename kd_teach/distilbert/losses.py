"""DistilBERT's triple loss: L = alpha_ce * L_ce + alpha_mlm * L_mlm + alpha_cos * L_cos.

Sanh, Debut, Chaumond and Wolf, "DistilBERT, a distilled version of BERT" (2019), Section 2:

    L_ce  = T^2 * KL(softmax(z_t / T) || softmax(z_s / T))   soft targets over the vocabulary, per position
    L_mlm = -log p_s(true token)                              masked language modelling, masked positions
    L_cos = 1 - cos(h_s, h_t)                                 last hidden states, non-padding positions

The paper writes L_ce = sum_i t_i * log(s_i) (a cross-entropy with the teacher's soft targets);
like the reference code we compute the KL, which differs only by the teacher's entropy: same
gradients, and 0 when the student matches. Each term is averaged over the positions it is taken
over, as in huggingface/transformers examples/research_projects/distillation/distiller.py:
``nn.KLDivLoss(reduction="batchmean")`` on the selected rows times T^2, ``nn.CrossEntropyLoss
(ignore_index=-100)`` and ``nn.CosineEmbeddingLoss`` with target 1; weights 5.0, 2.0, 1.0.
Positions are selected (padding never enters a softmax or a norm), so garbage in padded
positions cannot leak into any term.

Empty batch, one rule for every loss of the course (Hinton's and TinyBERT's too): a batch of
size 0, or a selection with no position (a batch of short sentences may have no masked token),
gives 0.0 that keeps the graph (zero gradients), where torch's losses give NaN.

One shape convention: every term takes (batch, seq, ...) tensors and a (batch, seq) mask. L_ce
is Hinton's distillation loss (:func:`kd_teach.hinton.losses.distillation_loss`) on the
selected positions, each position one example. (The pre-training stage computes the logits
only where L_ce and L_mlm look; that speed-up lives in :func:`kd_teach.distilbert.stages.triple_loss_fn`.)
"""
from __future__ import annotations

import torch
from torch import Tensor

from kd_teach.hinton.losses import distillation_loss
from kd_teach.temperature import log_softmax_with_temperature

COS_EPS = 1e-12  # added to each squared norm, as torch's cosine_embedding_loss (ATen Loss.cpp, EPSILON)


def _rows(x: Tensor, mask: Tensor, x_name: str, mask_name: str) -> Tensor:
    """The rows of x (batch, seq, D) where mask (batch, seq) is nonzero: (N, D), in order."""
    if mask is None or x.dim() != 3 or mask.shape != x.shape[:-1]:
        raise ValueError(f"expected {x_name} (batch, seq, dim) and {mask_name} (batch, seq), got {x_name} "
                         f"{tuple(x.shape)} and {mask_name} {None if mask is None else tuple(mask.shape)}")
    return x[mask.bool()]                                           # (N, D)


def _same_shape(a: Tensor, b: Tensor, a_name: str, b_name: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{a_name} and {b_name} must have the same shape, got "
                         f"{a_name} {tuple(a.shape)} and {b_name} {tuple(b.shape)}")


def ce_positions(attention_mask: Tensor | None, mlm_labels: Tensor | None, restrict_to_masked: bool,
                 ignore_index: int = -100) -> Tensor:
    """The positions L_ce is taken over: (batch, seq) bool.

    Args:
        attention_mask: (batch, seq) 1 for real tokens, 0 for padding; used when not restricted.
        mlm_labels: (batch, seq) true token ids at masked positions, ``ignore_index`` elsewhere.
        restrict_to_masked: True -> the masked positions (``mlm_labels != ignore_index``);
            False -> every non-padding position (``attention_mask == 1``), the reference's default.
    Raises:
        ValueError: if the tensor that the choice needs is None.
    Source: distiller.py, ``restrict_ce_to_mask``.
    """
    if restrict_to_masked:
        if mlm_labels is None:
            raise ValueError("restrict_to_masked=True needs mlm_labels (batch, seq), got None")
        return mlm_labels != ignore_index                         # (B, S) masked positions
    if attention_mask is None:
        raise ValueError("restrict_to_masked=False needs attention_mask (batch, seq), got None")
    return attention_mask != 0                                    # (B, S) non-padding positions


def L_ce(student_logits: Tensor, teacher_logits: Tensor, mask: Tensor, T: float = 2.0,
         scale_by_T2: bool = True) -> Tensor:
    """Distillation loss over the vocabulary: T^2 * KL(softmax(z_t/T) || softmax(z_s/T)), per position.

    Hinton's distillation loss with each selected position as one example: the same soft
    targets at T, over the vocabulary instead of the classes.

    Args:
        student_logits: (batch, seq, vocab) MLM logits of the student.
        teacher_logits: same shape, the teacher's; detached (no gradient reaches the teacher).
        mask: (batch, seq) bool or 0/1, the positions to use (see :func:`ce_positions`).
        T: temperature, a finite float > 0 (the same for teacher and student; 2.0 in the recipe).
        scale_by_T2: multiply by T^2 so gradients keep their size as T changes (Hinton et al. 2015).
    Returns:
        Scalar tensor: mean KL per selected position ("batchmean" over the selected rows), in
        nats, times T^2 if asked. Empty batch: batch size 0 or no selected position gives 0.0
        with a graph (zero gradients), not NaN.
    Raises:
        ValueError: if the shapes differ, the mask does not fit, or T is not a finite number > 0.
    Source: Sanh et al. 2019, Section 2 (L_ce); distiller.py (``ce_loss_fct``); Hinton et al. 2015, Section 2.
    """
    _same_shape(student_logits, teacher_logits, "student_logits", "teacher_logits")
    s = _rows(student_logits, mask, "student_logits", "mask")       # (N, V)
    t = _rows(teacher_logits, mask, "teacher_logits", "mask")       # (N, V)
    return distillation_loss(s, t, T, scale_by_T2)                  # T^2 KL(p_t || q_s), batchmean over N; 0 if N = 0


def L_mlm(student_logits: Tensor, mlm_labels: Tensor, ignore_index: int = -100) -> Tensor:
    """Masked language modelling loss: mean over masked positions of -log p_s(true token), T = 1.

    Args:
        student_logits: (batch, seq, vocab) MLM logits of the student.
        mlm_labels: (batch, seq) true token ids at masked positions, ``ignore_index`` everywhere
            else (unmasked and padding positions).
        ignore_index: the label of a position without a target (-100, as in transformers).
    Returns:
        Scalar tensor in nats: ``F.cross_entropy(..., ignore_index=-100)``. Empty batch: batch
        size 0 or no masked position gives 0.0 with a graph (zero gradients), where
        ``F.cross_entropy`` gives NaN.
    Raises:
        ValueError: if the logits are not (batch, seq, vocab), the labels not (batch, seq) or not
            an integer dtype, or a label is outside [0, vocab).
    Source: Sanh et al. 2019, Section 2 (L_mlm); Devlin et al. 2019, Section 3.1; distiller.py (``lm_loss_fct``).
    """
    if student_logits.dim() != 3 or mlm_labels.shape != student_logits.shape[:-1]:
        raise ValueError("expected student_logits (batch, seq, vocab) and mlm_labels (batch, seq), got "
                         f"student_logits {tuple(student_logits.shape)} and mlm_labels {tuple(mlm_labels.shape)}")
    if mlm_labels.dtype == torch.bool or mlm_labels.is_floating_point() or mlm_labels.is_complex():
        raise ValueError(f"mlm_labels must be integer token ids (torch.long), got dtype {mlm_labels.dtype}")
    keep = mlm_labels != ignore_index                               # (B, S) masked positions
    z, y = student_logits[keep], mlm_labels[keep]                   # (N, V), (N,)
    V = student_logits.shape[-1]
    if y.numel() and not (0 <= int(y.min()) and int(y.max()) < V):
        raise ValueError(f"mlm_labels must be token ids in [0, {V}) or {ignore_index}, "
                         f"got values from {int(y.min())} to {int(y.max())}")
    log_q = log_softmax_with_temperature(z, 1.0)                   # (N, V) log p_s at T = 1
    nll = -log_q.gather(-1, y.long().unsqueeze(-1)).squeeze(-1)     # (N,) -log p_s(y_n)
    return nll.sum() / max(y.numel(), 1)                            # mean over masked positions


def L_cos(student_hidden: Tensor, teacher_hidden: Tensor, attention_mask: Tensor) -> Tensor:
    """Cosine embedding loss: mean over non-padding positions of 1 - cos(h_s, h_t).

    cos = <h_s, h_t> / sqrt((|h_s|^2 + eps) (|h_t|^2 + eps)), eps = 1e-12: exactly the formula
    of torch's ``F.cosine_embedding_loss`` with target 1 (ATen Loss.cpp), so a zero vector
    gives cos = 0, not NaN. Only directions count: scaling h_s by c > 0 changes nothing.

    Args:
        student_hidden: (batch, seq, hidden) last hidden states of the student.
        teacher_hidden: same shape, the teacher's; detached.
        attention_mask: (batch, seq) 1 for real tokens, 0 for padding.
    Returns:
        Scalar tensor in [0, 2]. Empty batch: batch size 0 or no real token gives 0.0 with a
        graph (zero gradients), not NaN.
    Raises:
        ValueError: if the hidden sizes differ (DistilBERT keeps the teacher's width) or the
            other dimensions or the mask do not fit.
    Source: Sanh et al. 2019, Section 2 (L_cos); distiller.py (``cosine_loss_fct``).
    """
    if student_hidden.shape[-1:] != teacher_hidden.shape[-1:]:
        raise ValueError(
            f"DistilBERT's L_cos needs equal hidden sizes, got student_hidden {tuple(student_hidden.shape)} "
            f"and teacher_hidden {tuple(teacher_hidden.shape)}; for a narrower student use TinyBERT's "
            "L_hidn, which maps the student's states with a learnable projection W first")
    _same_shape(student_hidden, teacher_hidden, "student_hidden", "teacher_hidden")
    h_s = _rows(student_hidden, attention_mask, "student_hidden", "attention_mask")           # (N, H)
    h_t = _rows(teacher_hidden.detach(), attention_mask, "teacher_hidden", "attention_mask")  # (N, H)
    dot = (h_s * h_t).sum(-1)                                       # (N,) <h_s, h_t>
    sq_s = (h_s * h_s).sum(-1) + COS_EPS                            # (N,) |h_s|^2 + eps
    sq_t = (h_t * h_t).sum(-1) + COS_EPS                            # (N,) |h_t|^2 + eps
    cos = dot / (sq_s * sq_t).sqrt()                                # (N,) cosine similarity
    return (1 - cos).sum() / max(cos.numel(), 1)                    # mean of 1 - cos


def distilbert_loss(
    student_logits: Tensor | None, teacher_logits: Tensor | None, mlm_labels: Tensor | None,
    student_hidden: Tensor | None, teacher_hidden: Tensor | None, attention_mask: Tensor | None,
    T: float = 2.0, alpha_ce: float = 5.0, alpha_mlm: float = 2.0, alpha_cos: float = 1.0,
    restrict_ce_to_mask: bool = True, return_terms: bool = False,
) -> Tensor | tuple[Tensor, dict[str, float]]:
    """L = alpha_ce * L_ce + alpha_mlm * L_mlm + alpha_cos * L_cos (Sanh et al. 2019, Section 2).

    A weight of 0 switches its term off: it is not computed and the inputs only it needs may be
    None (the ablations of the paper's Table 4). Defaults are the reference recipe (T = 2; 5, 2,
    1) except ``restrict_ce_to_mask``: the reference takes L_ce over every non-padding position;
    we default to the masked positions because on a CPU the vocabulary-sized softmax at every
    position dominates the cost. ``restrict_ce_to_mask=False`` restores the reference.

    Args:
        student_logits, teacher_logits: (batch, seq, vocab) MLM logits (the teacher's detached).
        mlm_labels: (batch, seq) true ids at masked positions, -100 elsewhere.
        student_hidden, teacher_hidden: (batch, seq, hidden) last hidden states, equal widths.
        attention_mask: (batch, seq) 1 for real tokens, 0 for padding.
        T: temperature of L_ce, a finite float > 0.
        alpha_ce, alpha_mlm, alpha_cos: weights >= 0, not all 0.
        restrict_ce_to_mask: L_ce over masked positions (True) or all non-padding ones (False).
        return_terms: also return the computed terms as floats, e.g. ``{"L_ce": ..., "L_mlm": ...}``.
    Returns:
        Scalar tensor in nats; with ``return_terms``, ``(loss, terms)``. Empty batch: every term
        is 0.0 with a graph, so the loss is too.
    Raises:
        ValueError: on a negative weight, all weights 0, a missing input that a weight needs,
            a shape mismatch or a bad T.
    """
    alphas = {"L_ce": alpha_ce, "L_mlm": alpha_mlm, "L_cos": alpha_cos}
    for name, w in alphas.items():
        if not w >= 0:
            raise ValueError(f"alpha_{name[2:]} must be a number >= 0, got {w!r}")
    if not any(w > 0 for w in alphas.values()):
        raise ValueError(f"at least one of alpha_ce, alpha_mlm, alpha_cos must be > 0, got {alphas}")
    inputs = {"student_logits": student_logits, "teacher_logits": teacher_logits, "mlm_labels": mlm_labels,
              "student_hidden": student_hidden, "teacher_hidden": teacher_hidden, "attention_mask": attention_mask}
    needs = {"L_ce": ("student_logits", "teacher_logits", "mlm_labels" if restrict_ce_to_mask else "attention_mask"),
             "L_mlm": ("student_logits", "mlm_labels"), "L_cos": ("student_hidden", "teacher_hidden", "attention_mask")}
    for term, names in needs.items():
        missing = [n for n in names if inputs[n] is None]
        if alphas[term] > 0 and missing:
            raise ValueError(f"alpha_{term[2:]}={alphas[term]} needs {missing[0]}, got None (set alpha_{term[2:]}=0 "
                             "to drop the term)")
    terms: dict[str, Tensor] = {}
    if alpha_ce > 0:
        where = ce_positions(attention_mask, mlm_labels, restrict_ce_to_mask)         # (B, S)
        terms["L_ce"] = L_ce(student_logits, teacher_logits, where, T)
    if alpha_mlm > 0:
        terms["L_mlm"] = L_mlm(student_logits, mlm_labels)
    if alpha_cos > 0:
        terms["L_cos"] = L_cos(student_hidden, teacher_hidden, attention_mask)
    loss = sum(alphas[k] * v for k, v in terms.items())             # sum_k alpha_k L_k
    if return_terms:
        return loss, {k: v.item() for k, v in terms.items()}
    return loss
