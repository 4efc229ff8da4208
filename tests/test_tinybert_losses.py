"""Tests for kd_teach.tinybert.losses: L_embd, L_hidn, L_attn, L_pred (Jiao et al. 2020, Eqs. 7-10).

Each loss is checked against a direct computation on small tensors whose padded positions hold
huge garbage (which must never reach a loss), and against the reference code's formulas where
they agree (no padding).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from kd_teach.tinybert.losses import L_attn, L_embd, L_hidn, L_pred

B, L, H, D_S, D_T = 3, 6, 4, 5, 8
LENGTHS = [6, 4, 2]
SETTINGS = settings(max_examples=30, deadline=None)


def _randn(*shape, seed=0, scale=1.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


def attention_mask(lengths=LENGTHS, seq=L):
    return torch.tensor([[1] * n + [0] * (seq - n) for n in lengths])                 # (B, L)


def with_garbage(x: torch.Tensor, real: torch.Tensor, seed: int) -> torch.Tensor:
    """x with every entry outside ``real`` (broadcast) replaced by +-1e4 noise."""
    real = real.expand_as(x)
    return torch.where(real, x, _randn(*x.shape, seed=seed, scale=1e4))


# --------------------------------------------------------------------------- L_embd, L_hidn


@pytest.mark.parametrize("loss", [L_embd, L_hidn])
def test_projected_mse_is_the_mse_of_the_real_positions(loss):
    am = attention_mask()
    real = am.bool()[..., None]                                                     # (B, L, 1)
    E_S = with_garbage(_randn(B, L, D_S, seed=1), real, 11)
    E_T = with_garbage(_randn(B, L, D_T, seed=2), real, 12)
    W = _randn(D_S, D_T, seed=3)
    expected = F.mse_loss(E_S[am.bool()] @ W, E_T[am.bool()])                        # (N, d_T) rows only
    torch.testing.assert_close(loss(E_S, E_T, W, am), expected)
    torch.testing.assert_close(loss(E_S, E_T, W), F.mse_loss(E_S @ W, E_T))         # no mask: every position
    assert loss(E_T, E_T, torch.eye(D_T), am).item() == 0.0                          # student = teacher


def test_projection_gets_gradients_and_the_teacher_none():
    am = attention_mask()
    E_S, E_T = _randn(B, L, D_S, seed=1).requires_grad_(), _randn(B, L, D_T, seed=2).requires_grad_()
    W = _randn(D_S, D_T, seed=3).requires_grad_()
    L_embd(E_S, E_T, W, am).backward()
    assert W.grad is not None and W.grad.abs().sum() > 0 and E_S.grad.abs().sum() > 0
    assert E_T.grad is None                                                           # the teacher is a target
    assert E_S.grad[~am.bool()].abs().sum() == 0                                      # padding gets nothing


def test_shape_walkthrough_of_the_paper_example():
    """The course's 10-token example: E_S (10, 128) x W_e (128, 768) vs E_T (10, 768)."""
    E_S, W_e, E_T = _randn(1, 10, 128, seed=1), _randn(128, 768, seed=2), _randn(1, 10, 768, seed=3)
    assert (E_S @ W_e).shape == E_T.shape == (1, 10, 768)
    torch.testing.assert_close(L_embd(E_S, E_T, W_e), ((E_S @ W_e - E_T) ** 2).mean())


def test_projected_mse_errors_name_the_problem():
    E_S, E_T = _randn(B, L, D_S), _randn(B, L, D_T)
    with pytest.raises(ValueError, match=r"W_e must be \(d_S, d_T\) = \(5, 8\), got \(8, 5\)"):
        L_embd(E_S, E_T, _randn(D_T, D_S))
    with pytest.raises(ValueError, match=r"W_h=None needs the same width.*d_S=5 and d_T=8"):
        L_hidn(E_S, E_T, None)
    torch.testing.assert_close(L_hidn(E_T, E_T * 0, None), (E_T ** 2).mean())       # same width: W optional
    with pytest.raises(ValueError, match=r"must share \(batch, seq\)"):
        L_hidn(E_S[:, :4], E_T, _randn(D_S, D_T))
    with pytest.raises(ValueError, match=r"H_S must be 3-D"):
        L_hidn(E_S[0], E_T, _randn(D_S, D_T))
    with pytest.raises(ValueError, match=r"attention_mask must be \(batch, seq\) = \(3, 6\)"):
        L_hidn(E_S, E_T, _randn(D_S, D_T), attention_mask()[:, :4])


