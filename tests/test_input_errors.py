"""Bad inputs to the losses and the layer mapping raise a ValueError that names the argument, the value
and what was expected (issue 18, item 6); empty batches give 0.0 with a graph in every loss.

The rule for empty batches, stated in each loss's docstring: a batch of size 0, or a batch where
nothing is kept (every label ``ignore_index``, a mask without a real token), gives a loss of 0.0
that stays connected to the graph, so ``.backward()`` gives zero gradients, never NaN.
"""
from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kd_teach.distilbert.losses import L_ce, L_cos, L_mlm, distilbert_loss
from kd_teach.hinton.losses import distillation_loss, kd_loss, student_loss
from kd_teach.tinybert.losses import L_attn, L_embd, L_hidn, L_pred, intermediate_loss
from kd_teach.tinybert.mapping import layer_mapping

SETTINGS = settings(max_examples=40, deadline=None)
F32, F64 = torch.float32, torch.float64


def _randn(*shape, seed=0, dtype=F32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --------------------------------------------------------------------------- L_hidn / L_embd dtypes


@pytest.mark.parametrize("loss, s, t, w", [(L_hidn, "H_S", "H_T", "W_h"), (L_embd, "E_S", "E_T", "W_e")])
def test_projected_mse_names_both_dtypes_when_they_differ(loss, s, t, w):
    S64, T64, W32 = _randn(2, 3, 4, dtype=F64), _randn(2, 3, 5, dtype=F64), _randn(4, 5)
    with pytest.raises(ValueError, match=re.escape(f"{s}, {t} and {w} must share one dtype, got {s} torch.float64 "
                                                   f"and {w} torch.float32; cast one (e.g. {w}.to({s}.dtype))")):
        loss(S64, T64, W32)
    with pytest.raises(ValueError, match=re.escape(f"got {s} torch.float32 and {t} torch.float64")):
        loss(S64.float(), T64, W32)                                  # would silently promote the loss to float64
    with pytest.raises(ValueError, match=re.escape(f"got {s} torch.float32 and {t} torch.float64")):
        loss(S64.float()[..., :4], T64[..., :4], None)               # no W: the teacher still must match
    with pytest.raises(ValueError, match=re.escape(f"{s} must be a floating-point tensor, got dtype torch.int64")):
        loss(S64.long(), T64, W32.double())
    torch.testing.assert_close(loss(S64, T64, W32.double()), ((S64 @ W32.double() - T64) ** 2).mean())


def test_projected_mse_under_autocast_accepts_the_mixed_dtypes_it_produces():
    """Mixed precision: matmul outputs (bfloat16) against LayerNorm outputs and W (float32)."""
    H_S, H_T, W = _randn(2, 4, 6, seed=1), _randn(2, 4, 8, seed=2), _randn(6, 8, seed=3) / 3
    am = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    exact = L_hidn(H_S, H_T, W, am)
    W = W.clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = L_hidn(H_S.bfloat16(), H_T, W, am)                    # bf16 states, fp32 teacher and W
        loss_fp32_states = L_hidn(H_S, H_T, W, am)
        with pytest.raises(ValueError, match=re.escape("H_S is torch.float64 and W_h is torch.float32: autocast "
                                                       "does not cast float64")):
            L_hidn(H_S.double(), H_T, W, am)                         # what the matmul itself would reject
    torch.testing.assert_close(loss.float(), exact, rtol=3e-2, atol=1e-3)
    torch.testing.assert_close(loss_fp32_states.float(), exact, rtol=3e-2, atol=1e-3)
    loss.backward()
    assert W.grad.dtype == F32 and torch.isfinite(W.grad).all() and W.grad.abs().sum() > 0


# --------------------------------------------------------------------------- student_loss / L_mlm labels


def test_student_loss_rejects_float_labels_naming_the_dtype():
    with pytest.raises(ValueError, match=re.escape("labels must be integer class indices (torch.long), got dtype "
                                                   "torch.float32")):
        student_loss(torch.zeros(2, 3), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"got dtype torch\.bool"):
        kd_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.tensor([True, False]))
    y = torch.tensor([0, 2, -100])
    torch.testing.assert_close(student_loss(_randn(3, 3), y.int()), student_loss(_randn(3, 3), y))  # int32 is fine


@pytest.mark.parametrize("bad", [3, 7, -1, -99])
def test_student_loss_names_a_label_out_of_range_and_the_class_count(bad):
    with pytest.raises(ValueError, match=re.escape(f"labels must be class indices in [0, 3) or ignore_index=-100, "
                                                   f"got {bad} (the logits have 3 classes)")):
        student_loss(torch.zeros(4, 3), torch.tensor([0, -100, bad, 2]))


