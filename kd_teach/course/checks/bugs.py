"""Checkers for the find-the-bug exercises of notebook 90 (Hinton-style loops): run the fix, name what is left.

Each exercise hands the learner a distillation loop with one bug that real projects ship; the
learner writes the fixed function and the checker runs it:

- ``check_make_teacher``: the teacher's classification head must be trained on the task before it
  teaches (an untuned teacher, pretrained body and random head, gives chance-level targets: the
  student learns nothing; DESIGN's "common user report"). The fix is trained on a 4-class task and
  must reach 0.75 held-out accuracy (chance 0.25; the reference reaches 0.9), and come back in eval mode.
- ``check_kd_step``: one optimiser step of Hinton's KD, L = alpha CE(y, z_S) + beta T² KL(p_T || p_S)
  (Hinton et al. 2015, Section 2), run twice on a student and a teacher with dropout, one optimiser
  over both (as a distiller module's ``parameters()`` gives). The loss and the student's weights after
  each step must match the reference; the teacher must run in eval mode and never move. It names
  ``reduction="mean"`` (KL divided by the classes too), the missing T², a teacher that learns or
  drops out, a detached student, gradients piling up without ``zero_grad``.
- ``check_transfer_loss``: the KD loss on a batch mixing labelled sentences and transfer-set
  sentences whose labels are withheld (``labelled`` False): their labels must not reach the hard
  loss (label -100, as :func:`kd_teach.hinton.losses.student_loss` ignores), which the probe tests
  by changing them.

The TinyBERT loops (layer index, attention over padding) are in :mod:`kd_teach.course.checks.bugs_tinybert`.
"""
from __future__ import annotations

import copy
import itertools
import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kd_teach.course.checks.core import (Case, CheckFailed, differs, dtype_name, grad_reaches_student, one_thread,
                                         random_logits, run, scalar_first)
from kd_teach.hinton.losses import kd_loss, student_loss

F64 = torch.float64


# --------------------------------------------------------------------------- 1. the untuned teacher
def make_teacher(body: nn.Module, width: int, classes: int, X: Tensor, y: Tensor, steps: int = 150,
                 lr: float = 1e-2) -> nn.Module:
    """The fix: the pretrained body with a new head, fine-tuned on (X, y) (full-batch Adam), in eval mode."""
    teacher = nn.Sequential(body, nn.Linear(width, classes)).train()
    optimizer = torch.optim.Adam(teacher.parameters(), lr=lr)
    for _ in range(steps):
        loss = F.cross_entropy(teacher(X), y)                   # hard labels: the teacher's own task training
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return teacher.eval()


