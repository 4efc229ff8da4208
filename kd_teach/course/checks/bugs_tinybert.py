"""Checkers for the find-the-bug exercises of notebook 90 on TinyBERT's loops (Jiao et al. 2020, Section 3.1).

- ``check_hidden_states_loss``: Σ_{m=0..M} MSE(H_S^m W, H_T^{g(m)}) with the uniform g(m) = m N / M
  over the ``hidden_states`` of a student (M + 1 tensors) and a teacher (N + 1). The buggy loop
  counts layers as ``len(hidden_states)``, which includes the embeddings, so g is silently wrong
  (a 2-layer student of a 6-layer teacher learns from layers 2 and 4, not 3 and 6). The checker
  compares the fix with the reference on several (M, N), each with garbage in the padding, and
  names the mapping the learner's numbers match (the length-based count, off by one, bottom,
  top, embeddings or last layer left out, an average instead of a sum); an index past N is an
  out-of-range error it explains.
- ``check_attention_loss``: L_attn (Eq. 7) must not change when the same sentences are padded
  further (the symptom of the buggy loop, which masks the padded keys as BERT's additive mask
  does but keeps the padded queries); then the values are held to :func:`kd_teach.tinybert.losses.L_attn`
  by notebook 05's checker, :func:`kd_teach.course.checks.tinybert.check_L_attn`, whose hints name the
  other usual mistakes.
"""
from __future__ import annotations

import contextlib
import io
import math
from typing import Callable

import torch
from torch import Tensor

from kd_teach.course.checks.core import Case, CheckFailed, call, fmt, one_thread, right_padding
from kd_teach.course.checks.nested import Inputs, as_double, compare, gradients, nested_map
from kd_teach.course.checks.tinybert import check_L_attn
from kd_teach.tinybert.losses import L_attn, L_hidn
from kd_teach.tinybert.mapping import layer_mapping

F64 = torch.float64
SIZES = ((2, 6, 4, 6), (3, 6, 5, 8), (2, 4, 4, 4), (4, 12, 3, 5), (1, 6, 4, 7), (3, 12, 6, 6))   # (M, N, d_S, d_T)


# --------------------------------------------------------------------------- 5. the layer index
def hidden_states_loss(student_hidden, teacher_hidden, W: Tensor, attention_mask: Tensor) -> Tensor:
    """The fix: Σ_{m=0..M} L_hidn(H_S^m, H_T^{g(m)}, W), g(m) = m N / M with M, N the layers (not the entries).

    student_hidden: M + 1 tensors (batch, seq, d_S), [0] the embeddings; teacher_hidden: N + 1 (batch, seq,
    d_T); W (d_S, d_T) shared; attention_mask (batch, seq). Jiao et al. 2020, Eqs. 8, 9 and Section 3.1.
    """
    M, N = len(student_hidden) - 1, len(teacher_hidden) - 1               # hidden_states[0] is the embeddings
    g = layer_mapping(M, N)                                               # [0, N/M, 2N/M, ..., N]
    return sum(L_hidn(student_hidden[m], teacher_hidden[n], W, attention_mask) for m, n in enumerate(g))


def _hidden_inputs() -> list[Inputs]:
    gen, out = torch.Generator().manual_seed(95), []
    for dtype in (F64, torch.float32):
        for M, N, d_s, d_t in SIZES:
            B, L = 3, 6
            am = right_padding(gen, B, L)

            def states(d: int) -> Tensor:
                x = torch.randn(B, L, d, generator=gen, dtype=F64) * (1 + torch.rand((), generator=gen, dtype=F64))
                x[am == 0] = 1e3 * torch.randn(int((am == 0).sum()), d, generator=gen, dtype=F64)
                return x

            s, t = tuple(states(d_s) for _ in range(M + 1)), tuple(states(d_t) for _ in range(N + 1))
            W = torch.randn(d_s, d_t, generator=gen, dtype=F64) / math.sqrt(d_s)
            args = (s, t, W, am)
            cast = lambda x: x.to(dtype) if x.is_floating_point() else x  # noqa: E731
            text = (f"a {M}-layer student (hidden_states: {M + 1} tensors of width {d_s}) and a {N}-layer teacher "
                    f"({N + 1} of width {d_t}), sentence lengths {am.sum(1).tolist()}, {str(dtype)[6:]}")
            out.append(Inputs(nested_map(args, cast), as_double(args), text, dtype,
                              {"M": M, "N": N, "g": layer_mapping(M, N), "wrong": [m * (N + 1) // (M + 1)
                                                                                  for m in range(M + 1)]}))
    return out


