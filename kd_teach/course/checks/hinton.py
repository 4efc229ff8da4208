"""Checkers for the exercises of notebooks 01-02: the temperature softmax and Hinton's KD loss.

``check_softmax_with_temperature(my_softmax)`` runs the learner's function and the reference (in
float64) on seeded random inputs: shapes (batch 1 too), float32 and float64, T from 0.05 to 100,
logits up to +-1e4, every ``dim``. All agree: one line of success. Otherwise CheckFailed says what
differs on which input, expected vs got, and a hint: a usual mistake, named only if the reference
redone with it reproduces the learner's outputs. NotImplementedError (an exercise placeholder)
propagates unchanged; other exceptions become a CheckFailed naming the input (the engine:
:mod:`kd_teach.course.checks.core`). ``check_guess`` grades a number the learner predicted.
"""
from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import replace
from typing import Callable

import torch
from torch import Tensor

from kd_teach.course.checks.core import Case, CheckFailed, call, random_logits, run
from kd_teach.hinton.losses import distillation_loss, kd_loss, student_loss
from kd_teach.temperature import entropy, log_softmax_with_temperature, soft_targets, softmax_with_temperature

TEMPERATURES = (2.0, 0.5, 1.0, 5.0, 0.05, 20.0, 100.0)  # T = 2 first: most mistakes show at once
DTYPES = (torch.float64, torch.float32)
WEIGHTS = ((0.7, 0.3), (0.2, 0.8), (0.5, 1.5), (1.0, 0.0), (0.0, 1.0))  # (alpha, beta) for kd_loss
_SUMMARY = "T from 0.05 to 100; float32 and float64; logits up to ±1e4"


# --------------------------------------------------------------------------- inputs
def _softmax_cases(with_dim: bool) -> list[Case]:
    """Normal logits on every shape, dtype and T; then other dims; then logits up to +-1e4."""
    gen, shapes = torch.Generator().manual_seed(0), ((4, 3), (2, 3, 7), (5,), (1, 6))

    def case(shape, dtype, T, dim=-1, large=False):
        x = random_logits(gen, shape, dtype, large)
        m, where = x.abs().max().item(), "the last dimension" if dim == -1 else f"dim {dim}"
        text = f"logits of shape {shape}, {str(dtype)[6:]}, T={T:g}" + (f", dim={dim}" if dim != -1 else "")
        return Case((x, T), {} if dim == -1 else {"dim": dim}, text + f", |logits| up to {m:.3g}", m / T,
                    {"x": x.double(), "T": T, "dim": dim, "where": where})

    cases = [case(s, d, T) for s, d, T in itertools.product(shapes, DTYPES, TEMPERATURES)]
    if with_dim:
        cases += [case(s, d, T, dim) for s in shapes for dim in range(len(s) - 1) for d in DTYPES for T in (0.5, 2, 5)]
    return cases + [case(s, d, T, large=True) for s, d, T in itertools.product(shapes, DTYPES, TEMPERATURES)]


def _loss_cases(kd: bool) -> list[Case]:
    """(batch, classes) student and teacher logits, normal then up to +-1e4; scale_by_T2 both ways."""
    gen, cases = torch.Generator().manual_seed(1), []
    for large, s, d, T in itertools.product((False, True), ((5, 3), (2, 7), (1, 4), (8, 2)), DTYPES, TEMPERATURES):
        for flag in (True,) if kd or large else (True, False):
            zs, zt = random_logits(gen, s, d, large), random_logits(gen, s, d, large)
            m = max(zs.abs().max().item(), zt.abs().max().item())
            v = {"s": zs.double(), "t": zt.double(), "T": T, "t2": T * T if flag else 1.0, "B": s[0], "C": s[1]}
            scale = (math.log(s[1]) + 2 * m / T) * v["t2"]
            args, text = (zs, zt, T), f"student and teacher logits of shape {s}, {str(d)[6:]}, T={T:g}"
            text += "" if kd else f", scale_by_T2={flag}"
            if kd:
                a, b = WEIGHTS[len(cases) % len(WEIGHTS)]
                y = torch.randint(0, s[1], s[:1], generator=gen)
                v |= {"y": y, "a": a, "b": b}
                args, scale = (zs, zt, y, a, b, T), a * (math.log(s[1]) + 2 * m) + b * scale
                text += f", alpha={a:g}, beta={b:g}, labels {y.tolist()}"
            cases.append(Case(args, {} if flag else {"scale_by_T2": False}, text + f", |logits| up to {m:.3g}",
                              scale, v))
    return cases


