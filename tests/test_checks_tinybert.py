"""Tests for kd_teach.course.checks.tinybert: correct rewrites pass,
each usual mistake is named in words (Jiao et al. 2020, Section 3.1, Eqs. 7-10, n = g(m))."""
from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from kd_teach.course.checks import CheckFailed
from kd_teach.course.checks.mapping import check_layer_mapping
from kd_teach.course.checks.tinybert import check_L_attn, check_L_hidn, check_L_pred

NAMES = {check_L_hidn: "L_hidn", check_L_attn: "L_attn", check_L_pred: "L_pred", check_layer_mapping: "mapping"}


# --------------------------------------------------------------------------- correct rewrites
def hidn_solution(H_S, H_T, W, am):  # as in solutions/05
    real = am.bool()
    return ((H_S[real] @ W - H_T[real].detach()) ** 2).mean()


def hidn_multiplied(H_S, H_T, W, am):  # padding zeroed by multiplication, F.mse_loss per entry
    m = am[..., None].to(H_S.dtype)                                    # (B, L, 1)
    return (F.mse_loss(H_S @ W, H_T, reduction="none") * m).sum() / (m.sum() * H_T.shape[-1])


def attn_solution(A_S, A_T, am):
    real = am.bool()
    pairs = (real[:, :, None] & real[:, None, :])[:, None].expand_as(A_S)   # (B, H, L, L)
    return ((A_S - A_T.detach())[pairs] ** 2).mean()


def attn_like_textbrewer_with_mask(A_S, A_T, am):  # TextBrewer's masked branch: no zeroing, pairs counted
    mask = am.to(A_S).unsqueeze(1).expand(-1, A_S.size(1), -1)               # (B, H, L)
    valid = (mask.sum(dim=2) ** 2).sum()
    return (F.mse_loss(A_S, A_T, reduction="none") * mask.unsqueeze(-1) * mask.unsqueeze(2)).sum() / valid


def pred_solution(z_s, z_t, t):
    p_t = torch.softmax(z_t.detach() / t, -1)
    return -(p_t * torch.log_softmax(z_s / t, -1)).sum(-1).mean()


def pred_cross_entropy(z_s, z_t, t):  # F.cross_entropy accepts probabilities as targets
    return F.cross_entropy(z_s / t, torch.softmax(z_t / t, -1))