def teacher_task(seed: int = 90, d: int = 16, width: int = 32, classes: int = 4, n: int = 400):
    """A "pretrained" body (Linear, Tanh, Dropout) and a task its features solve linearly.

    Returns:
        (body in eval mode, X_train (n, d), y_train (n,), X_test (n, d), y_test (n,)).
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        body = nn.Sequential(nn.Linear(d, width), nn.Tanh(), nn.Dropout(0.1)).eval()
    X = torch.randn(2 * n, d, generator=gen)
    with torch.no_grad():
        scores = body(X) @ torch.randn(width, classes, generator=gen)            # (2n, classes): linear in the features
        for _ in range(50):                                                      # shift each class's score until
            share = torch.bincount(scores.argmax(-1), minlength=classes) / len(X)  # the classes are about equally
            scores = scores - 0.5 * (share - 1 / classes)                        # frequent
        y = scores.argmax(-1)                                                    # (2n,)
    return body, X[:n], y[:n], X[n:], y[n:]


@one_thread
def check_make_teacher(fn: Callable) -> None:
    """Check fn(body, width, classes, X, y) -> a teacher: trained on (X, y), accurate on held-out data, eval mode."""
    name, classes = "make_teacher", 4
    body, X, y, X_test, y_test = teacher_task(classes=classes)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        try:
            teacher = fn(copy.deepcopy(body), 32, classes, X.clone(), y.clone())
        except NotImplementedError:
            raise
        except Exception as e:
            hint = " Hint: your function is called as make_teacher(body, width, classes, X, y)." \
                if isinstance(e, TypeError) else ""
            raise CheckFailed(f"{name} raised {type(e).__name__}: {e}.{hint}") from e
    if not isinstance(teacher, nn.Module):
        raise CheckFailed(f"{name} returned a {type(teacher).__name__}; expected the teacher, an nn.Module.")
    if teacher.training:
        raise CheckFailed(f"{name} returned the teacher in train mode. Hint: call teacher.eval() before returning it: "
                          "in train mode its dropout makes every soft target random.")
    with torch.no_grad():
        logits = teacher(X_test)
    if logits.shape != (len(X_test), classes):
        raise CheckFailed(f"the teacher gives logits of shape {tuple(logits.shape)} for {len(X_test)} sentences; "
                          f"expected ({len(X_test)}, {classes}): a head Linear(width, classes) on the body.")
    acc = (logits.argmax(-1) == y_test).float().mean().item()
    if acc < 0.75:
        hint = (f"the bug is still there: the teacher does no better than guessing ({acc:.2f}; chance for {classes} "
                f"classes is {1 / classes:.2f}). The head on top of the pretrained body is random until it is "
                "trained: fine-tune the teacher on the labelled data (cross-entropy with y) before it teaches"
                if acc < 1.6 / classes else
                "the teacher learned a little but not enough: more steps or a larger learning rate (the reference: "
                "150 full-batch Adam steps at lr 1e-2)")
        raise CheckFailed(f"the teacher from {name} reaches {acc:.3f} accuracy on {len(X_test)} held-out examples "
                          f"of a {classes}-class task its body's features solve.\nHint: {hint}.")
    print(f"✓ {name} gives a teacher with {acc:.3f} held-out accuracy on a {classes}-class task (chance "
          f"{1 / classes:.2f}), in eval mode: its soft targets now carry what it learned.")


# --------------------------------------------------------------------------- 2-4. one KD step
class Distiller(nn.Module):
    """A student and its teacher in one module (so ``parameters()`` and ``train()`` reach both)."""

    def __init__(self, student: nn.Module, teacher: nn.Module):
        super().__init__()
        self.student, self.teacher = student, teacher


def kd_step(distiller: Distiller, optimizer: torch.optim.Optimizer, x: Tensor, labels: Tensor, T: float = 4.0,
            alpha: float = 0.5, beta: float = 0.5) -> float:
    """The fix: one step of Hinton KD; the teacher in eval mode under no_grad, the student in train mode."""
    distiller.student.train()
    distiller.teacher.eval()                                    # no dropout: its soft targets are fixed
    with torch.no_grad():
        z_t = distiller.teacher(x)                              # (B, C) no graph: nothing flows back into it
    z_s = distiller.student(x)                                  # (B, C)
    loss = kd_loss(z_s, z_t, labels, alpha, beta, T)            # alpha CE + beta T² KL, batchmean
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _distiller(seed: int, d: int = 8, classes: int = 5) -> tuple[Distiller, torch.optim.Optimizer]:
    """A float64 student and a confident teacher, both with dropout, in train mode; SGD over both."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        student = nn.Sequential(nn.Linear(d, 16), nn.ReLU(), nn.Dropout(0.25), nn.Linear(16, classes))
        teacher = nn.Sequential(nn.Linear(d, 24), nn.ReLU(), nn.Dropout(0.25), nn.Linear(24, classes))
        with torch.no_grad():
            teacher[-1].weight.mul_(4)                          # confident: soft targets far from uniform
    distiller = Distiller(student, teacher).double().train()   # left in train mode, as after building it
    return distiller, torch.optim.SGD(distiller.parameters(), lr=0.5)