# --------------------------------------------------------------------------- L_attn


def attention_batch(seed=0, lengths=LENGTHS, seq=L):
    am = attention_mask(lengths, seq)
    real = am.bool()
    pairs = (real[:, :, None] & real[:, None, :])[:, None]                            # (B, 1, L, L)
    A_S = with_garbage(_randn(len(lengths), H, seq, seq, seed=seed, scale=3.0), pairs, seed + 100)
    A_T = with_garbage(_randn(len(lengths), H, seq, seq, seed=seed + 1, scale=3.0), pairs, seed + 200)
    return A_S, A_T, am, pairs


def test_L_attn_is_the_mean_over_heads_of_each_heads_mse_on_real_pairs():
    A_S, A_T, am, pairs = attention_batch()
    per_head = [F.mse_loss(A_S[:, i][pairs[:, 0]], A_T[:, i][pairs[:, 0]]) for i in range(H)]   # Eq. 7, head i
    torch.testing.assert_close(L_attn(A_S, A_T, am), torch.stack(per_head).mean())


def test_L_attn_without_padding_matches_the_reference_formula():
    """The reference: MSE over the whole (batch, heads, seq, seq) tensors, summed over layers."""
    A_S, A_T, _, _ = attention_batch(lengths=[L] * B)
    torch.testing.assert_close(L_attn(A_S, A_T), F.mse_loss(A_S, A_T))
    torch.testing.assert_close(L_attn(A_S, A_T, attention_mask([L] * B)), F.mse_loss(A_S, A_T))


def test_L_attn_is_unchanged_by_more_padding():
    A_S, A_T, am, _ = attention_batch()
    base = L_attn(A_S, A_T, am)
    extra = 3                                                                         # pad every sentence 3 more
    big_S = _randn(B, H, L + extra, L + extra, seed=7, scale=1e4)
    big_T = _randn(B, H, L + extra, L + extra, seed=8, scale=1e4)
    big_S[:, :, :L, :L], big_T[:, :, :L, :L] = A_S, A_T
    big_am = torch.cat([am, torch.zeros(B, extra, dtype=am.dtype)], dim=1)
    torch.testing.assert_close(L_attn(big_S, big_T, big_am), base)


def test_L_attn_keeps_real_negative_scores():
    """A student off by -1 on every real score has MSE 1; zeroing scores below -1e-3 (TextBrewer) would not see it."""
    A_T = -torch.rand(1, H, 4, 4) * 5 - 0.01                                          # all real, all negative
    A_S = A_T - 1.0
    assert L_attn(A_S, A_T, torch.ones(1, 4, dtype=torch.long)).item() == pytest.approx(1.0)
    textbrewer = F.mse_loss(torch.where(A_S < -1e-3, 0.0, A_S), torch.where(A_T < -1e-3, 0.0, A_T))
    assert textbrewer.item() == 0.0


def test_L_attn_on_probabilities():
    from kd_teach.tinybert.losses import scores_to_probs

    A_S, A_T, am, pairs = attention_batch()
    P_S, P_T = scores_to_probs(A_S, am), scores_to_probs(A_T, am)
    torch.testing.assert_close(P_S.sum(-1)[am.bool()[:, None].expand(B, H, L)], torch.ones(H * sum(LENGTHS)))
    expected = F.mse_loss(P_S[pairs.expand_as(P_S)], P_T[pairs.expand_as(P_T)])
    torch.testing.assert_close(L_attn(P_S, P_T, am, on="probs"), expected)


