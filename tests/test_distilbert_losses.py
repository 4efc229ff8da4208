"""Tests for kd_teach.distilbert.losses: DistilBERT's triple loss (Sanh et al. 2019, Section 2).

The reference below is huggingface/transformers examples/research_projects/distillation/distiller.py,
restated with torch's own losses: masked_select of the positions, nn.KLDivLoss("batchmean") * T^2,
nn.CrossEntropyLoss(ignore_index=-100), nn.CosineEmbeddingLoss with target 1.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

from kd_teach.losses import L_ce, L_cos, L_mlm, ce_positions, distillation_loss, distilbert_loss

SETTINGS = settings(max_examples=30, deadline=None)
B, S, V, H = 3, 7, 50, 16
LENGTHS = [7, 5, 2]                                       # variable-length sentences, padded to S


def _randn(*shape, seed=0, scale=3.0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype) * scale


def make_batch(seed=0, vocab=V, dtype=torch.float32, garbage_seed=100):
    """A padded batch whose padded positions hold huge random garbage that must never reach a loss."""
    attention_mask = torch.tensor([[1] * n + [0] * (S - n) for n in LENGTHS])      # (B, S)
    labels = torch.full((B, S), -100)
    for b, positions in enumerate([[1, 4, 6], [0, 3], [1]]):                       # masked positions
        labels[b, positions] = torch.randint(0, vocab, (len(positions),), generator=torch.Generator().manual_seed(b))
    batch = dict(student_logits=_randn(B, S, vocab, seed=seed, dtype=dtype),
                 teacher_logits=_randn(B, S, vocab, seed=seed + 1, dtype=dtype), mlm_labels=labels,
                 student_hidden=_randn(B, S, H, seed=seed + 2, dtype=dtype),
                 teacher_hidden=_randn(B, S, H, seed=seed + 3, dtype=dtype), attention_mask=attention_mask)
    pad = attention_mask == 0
    for i, k in enumerate(("student_logits", "teacher_logits", "student_hidden", "teacher_hidden")):
        batch[k][pad] = _randn(int(pad.sum()), batch[k].shape[-1], seed=garbage_seed + i, scale=1e4, dtype=dtype)
    return batch


def distiller_ce(s, t, mask, T):
    """distiller.py: masked_select over (B, S, V), view(-1, V), KLDivLoss(batchmean) * T^2."""
    m = mask.unsqueeze(-1).expand_as(s)
    s_slct, t_slct = torch.masked_select(s, m).view(-1, s.size(-1)), torch.masked_select(t, m).view(-1, s.size(-1))
    return nn.KLDivLoss(reduction="batchmean")(F.log_softmax(s_slct / T, -1), F.softmax(t_slct / T, -1)) * T**2


def distiller_cos(hs, ht, attention_mask):
    m = attention_mask.bool().unsqueeze(-1).expand_as(hs)
    s_slct, t_slct = torch.masked_select(hs, m).view(-1, H), torch.masked_select(ht, m).view(-1, H)
    return nn.CosineEmbeddingLoss(reduction="mean")(s_slct, t_slct, s_slct.new(s_slct.size(0)).fill_(1))


# --------------------------------------------------------------------------- L_ce


@pytest.mark.parametrize("restrict", [True, False])
@pytest.mark.parametrize("T", [1.0, 2.0, 4.0])
def test_L_ce_is_batchmean_kl_times_T2_on_selected_rows(restrict, T):
    b = make_batch()
    mask = ce_positions(b["attention_mask"], b["mlm_labels"], restrict)
    assert mask.sum() == (6 if restrict else sum(LENGTHS))
    s_sel, t_sel = b["student_logits"][mask], b["teacher_logits"][mask]                # (N, V)
    expected = F.kl_div(F.log_softmax(s_sel / T, -1), F.softmax(t_sel / T, -1), reduction="batchmean") * T**2
    loss = L_ce(b["student_logits"], b["teacher_logits"], mask, T)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(loss, distiller_ce(b["student_logits"], b["teacher_logits"], mask, T))
    torch.testing.assert_close(distillation_loss(s_sel, t_sel, T), loss)               # Hinton's, a row per position
    torch.testing.assert_close(L_ce(b["student_logits"], b["teacher_logits"], mask.int(), T), loss)  # 0/1 mask
    torch.testing.assert_close(L_ce(b["student_logits"], b["teacher_logits"], mask, T, scale_by_T2=False), loss / T**2)
    assert abs(L_ce(b["teacher_logits"].clone(), b["teacher_logits"], mask, T).item()) < 1e-6      # student = teacher


def test_L_ce_on_a_bert_sized_vocabulary():
    b = make_batch(seed=5, vocab=30522)
    mask = ce_positions(b["attention_mask"], b["mlm_labels"], restrict_to_masked=False)
    torch.testing.assert_close(L_ce(b["student_logits"], b["teacher_logits"], mask),
                               distiller_ce(b["student_logits"], b["teacher_logits"], mask, 2.0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("restrict", [True, False])
def test_padding_garbage_never_leaks(restrict):
    t1 = distilbert_loss(**make_batch(), restrict_ce_to_mask=restrict, return_terms=True)[1]
    t2 = distilbert_loss(**make_batch(garbage_seed=200), restrict_ce_to_mask=restrict, return_terms=True)[1]
    assert t1 == t2 and all(np.isfinite(v) for v in t1.values())          # exactly equal: padding is never read


def test_gradients_reach_the_student_only_and_only_at_selected_positions():
    b = make_batch()
    for k in ("student_logits", "teacher_logits", "student_hidden", "teacher_hidden"):
        b[k].requires_grad_(True)
    mask, am = b["mlm_labels"] != -100, b["attention_mask"].bool()
    loss = L_ce(b["student_logits"], b["teacher_logits"], mask) + L_cos(b["student_hidden"], b["teacher_hidden"], am)
    loss.backward()
    assert b["teacher_logits"].grad is None and b["teacher_hidden"].grad is None
    for k, m in (("student_logits", mask), ("student_hidden", am)):
        g = b[k].grad
        assert torch.isfinite(g).all() and g[m].abs().sum() > 0 and torch.equal(g[~m], torch.zeros_like(g[~m]))


def test_no_selected_position_gives_zero_with_a_graph():
    b = make_batch()
    s, hs = b["student_logits"].requires_grad_(True), b["student_hidden"].requires_grad_(True)
    none = torch.zeros(B, S, dtype=torch.bool)
    no_labels = torch.full((B, S), -100)
    for loss in (L_ce(s, b["teacher_logits"], none), L_mlm(s, no_labels), L_cos(hs, b["teacher_hidden"], none)):
        assert loss.item() == 0.0 and loss.requires_grad
    assert torch.isnan(F.cross_entropy(s.view(-1, V), no_labels.view(-1)))             # what torch would give
    L_mlm(s, no_labels).backward()
    assert torch.equal(s.grad, torch.zeros_like(s))


# --------------------------------------------------------------------------- L_mlm


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_L_mlm_is_cross_entropy_with_ignore_index(dtype):
    b = make_batch(dtype=dtype)
    s, y = b["student_logits"], b["mlm_labels"]
    expected = F.cross_entropy(s.view(-1, V), y.view(-1), ignore_index=-100)
    torch.testing.assert_close(L_mlm(s, y), expected)
    y7 = y.masked_fill(y == -100, 7)                                                      # another ignore_index
    torch.testing.assert_close(L_mlm(s, y7, ignore_index=7),
                               F.cross_entropy(s.view(-1, V), y7.view(-1), ignore_index=7))


# --------------------------------------------------------------------------- L_cos


def test_L_cos_is_cosine_embedding_loss_on_real_tokens_0_aligned_2_opposite():
    b = make_batch()
    hs, ht, am = b["student_hidden"], b["teacher_hidden"], b["attention_mask"]
    keep = am.bool()
    expected = F.cosine_embedding_loss(hs[keep], ht[keep], torch.ones(int(keep.sum())))
    torch.testing.assert_close(L_cos(hs, ht, am), expected)
    torch.testing.assert_close(L_cos(hs, ht, am), distiller_cos(hs, ht, am))
    for c in (1.0, 0.01, 250.0):                                        # same direction: 0, whatever the length
        assert abs(L_cos(c * ht, ht, am).item()) < 1e-6
    assert L_cos(-ht, ht, am).item() == pytest.approx(2.0, abs=1e-6)    # opposite: 2
    zero = torch.zeros(1, 4, H)                                         # eps as torch: cos = 0, not NaN
    assert L_cos(zero, _randn(1, 4, H), torch.ones(1, 4)).item() == 1.0
    assert F.cosine_embedding_loss(zero[0], _randn(4, H), torch.ones(4)).item() == 1.0


# --------------------------------------------------------------------------- the triple loss


@pytest.mark.parametrize("restrict", [True, False])
def test_distilbert_loss_is_the_recipe_weighted_sum(restrict):
    b = make_batch()
    mask = ce_positions(b["attention_mask"], b["mlm_labels"], restrict)
    s, t = b["student_logits"], b["teacher_logits"]
    ref = (5.0 * distiller_ce(s, t, mask, 2.0) + 2.0 * F.cross_entropy(s.view(-1, V), b["mlm_labels"].view(-1))
           + 1.0 * distiller_cos(b["student_hidden"], b["teacher_hidden"], b["attention_mask"]))
    torch.testing.assert_close(distilbert_loss(**b, restrict_ce_to_mask=restrict), ref)
    loss, terms = distilbert_loss(**b, restrict_ce_to_mask=restrict, return_terms=True)
    assert set(terms) == {"L_ce", "L_mlm", "L_cos"} and all(isinstance(v, float) for v in terms.values())
    assert loss.item() == pytest.approx(5 * terms["L_ce"] + 2 * terms["L_mlm"] + terms["L_cos"], rel=1e-6)
    assert terms["L_ce"] == pytest.approx(L_ce(s, t, mask).item(), rel=1e-6)


@pytest.mark.parametrize(("weights", "dropped", "present"), [
    (dict(alpha_cos=0.0), ["student_hidden", "teacher_hidden"], {"L_ce", "L_mlm"}),
    (dict(alpha_mlm=0.0), [], {"L_ce", "L_cos"}),
    (dict(alpha_ce=0.0), ["teacher_logits"], {"L_mlm", "L_cos"}),
    (dict(alpha_ce=0.0, alpha_mlm=0.0), ["student_logits", "teacher_logits", "mlm_labels"], {"L_cos"}),
    (dict(alpha_ce=0.0, alpha_cos=0.0),
     ["teacher_logits", "student_hidden", "teacher_hidden", "attention_mask"], {"L_mlm"}),
])
def test_a_zero_weight_switches_its_term_off(weights, dropped, present):
    b = make_batch()
    full_terms = distilbert_loss(**b, return_terms=True)[1]
    alphas = {"L_ce": 5.0, "L_mlm": 2.0, "L_cos": 1.0}
    b.update({k: None for k in dropped})                       # inputs of a dropped term may be None
    loss, terms = distilbert_loss(**b, **weights, return_terms=True)
    assert set(terms) == present
    assert loss.item() == pytest.approx(sum(alphas[k] * full_terms[k] for k in present), rel=1e-6)


def test_a_needed_input_that_is_none_is_named():
    b = make_batch()
    for name, weight in [("student_hidden", "alpha_cos"), ("teacher_logits", "alpha_ce"), ("mlm_labels", "alpha_ce")]:
        with pytest.raises(ValueError, match=f"{weight}=.*needs {name}, got None"):
            distilbert_loss(**{**b, name: None})
    with pytest.raises(ValueError, match=re.escape("alpha_mlm=2.0 needs mlm_labels, got None (set alpha_mlm=0")):
        distilbert_loss(**{**b, "mlm_labels": None}, restrict_ce_to_mask=False)
    with pytest.raises(ValueError, match="alpha_ce=5.0 needs attention_mask"):
        distilbert_loss(**{**b, "attention_mask": None}, alpha_cos=0.0, restrict_ce_to_mask=False)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(alpha_ce=-1.0), "alpha_ce must be a number >= 0, got -1.0"),
    (dict(alpha_mlm=-0.5), "alpha_mlm must be a number >= 0, got -0.5"),
    (dict(alpha_cos=float("nan")), "alpha_cos must be a number >= 0, got nan"),
    (dict(alpha_ce=0, alpha_mlm=0, alpha_cos=0), "at least one of alpha_ce, alpha_mlm, alpha_cos must be > 0"),
    (dict(T=0), "T must be a finite number > 0, got 0"),
    (dict(T=-2.0), "T must be a finite number > 0, got -2.0"),
    (dict(T=float("nan")), "T must be a finite number > 0, got nan"),
])
def test_bad_weights_and_temperatures_rejected(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        distilbert_loss(**make_batch(), **kwargs)


def test_shape_errors_name_arguments_and_shapes():
    b = make_batch()
    s, am = b["student_logits"], b["attention_mask"]
    with pytest.raises(ValueError, match=re.escape("T must be a finite number > 0, got -1")):
        L_ce(s, s, am, T=-1)
    with pytest.raises(ValueError, match=re.escape("student_logits (3, 7, 50) and teacher_logits (3, 7, 49)")):
        L_ce(s, s[..., :49], am)
    with pytest.raises(ValueError, match=re.escape("student_logits (3, 7, 50) and mask (3, 6)")):
        L_ce(s, s, am[:, :6])
    with pytest.raises(ValueError, match=re.escape("expected student_logits (batch, seq, dim) and mask (batch, seq)")):
        L_ce(s, s, None)
    with pytest.raises(ValueError, match=re.escape("expected student_logits (batch, seq, vocab) and mlm_labels (batch, seq)")):
        L_mlm(s.view(-1, V), b["mlm_labels"].view(-1))
    with pytest.raises(ValueError, match=re.escape("student_logits (3, 7, 50) and mlm_labels (3, 6)")):
        L_mlm(s, b["mlm_labels"][:, :6])
    with pytest.raises(ValueError, match=re.escape("token ids in [0, 50) or -100, got values from 0 to 50")):
        L_mlm(s, b["mlm_labels"].masked_fill(b["mlm_labels"] == -100, 0).index_fill(1, torch.tensor([2]), 50))
    with pytest.raises(ValueError, match=re.escape("student_hidden (3, 6, 16) and teacher_hidden (3, 7, 16)")):
        L_cos(b["student_hidden"][:, :6], b["teacher_hidden"], am)
    with pytest.raises(ValueError, match="needs equal hidden sizes.*TinyBERT's L_hidn.*learnable projection W"):
        L_cos(_randn(B, S, 8), b["teacher_hidden"], am)
    with pytest.raises(ValueError, match=re.escape("restrict_to_masked=True needs mlm_labels")):
        ce_positions(am, None, True)


# --------------------------------------------------------------------------- properties


@st.composite
def padded_pairs(draw, last: int, bound: float = 20.0):
    """(student, teacher, mask): float64 (b, s, last) tensors and a (b, s) mask of >= 1 position."""
    b, s = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    el = st.floats(-bound, bound, allow_nan=False, allow_infinity=False)
    x, y = (torch.from_numpy(draw(hnp.arrays(np.float64, (b, s, last), elements=el))) for _ in range(2))
    mask = torch.from_numpy(draw(hnp.arrays(np.bool_, (b, s)))).reshape(b, s)
    mask[0, 0] = True
    return x, y, mask


@SETTINGS
@given(p=padded_pairs(last=5), T=st.floats(0.1, 20.0), shift=st.floats(-50.0, 50.0))
def test_L_ce_non_negative_and_invariant_to_a_per_position_constant(p, T, shift):
    s, t, mask = p
    base = L_ce(s, t, mask, T)
    assert base.item() >= -1e-10                                          # Gibbs: KL >= 0
    c = shift * torch.arange(s.shape[0] * s.shape[1], dtype=s.dtype).view(*s.shape[:2], 1) / 10  # (b, s, 1)
    torch.testing.assert_close(L_ce(s + c, t, mask, T), base, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(L_ce(s, t - c, mask, T), base, rtol=1e-9, atol=1e-9)


@SETTINGS
@given(p=padded_pairs(last=4), scale=st.floats(1e-3, 1e3))
def test_L_cos_in_zero_two_and_blind_to_positive_scale(p, scale):
    hs, ht, mask = p
    loss = L_cos(hs, ht, mask).item()
    assert -1e-12 <= loss <= 2 + 1e-12
    if ((hs * hs).sum(-1)[mask] * min(scale, 1.0) ** 2 > 1e-2).all():   # eps = 1e-12 negligible: direction only
        assert L_cos(scale * hs, ht, mask).item() == pytest.approx(loss, abs=1e-9)
