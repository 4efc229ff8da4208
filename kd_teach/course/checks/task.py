"""Checker for the first exercise of notebook 07: task distillation's loss switch (TinyBERT, Jiao et al. 2020).

Task-specific distillation (Section 3.2) runs in two steps, both from a teacher fine-tuned on the task:

    step 1:  L = L_embd + Σ_{m=1..M} (L_hidn + L_attn)           Eq. 11, the intermediate layers
    step 2:  L = L_pred(z_S, z_T, t) = −Σ_j softmax(z_T/t)_j log softmax(z_S/t)_j     Eq. 10, no t², no labels

``check_task_distillation_loss`` compares the learner's switch with :func:`kd_teach.tinybert.losses.intermediate_loss`
(step 1) and :func:`kd_teach.tinybert.losses.L_pred` (step 2) on the random layer outputs of notebook 06's
checker (:mod:`kd_teach.course.checks.general`), with logits and a batch that carries SST-2-style labels,
and demands a ValueError for any other step. A wrong switch is explained by the mistake it matches:
the steps swapped, both losses in one step, the hard labels used, Hinton's t² or KL, t ignored, and
every mistake of Eq. 11 in step 1.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from kd_teach.course.checks.core import CheckFailed
from kd_teach.course.checks.general import (GENERAL_ERRORS, GENERAL_MISTAKES, SHAPES, describe, eq11,
                                            layer_outputs_pair, student_tensors, teacher_tensors)
from kd_teach.course.checks.nested import Inputs, as_double, call, compare, gradients, nested_map
from kd_teach.tinybert.losses import L_pred, intermediate_loss
from kd_teach.tinybert.mapping import layer_mapping

F64 = torch.float64
TEMPERATURES = (1.0, 2.0, 1.0, 0.5, 1.0, 3.0)   # t of step 2, one per shape (TinyBERT's own: 1)


def _task_inputs() -> list[Inputs]:
    """Step 1 and step 2 on every shape of notebook 06's checker, logits always present, labels in the batch."""
    gen, out = torch.Generator().manual_seed(70), []
    for dtype in (F64, torch.float32):
        for (M, N, d_s, d_t, H, B, L, mapping, per_layer, _), t in zip(SHAPES, TEMPERATURES):
            s, te, g, W, am = layer_outputs_pair(gen, M, N, d_s, d_t, H, B, L, mapping, per_layer, logits=True)
            labels = torch.randint(0, 3, (B,), generator=gen)
            cast = lambda x: x.to(dtype) if x.is_floating_point() else x  # noqa: E731
            for step in (1, 2):
                args = (step, s, te, list(g), W, {"attention_mask": am, "labels": labels}, t)
                text = f"step={step}, t={t:g}, {describe(M, N, d_s, d_t, H, am, g, per_layer, True, dtype)}"
                out.append(Inputs(nested_map(args, cast), as_double(args), text, dtype,
                                  {"M": M, "g": g, "t": t, "t2": t * t, "step": step,
                                   "uniform": layer_mapping(M, N, "uniform") if N % M == 0 else g}))
    return out


def _reference(step, s, t, g, W, batch, temperature):
    if step == 1:
        return intermediate_loss(s, t, g, W, batch["attention_mask"])[0]
    return L_pred(s.logits, t.logits, temperature)


def _pred(i: Inputs, **kw) -> Tensor:
    """Step 2's L_pred in float64, or redone with a mistake: Ts, Tt temperatures, kl, swap, labels, t2."""
    _, s, t, _, _, batch, T = i.ref
    zs, zt = (t.logits, s.logits) if kw.get("swap") else (s.logits, t.logits)
    Ts, Tt = kw.get("Ts", T), kw.get("Tt", T)
    log_q, p = torch.log_softmax(zs / Ts, -1), torch.softmax(zt / Tt, -1)
    loss = -(p * log_q).sum(-1).mean()
    if kw.get("kl"):
        loss = loss + (p * torch.log(p)).sum(-1).mean()
    loss = loss * (T * T if kw.get("t2") else 1.0)
    if kw.get("labels"):
        ce = F.cross_entropy(s.logits, batch["labels"])
        loss = ce if kw["labels"] == "only" else loss + ce
    return loss


def _step1(i: Inputs, **kw) -> Tensor:
    _, s, t, g, W, batch, _ = i.ref
    return eq11(s, t, g, W, batch["attention_mask"], **kw)


def _switch(one: Callable, two: Callable) -> Callable:
    """A mistake made of what step 1 and step 2 compute."""
    return lambda i: one(i) if i.v["step"] == 1 else two(i)


def _in_step1(mistake: Callable) -> Callable:
    """A mistake of Eq. 11 (notebook 06's list), made in step 1 only."""
    def redo(i: Inputs) -> Tensor:
        if i.v["step"] == 2:
            return _pred(i)
        step, s, t, g, W, batch, T = i.ref
        return mistake(Inputs(i.args, (s, t, g, W, batch["attention_mask"]), i.text, i.dtype, i.v))
    return redo


