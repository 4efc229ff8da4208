"""Tests for kd_teach.course.checks.general and .task: TinyBERT's general distillation loss (notebook 06) and
task distillation's two steps (notebook 07); correct rewrites pass, each usual mistake is named in words
(Jiao et al. 2020, Section 3.2, Eqs. 7-11)."""
from __future__ import annotations

import re

import pytest
import torch.nn.functional as F

from kd_teach.course.checks import CheckFailed
from kd_teach.course.checks.general import check_general_distillation_loss
from kd_teach.course.checks.task import check_task_distillation_loss
from kd_teach.tinybert.losses import L_attn, L_embd, L_hidn, L_pred


# --------------------------------------------------------------------------- general distillation (06)
def general(s, t, g, W, am, *, embd=True, attn=True, layers=None, teacher_layer=None, W_of=None, pred=False,
            divide=1, probs=False):
    """Eq. 11 written out; each keyword turned the wrong way is one usual mistake."""
    M = len(g) - 1
    n_of = teacher_layer or (lambda m: g[m])
    W_of = W_of or (lambda m: W[m])
    loss = L_embd(s.hidden_states[0], t.hidden_states[0], W_of(0), am) if embd else 0
    for m in (range(1, M + 1) if layers is None else layers(M)):
        loss = loss + L_hidn(s.hidden_states[m], t.hidden_states[n_of(m)], W_of(m), am)
        if attn:
            A_s, A_t = s.scores[m], t.scores[n_of(m)]
            if probs:
                A_s, A_t = A_s.softmax(-1), A_t.softmax(-1)
            loss = loss + L_attn(A_s, A_t, am)
    if pred:
        loss = loss + L_pred(s.logits, t.logits)
    return loss / divide


def general_by_hand(s, t, g, W, am):  # the MSEs written out, padding selected first
    real = am.bool()
    pairs = (real[:, :, None] & real[:, None, :])[:, None]
    loss = ((s.hidden_states[0][real] @ W[0] - t.hidden_states[0][real].detach()) ** 2).mean()
    for m in range(1, len(g)):
        loss = loss + ((s.hidden_states[m][real] @ W[m] - t.hidden_states[g[m]][real].detach()) ** 2).mean()
        A_s, A_t = s.scores[m], t.scores[g[m]].detach()
        loss = loss + ((A_s - A_t)[pairs.expand_as(A_s)] ** 2).mean()
    return loss


@pytest.mark.parametrize("fn", [general, general_by_hand], ids=["package-losses", "by-hand"])
def test_correct_general_losses_pass(fn, capsys):
    check_general_distillation_loss(fn)
    assert capsys.readouterr().out.startswith("✓ general_distillation_loss matches the reference on 12 inputs")