def _with(g_of: Callable, divide: Callable = lambda M: 1) -> Callable:
    """The loss over the pairs (m, g(m)) that g_of(M, N) lists, NaN where an index is out of range."""
    def redo(i: Inputs) -> Tensor:
        s, t, W, am = i.ref
        M, N = i.v["M"], i.v["N"]
        try:
            return sum(L_hidn(s[m], t[n], W, am) for m, n in g_of(M, N)) / divide(M)
        except IndexError:
            return torch.tensor(math.nan, dtype=F64)
    return redo


def _pairs(g: Callable) -> Callable:
    return lambda M, N: list(enumerate(g(M, N)))


LAYER_MISTAKES = [
    ("the bug is still there: M and N count the layers, but len(hidden_states) counts the embeddings too (M + 1 "
     "and N + 1 entries), so g(m) = m × (N + 1) // (M + 1) gives {wrong} instead of {g}: the last student layer "
     "does not learn from the teacher's last layer. Take M = len(student_hidden) - 1, N = len(teacher_hidden) - 1",
     _with(_pairs(lambda M, N: [m * (N + 1) // (M + 1) for m in range(M + 1)]))),
    ("the teacher's index is off by one: hidden_states[n] is the output of layer n (0 the embeddings), so student "
     "layer m reads teacher_hidden[m * N // M], not [m * N // M - 1]; here g = {g}",
     _with(_pairs(lambda M, N: [m * N // M - 1 for m in range(M + 1)]))),
    ("the teacher's index is off by one: hidden_states[n] is the output of layer n, so g(m) = m × N / M with g(0) = 0 "
     "(embeddings to embeddings); here g = {g}",
     _with(_pairs(lambda M, N: [0] + [m * N // M - 1 for m in range(1, M + 1)]))),
    ("student layer m learned from teacher layer m (the teacher's first layers): the uniform mapping is g = {g}",
     _with(_pairs(lambda M, N: list(range(M + 1))))),
    ("student layer m learned from the teacher's last layers: the uniform mapping is g = {g}",
     _with(_pairs(lambda M, N: [0] + [N - M + m for m in range(1, M + 1)]))),
    ("the embeddings (m = 0: hidden_states[0] of both) are left out: the sum runs over m = 0..M",
     _with(lambda M, N: list(enumerate(layer_mapping(M, N)))[1:])),
    ("the last student layer is left out: the sum runs over m = 0..M, M + 1 pairs",
     _with(lambda M, N: list(enumerate(layer_mapping(M, N)))[:-1])),
    ("you averaged over the M + 1 layers: the losses add up (every λ = 1, Eq. 11)",
     _with(lambda M, N: list(enumerate(layer_mapping(M, N))), divide=lambda M: M + 1)),
]
LAYER_ERRORS = [(("index out of range",), "an index past the end: teacher_hidden has N + 1 entries, 0..N, and "
                                          "g(M) = N is the last; student_hidden has M + 1")]


@one_thread
def check_hidden_states_loss(fn: Callable) -> None:
    """Check fn(student_hidden, teacher_hidden, W, attention_mask) -> scalar against :func:`hidden_states_loss`."""
    name, usage = "hidden_states_loss", "hidden_states_loss(student_hidden, teacher_hidden, W, attention_mask)"
    inputs = _hidden_inputs()
    learnt = lambda a: [(f"student_hidden[{m}]", h) for m, h in enumerate(a[0])] + [("W", a[2])]  # noqa: E731
    fixed = lambda a: [(f"teacher_hidden[{n}]", h) for n, h in enumerate(a[1])]  # noqa: E731
    compare(name, fn, hidden_states_loss, usage, inputs, LAYER_MISTAKES,
            "(student, teacher) layers (2, 6), (3, 6), (2, 4), (4, 12), (1, 6), (3, 12); float32 and float64; "
            "garbage in the padding", "one number: the sum over m = 0..M of L_hidn", LAYER_ERRORS,
            then=lambda: gradients(fn, name, usage, inputs[0], learnt, fixed, LAYER_ERRORS))


# --------------------------------------------------------------------------- 6. attention over padding
def _padded_further(gen: torch.Generator, B: int = 3, H: int = 2, L: int = 6, extra: int = 4):
    """A batch of scores (B, H, L, L) and the same sentences padded by ``extra`` positions of garbage."""
    am = right_padding(gen, B, L)
    real = (am.bool()[:, :, None] & am.bool()[:, None, :])[:, None]              # (B, 1, L, L)
    a_s, a_t = (2 * torch.randn(B, H, L, L, generator=gen, dtype=F64) for _ in range(2))
    a_s, a_t = (torch.where(real, x, 50 * torch.randn(x.shape, generator=gen, dtype=F64)) for x in (a_s, a_t))
    L2 = L + extra
    big_s, big_t = (50 * torch.randn(B, H, L2, L2, generator=gen, dtype=F64) for _ in range(2))
    big_s[:, :, :L, :L], big_t[:, :, :L, :L] = a_s, a_t
    am2 = torch.cat([am, torch.zeros(B, extra, dtype=am.dtype)], 1)
    return (a_s, a_t, am), (big_s, big_t, am2)


@one_thread
def check_attention_loss(fn: Callable) -> None:
    """Check fn(A_S, A_T, attention_mask) -> scalar: unchanged by more padding, then equal to L_attn (Eq. 7).

    A_S, A_T (batch, heads, seq, seq) pre-softmax scores; attention_mask (batch, seq). Reference
    :func:`kd_teach.tinybert.losses.L_attn`; the values are then checked by
    :func:`kd_teach.course.checks.tinybert.check_L_attn`.
    """
    name, usage = "attention_loss", "attention_loss(A_S, A_T, attention_mask)"
    gen = torch.Generator().manual_seed(96)
    for dtype in (F64, torch.float32):
        short, long = _padded_further(gen)
        cases = [Case(tuple(x.to(dtype) if x.is_floating_point() else x for x in args), {},
                      f"scores of shape {tuple(args[0].shape)}, sentence lengths {args[2].sum(1).tolist()}, "
                      f"{str(dtype)[6:]}", 1.0, {}) for args in (short, long)]
        outs = [call(fn, name, usage, c) for c in cases]
        if not all(isinstance(o, Tensor) and o.numel() == 1 for o in outs):
            raise CheckFailed(f"{name} returned {outs[0]!r} for {cases[0].text}; expected a scalar tensor.")
        a, b = (o.detach().double() for o in outs)
        if not torch.isclose(a, b, rtol=1e-4):
            keys_only = ((short[0] - short[1]) ** 2)[short[2].bool()[:, None, None, :].expand_as(short[0])].mean()
            which = ("it masks the padded keys (as BERT's additive mask does) but keeps the padded queries: a padded "
                     "token's own row of scores counts" if torch.isclose(a, keys_only.to(a), rtol=1e-4) else
                     "padded (query, key) pairs count")
            raise CheckFailed(f"{name} gives {fmt(a)} for {cases[0].text} and {fmt(b)} for the same sentences padded "
                              f"to {long[0].shape[-1]} tokens ({cases[1].text}).\nHint: the bug is still there: "
                              f"{which}. "
                              "Padding must not change the loss: keep only the pairs where both tokens are real, "
                              "attention_mask[:, :, None] & attention_mask[:, None, :], for every head.")
    reference = L_attn(*short)
    try:
        with contextlib.redirect_stdout(io.StringIO()):             # its own success line is replaced by ours
            check_L_attn(fn)
    except CheckFailed as e:                                        # its messages, under this exercise's name
        text = str(e)
        raise CheckFailed(name + text[len("L_attn"):] if text.startswith("L_attn") else text) from e
    print(f"✓ {name} is unchanged when the same sentences are padded further (L_attn = {reference.item():.4f} at 6 "
          "and at 10 tokens) and matches L_attn (Eq. 7) on notebook 05's batches.")
