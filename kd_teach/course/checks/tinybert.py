"""Checkers for the exercises of notebook 05 (TinyBERT's transformer distillation, Jiao et al. 2020, 3.1).

``check_L_hidn`` (which serves L_embd too: the same projected MSE, Eqs. 8 and 9), ``check_L_attn``
(Eq. 7) and ``check_L_pred`` (Eq. 10) compare the learner's loss with :mod:`kd_teach.tinybert.losses`
on seeded random batches in float32 and float64, with huge garbage (std 1000) at the positions, or
(query, key) pairs, that must not count, and real negative attention scores. The engine is
:mod:`kd_teach.course.checks`'s: all agree, one line of success; otherwise CheckFailed names the input, the
difference and a hint: a usual mistake, named only if the reference redone with it reproduces the
learner's numbers, or else what a probe found (changing padded entries changed the loss; negating
both score tensors changed it). NotImplementedError (an exercise placeholder) propagates unchanged.
The layer mapping g(m) has its own checker: :mod:`kd_teach.course.checks.mapping`.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import replace
from typing import Callable

import torch
from torch import Tensor

from kd_teach.course.checks.core import (Case, CheckFailed, call, differs, dtype_name, grad_reaches_student, one_thread,
                                         random_logits, right_padding, run, scalar_first)
from kd_teach.temperature import log_softmax_with_temperature
from kd_teach.tinybert.losses import L_attn, L_hidn, L_pred

DTYPES = (torch.float64, torch.float32)
F64 = torch.float64


def _with_hint(check: Callable, hints: list[tuple[tuple[str, ...], str]]) -> None:
    """Run a check; an exception of the learner's function without a hint gets the first matching one."""
    try:
        check()
    except CheckFailed as e:
        text = str(e)
        if " raised " in text and "Hint:" not in text:
            hint = next((h for words, h in hints if any(w in text for w in words)), None)
            if hint:
                raise CheckFailed(f"{text} Hint: {hint}.") from e
        raise


def _grad_reaches_W(fn: Callable, name: str, usage: str, c: Case) -> None:
    """The projection W (args[2]) is learnt with the student: the loss must pass it a gradient."""
    W = c.args[2].detach().clone().requires_grad_()
    c = replace(c, args=(*c.args[:2], W, *c.args[3:]), text=c.text + ", W requiring grad")
    out = call(fn, name, usage, c)
    if not (isinstance(out, Tensor) and out.requires_grad):
        raise CheckFailed(f"no gradient reaches W through {name} ({c.text}). Hint: W is learnt with the student "
                          "(Eq. 8): compute H_S @ W inside the loss, without .detach() or torch.no_grad().")


# --------------------------------------------------------------------------- L_hidn (and L_embd)
HIDN_SHAPES = ((2, 5, 4, 6), (3, 7, 8, 12), (1, 4, 3, 5), (4, 6, 16, 10))   # (batch, seq, d_S, d_T)


def _hidn_cases() -> list[Case]:
    """A teacher near the projected student (noise of per-position size), garbage (std 1000) in padding."""
    gen, cases = torch.Generator().manual_seed(7), []
    for _, (B, S, d_s, d_t), dtype in itertools.product(range(2), HIDN_SHAPES, DTYPES):
        am = right_padding(gen, B, S)
        W = torch.randn(d_s, d_t, generator=gen, dtype=F64) / math.sqrt(d_s)
        s = torch.randn(B, S, d_s, generator=gen, dtype=F64)
        noise = torch.exp(torch.randn(B, S, 1, generator=gen, dtype=F64))           # (B, S, 1) sizes
        t = s @ W + noise * torch.randn(B, S, d_t, generator=gen, dtype=F64)
        pad = am == 0
        s[pad] = 1e3 * torch.randn(int(pad.sum()), d_s, generator=gen, dtype=F64)
        t[pad] = 1e3 * torch.randn(int(pad.sum()), d_t, generator=gen, dtype=F64)
        N = int(am.sum())
        text = (f"H_S of shape {(B, S, d_s)}, H_T {(B, S, d_t)}, W {(d_s, d_t)}, {dtype_name(dtype)}, sentence "
                f"lengths {am.sum(1).tolist()} ({N} real tokens)")
        cases.append(Case((s.to(dtype), t.to(dtype), W.to(dtype), am), {}, text, 1.0,
                          {"s": s, "t": t, "W": W, "m": am.bool(), "N": N, "B": B, "BS": B * S, "dT": d_t,
                           "NdT": N * d_t}))
    return cases


