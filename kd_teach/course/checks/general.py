"""Checker for the exercise of notebook 06: one general-distillation step's loss (TinyBERT, Jiao et al. 2020).

General distillation (Section 3.2) distils the intermediate layers only, Eq. 11 with every λ = 1:

    L = L_embd(E_S W_0, E_T) + Σ_{m=1..M} [ L_hidn(H_S^m W_m, H_T^{g(m)}) + L_attn(A_S^m, A_T^{g(m)}) ]

and no prediction layer (the pretrained teacher has no task head). ``check_general_distillation_loss``
compares the learner's loss with :func:`kd_teach.tinybert.losses.intermediate_loss` on random
:class:`~kd_teach.tinybert.attention.LayerOutputs` of students and teachers of several depths and
widths, uniform and non-uniform mappings g, shared and per-layer projections W, huge garbage in the
padding, and logits present in some inputs (a model with a head), absent in others. A wrong
loss is explained by the mistake it matches: L_pred added, L_embd missing or counted twice, a
term missing, the last layer left out, a mapping other than g, an average instead of a sum,
probabilities instead of scores, one W for every layer. The input builders and the variants of
Eq. 11 are shared with notebook 07's checker (:mod:`kd_teach.course.checks.task`).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from kd_teach.course.checks.core import right_padding
from kd_teach.course.checks.nested import Inputs, as_double, compare, gradients, nested_map
from kd_teach.tinybert.attention import LayerOutputs
from kd_teach.tinybert.losses import L_attn, L_embd, L_hidn, L_pred, intermediate_loss, scores_to_probs
from kd_teach.tinybert.mapping import layer_mapping

F64 = torch.float64
# (M, N, d_S, d_T, heads, batch, seq, mapping, one W per layer, logits): a student of M layers, a teacher of N
SHAPES = ((2, 6, 8, 12, 3, 3, 7, "uniform", True, True), (3, 6, 6, 10, 2, 2, 6, "top", False, True),
          (2, 4, 5, 5, 2, 4, 5, "uniform", True, False), (4, 12, 6, 9, 2, 2, 5, "uniform", True, False),
          (1, 6, 4, 6, 2, 3, 4, "uniform", False, False), (3, 12, 5, 7, 2, 2, 6, "bottom", True, True))


def layer_outputs_pair(gen: torch.Generator, M: int, N: int, d_s: int, d_t: int, H: int, B: int, L: int,
                       mapping: str, per_layer: bool, logits: bool, classes: int = 3):
    """Random student and teacher outputs for one batch, float64, with garbage (std 1000) in the padding.

    Returns:
        (student, teacher, g, W, attention_mask): LayerOutputs with M + 1 and N + 1 hidden states
        (batch, seq, d), scores {1..M} and {1..N} (batch, heads, seq, seq), logits (batch, classes)
        or None; g = [0, g(1), ..., g(M)]; W a list of M + 1 matrices (d_S, d_T), one per layer or one
        shared; attention_mask (batch, seq).
    """
    am = right_padding(gen, B, L)
    pad = am == 0
    pairs = (am.bool()[:, :, None] & am.bool()[:, None, :])[:, None].expand(B, H, L, L)

    def states(d: int) -> Tensor:
        x = torch.randn(B, L, d, generator=gen, dtype=F64)
        x[pad] = 1e3 * torch.randn(int(pad.sum()), d, generator=gen, dtype=F64)
        return x

    def scores() -> Tensor:
        a = 2 * torch.randn(B, H, L, L, generator=gen, dtype=F64)                     # many negative
        a[~pairs] = 1e3 * torch.randn(int((~pairs).sum()), generator=gen, dtype=F64)
        return a

    def head() -> Tensor | None:
        return 3 * torch.randn(B, classes, generator=gen, dtype=F64) if logits else None

    student = LayerOutputs(tuple(states(d_s) for _ in range(M + 1)), {m: scores() for m in range(1, M + 1)}, head())
    teacher = LayerOutputs(tuple(states(d_t) for _ in range(N + 1)), {n: scores() for n in range(1, N + 1)}, head())
    Ws = [torch.randn(d_s, d_t, generator=gen, dtype=F64) / math.sqrt(d_s) for _ in range(M + 1 if per_layer else 1)]
    W = Ws if per_layer else Ws * (M + 1)
    return student, teacher, layer_mapping(M, N, mapping), W, am


def describe(M: int, N: int, d_s: int, d_t: int, H: int, am: Tensor, g: list, per_layer: bool, logits: bool,
             dtype: torch.dtype) -> str:
    """One input in words, for the checkers' messages."""
    return (f"a {M}-layer student (width {d_s}) of a {N}-layer teacher (width {d_t}), {H} heads, g = {g}, "
            f"{'one W per layer' if per_layer else 'one shared W'}, sentence lengths {am.sum(1).tolist()}, "
            f"{'with' if logits else 'no'} logits, {str(dtype).removeprefix('torch.')}")