def test_student_loss_rejects_labels_that_are_not_batch_shaped():
    with pytest.raises(ValueError, match=re.escape("labels (batch,), got (4, 3) and (4, 1)")):
        student_loss(torch.zeros(4, 3), torch.zeros(4, 1, dtype=torch.long))
    with pytest.raises(ValueError, match=re.escape("labels (batch,), got (4, 3) and ()")):
        student_loss(torch.zeros(4, 3), torch.tensor(1))


@SETTINGS
@given(C=st.integers(1, 5), labels=st.lists(st.one_of(st.just(-100), st.integers(-3, 8)), min_size=1, max_size=6),
       ignore_index=st.sampled_from([-100, 7]))
def test_student_loss_raises_exactly_when_a_label_is_out_of_range(C, labels, ignore_index):
    y = torch.tensor(labels)
    bad = [v for v in labels if v != ignore_index and not 0 <= v < C]
    if bad:
        with pytest.raises(ValueError, match=re.escape(f"in [0, {C}) or ignore_index={ignore_index}, got {bad[0]} ")):
            student_loss(torch.zeros(len(labels), C), y, ignore_index)
    else:
        assert torch.isfinite(student_loss(torch.zeros(len(labels), C), y, ignore_index))


def test_L_mlm_rejects_float_labels_naming_the_dtype():
    with pytest.raises(ValueError, match=re.escape("mlm_labels must be integer token ids (torch.long), got dtype "
                                                   "torch.float64")):
        L_mlm(torch.zeros(1, 2, 5), torch.tensor([[-100.0, 3.0]], dtype=F64))


# --------------------------------------------------------------------------- layer_mapping


@pytest.mark.parametrize("strategy", [np.array([2, 4, 6]), np.array([0, 2, 4, 6], dtype=np.int32),
                                      [np.int64(2), np.int64(4), np.int64(6)], torch.tensor([2, 4, 6]),
                                      (2, torch.tensor(4), 6)])
def test_layer_mapping_accepts_numpy_and_torch_integers(strategy):
    g = layer_mapping(3, 6, strategy)
    assert g == [0, 2, 4, 6] and all(type(n) is int for n in g)
    assert layer_mapping(np.int64(3), np.int32(6)) == [0, 2, 4, 6]