def mapping_solution(M, N):
    if N % M:
        raise ValueError(f"{N} is not divisible by {M}")
    return [m * N // M for m in range(M + 1)]


def mapping_steps(M, N):
    if N % M != 0:
        raise ValueError("not uniform")
    return list(range(0, N + 1, N // M))


CORRECT = [(check_L_hidn, hidn_solution), (check_L_hidn, hidn_multiplied),
           (check_L_attn, attn_solution), (check_L_attn, attn_like_textbrewer_with_mask),
           (check_L_pred, pred_solution), (check_L_pred, pred_cross_entropy),
           (check_layer_mapping, mapping_solution), (check_layer_mapping, mapping_steps)]


@pytest.mark.parametrize("check, fn", CORRECT, ids=[f"{NAMES[c]}-{f.__name__}" for c, f in CORRECT])
def test_correct_rewrites_pass(check, fn, capsys):
    check(fn)
    assert capsys.readouterr().out.startswith("✓")


# --------------------------------------------------------------------------- wrong implementations
def sq(H_S, H_T, W):
    return (H_S @ W - H_T) ** 2                                          # (B, L, d_T)


def hidn_in_place(H_S, H_T, W, am):
    H_T[am == 0] = 0                                                     # zeroes the caller's teacher
    return hidn_solution(H_S, H_T, W, am)


def hidn_pad_by_probe(H_S, H_T, W, am):  # padding included and a stray factor: only the probe can tell
    return 1.5 * sq(H_S, H_T, W).mean()


def pairs_of(A, am):
    real = am.bool()
    return (real[:, :, None] & real[:, None, :])[:, None].expand_as(A)


def attn_keys_only(A_S, A_T, am):
    keys = am.bool()[:, None, None, :].expand_as(A_S)
    return ((A_S - A_T)[keys] ** 2).mean()


def attn_queries_only(A_S, A_T, am):
    queries = am.bool()[:, None, :, None].expand_as(A_S)
    return ((A_S - A_T)[queries] ** 2).mean()


def attn_textbrewer(A_S, A_T, am):  # att_mse_loss's zeroing, then the real pairs
    A_S, A_T = (torch.where(A <= -1e-3, torch.zeros_like(A), A) for A in (A_S, A_T))
    return attn_solution(A_S, A_T, am)


def attn_clamped(A_S, A_T, am):
    return attn_solution(A_S.clamp(min=0), A_T.clamp(min=0), am)


def attn_heads_summed(A_S, A_T, am):
    d = ((A_S - A_T) ** 2).sum(1)                                        # (B, L, L)
    return d[pairs_of(A_S, am)[:, 0]].mean()


def attn_softmax(A_S, A_T, am):
    keys = am.bool()[:, None, None, :]
    P_S, P_T = (torch.softmax(A.masked_fill(~keys, float("-inf")), -1) for A in (A_S, A_T))
    return attn_solution(P_S, P_T, am)


def attn_per_token(A_S, A_T, am):
    return ((A_S - A_T) ** 2)[pairs_of(A_S, am)].sum() / (am.sum() * A_S.shape[1])


def attn_softplus_by_probe(A_S, A_T, am):  # not an MSE of raw scores: the sign probe tells
    return ((F.softplus(A_S) - F.softplus(A_T))[pairs_of(A_S, am)] ** 2).mean()


def ce_rows(z_s, z_t, Ts, Tt):  # (B,) soft cross-entropy
    return -(torch.softmax(z_t / Tt, -1) * torch.log_softmax(z_s / Ts, -1)).sum(-1)


def kl_rows(z_s, z_t, t):
    log_p, log_q = torch.log_softmax(z_t / t, -1), torch.log_softmax(z_s / t, -1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def mapping_floats(M, N):
    if N % M:
        raise ValueError("not uniform")
    return [m * N / M for m in range(M + 1)]


def mapping_no_error(M, N):
    return [round(m * N / M) for m in range(M + 1)]


def mapping_assert(M, N):
    assert N % M == 0, "not uniform"
    return [m * N // M for m in range(M + 1)]


def mapping_m_over_n(M, N):
    if N % M:
        raise ValueError("not uniform")
    return [m * M / N for m in range(M + 1)]


def mapping_always_raises(M, N):
    raise ValueError("no")


WRONG = [
    # L_hidn
    (check_L_hidn, lambda H_S, H_T, W, am: sq(H_S, H_T, W).mean(), "the loss changes when padded positions change"),
    (check_L_hidn, lambda H_S, H_T, W, am: (sq(H_S, H_T, W) * am[..., None]).sum() / sq(H_S, H_T, W).numel(),
     "you divided by all B×S = 10 positions"),
    (check_L_hidn, lambda H_S, H_T, W, am: sq(H_S, H_T, W).sum(-1)[am.bool()].mean(), "d_T = 6 times too large"),
    (check_L_hidn, lambda H_S, H_T, W, am: sq(H_S, H_T, W)[am.bool()].sum(), "the squared norm"),
    (check_L_hidn, lambda H_S, H_T, W, am: ((sq(H_S, H_T, W).mean(-1) * am).sum(1) / am.sum(1)).mean(),
     "a short sentence weighs as much as a long one"),
    (check_L_hidn, lambda H_S, H_T, W, am: hidn_solution(H_S, H_T, W, am).sqrt(), "you took a square root"),
    (check_L_hidn, lambda H_S, H_T, W, am: (H_S[am.bool()] @ W - H_T[am.bool()]).norm(), "you took a square root"),
    (check_L_hidn, lambda H_S, H_T, W, am: (H_S[am.bool()] @ W - H_T[am.bool()]).abs().mean(),
     "the mean absolute error"),
    (check_L_hidn, lambda H_S, H_T, W, am: ((H_T[am.bool()] @ W.T - H_S[am.bool()]) ** 2).mean(),
     "you projected the teacher down"),
    (check_L_hidn, lambda H_S, H_T, W, am: ((H_T[am.bool()] @ W - H_S[am.bool()]) ** 2).mean(),
     "W is (d_S, d_T) and multiplies the student's states on the right: H_S @ W"),
    (check_L_hidn, lambda H_S, H_T, W, am: ((H_S[am.bool()] @ W.T - H_T[am.bool()]) ** 2).mean(),
     "W is (d_S, d_T) and multiplies the student's states on the right: H_S @ W"),
    (check_L_hidn, lambda H_S, H_T, W, am: ((F.linear(H_S, W) - H_T)[am.bool()] ** 2).mean(),
     "multiplies the student's states on the right"),
    (check_L_hidn, lambda H_S, H_T, W, am: ((H_S - H_T)[am.bool()] ** 2).mean(), "project the student's states first"),
    (check_L_hidn, hidn_in_place, "changed its input in place"),
    (check_L_hidn, hidn_pad_by_probe, "the loss changes when padded positions change"),
    (check_L_hidn, lambda H_S, H_T, W, am: hidn_solution(H_S, H_T, W, am).item(), "should return a torch.Tensor"),
    (check_L_hidn, lambda H_S, H_T, W, am: sq(H_S, H_T, W).mean(-1), "expected a scalar"),
    (check_L_hidn, lambda H_S, H_T, W, am: hidn_solution(H_S.detach(), H_T, W, am), "no gradient reaches H_S"),
    (check_L_hidn, lambda H_S, H_T, W, am: hidn_solution(H_S, H_T, W.detach(), am), "no gradient reaches W"),
    # L_attn
    (check_L_attn, lambda A_S, A_T, am: ((A_S - A_T) ** 2).mean(), "you included the padded (query, key) pairs"),
    (check_L_attn, attn_keys_only, "you masked the padded keys but not the padded queries"),
    (check_L_attn, attn_queries_only, "you masked the padded queries but not the padded keys"),
    (check_L_attn, attn_textbrewer, "you zeroed every negative score (as TextBrewer does"),
    (check_L_attn, attn_clamped, "you zeroed every negative score"),
    (check_L_attn, attn_heads_summed, "h = 3 times too large: you summed over the heads"),
    (check_L_attn, attn_softmax, "you compared attention probabilities"),
    (check_L_attn, lambda A_S, A_T, am: attn_solution(A_S.softmax(-1), A_T.softmax(-1), am),
     "you compared attention probabilities"),
    (check_L_attn, attn_per_token, "you divided by the number of real tokens"),
    (check_L_attn, lambda A_S, A_T, am: ((A_S - A_T)[pairs_of(A_S, am)] ** 2).sum() / A_S.numel(),
     "you divided by all B×h×L×L"),
    (check_L_attn, lambda A_S, A_T, am: ((A_S - A_T)[pairs_of(A_S, am)] ** 2).sum(), "do not sum"),
    (check_L_attn, lambda A_S, A_T, am: 2 * ((A_S - A_T) ** 2).mean(), "the loss changes when scores at padded"),
    (check_L_attn, attn_softplus_by_probe, "negating both A_S and A_T changed the loss"),
    (check_L_attn, lambda A_S, A_T, am: ((A_S - A_T) ** 2).mean((1, 2, 3)), "expected a scalar"),
    (check_L_attn, lambda A_S, A_T, am: attn_solution(A_S.detach(), A_T, am), "no gradient reaches A_S"),
    # L_pred
    (check_L_pred, lambda z_s, z_t, t: t * t * ce_rows(z_s, z_t, t, t).mean(), "t² = 4 times too large"),
    (check_L_pred, lambda z_s, z_t, t: ce_rows(z_s, z_t, t, t).mean() / z_s.shape[-1],
     "the course's Eq. 10 sums over the classes"),
    (check_L_pred, lambda z_s, z_t, t: -(torch.softmax(z_t / t, -1) * torch.log_softmax(z_s / t, -1)).mean(),
     "C = 3 times too small: you averaged over the classes too"),
    (check_L_pred, lambda z_s, z_t, t: kl_rows(z_s, z_t, t).mean(), "you computed the KL"),
    (check_L_pred, lambda z_s, z_t, t: F.kl_div(F.log_softmax(z_s / t, -1), F.softmax(z_t / t, -1),
                                                reduction="batchmean"), "you computed the KL"),
    (check_L_pred, lambda z_s, z_t, t: t * t * kl_rows(z_s, z_t, t).mean(), "DistilBERT's L_ce"),
    (check_L_pred, lambda z_s, z_t, t: ce_rows(z_s, z_t, t, 1.0).mean(), "(the teacher's were not)"),
    (check_L_pred, lambda z_s, z_t, t: ce_rows(z_s, z_t, 1.0, t).mean(), "(the student's were not)"),
    (check_L_pred, lambda z_s, z_t, t: ce_rows(z_s, z_t, 1.0, 1.0).mean(), "the loss ignores t"),
    (check_L_pred, lambda z_s, z_t, t: ce_rows(z_t, z_s, t, t).mean(), "teacher and student swapped"),
    (check_L_pred, lambda z_s, z_t, t: ce_rows(z_s, z_t, t, t).sum(), "B = 5 times too large"),
    (check_L_pred, lambda z_s, z_t, t: -ce_rows(z_s, z_t, t, t).mean(), "mind the minus sign"),
    (check_L_pred, lambda z_s, z_t, t: ce_rows(z_s, z_t, t, t), "expected a scalar"),
    (check_L_pred, lambda z_s, z_t, t: pred_solution(z_s.detach(), z_t, t), "no gradient reaches student_logits"),
    (check_L_pred, lambda z_s, z_t: pred_solution(z_s, z_t, 1.0), "your function is called as L_pred("),
    # layer_mapping
    (check_layer_mapping, lambda M, N: mapping_solution(M, N)[1:], "the embedding layer is missing"),
    (check_layer_mapping, lambda M, N: [0] + [n - 1 for n in mapping_solution(M, N)[1:]],
     "layer numbers are off by one"),
    (check_layer_mapping, lambda M, N: [n - 1 for n in mapping_solution(M, N)], "layer numbers are off by one"),
    (check_layer_mapping, mapping_m_over_n, "you used M / N: student layer m learns from teacher layer m × N / M"),
    (check_layer_mapping, lambda M, N: mapping_solution(M, N)[:-1], "the last student layer is missing"),
    (check_layer_mapping, lambda M, N: list(range(M + 1)), "that is the 'bottom' mapping"),
    (check_layer_mapping, lambda M, N: [0] + [N - M + m for m in range(1, M + 1)], "that is the 'top' mapping"),
    (check_layer_mapping, mapping_floats, "layer numbers must be Python ints"),
    (check_layer_mapping, lambda M, N: tuple(mapping_solution(M, N)), "return a Python list"),
    (check_layer_mapping, mapping_no_error,
     "a 4-layer student from a 6-layer teacher is not uniform: raise ValueError"),
    (check_layer_mapping, mapping_assert, "raised AssertionError for student_layers=4, teacher_layers=6"),
    (check_layer_mapping, mapping_always_raises, "12 is divisible by 4, so the mapping is uniform"),
    (check_layer_mapping, lambda N, M, strategy: mapping_solution(M, N), "your function is called as layer_mapping("),
]


@pytest.mark.parametrize("check, fn, phrase", WRONG, ids=[f"{NAMES[c]}-{p[:40]}" for c, _, p in WRONG])
def test_wrong_implementation_is_named(check, fn, phrase, capsys):
    with pytest.raises(CheckFailed, match=re.escape(phrase)):
        check(fn)
    assert "✓" not in capsys.readouterr().out


def test_message_names_the_input_and_the_difference():
    with pytest.raises(CheckFailed) as info:
        check_L_attn(lambda A_S, A_T, am: ((A_S - A_T) ** 2).mean())
    message = str(info.value)
    assert "scores of shape (2, 3, 5, 5), float64, sentence lengths [" in message
    assert "max abs difference" in message and "Hint: " in message


def test_a_hint_is_named_only_when_the_mistake_reproduces_the_numbers():
    with pytest.raises(CheckFailed) as info:
        check_L_pred(lambda z_s, z_t, t: 1.01 * pred_solution(z_s, z_t, t))   # close to nothing in the list
    assert "compare your formula with the reference's docstring" in str(info.value)