def test_L_attn_errors_name_the_problem():
    A_S, A_T, am, _ = attention_batch()
    with pytest.raises(ValueError, match=r"same number of attention heads.*got 2 \(A_S\) and 4 \(A_T\)"):
        L_attn(A_S[:, :2], A_T, am)
    with pytest.raises(ValueError, match=r"both be \(batch, heads, seq, seq\)"):
        L_attn(A_S[:, :, :, :4], A_T, am)
    with pytest.raises(ValueError, match=r"A_S must be 4-D"):
        L_attn(A_S[0], A_T, am)
    with pytest.raises(ValueError, match=r"on must be 'scores' or 'probs', got 'logits'"):
        L_attn(A_S, A_T, am, on="logits")


@SETTINGS
@given(st.integers(0, 10_000), st.lists(st.integers(1, L), min_size=1, max_size=4))
def test_L_attn_is_non_negative_symmetric_and_zero_on_equality(seed, lengths):
    A_S, A_T, am, _ = attention_batch(seed, lengths)
    loss = L_attn(A_S, A_T, am)
    assert loss.item() >= 0
    torch.testing.assert_close(loss, L_attn(A_T, A_S, am))
    assert L_attn(A_T.clone(), A_T, am).item() == 0.0


# --------------------------------------------------------------------------- L_pred


@pytest.mark.parametrize("t", [0.5, 1.0, 3.0])
def test_L_pred_is_the_soft_cross_entropy(t):
    z_s, z_t = _randn(8, 3, seed=1, scale=2), _randn(8, 3, seed=2, scale=2)
    expected = -(F.softmax(z_t / t, -1) * F.log_softmax(z_s / t, -1)).sum(-1).mean()
    torch.testing.assert_close(L_pred(z_s, z_t, t), expected)
    # the reference's soft_cross_entropy averages over batch x classes
    reference = (-F.softmax(z_t / t, -1) * F.log_softmax(z_s / t, -1)).mean()
    torch.testing.assert_close(L_pred(z_s, z_t, t, reduction="mean"), reference)
    # equal to F.cross_entropy with probability targets
    torch.testing.assert_close(L_pred(z_s, z_t, t), F.cross_entropy(z_s / t, F.softmax(z_t / t, -1)))


def test_L_pred_minimum_is_the_teachers_entropy_and_has_no_T2():
    from kd_teach.temperature import entropy, soft_targets

    z_t = _randn(16, 2, seed=3, scale=3)
    torch.testing.assert_close(L_pred(z_t.clone(), z_t, 2.0), entropy(soft_targets(z_t, 2.0)).mean())
    # no T^2: with the same soft targets and soft predictions, the gradient shrinks like 1/t
    # (Hinton's T^2 would keep it level)
    grads = []
    for t in (1.0, 10.0):
        z_s = (_randn(16, 2, seed=4) * t).requires_grad_()                           # softmax(z_s / t) fixed
        L_pred(z_s, z_t * t, t).backward()                                            # softmax(z_t * t / t) fixed
        grads.append(z_s.grad.norm().item())
    assert grads[1] / grads[0] == pytest.approx(0.1, rel=1e-4)



def test_L_pred_gradient_shrinks_like_one_over_t_squared_for_fixed_logits():
    """The docstring's claim: for the same logits, doubling a large t quarters the gradient (1/t from the
    chain rule, 1/t from softmax(z_S/t) - softmax(z_T/t) flattening), where Hinton's T^2 would keep it level."""
    z_s, z_t = _randn(16, 3, seed=5, scale=2), _randn(16, 3, seed=6, scale=2)
    norms = {}
    for t in (20.0, 40.0, 80.0):
        x = z_s.clone().requires_grad_()
        L_pred(x, z_t, t).backward()
        norms[t] = x.grad.norm().item()
    assert norms[20.0] / norms[40.0] == pytest.approx(4.0, rel=0.02)
    assert norms[40.0] / norms[80.0] == pytest.approx(4.0, rel=0.01)

def test_L_pred_errors():
    with pytest.raises(ValueError, match=r"both be \(batch, classes\)"):
        L_pred(torch.zeros(4, 2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"t must be a finite number > 0, got 0"):
        L_pred(torch.zeros(4, 2), torch.zeros(4, 2), t=0)
    with pytest.raises(ValueError, match=r"reduction must be 'batchmean' or 'mean', got 'sum'"):
        L_pred(torch.zeros(4, 2), torch.zeros(4, 2), reduction="sum")