def _general_inputs() -> list[Inputs]:
    gen, out = torch.Generator().manual_seed(60), []
    for dtype in (F64, torch.float32):
        for M, N, d_s, d_t, H, B, L, mapping, per_layer, logits in SHAPES:
            s, t, g, W, am = layer_outputs_pair(gen, M, N, d_s, d_t, H, B, L, mapping, per_layer, logits)
            args = (s, t, list(g), W, am)
            cast = lambda x: x.to(dtype) if x.is_floating_point() else x  # noqa: E731
            out.append(Inputs(nested_map(args, cast), as_double(args),
                              describe(M, N, d_s, d_t, H, am, g, per_layer, logits, dtype), dtype,
                              {"M": M, "N": N, "g": g, "uniform": layer_mapping(M, N, "uniform") if N % M == 0 else g}))
    return out


# --------------------------------------------------------------------------- Eq. 11 and its usual mistakes
def eq11(s: LayerOutputs, t: LayerOutputs, g, W, am, *, embd=True, hidn=True, attn=True, layers=None, W_of=None,
         twice=False, pred=False, probs=False, divide=1.0) -> Tensor:
    """Eq. 11 in float64, or redone with one mistake (each keyword turned the wrong way is one)."""
    M = len(s.hidden_states) - 1
    layers = range(1, M + 1) if layers is None else layers
    W_of = W_of or (lambda m: W[m])
    A = ((lambda a: a.softmax(-1)) if probs == "unmasked" else (lambda a: scores_to_probs(a, am)) if probs
         else (lambda a: a))
    loss = torch.zeros((), dtype=F64)
    if embd:
        loss = loss + L_embd(s.hidden_states[0], t.hidden_states[0], W_of(0), am) * (2 if twice else 1)
    for m in layers:
        if hidn:
            loss = loss + L_hidn(s.hidden_states[m], t.hidden_states[g[m]], W_of(m), am)
        if attn:
            loss = loss + L_attn(A(s.scores[m]), A(t.scores[g[m]]), am)
    if pred:
        loss = loss + L_pred(s.logits, t.logits, 1.0)
    return loss / divide


def _with_g(g_of: Callable) -> Callable:
    """A mistake that uses another mapping: g_of(inputs) -> the teacher layers it reads."""
    def redo(i: Inputs) -> Tensor:
        s, t, g, W, am = i.ref
        try:
            return eq11(s, t, g_of(i), W, am)
        except (IndexError, KeyError):
            return torch.tensor(math.nan, dtype=F64)                                # that mapping reads nothing there
    return redo


def _redo(**mistake) -> Callable:
    def redo(i: Inputs) -> Tensor:
        s, t, g, W, am = i.ref
        if mistake.get("pred") and s.logits is None:
            return torch.tensor(math.nan, dtype=F64)
        return eq11(s, t, g, W, am, **{k: (v(i) if callable(v) and k in ("layers", "divide") else v)
                                       for k, v in mistake.items()})
    return redo


NO_PRED = ("you added L_pred: general distillation has no prediction layer (the pretrained teacher has no task head "
           "to learn from); Eq. 11 sums L_embd and, for m = 1..M, L_hidn + L_attn. L_pred belongs to task "
           "distillation (notebook 7)")
MAPPING_TEXT = ("for student layer m read student.hidden_states[m] and student.scores[m], and the teacher's layer "
                "n = g(m): teacher.hidden_states[g[m]] and teacher.scores[g[m]]")