def _soft(z_s: Tensor, z_t: Tensor, T: float, reduction: str = "batchmean", T2: bool = True, reverse=False):
    log_p, log_q = F.log_softmax(z_t / T, -1), F.log_softmax(z_s / T, -1)
    if reverse:
        log_p, log_q = log_q, log_p
    kl = log_p.exp() * (log_p - log_q)                          # (B, C)
    kl = kl.sum() / kl.shape[0] if reduction == "batchmean" else kl.mean()
    return kl * (T * T if T2 else 1.0)


LOSS_MISTAKES = [  # (hint, loss(z_s, z_t, y, T, alpha, beta) redone with that mistake)
    ("the soft loss is C = {C} times too small: reduction=\"mean\" divides the KL by the batch and the classes; "
     "\"batchmean\" divides by the batch only, which is the KL divergence (PyTorch warns about exactly this)",
     lambda zs, zt, y, T, a, b: a * F.cross_entropy(zs, y) + b * _soft(zs, zt, T, reduction="mean")),
    ("the soft loss is T² = {T2:g} times too small: multiply the KL by T², or its gradient, which shrinks like "
     "1/T², vanishes next to the hard loss's (Hinton et al. 2015, Section 2.1)",
     lambda zs, zt, y, T, a, b: a * F.cross_entropy(zs, y) + b * _soft(zs, zt, T, T2=False)),
    ("alpha and beta are swapped: alpha weighs the hard loss (labels), beta the soft one",
     lambda zs, zt, y, T, a, b: b * F.cross_entropy(zs, y) + a * _soft(zs, zt, T)),
    ("the hard loss was computed at temperature T: the student's hard predictions use T = 1",
     lambda zs, zt, y, T, a, b: a * F.cross_entropy(zs / T, y) + b * _soft(zs, zt, T)),
    ("the KL runs the wrong way: KL(soft targets || soft predictions), the teacher's probabilities first",
     lambda zs, zt, y, T, a, b: a * F.cross_entropy(zs, y) + b * _soft(zs, zt, T, reverse=True)),
    ("the hard loss is missing: alpha × CE(labels, student) + beta × T² KL",
     lambda zs, zt, y, T, a, b: b * _soft(zs, zt, T)),
    ("the soft loss is missing: alpha × CE(labels, student) + beta × T² KL",
     lambda zs, zt, y, T, a, b: a * F.cross_entropy(zs, y)),
]
RUNS = ((4.0, 0.3, 0.7), (2.0, 0.6, 0.4))                       # (T, alpha, beta)
TEACHER_MOVED = ("the bug is still there: gradients reached the teacher and the optimiser moved it (it is in "
                 "the distiller's parameters). Compute its logits under torch.no_grad() (or .detach() them): "
                 "the teacher is a fixed source of targets")


def _run_steps(fn: Callable, seed: int, T: float, a: float, b: float, record: bool = False):
    """Two steps of fn on a fresh distiller; returns (distiller, [loss per step], [(teacher mode, student mode)])."""
    distiller, optimizer = _distiller(seed)
    gen = torch.Generator().manual_seed(seed)
    seen, losses = [], []
    hooks = [distiller.teacher.register_forward_pre_hook(lambda m, i: seen.append(("teacher", m.training))),
             distiller.student.register_forward_pre_hook(lambda m, i: seen.append(("student", m.training)))]
    try:
        for k in range(2):
            x = torch.randn(6, 8, generator=gen, dtype=F64)
            y = torch.randint(0, 5, (6,), generator=gen)
            with torch.random.fork_rng():
                torch.manual_seed(100 * seed + k)                # the same dropout masks for every function
                out = fn(distiller, optimizer, x, y, T=T, alpha=a, beta=b)
            losses.append((out, x, y))
    finally:
        for h in hooks:
            h.remove()
    return distiller, losses, seen


def _same_weights(m1: nn.Module, m2: nn.Module) -> bool:
    return all(torch.allclose(p, q, rtol=1e-7, atol=1e-9) for p, q in zip(m1.parameters(), m2.parameters()))


