"""Tests for kd_teach.course.checks.bugs and .bugs_tinybert: the find-the-bug set (notebook 90).

Each buggy function is the one the notebook hands out; the checker must reject it and name that bug.
The fixes pass, and so do other correct ways of writing them; other mistakes are named too.
"""
from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kd_teach.course.checks import CheckFailed
from kd_teach.course.checks.bugs import (check_kd_step, check_make_teacher, check_transfer_loss, kd_step,
                                         make_teacher, teacher_task, transfer_loss)
from kd_teach.course.checks.bugs_tinybert import check_attention_loss, check_hidden_states_loss, hidden_states_loss
from kd_teach.hinton.losses import kd_loss
from kd_teach.tinybert.losses import L_attn, L_hidn


def expect(check, fn, phrase, capsys):
    with pytest.raises(CheckFailed, match=re.escape(phrase)):
        check(fn)
    assert "✓" not in capsys.readouterr().out


# --------------------------------------------------------------------------- 1. the untuned teacher
def buggy_make_teacher(body, width, classes, X, y):  # as in solutions/90
    teacher = nn.Sequential(body, nn.Linear(width, classes))     # the pretrained body and a classification head
    return teacher.eval()


def sgd_teacher(body, width, classes, X, y):  # another fix: the head alone, plain SGD
    head = nn.Linear(width, classes)
    optimizer = torch.optim.SGD(head.parameters(), lr=1.0)
    with torch.no_grad():
        features = body(X)
    for _ in range(300):
        loss = F.cross_entropy(head(features), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return nn.Sequential(body, head).eval()


@pytest.mark.parametrize("fn", [make_teacher, sgd_teacher])
def test_a_trained_teacher_passes(fn, capsys):
    check_make_teacher(fn)
    assert re.match(r"✓ make_teacher gives a teacher with 0\.[89]\d\d held-out accuracy", capsys.readouterr().out)


def test_the_task_is_one_the_body_solves_and_chance_without_training():
    body, X, y, X_test, y_test = teacher_task()
    assert set(y.tolist()) == {0, 1, 2, 3} and max(torch.bincount(y_test)).item() < 0.5 * len(y_test)
    with torch.no_grad():
        accuracy = (buggy_make_teacher(body, 32, 4, X, y)(X_test).argmax(-1) == y_test).float().mean().item()
    assert accuracy < 0.4


def test_the_untuned_teacher_is_named(capsys):
    expect(check_make_teacher, buggy_make_teacher, "the bug is still there", capsys)
    expect(check_make_teacher, buggy_make_teacher, "chance for 4 classes is 0.25). The head on top of the pretrained body is random", capsys)


def test_other_teacher_mistakes_are_named(capsys):
    expect(check_make_teacher, lambda *a: make_teacher(*a).train(), "returned the teacher in train mode", capsys)
    expect(check_make_teacher, lambda *a: make_teacher(*a, steps=3), "the teacher learned a little but not enough",
           capsys)
    expect(check_make_teacher, lambda body, width, classes, X, y: nn.Sequential(body, nn.Linear(width, 2)).eval(),
           "expected (400, 4)", capsys)
    expect(check_make_teacher, lambda body, X, y: body, "your function is called as make_teacher(", capsys)


# --------------------------------------------------------------------------- 2-4. one KD step
def step_with(*, reduction="batchmean", T2=True, teacher_eval=True, no_grad=True, zero_grad=True, detach_soft=False,
              swap=False):
    """The notebook's step; each keyword turned the wrong way is one of its bugs (or a mistake in a fix)."""
    def step(distiller, optimizer, x, labels, T=4.0, alpha=0.5, beta=0.5):
        distiller.train()
        if teacher_eval:
            distiller.teacher.eval()
        with torch.set_grad_enabled(not no_grad):
            z_t = distiller.teacher(x)
        z_s = distiller.student(x)
        hard = F.cross_entropy(z_s, labels)
        z_soft = z_s.detach() if detach_soft else z_s
        soft = nn.KLDivLoss(reduction=reduction)(F.log_softmax(z_soft / T, dim=-1), F.softmax(z_t / T, dim=-1))
        soft = soft * (T ** 2 if T2 else 1.0)
        loss = (beta * hard + alpha * soft) if swap else (alpha * hard + beta * soft)
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


@pytest.mark.parametrize("fn", [kd_step, step_with()], ids=["package", "nn.KLDivLoss-batchmean"])
def test_a_fixed_step_passes(fn, capsys):
    check_kd_step(fn)
    assert capsys.readouterr().out.startswith("✓ kd_step matches the reference over two steps")


@pytest.mark.filterwarnings("ignore:reduction")  # PyTorch's own warning about reduction="mean"
@pytest.mark.parametrize("bug, phrase", [
    (dict(reduction="mean"), "the soft loss is C = 5 times too small: reduction=\"mean\""),
    (dict(T2=False), "the soft loss is T² = 16 times too small"),
    (dict(no_grad=False), "the bug is still there: gradients reached the teacher and the optimiser moved it"),
    (dict(teacher_eval=False), "the bug is still there: in train mode the teacher's dropout"),
    (dict(no_grad=False, teacher_eval=False), "the teacher's weights changed or hold gradients"),
    (dict(detach_soft=True), "the soft loss never reaches the student: its logits were detached"),
    (dict(zero_grad=False), "gradients piled up from one step to the next"),
    (dict(swap=True), "alpha and beta are swapped"),
], ids=lambda x: str(x)[:30])
def test_each_bug_of_the_step_is_named(bug, phrase, capsys):
    expect(check_kd_step, step_with(**bug), phrase, capsys)


def evaluates_the_student(distiller, optimizer, x, labels, T=4.0, alpha=0.5, beta=0.5):
    distiller.eval()                                             # the teacher rightly, the student too
    with torch.no_grad():
        z_t = distiller.teacher(x)
    loss = kd_loss(distiller.student(x), z_t, labels, alpha, beta, T)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def never_steps(distiller, optimizer, x, labels, T=4.0, alpha=0.5, beta=0.5):
    distiller.student.train()
    distiller.teacher.eval()
    with torch.no_grad():
        z_t = distiller.teacher(x)
    return kd_loss(distiller.student(x), z_t, labels, alpha, beta, T).item()   # no backward, no step


def test_other_step_mistakes_are_named(capsys):
    expect(check_kd_step, evaluates_the_student, "the student ran in eval mode", capsys)
    expect(check_kd_step, never_steps, "the student did not change", capsys)
    expect(check_kd_step, lambda d, opt, x, y, T=4.0, alpha=0.5, beta=0.5: None, "expected the loss as a float", capsys)
    expect(check_kd_step, lambda d, opt, x: 0.0, "your function is called as kd_step(", capsys)


# --------------------------------------------------------------------------- 7. the transfer set's labels
def buggy_transfer_loss(student_logits, teacher_logits, labels, labelled, T=4.0, alpha=0.5, beta=0.5):  # solutions/90
    return kd_loss(student_logits, teacher_logits, labels, alpha, beta, T)


def where_transfer_loss(student_logits, teacher_logits, labels, labelled, T=4.0, alpha=0.5, beta=0.5):
    hard = F.cross_entropy(student_logits, torch.where(labelled, labels, -100), reduction="sum") / len(labels)
    return alpha * hard + beta * kd_loss(student_logits, teacher_logits, labels, 0.0, 1.0, T)


@pytest.mark.parametrize("fn", [transfer_loss, where_transfer_loss])
def test_a_fixed_transfer_loss_passes(fn, capsys):
    check_transfer_loss(fn)
    assert capsys.readouterr().out.startswith("✓ transfer_loss matches the reference on 20 cases")


@pytest.mark.parametrize("fn, phrase", [
    (buggy_transfer_loss, "the bug is still there: the transfer set's labels reach the hard loss"),
    (lambda zs, zt, y, lab, T=4.0, alpha=0.5, beta=0.5: alpha * F.cross_entropy(zs, y.masked_fill(~lab, -100))
     + kd_loss(zs, zt, y, 0.0, beta, T), "the hard loss was averaged over the labelled rows only"),
    (lambda zs, zt, y, lab, T=4.0, alpha=0.5, beta=0.5: kd_loss(zs[lab], zt[lab], y[lab], alpha, beta, T),
     "the transfer rows were dropped"),
    (lambda zs, zt, y, lab, T=4.0, alpha=0.5, beta=0.5: kd_loss(zs, zt, torch.where(lab, y, zt.argmax(-1)),
                                                                alpha, beta, T), "the teacher's argmax as a hard label"),
    (lambda zs, zt, y, lab, T=4.0, alpha=0.5, beta=0.5: kd_loss(zs, zt, y.masked_fill(lab, -100), alpha, beta, T),
     "the mask is inverted"),
    (lambda zs, zt, y, lab, T=4.0, alpha=0.5, beta=0.5: transfer_loss(zs.detach(), zt, y, lab, T, alpha, beta),
     "no gradient reaches student_logits"),
], ids=lambda x: x[:30] if isinstance(x, str) else None)
def test_each_transfer_mistake_is_named(fn, phrase, capsys):
    expect(check_transfer_loss, fn, phrase, capsys)


# --------------------------------------------------------------------------- 5. the layer index
def buggy_hidden_states_loss(student_hidden, teacher_hidden, W, attention_mask):  # as in solutions/90
    M, N = len(student_hidden), len(teacher_hidden)                     # layers of each model
    loss = 0
    for m, H_S in enumerate(student_hidden):
        n = m * N // M                                                  # g(m) = m N / M
        loss = loss + L_hidn(H_S, teacher_hidden[n], W, attention_mask)
    return loss


def hidden_with(g_of):
    def loss(student_hidden, teacher_hidden, W, attention_mask):
        M, N = len(student_hidden) - 1, len(teacher_hidden) - 1
        return sum(L_hidn(student_hidden[m], teacher_hidden[n], W, attention_mask) for m, n in enumerate(g_of(M, N)))
    return loss


def test_a_fixed_hidden_states_loss_passes(capsys):
    for fn in (hidden_states_loss, hidden_with(lambda M, N: list(range(0, N + 1, N // M)))):
        check_hidden_states_loss(fn)
        assert capsys.readouterr().out.startswith("✓ hidden_states_loss matches the reference on 12 inputs")


@pytest.mark.parametrize("fn, phrase", [
    (buggy_hidden_states_loss, "the bug is still there: M and N count the layers, but len(hidden_states) counts the "
                               "embeddings too (M + 1 and N + 1 entries), so g(m) = m × (N + 1) // (M + 1) gives "
                               "[0, 2, 4] instead of [0, 3, 6]"),
    (hidden_with(lambda M, N: [m * N // M - 1 for m in range(M + 1)]), "the teacher's index is off by one"),
    (hidden_with(lambda M, N: [m * N // M + 1 for m in range(M + 1)]), "an index past the end"),
    (hidden_with(lambda M, N: list(range(M + 1))), "the teacher's first layers"),
    (hidden_with(lambda M, N: [m * N // M for m in range(M)]), "the last student layer is left out"),
    (lambda sh, th, W, am: hidden_states_loss(sh, th, W, am) / len(sh), "you averaged over the M + 1 layers"),
    (lambda sh, th, W, am: hidden_states_loss(sh, th, W.detach(), am), "no gradient reaches W"),
], ids=lambda x: x[:30] if isinstance(x, str) else None)
def test_each_layer_mistake_is_named(fn, phrase, capsys):
    expect(check_hidden_states_loss, fn, phrase, capsys)


# --------------------------------------------------------------------------- 6. attention over padding
def buggy_attention_loss(A_S, A_T, attention_mask):  # as in solutions/90
    keep = attention_mask[:, None, None, :].bool().expand_as(A_S)      # padded keys out, as BERT's additive mask
    return ((A_S - A_T.detach())[keep] ** 2).mean()


def test_a_fixed_attention_loss_passes(capsys):
    check_attention_loss(L_attn)
    assert capsys.readouterr().out.startswith("✓ attention_loss is unchanged when the same sentences are padded")


@pytest.mark.parametrize("fn, phrase", [
    (buggy_attention_loss, "the bug is still there: it masks the padded keys (as BERT's additive mask does) but keeps "
                           "the padded queries"),
    (lambda A_S, A_T, am: F.mse_loss(A_S, A_T), "the bug is still there: padded (query, key) pairs count"),
    (lambda A_S, A_T, am: L_attn(A_S.clamp(min=0), A_T.clamp(min=0), am), "attention_loss gives different values"),
    (lambda A_S, A_T, am: L_attn(A_S.clamp(min=0), A_T.clamp(min=0), am), "you zeroed every negative score"),
    (lambda A_S, A_T, am: L_attn(A_S.detach(), A_T, am), "no gradient reaches A_S"),
], ids=lambda x: x[:30] if isinstance(x, str) else None)
def test_each_attention_mistake_is_named(fn, phrase, capsys):
    expect(check_attention_loss, fn, phrase, capsys)