GENERAL_WRONG = [
    (lambda *a: general(*a, pred=True), "you added L_pred: general distillation has no prediction layer"),
    (lambda *a: general(*a, embd=False), "L_embd is missing"),
    (lambda *a: general(*a, attn=False), "L_attn is missing"),
    (lambda *a: general(*a, layers=lambda M: range(1, M)), "the last student layer is missing"),
    (lambda s, t, g, W, am: general(s, t, g, W, am) + L_hidn(s.hidden_states[0], t.hidden_states[0], W[0], am),
     "the embedding layer is counted twice"),
    (lambda *a: general(*a, layers=lambda M: range(M + 1)), "the embedding layer (m = 0) has no attention scores"),
    (lambda *a: general(*a, teacher_layer=lambda m: m), "(the 'bottom' mapping), not g(m)"),
    (lambda s, t, g, W, am: general(s, t, g, W, am, teacher_layer=lambda m: g[m] - 1),
     "the teacher's layers are off by one"),
    (lambda s, t, g, W, am: general(s, t, g, W, am, teacher_layer=lambda m: m * (len(t.hidden_states) - 1) // (len(g) - 1)),
     "you built a uniform mapping yourself instead of using the g you are given"),
    (lambda s, t, g, W, am: general(s, t, g, W, am, divide=len(g) - 1), "you averaged over the M = 2 layers"),
    (lambda *a: general(*a, probs=True), "you compared attention probabilities"),
    (lambda s, t, g, W, am: general(s, t, g, W, am, W_of=lambda m: W[0]), "every layer used W[0]"),
    (lambda s, t, g, W, am: general(s, t, g, [w.detach() for w in W], am), "no gradient reaches W[0], W[1], W[2]"),
    (lambda s, t, g, W, am: general(s, t, g, W, am, teacher_layer=lambda m: g[m] + 1), "IndexError"),
    (lambda s, t, g, W, am: general(s, t, g, W, am).item(), "it should return a scalar torch.Tensor"),
    (lambda s, t, g, W, am: 1.01 * general(s, t, g, W, am), "compare your sum with the reference docstring"),
]


@pytest.mark.parametrize("fn, phrase", GENERAL_WRONG, ids=[p[:40] for _, p in GENERAL_WRONG])
def test_a_wrong_general_loss_is_named(fn, phrase, capsys):
    with pytest.raises(CheckFailed, match=re.escape(phrase)):
        check_general_distillation_loss(fn)
    assert "✓" not in capsys.readouterr().out


def test_l_pred_on_a_model_without_head_is_explained():
    def with_pred_always(s, t, g, W, am):
        return general(s, t, g, W, am) + L_pred(s.logits, t.logits)
    with pytest.raises(CheckFailed, match="no logits.*general distillation has no prediction layer, so do not"):
        check_general_distillation_loss(lambda s, t, g, W, am: with_pred_always(s, t, g, W, am)
                                        if s.logits is None else general(s, t, g, W, am))


def test_a_loss_that_changes_its_input_is_caught():
    def zeroes_the_padding(s, t, g, W, am):
        t.hidden_states[0][am == 0] = 0
        return general(s, t, g, W, am)
    with pytest.raises(CheckFailed, match="changed its input in place"):
        check_general_distillation_loss(zeroes_the_padding)


# --------------------------------------------------------------------------- task distillation (07)
def task(step, s, t, g, W, batch, temp=1.0, *, labels=False, t2=False, both=False, kl=False):
    if step not in (1, 2):
        raise ValueError(f"TinyBERT's task distillation has steps 1 and 2, got {step}")
    inter = general(s, t, g, W, batch["attention_mask"])
    if step == 1:
        return inter
    loss = L_pred(s.logits, t.logits, temp) * (temp ** 2 if t2 else 1)
    if kl:
        loss = F.kl_div(F.log_softmax(s.logits / temp, -1), F.softmax(t.logits / temp, -1), reduction="batchmean")
    if labels:
        loss = loss + F.cross_entropy(s.logits, batch["labels"])
    return loss + (inter if both else 0)


def test_a_correct_switch_passes(capsys):
    check_task_distillation_loss(task)
    assert capsys.readouterr().out.startswith("✓ task_distillation_loss matches the reference on 24 inputs")


def no_error(step, s, t, g, W, batch, temp=1.0):
    return task(1 if step == 1 else 2, s, t, g, W, batch, temp)


TASK_WRONG = [
    (lambda step, *a: task(3 - step, *a), "the steps are swapped"),
    (lambda *a: task(*a, both=True), "step 2 trains the prediction layer alone"),
    (lambda *a: task(*a, labels=True), "you used the batch's hard labels"),
    (lambda *a: task(*a, t2=True), "step 2 is t² = 4 times too large"),
    (lambda *a: task(*a, kl=True), "step 2 computed the KL"),
    (lambda step, s, t, g, W, b, temp: task(step, s, t, g, W, b, 1.0), "step 2 ignores t"),
    (lambda step, s, t, g, W, b, temp: general(s, t, g, W, b["attention_mask"], embd=False) if step == 1
     else task(step, s, t, g, W, b, temp), "in step 1, L_embd is missing"),
    (lambda step, s, t, g, W, b, temp: task(step, s, t, g, W, b, temp) + (L_pred(s.logits, t.logits) if step == 1
                                                                         else 0), "step 1 distils the intermediate"),
    (no_error, "returned tensor(") ,
    (lambda step, *a: task(step, *a) if step in (1, 2) else 1 / 0, "raise ValueError for step=3"),
    (lambda step, s, t, g, W, b, temp: L_pred(s.logits.detach(), t.logits, temp) if step == 2
     else task(step, s, t, g, W, b, temp), "no gradient reaches the student"),
    (lambda step, s, t, g, W, b: task(step, s, t, g, W, b), "your function is called as task_distillation_loss("),
]


@pytest.mark.parametrize("fn, phrase", TASK_WRONG, ids=[p[:40] for _, p in TASK_WRONG])
def test_a_wrong_switch_is_named(fn, phrase, capsys):
    with pytest.raises(CheckFailed, match=re.escape(phrase)):
        check_task_distillation_loss(fn)
    assert "✓" not in capsys.readouterr().out