def _variant_step(detach_soft: bool = False, zero_grad: bool = True) -> Callable:
    """The reference step redone with a mistake that shows in the weights, not in the loss."""
    def step(distiller, optimizer, x, labels, T=4.0, alpha=0.5, beta=0.5):
        distiller.student.train()
        distiller.teacher.eval()
        with torch.no_grad():
            z_t = distiller.teacher(x)
        z_s = distiller.student(x)
        soft = kd_loss(z_s.detach() if detach_soft else z_s, z_t, labels, 0.0, beta, T)
        loss = alpha * student_loss(z_s, labels) + soft
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


LOSS_FORMULA = ("L = alpha CE(y, z_S) + beta T² KL(softmax(z_T/T) || softmax(z_S/T)), batchmean; and run the "
                "student once per step (its dropout is the step's only random draw)")


def _loss_hint(seed: int, x: Tensor, y: Tensor, T: float, a: float, b: float, got: float) -> str | None:
    """The mistake of :data:`LOSS_MISTAKES` that gives ``got`` on the first step's logits, if one does."""
    with torch.no_grad(), torch.random.fork_rng():
        distiller = _distiller(seed)[0]
        distiller.teacher.eval()
        torch.manual_seed(100 * seed)                           # the first step's dropout masks
        z_s, z_t = distiller.student(x), distiller.teacher(x)
    return next((h.format(C=z_s.shape[-1], T2=T * T) for h, m in LOSS_MISTAKES
                 if math.isclose(got, m(z_s, z_t, y, T, a, b).item(), rel_tol=1e-6)), None)


def _as_float(out, name: str, k: int, text: str) -> float:
    if isinstance(out, Tensor) and out.numel() == 1:
        out = out.item()
    if not isinstance(out, float):
        raise CheckFailed(f"{name} returned {out!r} at step {k + 1} ({text}); expected the loss as a float "
                          "(loss.item()).")
    return out


def _update_hint(got: Distiller, first: Distiller, seed: int, T: float, a: float, b: float) -> str:
    """Why the student's weights differ while the first loss agrees: no update, a detached student, no zero_grad."""
    if _same_weights(got.student, first.student):
        return ("the student did not change: call optimizer.zero_grad(), loss.backward() and optimizer.step(), and "
                "keep the student's logits attached (no .detach())")
    variants = [("the soft loss never reaches the student: its logits were detached there, so it learns from the "
                 "labels alone; detach the teacher's logits, never the student's", _variant_step(detach_soft=True)),
                ("gradients piled up from one step to the next: call optimizer.zero_grad() before loss.backward()",
                 _variant_step(zero_grad=False))]
    return next((h for h, v in variants if _same_weights(got.student, _run_steps(v, seed, T, a, b)[0].student)),
                "the loss is right but the update is not: one optimizer.step() after one loss.backward()")