def _sq(v: dict) -> Tensor:
    return (v["s"] @ v["W"] - v["t"]) ** 2                                          # (B, S, d_T)


PAD_HINT = "the loss changes when padded positions change: keep only positions where attention_mask == 1"
W_HINT = ("W is (d_S, d_T) and multiplies the student's states on the right: H_S @ W, (batch, seq, d_S) @ "
          "(d_S, d_T) -> (batch, seq, d_T), the teacher's space (Eq. 8); do not project the teacher, nor use W.T")
ROOT = "you took a square root (an RMSE or a norm): the MSE is the mean of the squares, no root"
HIDN_MISTAKES = [
    (PAD_HINT, lambda c: _sq(c.v).mean()),
    ("you divided by all B×S = {BS} positions, padding included: divide by the real entries, "
     "N × d_T = {N} × {dT}", lambda c: _sq(c.v)[c.v["m"]].sum() / (c.v["BS"] * c.v["dT"])),
    ("the loss is d_T = {dT} times too large: you summed over the hidden units (a squared norm per position); "
     "the MSE averages over them too, over all N × d_T real entries", lambda c: _sq(c.v).sum(-1)[c.v["m"]].mean()),
    ("you returned the squared norm ‖H_S W − H_T‖² over the real positions: the MSE divides it by the number "
     "of real entries, N × d_T = {NdT}", lambda c: _sq(c.v)[c.v["m"]].sum()),
    ("you averaged within each sentence, then over the sentences, so a short sentence weighs as much as a long "
     "one: average over all N = {N} real positions at once",
     lambda c: ((_sq(c.v).mean(-1) * c.v["m"]).sum(1) / c.v["m"].sum(1)).mean()),
    (ROOT, lambda c: _sq(c.v)[c.v["m"]].mean().sqrt()),
    (ROOT, lambda c: _sq(c.v)[c.v["m"]].sum().sqrt()),
    ("you averaged |H_S W − H_T| (the mean absolute error): square the differences",
     lambda c: _sq(c.v).sqrt()[c.v["m"]].mean()),
    ("you projected the teacher down (H_T @ W.T) and compared it with H_S; " + W_HINT,
     lambda c: ((c.v["t"] @ c.v["W"].T - c.v["s"]) ** 2)[c.v["m"]].mean()),
]
HIDN_ERRORS = [
    (("cannot be multiplied", "einsum", "mat1", "mat2"), W_HINT),
    (("must match the size",), "H_S (d_S wide) and H_T (d_T wide) cannot be subtracted: project the student's "
                               "states first, H_S @ W, with W of shape (d_S, d_T)"),
]


@one_thread
def check_L_hidn(fn: Callable) -> None:
    """Check fn(H_S, H_T, W, attention_mask) -> scalar against :func:`kd_teach.tinybert.losses.L_hidn`.

    H_S (batch, seq, d_S), H_T (batch, seq, d_T), W (d_S, d_T), attention_mask (batch, seq): the MSE
    of H_S W against H_T over the real entries (Jiao et al. 2020, Eq. 8). L_embd (Eq. 9) is the same
    function on the embedding layer's outputs E_S, E_T with W_e, so this checker serves it too.
    """
    name, usage = "L_hidn", "L_hidn(H_S, H_T, W, attention_mask)"
    cases = _hidn_cases()

    def probe(c: Case, got: Tensor) -> str | None:
        s, t, W, am = c.args
        pad = am == 0
        s2, t2 = s.clone(), t.clone()
        s2[pad], t2[pad] = 7 - 3 * s[pad], t[pad] / 2 + 11
        if pad.any() and differs(fn, name, usage, c, (s2, t2, W, am), got):
            return PAD_HINT

    def grads() -> None:
        grad_reaches_student(fn, name, usage, cases[0], "H_S")
        _grad_reaches_W(fn, name, usage, cases[0])

    def check() -> None:
        scalar_first(fn, name, usage, cases[0], "one number: the mean of (H_S W − H_T)² over the real entries")
        run(name, fn, L_hidn, usage, cases, HIDN_MISTAKES,
            "(batch, seq, d_S) → d_T: (2, 5, 4) → 6, (3, 7, 8) → 12, (1, 4, 3) → 5, (4, 6, 16) → 10; "
            "float32 and float64; garbage (std 1000) in the padding", probe, grads)

    _with_hint(check, HIDN_ERRORS)


