"""Softmax with temperature, soft targets and entropy: the language of dark knowledge.

Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural Network" (2015), Eq. 1:

    q_i = exp(z_i / T) / sum_j exp(z_j / T)

T = 1 is the usual softmax. A larger T softens the distribution (T -> inf: uniform),
a smaller T sharpens it (T -> 0: one-hot on the argmax). Dividing every logit by the
same positive T never changes their order, so the ranking of the classes never changes.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


def check_temperature(T: float, name: str = "T") -> float:
    """Return ``T`` as a float after checking it is a finite number > 0.

    Raises:
        ValueError: if ``T`` is not a number, not finite, or <= 0; the message names the value.
    """
    if isinstance(T, Tensor):
        if T.numel() != 1:
            raise ValueError(f"{name} must be a single number, got a tensor of shape {tuple(T.shape)}")
        T = T.item()
    if isinstance(T, (bool, str, bytes)):
        raise ValueError(f"{name} must be a finite number > 0, got {T!r}")
    try:
        value = float(T)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number > 0, got {T!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {T!r}")
    return value


def log_softmax_with_temperature(logits: Tensor, T: float = 1.0, dim: int = -1) -> Tensor:
    """log softmax_T(z) = z/T - logsumexp(z/T), computed stably.

    Subtracting the row maximum first keeps every term small: in float32 and float64 the result
    stays finite and accurate for logits up to +-1e4 and T down to 0.05 (z/T up to 2e5), where
    ``z/T - logsumexp(z/T)`` would cancel two numbers of size 2e5 and lose ~0.02 nats. In
    float16, z/T itself overflows beyond 65,504 (|z| > 3,275 at T = 0.05): cast such logits to
    float32 first.

    Args:
        logits: (..., classes) raw scores z, a float dtype.
        T: temperature, a finite float > 0.
        dim: the class dimension.
    Returns:
        Tensor of the same shape as ``logits``: log-probabilities (nats), <= 0.
    Raises:
        ValueError: if ``T`` is not a finite number > 0.
    Source: Hinton et al. 2015, Eq. 1 (in log form).
    """
    T = check_temperature(T)
    scaled = logits / T                                            # z / T
    shifted = scaled - scaled.amax(dim=dim, keepdim=True)          # z/T - max(z/T) <= 0: exp cannot overflow
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()  # log q_i; the sum is in [1, C]


def softmax_with_temperature(logits: Tensor, T: float = 1.0, dim: int = -1) -> Tensor:
    """softmax_T(z)_i = exp(z_i / T) / sum_j exp(z_j / T).

    Args:
        logits: (..., classes) raw scores z.
        T: temperature, a finite float > 0; T = 1 is the usual softmax.
        dim: the class dimension.
    Returns:
        Tensor of the same shape: probabilities in [0, 1] that sum to 1 along ``dim``.
    Raises:
        ValueError: if ``T`` is not a finite number > 0.
    Source: Hinton et al. 2015, Eq. 1.
    """
    return log_softmax_with_temperature(logits, T, dim).exp()


def soft_targets(teacher_logits: Tensor, T: float = 2.0, dim: int = -1) -> Tensor:
    """The teacher's soft targets: its class probabilities at temperature T.

    A teacher trained at T = 1 is very confident; raising T lifts the small probabilities
    of the wrong classes (the "dark knowledge") so the student can learn from them.
    Teacher logits are constants for the student, so the result is detached.

    Args:
        teacher_logits: (batch, classes) or (..., classes) raw teacher scores.
        T: temperature, a finite float > 0 (usually > 1 for distillation).
    Returns:
        Tensor of the same shape, rows summing to 1, with no gradient history.
    Raises:
        ValueError: if ``T`` is not a finite number > 0.
    Source: Hinton et al. 2015, Section 2.
    """
    return softmax_with_temperature(teacher_logits.detach(), T, dim)


def entropy(probs: Tensor, dim: int = -1) -> Tensor:
    """Shannon entropy H(p) = -sum_i p_i log p_i, in nats (0 log 0 = 0).

    Args:
        probs: (..., classes) probabilities that sum to 1 along ``dim``.
    Returns:
        Tensor with ``dim`` removed: between 0 (one-hot) and log(classes) (uniform).
    """
    logp = torch.log(probs.clamp_min(torch.finfo(probs.dtype).tiny))
    return -(probs * logp).sum(dim)


def entropy_at_temperature(logits: Tensor, T: float = 1.0, dim: int = -1) -> Tensor:
    """Entropy (nats) of softmax_T(logits), computed from log-probabilities for stability.

    Shapes as in :func:`entropy`; grows with T from 0 towards log(classes).
    Raises:
        ValueError: if ``T`` is not a finite number > 0.
    """
    logp = log_softmax_with_temperature(logits, T, dim)
    return -(logp.exp() * logp).sum(dim)