@one_thread
def check_kd_step(fn: Callable) -> None:
    """Check fn(distiller, optimizer, x, labels, T, alpha, beta) -> loss (float) against :func:`kd_step`.

    Two steps per run, two runs; the loss, the student's weights, the teacher's weights and the modes
    both ran in must be those of Hinton KD with a fixed teacher (Hinton et al. 2015, Section 2).
    """
    name = "kd_step"
    for seed, (T, a, b) in enumerate(RUNS, start=1):
        text = f"T={T:g}, alpha={a:g}, beta={b:g}, a 5-class student and teacher with dropout"
        try:
            got, losses, seen = _run_steps(fn, seed, T, a, b)
        except NotImplementedError:
            raise
        except Exception as e:
            hint = (" Hint: your function is called as kd_step(distiller, optimizer, x, labels, T=..., alpha=..., "
                    "beta=...)." if isinstance(e, TypeError) else
                    " Hint: a loss needs a graph to call backward(): keep the student's logits attached."
                    if "does not require grad" in str(e) else "")
            raise CheckFailed(f"{name} raised {type(e).__name__} for {text}: {e}.{hint}") from e
        want, ref_losses, _ = _run_steps(kd_step, seed, T, a, b)
        first = _distiller(seed)[0]
        if not _same_weights(got.teacher, first.teacher) or any(p.grad is not None for p in got.teacher.parameters()):
            raise CheckFailed(f"after {name} ({text}) the teacher's weights changed or hold gradients.\n"
                              f"Hint: {TEACHER_MOVED}.")
        if ("teacher", True) in seen:
            raise CheckFailed(f"the teacher ran in train mode during {name} ({text}).\nHint: the bug is still there: "
                              "in train mode the teacher's dropout makes its soft targets random (two calls on the "
                              "same sentences disagree). Call distiller.teacher.eval() after distiller.train().")
        if ("student", False) in seen:
            raise CheckFailed(f"the student ran in eval mode during {name} ({text}).\nHint: the student trains: "
                              "distiller.student.train() (dropout on); only the teacher goes to eval mode.")
        outs = [_as_float(out, name, k, text) for k, (out, _, _) in enumerate(losses)]
        if not math.isclose(outs[0], ref_losses[0][0], rel_tol=1e-7):       # step 1: the loss alone tells
            hint = _loss_hint(seed, losses[0][1], losses[0][2], T, a, b, outs[0])
            raise CheckFailed(f"{name} returned the loss {outs[0]:.6g} at step 1 ({text}); expected "
                              f"{ref_losses[0][0]:.6g}.\nHint: {hint or LOSS_FORMULA}.")
        if not _same_weights(got.student, want.student):                   # the update, over both steps
            raise CheckFailed(f"the student's weights after two calls of {name} ({text}) differ from the reference's."
                              f"\nHint: {_update_hint(got, first, seed, T, a, b)}.")
        if not math.isclose(outs[1], ref_losses[1][0], rel_tol=1e-7):
            raise CheckFailed(f"{name} returned the loss {outs[1]:.6g} at step 2 ({text}); expected "
                              f"{ref_losses[1][0]:.6g}.\nHint: {LOSS_FORMULA}.")
    print(f"✓ {name} matches the reference over two steps in {len(RUNS)} runs (T = 4 and 2): loss and student "
          "weights; the teacher ran in eval mode and never moved.")


# --------------------------------------------------------------------------- 7. the transfer set's labels
def transfer_loss(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor, labelled: Tensor, T: float = 4.0,
                  alpha: float = 0.5, beta: float = 0.5) -> Tensor:
    """The fix: rows of the transfer set (``labelled`` False) get label -100, which the hard loss ignores.

    (batch, classes) x 2, (batch,) int64, (batch,) bool -> scalar: alpha × (1/B) Σ_{labelled b} CE(y_b, z_S,b)
    + beta × T² KL(p_T || p_S) over every row (Hinton et al. 2015, Section 2; :func:`kd_teach.hinton.losses.kd_loss`).
    """
    return kd_loss(student_logits, teacher_logits, labels.masked_fill(~labelled, -100), alpha, beta, T)


def _transfer_cases() -> list[Case]:
    """Batches mixing labelled and transfer rows (then all of one kind), float64 and float32."""
    gen, cases = torch.Generator().manual_seed(97), []
    for (B, C, n_lab), dtype, (T, a, b) in itertools.product(((6, 3, 3), (8, 2, 2), (5, 4, 1), (4, 3, 4), (5, 2, 0)),
                                                             (F64, torch.float32), ((4.0, 0.5, 0.5), (2.0, 0.3, 0.7))):
        zs, zt = random_logits(gen, (B, C), dtype, False), random_logits(gen, (B, C), dtype, False)
        y = torch.randint(0, C, (B,), generator=gen)
        lab = torch.zeros(B, dtype=torch.bool)
        lab[torch.randperm(B, generator=gen)[:n_lab]] = True
        text = (f"logits of shape {(B, C)}, {dtype_name(dtype)}, T={T:g}, alpha={a:g}, beta={b:g}, labels "
                f"{y.tolist()}, labelled {lab.int().tolist()}")
        cases.append(Case((zs, zt, y, lab, T, a, b), {}, text, 10.0,
                          {"s": zs.double(), "t": zt.double(), "y": y, "lab": lab, "T": T, "a": a, "b": b, "B": B}))
    return cases