# --------------------------------------------------------------------------- L_attn
ATTN_SHAPES = ((2, 3, 5), (3, 2, 6), (1, 4, 4), (4, 2, 7))                      # (batch, heads, seq)


def _attn_cases() -> list[Case]:
    """Teacher scores N(0, 2²) (many negative), a noisy student, garbage (std 1000) at padded pairs."""
    gen, cases = torch.Generator().manual_seed(8), []
    for _, (B, H, L), dtype in itertools.product(range(2), ATTN_SHAPES, DTYPES):
        am = right_padding(gen, B, L)
        real = am.bool()
        pairs = (real[:, :, None] & real[:, None, :])[:, None].expand(B, H, L, L)   # (B, H, L, L)
        t = 2 * torch.randn(B, H, L, L, generator=gen, dtype=F64)
        s = t + torch.exp(torch.randn(B, H, L, 1, generator=gen, dtype=F64)) * torch.randn(B, H, L, L,
                                                                                           generator=gen, dtype=F64)
        n_pad = int((~pairs).sum())
        s[~pairs], t[~pairs] = (1e3 * torch.randn(n_pad, generator=gen, dtype=F64) for _ in range(2))
        N, P = int(am.sum()), int((am.sum(1) ** 2).sum())
        text = (f"scores of shape {(B, H, L, L)}, {dtype_name(dtype)}, sentence lengths {am.sum(1).tolist()} "
                f"({N} real tokens, {P} real pairs per head)")
        cases.append(Case((s.to(dtype), t.to(dtype), am), {}, text, 1.0,
                          {"s": s, "t": t, "p": pairs, "q": real[:, None, :, None].expand(B, H, L, L),
                           "k": real[:, None, None, :].expand(B, H, L, L), "H": H, "N": N, "P": P,
                           "HN": H * N, "HP": H * P, "all": B * H * L * L}))
    return cases


def _asq(v: dict, s: Tensor | None = None, t: Tensor | None = None) -> Tensor:
    return ((v["s"] if s is None else s) - (v["t"] if t is None else t)) ** 2       # (B, H, L, L)


def _sel(c: Case, x: Tensor, where: str = "p") -> Tensor:
    return x[c.v[where]]


def _zero_neg(x: Tensor) -> Tensor:
    return torch.where(x <= -1e-3, torch.zeros_like(x), x)                          # TextBrewer's att_mse_loss


def _probs(c: Case, masked: bool) -> tuple[Tensor, Tensor]:
    """Softmax over the keys of both score tensors (padded keys left out when masked)."""
    s, t = (x.masked_fill(~c.v["k"], -math.inf) if masked else x for x in (c.v["s"], c.v["t"]))
    return torch.softmax(s, -1), torch.softmax(t, -1)


PAIRS_HINT = ("the loss changes when scores at padded (query, key) pairs change: keep only the pairs where both "
              "tokens are real, attention_mask[:, :, None] & attention_mask[:, None, :]")
RAW_HINT = ("negating both A_S and A_T changed the loss, which an MSE of raw scores cannot do: compare the raw "
            "pre-softmax scores themselves, without softmax, clamping or zeroing the negative ones")
PROBS_HINT = ("you compared attention probabilities (after a softmax): TinyBERT distils the raw scores "
              "A = QKᵀ/√d_k before the softmax (Eq. 7; the paper found them faster to converge and better)")
PER_TOKEN = ("you divided by the number of real tokens: the mean runs over the real (query, key) pairs, "
             "Σ n_b² = {P} per head (h × {P} = {HP} entries), not N = {N} tokens")