GENERAL_MISTAKES = [
    (NO_PRED, _redo(pred=True)),
    ("L_embd is missing: Eq. 11 starts at m = 0, the embedding layer: L_embd(student.hidden_states[0], "
     "teacher.hidden_states[0], W[0])", _redo(embd=False)),
    ("the embedding layer is counted twice: L_embd covers m = 0, and L_hidn + L_attn run over m = 1..M only",
     _redo(twice=True)),
    ("L_attn is missing: each mapped layer adds L_hidn + L_attn (Eq. 11)", _redo(attn=False)),
    ("L_hidn is missing: each mapped layer adds L_hidn + L_attn (Eq. 11)", _redo(hidn=False)),
    ("the last student layer is missing: m runs from 1 to M = {M} inclusive, range(1, M + 1)",
     _redo(layers=lambda i: range(1, i.v["M"]))),
    ("student layer m learned from teacher layer m (the 'bottom' mapping), not g(m) with g = {g}: " + MAPPING_TEXT,
     _with_g(lambda i: list(range(i.v["M"] + 1)))),
    ("the teacher's layers are off by one: hidden_states[0] is the embedding layer, so teacher layer g(m) is "
     "hidden_states[g[m]], not [g[m] - 1]; " + MAPPING_TEXT, _with_g(lambda i: [0] + [n - 1 for n in i.v["g"][1:]])),
    ("you built a uniform mapping yourself instead of using the g you are given (here g = {g}): " + MAPPING_TEXT,
     _with_g(lambda i: i.v["uniform"])),
    ("you averaged over the M = {M} layers: Eq. 11 sums them (every λ = 1)",
     _redo(divide=lambda i: float(i.v["M"]))),
    ("you averaged over the M + 1 layers: Eq. 11 sums them (every λ = 1)",
     _redo(divide=lambda i: float(i.v["M"] + 1))),
    ("you compared attention probabilities: L_attn takes the raw pre-softmax scores (Eq. 7), as "
     "student.scores and teacher.scores hold them", _redo(probs=True)),
    ("you compared attention probabilities (a softmax over every key, padding included): L_attn takes the raw "
     "pre-softmax scores (Eq. 7), as student.scores and teacher.scores hold them", _redo(probs="unmasked")),
    ("every layer used W[0]: W[0] is W_e for the embeddings, and student layer m has its own W[m] (here one per "
     "layer)", lambda i: eq11(*i.ref, W_of=lambda m: i.ref[3][0])),
]
GENERAL_ERRORS = [
    (("NoneType",), "the logits are None here (a pretrained teacher has no task head): general distillation has "
                    "no prediction layer, so do not compute L_pred"),
    (("KeyError: 0",), "the embedding layer (m = 0) has no attention scores: L_embd covers m = 0, L_hidn and L_attn "
                       "run over m = 1..M"),
    (("KeyError",), "student.scores holds student layers 1..M and teacher.scores teacher layers 1..N: index the "
                    "student by m and the teacher by g[m]"),
    (("index out of range", "IndexError"), "student.hidden_states and W have M + 1 entries (0: the embeddings), "
                                           "teacher.hidden_states N + 1: index the student and W by m = 0..M, "
                                           "the teacher by g[m]"),
]


def student_tensors(args) -> list:
    """(name, tensor) of what general distillation learns: the student's states and scores, and W."""
    s, _, _, W, _ = args[-5:]
    return ([(f"student.hidden_states[{m}]", h) for m, h in enumerate(s.hidden_states)]
            + [(f"student.scores[{m}]", a) for m, a in s.scores.items()]
            + [(f"W[{m}]", w) for m, w in enumerate(W) if all(w is not x for x in W[:m])])


def teacher_tensors(args) -> list:
    t = args[-4]
    return [(f"teacher.hidden_states[{n}]", h) for n, h in enumerate(t.hidden_states)] + \
        [(f"teacher.scores[{n}]", a) for n, a in t.scores.items()]


def check_general_distillation_loss(fn: Callable) -> None:
    """Check fn(student, teacher, g, W, attention_mask) -> scalar against Eq. 11 (no prediction layer).

    student, teacher: :class:`~kd_teach.tinybert.attention.LayerOutputs` (hidden_states: M + 1 and
    N + 1 tensors (batch, seq, d); scores: {layer: (batch, heads, seq, seq)}); g = [0, g(1), ..., g(M)];
    W: M + 1 matrices (d_S, d_T); attention_mask (batch, seq). Reference:
    :func:`kd_teach.tinybert.losses.intermediate_loss` (Jiao et al. 2020, Eq. 11, Section 3.2). Gradients
    must reach the student's states and scores and every W, none the teacher's.
    """
    name, usage = "general_distillation_loss", "general_distillation_loss(student, teacher, g, W, attention_mask)"
    inputs = _general_inputs()

    def reference(s, t, g, W, am):
        return intermediate_loss(s, t, g, W, am)[0]

    compare(name, fn, reference, usage, inputs, GENERAL_MISTAKES,
            "students of 1-4 layers, teachers of 4-12; uniform, top and bottom mappings; shared and per-layer W; "
            "float32 and float64; garbage (std 1000) in the padding", "one number: L_embd plus, for every mapped "
            "layer, L_hidn + L_attn", GENERAL_ERRORS,
            then=lambda: gradients(fn, name, usage, inputs[0], student_tensors, teacher_tensors, GENERAL_ERRORS))
