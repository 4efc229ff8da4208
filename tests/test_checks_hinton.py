"""Tests for kd_teach.course.checks.hinton: correct rewrites pass, each usual mistake is named.

Every wrong implementation below is a mistake a learner makes; the checker must raise
CheckFailed with a hint that names it (Hinton, Vinyals and Dean 2015 for the math).
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import kd_teach
from kd_teach.course.checks import (CheckFailed, check_distillation_loss, check_entropy, check_guess, check_kd_loss,
                                    check_soft_targets, check_softmax_with_temperature)

# --------------------------------------------------------------------------- references and correct rewrites


def solution_softmax(logits, T=1.0, dim=-1):  # as in solutions/01: plain exp, max subtracted
    z = logits / T
    z = z - z.amax(dim=dim, keepdim=True)
    e = z.exp()
    return e / e.sum(dim=dim, keepdim=True)


def solution_distillation_loss(student_logits, teacher_logits, T=2.0, scale_by_T2=True):  # as in solutions/02
    log_p = torch.log_softmax(teacher_logits.detach() / T, dim=-1)
    log_q = torch.log_softmax(student_logits / T, dim=-1)
    kl = (log_p.exp() * (log_p - log_q)).sum(-1).mean()
    return kl * T**2 if scale_by_T2 else kl


def kl_div_loss(s, t, T=2.0, scale_by_T2=True):  # the usual torch idiom
    kl = F.kl_div(F.log_softmax(s / T, -1), F.softmax(t.detach() / T, -1), reduction="batchmean")
    return kl * T * T if scale_by_T2 else kl


CORRECT = [
    (check_softmax_with_temperature, solution_softmax),
    (check_softmax_with_temperature, lambda z, T=1.0, dim=-1: torch.softmax(z * (1 / T), dim)),
    (check_softmax_with_temperature, lambda z, T=1.0, dim=-1: torch.log_softmax(z / T, dim).exp()),
    (check_soft_targets, lambda t, T=2.0: solution_softmax(t.detach(), T)),
    (check_entropy, lambda p, dim=-1: -torch.xlogy(p, p).sum(dim)),
    (check_entropy, lambda p, dim=-1: torch.special.entr(p).sum(dim)),
    (check_entropy, lambda p, dim=-1: -(p * torch.log(p + 1e-12)).sum(dim)),
    (check_distillation_loss, solution_distillation_loss),
    (check_distillation_loss, kl_div_loss),
    (check_kd_loss, lambda s, t, y, a=0.5, b=0.5, T=2.0: a * F.cross_entropy(s, y) + b * kl_div_loss(s, t, T)),
    (check_kd_loss, lambda s, t, y, a=0.5, b=0.5, T=2.0: a * F.cross_entropy(s, y)
     + b * solution_distillation_loss(s, t, T)),
]


@pytest.mark.parametrize("check, fn", CORRECT)
def test_correct_rewrites_pass(check, fn, capsys):
    assert check(fn) is None
    assert "✓" in capsys.readouterr().out


# --------------------------------------------------------------------------- wrong implementations


def softmax_overflows(z, T=1.0, dim=-1):
    e = (z / T).exp()                                   # no max subtracted
    return e / e.sum(dim, keepdim=True)


def softmax_in_place(z, T=1.0, dim=-1):
    z /= T
    return torch.softmax(z, dim)


def softmax_whole_tensor(z, T=1.0, dim=-1):
    e = ((z - z.max()) / T).exp()
    return e / e.sum()


def softmax_without_dim(z, T=1.0):
    return torch.softmax(z / T, -1)


def entropy_without_xlogy(p, dim=-1):
    return -(p * p.log()).sum(dim)


def kl(s, t, Ts, Tt):
    """KL(softmax(t/Tt) || softmax(s/Ts)), batchmean, no T²."""
    return F.kl_div(F.log_softmax(s / Ts, -1), F.softmax(t.detach() / Tt, -1), reduction="batchmean")


def kl_of_softmax_ratio(s, t, T=2.0, scale_by_T2=True):
    p, q = torch.softmax(t.detach() / T, -1), torch.softmax(s / T, -1)
    return (p * (p / q).log()).sum(-1).mean() * (T * T if scale_by_T2 else 1)   # log(0) = -inf


def kl_not_detached(s, t, T=2.0, scale_by_T2=True):
    kl = F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="batchmean")
    return kl * T * T if scale_by_T2 else kl


def ce(s, y, T=1.0):
    return F.cross_entropy(s / T, y)


WRONG = [
    # softmax_with_temperature
    (check_softmax_with_temperature, lambda z, T=1.0, dim=-1: torch.softmax(z, dim), "divide the logits by T"),
    (check_softmax_with_temperature, lambda z, T=1.0, dim=-1: torch.softmax(z * T, dim), "do not multiply"),
    (check_softmax_with_temperature, lambda z, T=1.0, dim=-1: (z / T - (z / T).amax(dim, keepdim=True)).exp(),
     "sum to 1"),
    (check_softmax_with_temperature, lambda z, T=1.0, dim=-1: torch.softmax(z / T, -1),
     "normalised along the last dimension instead of dim 0"),
    (check_softmax_with_temperature, lambda z, T=1.0, dim=-1: torch.softmax(z / T, 0), "normalised along dim 0"),
    (check_softmax_with_temperature, softmax_whole_tensor, "whole tensor"),
    (check_softmax_with_temperature, softmax_overflows, "subtract the largest logit"),
    (check_softmax_with_temperature, lambda z, T=1.0, dim=-1: torch.softmax(z.float() / T, dim), "dtype"),
    (check_softmax_with_temperature, lambda z, T=1.0, dim=-1: torch.softmax(z / T, dim).amax(dim), "keepdim"),
    (check_softmax_with_temperature, softmax_in_place, "in place"),
    (check_softmax_with_temperature, lambda z, T=1.0, dim=-1: None, "should return a torch.Tensor"),
    (check_softmax_with_temperature, softmax_without_dim, "called as softmax_with_temperature(logits, T, dim="),
    (check_softmax_with_temperature, lambda z, T=1.0, dim=-1: 0.99 * torch.softmax(z / T, dim) + 0.01 / z.shape[dim],
     "max abs difference"),
    # soft_targets
    (check_soft_targets, lambda t, T=2.0: torch.softmax(t / T, -1), "detach the teacher logits"),
    (check_soft_targets, lambda t, T=2.0: torch.softmax(t.detach(), -1), "divide the logits by T"),
    (check_soft_targets, lambda t, T=2.0: softmax_overflows(t.detach(), T), "overflow"),
    # entropy
    (check_entropy, lambda p, dim=-1: -torch.xlogy(p, p).sum(dim) / math.log(2), "natural log, not log2"),
    (check_entropy, lambda p, dim=-1: -torch.xlogy(p, p).sum(dim) / math.log(10), "natural log, not log10"),
    (check_entropy, lambda p, dim=-1: torch.xlogy(p, p).sum(dim), "entropy is negative"),
    (check_entropy, entropy_without_xlogy, "treat 0·log 0 as 0"),
    (check_entropy, lambda p, dim=-1: -torch.xlogy(p, p).sum(-1), "summed over dim 1 instead of dim 0"),
    (check_entropy, lambda p, dim=-1: -torch.xlogy(p, p).mean(dim), "do not average"),
    (check_entropy, lambda p, dim=-1: -torch.xlogy(p, p), "one entropy per distribution"),
    # distillation_loss
    (check_distillation_loss, lambda s, t, T=2.0, scale_by_T2=True: kl(s, t, T, T), "T² times too small"),
    (check_distillation_loss, lambda s, t, T=2.0, scale_by_T2=True: kl(s, t, T, T) * T * T, "T² times too large"),
    (check_distillation_loss, lambda s, t, T=2.0, scale_by_T2=True: T * T * F.kl_div(
        F.log_softmax(s / T, -1), F.softmax(t.detach() / T, -1), reduction="mean"), "batchmean"),
    (check_distillation_loss, lambda s, t, T=2.0, scale_by_T2=True: T * T * F.kl_div(
        F.log_softmax(s / T, -1), F.softmax(t.detach() / T, -1), reduction="sum"), "average over the batch"),
    (check_distillation_loss, lambda s, t, T=2.0, scale_by_T2=True: T * T * kl(t.detach(), s, T, T),
     "wrong direction"),
    (check_distillation_loss, lambda s, t, T=2.0, scale_by_T2=True: T * T * kl(s, t, T, 1.0), "only one side"),
    (check_distillation_loss, lambda s, t, T=2.0, scale_by_T2=True: T * T * kl(s, t, 1.0, T), "only one side"),
    (check_distillation_loss, lambda s, t, T=2.0, scale_by_T2=True: T * T * kl(s, t, 1.0, 1.0), "ignores T"),
    (check_distillation_loss, lambda s, t, T=2.0, scale_by_T2=True: T * T * -(
        F.softmax(t.detach() / T, -1) * F.log_softmax(s / T, -1)).sum(-1).mean(), "teacher's entropy"),
    (check_distillation_loss, lambda s, t, T=2.0, scale_by_T2=True: kl_div_loss(s, t, T, scale_by_T2) + 0.01,
     "not 0, when student_logits equal teacher_logits"),
    (check_distillation_loss, kl_of_softmax_ratio, "log_softmax"),
    (check_distillation_loss, kl_not_detached, "detach the teacher"),
    (check_distillation_loss, lambda s, t, T=2.0, scale_by_T2=True: kl_div_loss(s, t, T, scale_by_T2).detach(),
     "no gradient reaches student_logits"),
    (check_distillation_loss, lambda s, t, T=2.0, scale_by_T2=True: kl_div_loss(s, t, T, scale_by_T2).item(),
     "not .item()"),
    (check_distillation_loss, lambda s, t, T=2.0, scale_by_T2=True: T * T * F.kl_div(
        F.log_softmax(s / T, -1), F.softmax(t.detach() / T, -1), reduction="none").sum(-1), "average over the batch"),
    (check_distillation_loss, lambda s, t, T=2.0: kl_div_loss(s, t, T), "scale_by_T2"),
    # kd_loss
    (check_kd_loss, lambda s, t, y, a=0.5, b=0.5, T=2.0: b * ce(s, y) + a * kl_div_loss(s, t, T), "alpha and beta"),
    (check_kd_loss, lambda s, t, y, a=0.5, b=0.5, T=2.0: a * ce(s, y, T) + b * kl_div_loss(s, t, T),
     "hard predictions use T = 1"),
    (check_kd_loss, lambda s, t, y, a=0.5, b=0.5, T=2.0: a * ce(s, y) + b * kl(s, t, T, T), "T² missing"),
    (check_kd_loss, lambda s, t, y, a=0.5, b=0.5, T=2.0: a * ce(s, y) + (1 - a) * kl_div_loss(s, t, T),
     "not by 1 - alpha"),
    (check_kd_loss, lambda s, t, y, a=0.5, b=0.5, T=2.0: a * ce(s, y) + b * T * T * kl(t.detach(), s, T, T),
     "in the distillation term, KL in the wrong direction"),
    (check_kd_loss, lambda s, t, y, a=0.5, b=0.5, T=2.0: a * F.cross_entropy(s, y, reduction="sum")
     + b * kl_div_loss(s, t, T), "max abs difference"),
    (check_kd_loss, lambda s, t, y, a=0.5, b=0.5, T=2.0: a * ce(s, y) + b * kl_not_detached(s, t, T),
     "detach the teacher"),
]


@pytest.mark.filterwarnings("ignore:reduction")  # F.kl_div(reduction="mean") warns: that is the mistake
@pytest.mark.parametrize("check, fn, phrase", WRONG, ids=[f"{c.__name__}-{p}" for c, _, p in WRONG])
def test_wrong_implementation_is_named(check, fn, phrase, capsys):
    with pytest.raises(CheckFailed) as info:
        check(fn)
    assert phrase in str(info.value)
    assert "✓" not in capsys.readouterr().out       # no success line before a failure
    assert isinstance(info.value, AssertionError)


def test_message_names_the_input_and_shows_a_small_example():
    with pytest.raises(CheckFailed) as info:
        check_softmax_with_temperature(lambda z, T=1.0, dim=-1: torch.softmax(z, dim))
    message = str(info.value)
    assert "shape (4, 3), float64, T=2" in message and "expected: [[" in message and "got:" in message


def test_right_on_the_first_case_only_is_not_enough():
    calls = []

    def lucky(z, T=1.0, dim=-1):
        calls.append(1)
        return kd_teach.softmax_with_temperature(z, T, dim) if len(calls) == 1 else torch.softmax(z, dim)

    with pytest.raises(CheckFailed, match="divide the logits by T"):
        check_softmax_with_temperature(lucky)


# --------------------------------------------------------------------------- exceptions from the learner


def test_other_exceptions_become_check_failed_naming_the_input():
    def picky(s, t, T=2.0, scale_by_T2=True):
        if T < 0.1:
            raise ValueError("T is too small for me")
        return kl_div_loss(s, t, T, scale_by_T2)

    with pytest.raises(CheckFailed) as info:
        check_distillation_loss(picky)
    message = str(info.value)
    assert "ValueError" in message and "T is too small for me" in message and "T=0.05" in message
    assert "shape (5, 3)" in message


# --------------------------------------------------------------------------- predict, then run


@pytest.mark.parametrize("placeholder", [None, ..., "0.5", float("nan"), True])
def test_guess_must_be_a_number(placeholder):
    with pytest.raises(CheckFailed, match="number"):
        check_guess(placeholder, 0.69, what="the entropy")


def test_guess_within_tolerance(capsys):
    check_guess(0.65, torch.tensor(0.6931), what="the entropy at T = 5", tolerance=0.05,
                why="Dividing by 5 shrinks the logit gap.")
    out = capsys.readouterr().out
    assert "Within tolerance" in out and "0.65" in out and "0.6931" in out and "shrinks the logit gap" in out


def test_wrong_but_honest_guess_is_reported_not_raised(capsys):
    check_guess(0.1, 0.6931, what="the entropy", tolerance=0.05)
    out = capsys.readouterr().out
    assert "Off by 0.593" in out and "too low" in out and "Within" not in out


def test_guess_default_tolerance_is_ten_percent(capsys):
    check_guess(0.26, 0.25)
    assert "Within tolerance (±0.025)" in capsys.readouterr().out
    check_guess(3, 2.0)
    assert "too high" in capsys.readouterr().out