def _entropy_cases() -> list[Case]:
    """Probabilities: smooth and sharp rows, other dims, then rows with exact zeros (one-hot too)."""
    gen, shapes = torch.Generator().manual_seed(2), ((4, 3), (3, 3), (2, 3, 7), (5,), (1, 6))

    def case(shape, dtype, sharp, dim=-1, zeros=False):
        x = torch.randn(shape, generator=gen, dtype=torch.float64) * sharp
        if zeros:  # empty classes, never the largest: every row keeps some mass
            x[(torch.rand(shape, generator=gen) < 0.5) & (x < x.amax(dim, keepdim=True))] = -math.inf
        p = softmax_with_temperature(x, 1.0, dim).to(dtype)
        n0 = int((p == 0).sum())
        text = (f"probabilities of shape {shape}, {str(dtype)[6:]}" + (f", dim={dim}" if dim != -1 else "")
                + (f", {n0} of them exactly 0" if n0 else f", smallest {p.min().item():.2g}"))
        return Case((p,), {} if dim == -1 else {"dim": dim}, text, math.log(shape[dim]) + 1,
                    {"dim": dim, "C": shape[dim], "H": entropy(p.double(), dim), "p": p})

    cases = [case(s, d, sharp) for s, d, sharp in itertools.product(shapes, DTYPES, (0.5, 3.0, 10.0))]
    cases += [case(s, d, 3.0, dim) for s in shapes for dim in range(len(s) - 1) for d in DTYPES]
    return cases + [case(s, d, sharp, zeros=True) for s, d, sharp in itertools.product(shapes, DTYPES, (1.0, 1e3))]


# --------------------------------------------------------------------------- the usual mistakes
def _sm(c: Case, T: float | None = None, dim: int | None = None) -> Tensor:
    return softmax_with_temperature(c.v["x"], c.v["T"] if T is None else T, c.v["dim"] if dim is None else dim)


def _sum_hint(c: Case, got: Tensor) -> str | None:
    if ((got.detach().double().sum(c.v["dim"]) - 1).abs() > 1e-3).any():
        return f"rows do not sum to 1 along {c.v['where']}: divide the exponentials by their sum over it"


SOFTMAX_MISTAKES = [  # (hint, the reference redone with that mistake)
    ("output does not change with T: divide the logits by T before the softmax", lambda c: _sm(c, T=1.0)),
    ("the distribution gets sharper as T grows: divide by T, do not multiply", lambda c: _sm(c, T=1 / c.v["T"])),
    ("normalised along the last dimension instead of {where}: pass dim to every max and sum", lambda c: _sm(c, dim=-1)),
    ("normalised along dim 0 instead of {where}: pass dim to every max and sum", lambda c: _sm(c, dim=0)),
    ("normalised over the whole tensor: sum over {where} only, with keepdim=True",
     lambda c: softmax_with_temperature(c.v["x"].flatten(), c.v["T"]).view_as(c.v["x"])),
]

ENTROPY_MISTAKES = [
    ("values are 1.44 times too large: use the natural log, not log2", lambda c: c.v["H"] / math.log(2)),
    ("values are 2.3 times too small: use the natural log, not log10", lambda c: c.v["H"] / math.log(10)),
    ("entropy is negative: it is −Σ p log p, mind the minus sign", lambda c: -c.v["H"]),
    ("values are C = {C} times too small: sum over the classes, do not average", lambda c: c.v["H"] / c.v["C"]),
]


def _kl(c: Case, Ts: float | None = None, Tt: float | None = None, reverse=False, cross=False) -> Tensor:
    """Batchmean KL(p_t || q_s) from the float64 inputs, no T² (or a mistaken variant of it)."""
    log_q = log_softmax_with_temperature(c.v["s"], c.v["T"] if Ts is None else Ts)
    log_p = log_softmax_with_temperature(c.v["t"], c.v["T"] if Tt is None else Tt)
    if reverse:
        log_p, log_q = log_q, log_p
    return (log_p.exp() * ((0 if cross else log_p) - log_q)).sum(-1).mean()