ATTN_MISTAKES = [
    ("you included the padded (query, key) pairs: keep only the pairs where both tokens are real "
     "(attention_mask[:, :, None] & attention_mask[:, None, :])", lambda c: _asq(c.v).mean()),
    ("you masked the padded keys but not the padded queries: a padded token's own row of scores must go too; "
     "keep the pairs where both the query and the key are real", lambda c: _sel(c, _asq(c.v), "k").mean()),
    ("you masked the padded queries but not the padded keys: the columns of padded tokens must go too; "
     "keep the pairs where both the query and the key are real", lambda c: _sel(c, _asq(c.v), "q").mean()),
    ("you zeroed every negative score (as TextBrewer does to drop the additive mask): that also wipes out the "
     "real negative scores, which carry what the teacher ignores; keep the raw scores and select the real "
     "pairs with the attention mask", lambda c: _sel(c, _asq(c.v, _zero_neg(c.v["s"]), _zero_neg(c.v["t"]))).mean()),
    ("the loss is h = {H} times too large: you summed over the heads; Eq. 7 averages over them (1/h Σ_i)",
     lambda c: _sel(c, _asq(c.v)).mean() * c.v["H"]),
    (PROBS_HINT, lambda c: _sel(c, _asq(c.v, *_probs(c, masked=True))).mean()),
    (PROBS_HINT, lambda c: _sel(c, _asq(c.v, *_probs(c, masked=False))).mean()),
    (PER_TOKEN, lambda c: _sel(c, _asq(c.v)).sum() / c.v["HN"]),
    (PER_TOKEN, lambda c: _sel(c, _asq(c.v)).sum() / c.v["N"]),
    ("you divided by all B×h×L×L = {all} entries, padding included: divide by the real ones, h × {P} = {HP}",
     lambda c: _sel(c, _asq(c.v)).sum() / c.v["all"]),
    ("the loss is {HP} times too large: average over the real entries (heads × real pairs), do not sum",
     lambda c: _sel(c, _asq(c.v)).sum()),
]


@one_thread
def check_L_attn(fn: Callable) -> None:
    """Check fn(A_S, A_T, attention_mask) -> scalar against :func:`kd_teach.tinybert.losses.L_attn`.

    A_S, A_T (batch, heads, seq, seq) pre-softmax scores, attention_mask (batch, seq): the MSE over
    heads and the (query, key) pairs of two real tokens (Jiao et al. 2020, Eq. 7).
    """
    name, usage = "L_attn", "L_attn(A_S, A_T, attention_mask)"
    cases = _attn_cases()
    scalar_first(fn, name, usage, cases[0], "one number: the mean of (A_S − A_T)² over heads and real pairs")

    def probe(c: Case, got: Tensor) -> str | None:
        s, t, am = c.args
        out = ~c.v["p"]
        s2, t2 = s.clone(), t.clone()
        s2[out], t2[out] = 5 - 2 * s[out], t[out] / 3 + 9
        if out.any() and differs(fn, name, usage, c, (s2, t2, am), got):
            return PAIRS_HINT
        if differs(fn, name, usage, c, (-s, -t, am), got):
            return RAW_HINT

    run(name, fn, L_attn, usage, cases, ATTN_MISTAKES,
        "(batch, heads, seq) (2, 3, 5), (3, 2, 6), (1, 4, 4), (4, 2, 7); float32 and float64; negative real "
        "scores; garbage (std 1000) at padded pairs", probe,
        lambda: grad_reaches_student(fn, name, usage, cases[0], "A_S"))


# --------------------------------------------------------------------------- L_pred
def _pred_cases() -> list[Case]:
    """(batch, classes) logits N(0, 3²), then up to ±1e4, t from 0.5 to 4."""
    gen, cases = torch.Generator().manual_seed(9), []
    for large, (B, C), dtype, T in itertools.product((False, True), ((5, 3), (2, 7), (1, 4), (8, 2)), DTYPES,
                                                     (2.0, 0.5, 1.0, 4.0)):
        if large and T in (1.0, 4.0):
            continue
        zs, zt = random_logits(gen, (B, C), F64, large), random_logits(gen, (B, C), F64, large)
        m = max(zs.abs().max().item(), zt.abs().max().item())
        text = f"student and teacher logits of shape {(B, C)}, {dtype_name(dtype)}, t={T:g}, |logits| up to {m:.3g}"
        cases.append(Case((zs.to(dtype), zt.to(dtype), T), {}, text, math.log(C) + 2 * m / T,
                          {"s": zs, "t": zt, "T": T, "t2": T * T, "B": B, "C": C}))
    return cases