TASK_MISTAKES = [
    ("the steps are swapped: step 1 distils the intermediate layers (L_embd + Σ L_hidn + L_attn, Eq. 11), step 2 "
     "the prediction layer (L_pred, Eq. 10)", _switch(_pred, _step1)),
    ("step 2 trains the prediction layer alone: return L_pred only, without the intermediate losses (they were "
     "step 1's job)", _switch(_step1, lambda i: _step1(i) + _pred(i))),
    ("step 1 distils the intermediate layers alone: L_pred waits for step 2",
     _switch(lambda i: _step1(i) + _pred(i), _pred)),
    ("you used the batch's hard labels: TinyBERT's task distillation learns from the teacher only, L_pred on its "
     "soft targets (Eq. 10); the labels stay unused", _switch(_step1, lambda i: _pred(i, labels="add"))),
    ("you used the batch's hard labels instead of the teacher: step 2 is L_pred, the cross-entropy with the "
     "teacher's soft targets at t (Eq. 10), and the labels stay unused",
     _switch(_step1, lambda i: _pred(i, labels="only"))),
    ("step 2 is t² = {t2:g} times too large: TinyBERT's L_pred has no t² (Hinton's and DistilBERT's losses do)",
     _switch(_step1, lambda i: _pred(i, t2=True))),
    ("step 2 computed the KL: L_pred is the cross-entropy −Σ_j p_T log p_S (Eq. 10); they differ by the teacher's "
     "entropy, so the gradients agree but the values do not", _switch(_step1, lambda i: _pred(i, kl=True))),
    ("step 2 ignores t: divide both logits by t = {t:g}", _switch(_step1, lambda i: _pred(i, Ts=1.0, Tt=1.0))),
    ("step 2 divided only the teacher's logits by t: the student's too", _switch(_step1, lambda i: _pred(i, Ts=1.0))),
    ("step 2 divided only the student's logits by t: the teacher's too", _switch(_step1, lambda i: _pred(i, Tt=1.0))),
    ("step 2 swapped teacher and student: the teacher's probabilities weigh the student's log-probabilities",
     _switch(_step1, lambda i: _pred(i, swap=True))),
] + [("in step 1, " + hint, _in_step1(m)) for hint, m in GENERAL_MISTAKES[1:]]
TASK_ERRORS = [(("NoneType",), "logits are present in every input here; step 1 does not need them"),
               *GENERAL_ERRORS[1:]]


def _needs_value_error(fn: Callable, name: str, usage: str, inp: Inputs) -> None:
    for step in (3, 0):
        bad = Inputs((step, *inp.args[1:]), inp.ref, inp.text.replace("step=1", f"step={step}"), inp.dtype, inp.v)
        try:
            out = call(fn, name, usage, bad, TASK_ERRORS)
        except CheckFailed as e:
            if isinstance(e.__cause__, ValueError):
                continue
            raise CheckFailed(f"{e}\nHint: TinyBERT's task distillation has two steps: raise ValueError for "
                              f"step={step} (naming the steps there are), not another exception.") from e
        raise CheckFailed(f"{name} returned {out!r} for step={step}; expected a ValueError.\nHint: there are two "
                          "steps, 1 (intermediate layers) and 2 (prediction layer): raise ValueError for any other, "
                          "rather than computing one of them silently.")


def check_task_distillation_loss(fn: Callable) -> None:
    """Check fn(step, student, teacher, g, W, batch, t) -> scalar: task distillation's two steps.

    step 1: Eq. 11 on the intermediate layers (:func:`kd_teach.tinybert.losses.intermediate_loss`);
    step 2: L_pred(student.logits, teacher.logits, t), Eq. 10, no t², no hard labels
    (:func:`kd_teach.tinybert.losses.L_pred`); any other step: ValueError. student, teacher:
    :class:`~kd_teach.tinybert.attention.LayerOutputs` with logits (batch, classes); batch:
    {"attention_mask": (batch, seq), "labels": (batch,)}. Jiao et al. 2020, Section 3.2.
    """
    name, usage = "task_distillation_loss", "task_distillation_loss(step, student, teacher, g, W, batch, t)"
    inputs = _task_inputs()

    def grads() -> None:
        step1, step2 = inputs[0], inputs[1]
        gradients(fn, name, usage, step1, lambda a: student_tensors(a[1:5] + (None,)),
                  lambda a: teacher_tensors(a[1:5] + (None,)), TASK_ERRORS)
        gradients(fn, name, usage, step2, lambda a: [("student.logits", a[1].logits)],
                  lambda a: [("teacher.logits", a[2].logits)], TASK_ERRORS)
        _needs_value_error(fn, name, usage, step1)

    compare(name, fn, _reference, usage, inputs, TASK_MISTAKES,
            "steps 1 and 2 on students of 1-4 layers and teachers of 4-12; t from 0.5 to 3; float32 and float64; "
            "labels in every batch", "one number: step 1's Eq. 11 or step 2's L_pred", TASK_ERRORS, then=grads)