_ONE_SIDE = "temperature applied to only one side: divide both the student and the teacher logits by T"
KL_MISTAKES = [
    ("loss is T² times too small: multiply by T² (Hinton et al. 2015, Sec. 2.1)", lambda c: _kl(c)),
    ("loss is T² times too large with scale_by_T2=False: multiply by T² only when scale_by_T2 is True",
     lambda c: _kl(c) * c.v["T"] ** 2),
    ("loss is C = {C} times too small: you averaged over classes too (reduction='mean'); "
     "'batchmean' divides by the batch size only", lambda c: _kl(c) * c.v["t2"] / c.v["C"]),
    ("loss is B = {B} times too large: average over the batch, do not sum", lambda c: _kl(c) * c.v["t2"] * c.v["B"]),
    ("KL in the wrong direction: KL(student‖teacher) instead of KL(soft targets‖soft predictions)",
     lambda c: _kl(c, reverse=True) * c.v["t2"]),
    (_ONE_SIDE, lambda c: _kl(c, Ts=1.0) * c.v["t2"]),
    (_ONE_SIDE, lambda c: _kl(c, Tt=1.0) * c.v["t2"]),
    ("the loss ignores T: divide both the student and the teacher logits by T", lambda c: _kl(c, 1, 1) * c.v["t2"]),
    ("differs from the KL by the teacher's entropy: you computed the cross-entropy; subtract H(p_t) or use KL",
     lambda c: _kl(c, cross=True) * c.v["t2"]),
]


def _kd(c: Case, a=None, b=None, Ts=1.0, distil=None) -> Tensor:
    a, b = (c.v["a"] if a is None else a), (c.v["b"] if b is None else b)
    return a * student_loss(c.v["s"] / Ts, c.v["y"]) + b * (_kl(c) * c.v["T"] ** 2 if distil is None else distil(c))


KD_MISTAKES = [
    ("alpha and beta swapped: alpha weighs the student loss (hard labels), beta the distillation loss",
     lambda c: _kd(c, a=c.v["b"], b=c.v["a"])),
    ("student loss computed at temperature T; hard predictions use T = 1", lambda c: _kd(c, Ts=c.v["T"])),
    ("T² missing in the distillation term (Hinton et al. 2015, Sec. 2.1)", lambda c: _kd(c, distil=_kl)),
    ("beta is not used: weigh the distillation loss by beta, not by 1 - alpha", lambda c: _kd(c, b=1 - c.v["a"])),
] + [("in the distillation term, " + h, lambda c, m=m: _kd(c, distil=m)) for h, m in KL_MISTAKES[2:]]


def _check_grads(name: str, fn: Callable, usage: str, c: Case, loss: bool = True) -> None:
    """A loss passes gradients to the student's logits c.args[0]; nothing may reach the teacher's,
    c.args[1] (c.args[0] for soft targets): the teacher is fixed (Hinton et al. 2015, Sec. 2)."""
    grads = [a.detach().requires_grad_() for a in c.args[:2 if loss else 1]]
    c = replace(c, args=(*grads, *c.args[len(grads):]), text=c.text + ", logits requiring grad")
    out = call(fn, name, usage, c)
    if loss and not (isinstance(out, Tensor) and out.requires_grad):
        raise CheckFailed(f"no gradient reaches student_logits through {name} ({c.text}). Hint: keep the "
                          "loss a tensor computed from them, without .detach(), .item() or torch.no_grad().")
    if isinstance(out, Tensor) and out.requires_grad and torch.autograd.grad(
            out.sum(), grads[-1], allow_unused=True)[0] is not None:
        raise CheckFailed(f"{name} lets gradients flow back into teacher_logits ({c.text}). Hint: soft targets "
                          "are constants for the student: detach the teacher logits (teacher_logits.detach()).")


# --------------------------------------------------------------------------- the checkers
def check_softmax_with_temperature(fn: Callable) -> None:
    """Check fn(logits, T, dim=-1) -> (same shape) against :func:`kd_teach.temperature.softmax_with_temperature`.

    Hinton et al. 2015, Eq. 1. Prints one line when all cases agree; raises CheckFailed on a difference.
    """
    run("softmax_with_temperature", fn, softmax_with_temperature,
                "softmax_with_temperature(logits, T, dim=...)", _softmax_cases(with_dim=True), SOFTMAX_MISTAKES,
                f"shapes (4, 3), (2, 3, 7), (5,), (1, 6); dim -1, 0, 1; {_SUMMARY}", _sum_hint)


def check_soft_targets(fn: Callable) -> None:
    """Check fn(teacher_logits, T) -> (same shape) against :func:`kd_teach.temperature.soft_targets`.

    Values as softmax_with_temperature; no gradient back to the teacher (Hinton et al. 2015, Sec. 2).
    """
    name, usage, cases = "soft_targets", "soft_targets(teacher_logits, T)", _softmax_cases(with_dim=False)
    run(name, fn, soft_targets, usage, cases, SOFTMAX_MISTAKES,
                f"shapes (4, 3), (2, 3, 7), (5,), (1, 6); {_SUMMARY}", _sum_hint,
                lambda: _check_grads(name, fn, usage, cases[0], loss=False))