def _ce(v: dict, Ts: float | None = None, Tt: float | None = None, swap=False, kl=False) -> Tensor:
    """(B,) soft cross-entropy −Σ_j p_T log p_S per example (or a mistaken variant of it)."""
    log_q = log_softmax_with_temperature(v["s"], v["T"] if Ts is None else Ts)
    log_p = log_softmax_with_temperature(v["t"], v["T"] if Tt is None else Tt)
    if swap:
        log_p, log_q = log_q, log_p
    return (log_p.exp() * ((log_p if kl else 0) - log_q)).sum(-1)


KL_HINT = ("differs from the cross-entropy by the teacher's entropy: you computed the KL; TinyBERT's L_pred is "
           "the soft cross-entropy −Σ_j p_T log p_S (Eq. 10): same gradients, but its minimum is H(p_T), not 0")
ONE_SIDE = "temperature applied to only one side: divide both the student's and the teacher's logits by t"
PRED_MISTAKES = [
    ("the loss is t² = {t2:g} times too large: TinyBERT's L_pred has no t² (that is Hinton's and DistilBERT's "
     "scaling), Eq. 10", lambda c: _ce(c.v).mean() * c.v["t2"]),
    ("the loss is C = {C} times too small: you averaged over the classes too (the reference code's .mean()); "
     "the course's Eq. 10 sums over the classes, then averages over the batch", lambda c: _ce(c.v).mean() / c.v["C"]),
    ("you computed t² × KL, DistilBERT's L_ce: TinyBERT's L_pred is the soft cross-entropy −Σ_j p_T log p_S, "
     "without t² (Eq. 10)", lambda c: _ce(c.v, kl=True).mean() * c.v["t2"]),
    (KL_HINT, lambda c: _ce(c.v, kl=True).mean()),
    (ONE_SIDE + " (the teacher's were not)", lambda c: _ce(c.v, Tt=1.0).mean()),
    (ONE_SIDE + " (the student's were not)", lambda c: _ce(c.v, Ts=1.0).mean()),
    ("the loss ignores t: divide both the student's and the teacher's logits by t",
     lambda c: _ce(c.v, 1.0, 1.0).mean()),
    ("teacher and student swapped: the teacher's probabilities weigh the student's log-probabilities, "
     "−Σ_j softmax(z_T/t)_j log softmax(z_S/t)_j", lambda c: _ce(c.v, swap=True).mean()),
    ("the loss is B = {B} times too large: average over the batch, do not sum", lambda c: _ce(c.v).sum()),
    ("the loss is negative: it is −Σ_j p_T log p_S, mind the minus sign", lambda c: -_ce(c.v).mean()),
]


@one_thread
def check_L_pred(fn: Callable) -> None:
    """Check fn(student_logits, teacher_logits, t) -> scalar against :func:`kd_teach.tinybert.losses.L_pred`.

    student_logits, teacher_logits (batch, classes), t > 0: −Σ_j softmax(z_T/t)_j log softmax(z_S/t)_j
    summed over the classes, averaged over the batch, no t² (Jiao et al. 2020, Eq. 10).
    """
    name, usage = "L_pred", "L_pred(student_logits, teacher_logits, t)"
    cases = _pred_cases()
    scalar_first(fn, name, usage, cases[0], "one number: the cross-entropy summed over the classes, averaged "
                                            "over the batch")
    run(name, fn, L_pred, usage, cases, PRED_MISTAKES,
        "batch × classes (5, 3), (2, 7), (1, 4), (8, 2); t from 0.5 to 4; float32 and float64; logits up to ±1e4",
        None, lambda: grad_reaches_student(fn, name, usage, cases[0], "student_logits"))
