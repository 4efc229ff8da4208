"""Hinton knowledge distillation: student loss + distillation loss, scaled by T^2.

Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural Network" (2015), Section 2:

    L = alpha * L_student + beta * L_distil
    L_student = CE(y, softmax(z_s))                                  hard labels, T = 1
    L_distil  = T^2 * KL(softmax(z_t / T) || softmax(z_s / T))        soft targets vs soft predictions

The gradient of the soft term with respect to z_s scales like 1/T^2 (Section 2.1), so
multiplying by T^2 keeps its size comparable when T changes. TinyBERT's prediction loss
and TextBrewer leave the T^2 out; ``scale_by_T2=False`` reproduces that choice.

Empty batch, one rule for every loss of the course (DistilBERT's and TinyBERT's too): a batch
of size 0, or one where every label is ``ignore_index``, gives a loss of 0.0 that stays
connected to the graph (zero gradients), never the NaN of 0 / 0 that would poison the weights.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from kd_teach.temperature import check_temperature, log_softmax_with_temperature


def _check_logits(student_logits: Tensor, teacher_logits: Tensor) -> None:
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            "student_logits and teacher_logits must have the same shape (batch, classes), got "
            f"student {tuple(student_logits.shape)} and teacher {tuple(teacher_logits.shape)}"
        )
    if student_logits.dim() != 2:
        raise ValueError(f"logits must be 2-D (batch, classes), got shape {tuple(student_logits.shape)}")


def check_labels(labels: Tensor, classes: int, ignore_index: int, name: str = "labels",
                 what: str = "class indices") -> None:
    """Raise ValueError unless ``labels`` are integers in [0, classes) or ``ignore_index``.

    The message names the argument and the first bad value (or the dtype): torch would raise a
    RuntimeError about "target dtype" or an IndexError "Target 3 is out of bounds" instead.
    """
    if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise ValueError(f"{name} must be integer {what} (torch.long), got dtype {labels.dtype}")
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= classes))
    if bad.any():
        raise ValueError(f"{name} must be {what} in [0, {classes}) or ignore_index={ignore_index}, got "
                         f"{int(labels[bad][0])} (the logits have {classes} classes)")


def student_loss(student_logits: Tensor, labels: Tensor, ignore_index: int = -100) -> Tensor:
    """Cross-entropy between the student's hard predictions (T = 1) and the hard labels.

    Rows labelled ``ignore_index`` have no hard label (sentences of an unlabelled transfer
    set): they add 0, and the sum is still divided by the whole batch, so every example's
    loss is alpha * its cross-entropy (if labelled) + beta * its distillation loss.

    Args:
        student_logits: (batch, classes) raw student scores.
        labels: (batch,) integer class ids in [0, classes), or ``ignore_index``.
        ignore_index: the label of a row without a hard label.
    Returns:
        Scalar tensor: (1/batch) * sum of the labelled rows' cross-entropy, in nats; the
        usual mean cross-entropy when every row is labelled. Empty batch: batch size 0, or
        every label ``ignore_index``, gives 0.0 with a graph (zero gradients), not NaN.
    Raises:
        ValueError: if ``student_logits`` is not (batch, classes), ``labels`` is not (batch,)
            for its batch, not an integer dtype, or holds a value outside [0, classes) other
            than ``ignore_index``; the message names the shape, dtype or value.
    Source: Hinton et al. 2015, Section 2 (the "second objective").
    """
    if student_logits.dim() != 2 or labels.shape != student_logits.shape[:1]:
        raise ValueError(
            f"expected student_logits (batch, classes) and labels (batch,), got "
            f"{tuple(student_logits.shape)} and {tuple(labels.shape)}"
        )
    check_labels(labels, student_logits.shape[1], ignore_index)
    ce = F.cross_entropy(student_logits, labels.long(), ignore_index=ignore_index, reduction="sum")
    return ce / max(labels.numel(), 1)  # -(1/B) sum_{b labelled} log p_s(y_b); 0 for an empty batch


def distillation_loss(
    student_logits: Tensor, teacher_logits: Tensor, T: float = 2.0, scale_by_T2: bool = True
) -> Tensor:
    """Soft-target loss of Hinton et al. (2015): KL(softmax(z_t/T) || softmax(z_s/T)) * T^2.

    KL differs from the cross-entropy with the soft targets only by the teacher's entropy,
    a constant for the student: same gradients, but KL is 0 when the student matches.

    Args:
        student_logits: (batch, classes) raw scores of the student.
        teacher_logits: (batch, classes) raw scores of the teacher; same shape. Detached.
        T: temperature, a finite float > 0.
        scale_by_T2: multiply by T^2 so gradients keep their size as T changes.
    Returns:
        Scalar tensor: mean KL per example ("batchmean"), in nats, times T^2 if asked.
        Empty batch: (0, classes) logits give 0.0 with a graph (zero gradients), not NaN.
    Raises:
        ValueError: if the shapes differ or T is not a finite number > 0.
    Source: Hinton et al. 2015, Section 2 and 2.1 (the T^2 factor).
    """
    _check_logits(student_logits, teacher_logits)
    T = check_temperature(T)
    log_p_t = log_softmax_with_temperature(teacher_logits.detach(), T)  # (B, C) log soft targets
    p_t = log_p_t.exp()                                            # (B, C) soft targets
    log_q_s = log_softmax_with_temperature(student_logits, T)       # (B, C) log soft predictions
    kl_rows = (p_t * (log_p_t - log_q_s)).sum(-1)                  # (B,) sum_i p_i log(p_i/q_i)
    kl = kl_rows.sum() / max(kl_rows.numel(), 1)                   # batchmean; 0 for an empty batch
    return kl * T**2 if scale_by_T2 else kl


def kd_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    labels: Tensor,
    alpha: float = 0.5,
    beta: float = 0.5,
    T: float = 2.0,
    scale_by_T2: bool = True,
    return_terms: bool = False,
) -> Tensor | tuple[Tensor, dict[str, float]]:
    """L = alpha * L_student + beta * L_distil (Hinton et al. 2015, Section 2).

    Args:
        student_logits: (batch, classes) raw student scores.
        teacher_logits: (batch, classes) raw teacher scores, same shape.
        labels: (batch,) hard labels; -100 marks a row without one (only L_distil applies).
        alpha: weight of the student loss (hard labels), >= 0.
        beta: weight of the distillation loss (soft targets), >= 0.
        T: temperature, a finite float > 0.
        scale_by_T2: passed to :func:`distillation_loss`.
        return_terms: also return ``{"student_loss", "distillation_loss"}`` as floats (for
            loss curves), without computing either term a second time.
    Returns:
        Scalar tensor, in nats; with ``return_terms``, ``(loss, terms)``. Empty batch: 0.0 with
        a graph, as both terms.
    Raises:
        ValueError: on a shape mismatch, bad labels (see :func:`student_loss`), a bad T, or a
            negative weight.
    """
    for name, w in (("alpha", alpha), ("beta", beta)):
        if not w >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {w!r}")
    L_student = student_loss(student_logits, labels)
    L_distil = distillation_loss(student_logits, teacher_logits, T, scale_by_T2)
    loss = alpha * L_student + beta * L_distil
    if return_terms:
        return loss, {"student_loss": L_student.item(), "distillation_loss": L_distil.item()}
    return loss