def check_entropy(fn: Callable) -> None:
    """Check fn(probs, dim=-1) -> (probs' shape without dim) against :func:`kd_teach.temperature.entropy`.

    In nats, 0 log 0 = 0; rows smooth, sharp, with exact zeros, one-hot. Prints one line; raises CheckFailed.
    """
    run("entropy", fn, entropy, "entropy(probs, dim=...)", _entropy_cases(), ENTROPY_MISTAKES,
                "shapes (4, 3), (3, 3), (2, 3, 7), (5,), (1, 6); dim -1, 0, 1; float32 and float64; zeros, one-hot")


def check_distillation_loss(fn: Callable) -> None:
    """Check fn(student_logits, teacher_logits, T, scale_by_T2=True) -> scalar against the reference.

    :func:`kd_teach.hinton.losses.distillation_loss`: T² KL(p_t || q_s) batchmean (Hinton et al. 2015, 2.1).
    """
    name, usage = "distillation_loss", "distillation_loss(student_logits, teacher_logits, T, scale_by_T2=...)"
    cases = _loss_cases(kd=False)

    def not_zero(c: Case, got: Tensor) -> str | None:
        zero = call(fn, name, usage, replace(c, args=(c.args[1], *c.args[1:])))
        if isinstance(zero, Tensor) and zero.numel() == 1 and abs(zero.item()) > 1e-4:
            return (f"the loss is {zero.item():.3g}, not 0, when student_logits equal teacher_logits: "
                    "KL(p‖p) = 0, so use the KL, not the cross-entropy")

    run(name, fn, distillation_loss, usage, cases, KL_MISTAKES,
                f"batch × classes (5, 3), (2, 7), (1, 4), (8, 2); scale_by_T2 True and False; {_SUMMARY}",
                not_zero, lambda: _check_grads(name, fn, usage, cases[0]))


def check_kd_loss(fn: Callable) -> None:
    """Check fn(student_logits, teacher_logits, labels, alpha, beta, T) -> scalar against the reference.

    :func:`kd_teach.hinton.losses.kd_loss`: alpha CE(z_s, y) + beta T² KL(p_t || q_s) (Hinton et al. 2015).
    """
    name, usage = "kd_loss", "kd_loss(student_logits, teacher_logits, labels, alpha, beta, T)"
    cases = _loss_cases(kd=True)
    run(name, fn, kd_loss, usage, cases, KD_MISTAKES,
                f"batch × classes (5, 3), (2, 7), (1, 4), (8, 2); {len(WEIGHTS)} (alpha, beta) pairs; {_SUMMARY}",
                None, lambda: _check_grads(name, fn, usage, cases[0]))


# --------------------------------------------------------------------------- predict, then run
def _number(x, what: str) -> float:
    x = x.item() if isinstance(x, Tensor) and x.numel() == 1 else x
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x):
        raise CheckFailed(f"{what} must be a finite number, got {x!r}: write it in place of the placeholder.")
    return float(x)


def check_guess(guess, actual, what: str = "the value", tolerance: float | None = None,
                why: str | None = None) -> None:
    """Print how far a prediction ("predict, then run") is from the value the code computed.

    guess and actual are numbers or one-element tensors; ``what`` names the quantity ("the entropy
    at T = 5"); ``tolerance`` is absolute (default 10% of |actual|); ``why`` is a line of intuition.
    Prints whether |guess - actual| <= tolerance. A wrong guess is how one learns: it is reported
    ("off by ..."), never raised. Raises CheckFailed only if guess is None or not a number.
    """
    g, a = _number(guess, f"your guess for {what}"), _number(actual, f"the actual value of {what}")
    tol = 0.1 * abs(a) if tolerance is None else float(tolerance)
    err = abs(g - a)
    print(f"Your guess for {what}: {g:.4g}; actual: {a:.4g}.")
    if err <= tol:
        print(f"✓ Within tolerance (±{tol:.3g}): well predicted.")
    else:
        rel = f", {err / abs(a):.0%} of the actual value" if a else ""
        print(f"✗ Off by {err:.3g}{rel}: your guess is too {'high' if g > a else 'low'} (tolerance ±{tol:.3g}).")
    if why:
        print(why)