def _kd(v: dict, labels: Tensor, rows: Tensor | None = None, soft_rows: Tensor | None = None) -> Tensor:
    rows = torch.ones_like(v["lab"]) if rows is None else rows
    soft_rows = rows if soft_rows is None else soft_rows
    hard = student_loss(v["s"][rows], labels[rows])
    return v["a"] * hard + v["b"] * kd_loss(v["s"][soft_rows], v["t"][soft_rows], labels[soft_rows], 0.0, 1.0, v["T"])


LEAK = ("the bug is still there: the transfer set's labels reach the hard loss (changing them changes the loss). "
        "Those sentences are in the transfer set because their labels are withheld: give them label -100, "
        "labels.masked_fill(~labelled, -100), which student_loss ignores")
TRANSFER_MISTAKES = [
    (LEAK, lambda c: _kd(c.v, c.v["y"])),
    ("the hard loss was averaged over the labelled rows only: student_loss divides by the whole batch, so each row "
     "weighs alpha × its CE (if labelled) + beta × its KL; keep student_loss and label the transfer rows -100",
     lambda c: c.v["a"] * F.cross_entropy(c.v["s"][c.v["lab"]], c.v["y"][c.v["lab"]])
     + c.v["b"] * kd_loss(c.v["s"], c.v["t"], c.v["y"], 0.0, 1.0, c.v["T"])),
    ("the transfer rows were dropped: they have no label, but the teacher's soft targets are exactly what they are "
     "for; keep them in the soft loss", lambda c: _kd(c.v, c.v["y"], rows=c.v["lab"])),
    ("the soft loss covers the labelled rows only: every row, transfer set included, learns from the teacher",
     lambda c: _kd(c.v, c.v["y"].masked_fill(~c.v["lab"], -100), soft_rows=c.v["lab"])),
    ("the transfer rows got the teacher's argmax as a hard label: they have none (-100); the teacher's knowledge "
     "reaches them through the soft loss", lambda c: _kd(c.v, torch.where(c.v["lab"], c.v["y"], c.v["t"].argmax(-1)))),
    ("the mask is inverted: labelled rows keep their labels, the transfer rows (labelled False) get -100",
     lambda c: _kd(c.v, c.v["y"].masked_fill(c.v["lab"], -100))),
]


@one_thread
def check_transfer_loss(fn: Callable) -> None:
    """Check fn(student_logits, teacher_logits, labels, labelled, T, alpha, beta) -> scalar against the reference.

    Reference :func:`transfer_loss`: Hinton's loss with the transfer rows' labels withheld (Hinton et al.
    2015, Section 2). The transfer rows' labels must not change the loss (probe); gradients reach the student.
    """
    name, usage = "transfer_loss", "transfer_loss(student_logits, teacher_logits, labels, labelled, T, alpha, beta)"
    cases = _transfer_cases()

    def probe(c: Case, got: Tensor) -> str | None:
        zs, zt, y, lab, *rest = c.args
        other = torch.where(lab, y, (y + 1) % zs.shape[-1])             # transfer rows relabelled
        if differs(fn, name, usage, c, (zs, zt, other, lab, *rest), got):
            return LEAK

    scalar_first(fn, name, usage, cases[0], "one number: alpha × hard loss + beta × soft loss, over the batch")
    run(name, fn, transfer_loss, usage, cases, TRANSFER_MISTAKES,
        "batches of 4-8 rows, none to all labelled; T 2 and 4; float32 and float64", probe,
        lambda: grad_reaches_student(fn, name, usage, cases[0], "student_logits"))