@pytest.mark.parametrize("args, message", [
    ((3.0, 6), "student_layers must be an int, got 3.0 (float)"),
    ((3, 6.0), "teacher_layers must be an int, got 6.0 (float)"),
    ((np.float64(3), 6), "student_layers must be an int, got np.float64(3.0) (float64)"),
    ((True, 6), "student_layers must be an int, got True (bool): a layer count, not a truth value"),
    ((3, "6"), "teacher_layers must be an int, got '6' (str)"),
    ((3, 6, [2.5, 4, 6]), "strategy must list teacher layers as ints, got 2.5 (float) at position 0 of [2.5, 4, 6]"),
    ((3, 6, np.array([2.0, 4.0, 6.0])), "got 2.0 (float) at position 0"),
    ((3, 6, [2, True, 6]), "got True (bool) at position 1"),
    ((3, 6, np.array([[2, 4, 6]])), "or a 1-D list of 3 teacher layers, got an array of shape (1, 3)"),
    ((3, 6, 3), "or a list of 3 teacher layers, got 3 (int)"),
    ((4, 12, [3, 6, 9]), "got [3, 6, 9]: 3 layers, not 4"),
    ((4, 12, np.array([3, 6, 9, 13])), "got [3, 6, 9, 13]: 13 is not in 1..12"),
    ((4, 12, [3, 9, 6, 12]), "got [3, 9, 6, 12]: 9 then 6 is not increasing"),
    ((2, 6, [0, 3]), "got [0, 3]: 0 is not in 1..6"),
])
def test_layer_mapping_says_what_is_actually_wrong(args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        layer_mapping(*args)


@SETTINGS
@given(data=st.data(), N=st.integers(1, 24))
def test_layer_mapping_gives_the_same_python_ints_from_any_integer_container(data, N):
    layers = sorted(data.draw(st.sets(st.integers(1, N), min_size=1, max_size=N)))
    M = len(layers)
    containers = [layers, tuple(layers), np.array(layers), np.array(layers, dtype=np.int16), torch.tensor(layers),
                  [np.int64(n) for n in layers], [0] + layers]
    for c in containers:
        g = layer_mapping(M, N, c)
        assert g == [0] + layers and all(type(n) is int for n in g)


# --------------------------------------------------------------------------- empty batches


def _leaf(*shape):
    return torch.randn(*shape).requires_grad_()


def _hidden_case(loss, B, mask_fill):
    s, t, W = _leaf(B, 4, 3), torch.randn(B, 4, 5), _leaf(3, 5)
    am = None if mask_fill is None else torch.full((B, 4), mask_fill)
    return loss(s, t, W, am), [s, W]


def _attn_case(B, mask_fill):
    s = _leaf(B, 2, 4, 4)
    am = None if mask_fill is None else torch.full((B, 4), mask_fill)
    return L_attn(s, torch.randn(B, 2, 4, 4), am), [s]


def _distil_case(B, mask_fill, labels_fill):
    z, h = _leaf(B, 4, 9), _leaf(B, 4, 6)
    mask, labels = torch.full((B, 4), mask_fill), torch.full((B, 4), labels_fill)
    return distilbert_loss(z, torch.randn(B, 4, 9), labels, h, torch.randn(B, 4, 6), mask), [z, h]


def _intermediate_case(B):
    L, g = 4, [0, 2, 4]
    s = SimpleNamespace(hidden_states=[_leaf(B, L, 3) for _ in range(3)], scores=[None] + [_leaf(B, 2, L, L)] * 2)
    t = SimpleNamespace(hidden_states=[torch.randn(B, L, 5) for _ in range(5)],
                        scores=[None] + [torch.randn(B, 2, L, L) for _ in range(4)])
    W = [_leaf(3, 5) for _ in range(3)]
    loss, _ = intermediate_loss(s, t, g, W, torch.ones(B, L, dtype=torch.long))
    return loss, s.hidden_states + [s.scores[1]] + W


EMPTY = {
    "student_loss, batch 0": lambda: (lambda z: (student_loss(z, torch.zeros(0, dtype=torch.long)), [z]))(_leaf(0, 3)),
    "student_loss, every label ignored": lambda: (lambda z: (student_loss(z, torch.full((4,), -100)), [z]))(_leaf(4, 3)),
    "distillation_loss, batch 0": lambda: (lambda z: (distillation_loss(z, torch.randn(0, 3)), [z]))(_leaf(0, 3)),
    "kd_loss, batch 0": lambda: (lambda z: (kd_loss(z, torch.randn(0, 3), torch.zeros(0, dtype=torch.long)), [z]))(
        _leaf(0, 3)),
    "L_ce, batch 0": lambda: (lambda z: (L_ce(z, torch.randn(0, 4, 9), torch.ones(0, 4)), [z]))(_leaf(0, 4, 9)),
    "L_ce, nothing selected": lambda: (lambda z: (L_ce(z, torch.randn(2, 4, 9), torch.zeros(2, 4)), [z]))(
        _leaf(2, 4, 9)),
    "L_mlm, batch 0": lambda: (lambda z: (L_mlm(z, torch.zeros(0, 4, dtype=torch.long)), [z]))(_leaf(0, 4, 9)),
    "L_mlm, nothing masked": lambda: (lambda z: (L_mlm(z, torch.full((2, 4), -100)), [z]))(_leaf(2, 4, 9)),
    "L_cos, batch 0": lambda: (lambda h: (L_cos(h, torch.randn(0, 4, 6), torch.ones(0, 4)), [h]))(_leaf(0, 4, 6)),
    "L_cos, no real token": lambda: (lambda h: (L_cos(h, torch.randn(2, 4, 6), torch.zeros(2, 4)), [h]))(
        _leaf(2, 4, 6)),
    "distilbert_loss, batch 0": lambda: _distil_case(0, 1, 3),
    "distilbert_loss, nothing masked, no real token": lambda: _distil_case(2, 0, -100),
    "L_embd, batch 0, no mask": lambda: _hidden_case(L_embd, 0, None),
    "L_embd, batch 0, mask": lambda: _hidden_case(L_embd, 0, 1),
    "L_hidn, batch 0, no mask": lambda: _hidden_case(L_hidn, 0, None),
    "L_hidn, no real token": lambda: _hidden_case(L_hidn, 2, 0),
    "L_attn, batch 0, no mask": lambda: _attn_case(0, None),
    "L_attn, no real token": lambda: _attn_case(2, 0),
    "L_pred batchmean, batch 0": lambda: (lambda z: (L_pred(z, torch.randn(0, 3)), [z]))(_leaf(0, 3)),
    "L_pred mean, batch 0": lambda: (lambda z: (L_pred(z, torch.randn(0, 3), reduction="mean"), [z]))(_leaf(0, 3)),
    "intermediate_loss, batch 0": lambda: _intermediate_case(0),
}


@pytest.mark.parametrize("case", sorted(EMPTY))
def test_an_empty_batch_gives_zero_with_zero_gradients(case):
    loss, leaves = EMPTY[case]()
    assert loss.shape == () and loss.item() == 0.0 and loss.requires_grad      # not NaN
    loss.backward()
    for x in leaves:
        assert x.grad is not None and torch.equal(x.grad, torch.zeros_like(x)), case


@pytest.mark.parametrize("fn", [student_loss, distillation_loss, kd_loss, L_ce, L_mlm, L_cos, distilbert_loss,
                                L_embd, L_hidn, L_attn, L_pred, intermediate_loss])
def test_every_loss_states_the_empty_batch_rule(fn):
    assert "Empty batch:" in fn.__doc__ and "0.0" in fn.__doc__.split("Empty batch:")[1][:200]
