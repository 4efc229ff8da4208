"""Checkers for the exercises of notebook 04 (DistilBERT): the triple loss and BERT's 80/10/10 rule.

``check_L_cos``, ``check_L_ce`` and ``check_L_mlm`` compare the learner's loss with
:mod:`kd_teach.distilbert.losses` on seeded random batches (batch, seq, dim) in float32 and
float64, with large garbage in the positions that must not count (padding, unselected or
unlabelled positions) and vectors of very different lengths. The engine is
:mod:`kd_teach.course.checks`'s: all agree, one line of success; otherwise CheckFailed names the input,
the difference and a hint: a usual mistake, named only if the reference redone with it
reproduces the learner's numbers, or else what a probe found (changing padded positions changed
the loss; scaling h_s by 10 changed it). ``check_bert_corruption`` measures the shares of [MASK],
random and kept tokens on 20,000 chosen tokens with fixed seeds. NotImplementedError (an
exercise placeholder) propagates unchanged.
"""
from __future__ import annotations

import itertools
import math
from typing import Callable

import torch
from torch import Tensor

from kd_teach.course.checks.core import (Case, CheckFailed, differs, dtype_name, grad_reaches_student, one_thread,
                                         random_logits, right_padding, run, scalar_first)
from kd_teach.distilbert.losses import L_ce, L_cos, L_mlm
from kd_teach.distilbert.masking import IGNORE_INDEX, MaskingConfig
from kd_teach.temperature import log_softmax_with_temperature

DTYPES = (torch.float64, torch.float32)
F64 = torch.float64


def _selection(gen: torch.Generator, B: int, S: int, share: float) -> Tensor:
    """(B, S) bool: each position with probability share, at least one."""
    m = torch.rand(B, S, generator=gen) < share
    m[0, 1 % S] = True
    return m


# --------------------------------------------------------------------------- L_cos
def _cos_cases() -> list[Case]:
    """Teacher states of lengths e^(±1.5 N(0,1)), a noisy student, garbage (std 1000) in padding."""
    gen, cases = torch.Generator().manual_seed(3), []
    for _, shape, dtype in itertools.product(range(2), ((2, 5, 8), (3, 7, 16), (1, 4, 3), (4, 6, 32)), DTYPES):
        B, S, H = shape
        am = right_padding(gen, B, S)
        lengths = lambda: torch.exp(1.5 * torch.randn(B, S, 1, generator=gen, dtype=F64))  # noqa: E731
        t = torch.randn(shape, generator=gen, dtype=F64) * lengths()
        s = (t + t.norm(dim=-1, keepdim=True) / math.sqrt(H) * torch.randn(shape, generator=gen, dtype=F64)) * lengths()
        pad = am == 0
        s[pad], t[pad] = (1e3 * torch.randn(int(pad.sum()), H, generator=gen, dtype=F64) for _ in range(2))
        N = int(am.sum())
        text = (f"hidden states of shape {shape}, {dtype_name(dtype)}, sentence lengths {am.sum(1).tolist()} "
                f"({N} real tokens)")
        cases.append(Case((s.to(dtype), t.to(dtype), am), {}, text, 1.0,
                          {"s": s, "t": t, "m": am.bool(), "N": N, "B": B, "BS": B * S, "H": H}))
    return cases


def _cos(v: dict) -> Tensor:
    """(B, S) cosine at every position, padding included, as the reference computes it."""
    s, t = v["s"], v["t"]
    return (s * t).sum(-1) / (((s * s).sum(-1) + 1e-12) * ((t * t).sum(-1) + 1e-12)).sqrt()


PAD_HINT = "the loss changes when padded positions change: keep only positions where attention_mask == 1"
NORM_HINT = ("scaling h_s by 10 changed the loss: divide by the norms (the cosine compares directions, "
             "the dot product also lengths)")
COS_MISTAKES = [
    (PAD_HINT, lambda c: (1 - _cos(c.v)).mean()),
    ("you divided by all B×S = {BS} positions, padding included: divide by the number of real tokens, "
     "attention_mask.sum() = {N}", lambda c: (1 - _cos(c.v))[c.v["m"]].sum() / c.v["BS"]),
    ("padded positions counted as 1 - cos = 1 (a zeroed vector has cosine 0): average over the real tokens "
     "only, attention_mask.sum() = {N}",
     lambda c: ((1 - _cos(c.v))[c.v["m"]].sum() + c.v["BS"] - c.v["N"]) / c.v["BS"]),
    ("you returned the mean cosine; the loss is 1 - cos (0 when student and teacher point the same way)",
     lambda c: _cos(c.v)[c.v["m"]].mean()),
    ("the loss is negative: it is 1 - cos, not cos - 1", lambda c: (_cos(c.v) - 1)[c.v["m"]].mean()),
    ("the loss is N = {N} times too large: average over the real positions, do not sum",
     lambda c: (1 - _cos(c.v))[c.v["m"]].sum()),
    ("you divided by the batch size B = {B}: average over the N = {N} real positions, not over sentences",
     lambda c: (1 - _cos(c.v))[c.v["m"]].sum() / c.v["B"]),
    ("you averaged within each sentence, then over the sentences, so a short sentence weighs as much as a "
     "long one: average over all N = {N} real positions at once",
     lambda c: (((1 - _cos(c.v)) * c.v["m"]).sum(1) / c.v["m"].sum(1)).mean()),
    ("values near 1: you averaged the products over the hidden dimension (cos / H); the cosine sums them",
     lambda c: (1 - _cos(c.v) / c.v["H"])[c.v["m"]].mean()),
    (NORM_HINT, lambda c: (1 - (c.v["s"] * c.v["t"]).sum(-1))[c.v["m"]].mean()),
]


@one_thread
def check_L_cos(fn: Callable) -> None:
    """Check fn(student_hidden, teacher_hidden, attention_mask) -> scalar against :func:`L_cos`.

    Mean over the real positions of 1 - cos(h_s, h_t) (Sanh et al. 2019, Section 2).
    """
    name, usage = "L_cos", "L_cos(student_hidden, teacher_hidden, attention_mask)"
    cases = _cos_cases()
    scalar_first(fn, name, usage, cases[0], "one number for the batch: the mean of 1 - cos over the real positions")

    def probe(c: Case, got: Tensor) -> str | None:
        s, t, am = c.args
        pad = am == 0
        if pad.any():
            s2, t2 = s.clone(), t.clone()
            s2[pad], t2[pad] = 7 - 3 * s[pad], t[pad] / 2 + 11
            if differs(fn, name, usage, c, (s2, t2, am), got):
                return PAD_HINT
        if differs(fn, name, usage, c, (s * 10, t, am), got):
            return NORM_HINT

    run(name, fn, L_cos, usage, cases, COS_MISTAKES,
        "shapes (2, 5, 8), (3, 7, 16), (1, 4, 3), (4, 6, 32); float32 and float64; right padding holding "
        "garbage; vector lengths from 0.01 to 100", probe,
        lambda: grad_reaches_student(fn, name, usage, cases[0], "student_hidden"))


# --------------------------------------------------------------------------- L_ce
def _ce_cases() -> list[Case]:
    """Logits N(0, 3²) (then up to ±1e4) at the selected positions, garbage (std 30) elsewhere."""
    gen, cases = torch.Generator().manual_seed(4), []
    shapes = ((2, 5, 7), (3, 4, 11), (1, 6, 5), (4, 3, 30))
    for large, shape, dtype, T in itertools.product((False, True), shapes, DTYPES, (2.0, 0.5, 1.0, 4.0)):
        if large and T in (1.0, 4.0):
            continue
        B, S, V = shape
        m = _selection(gen, B, S, 0.4)
        s, t = (random_logits(gen, shape, F64, large) for _ in range(2))
        s[~m], t[~m] = (30 * torch.randn(int((~m).sum()), V, generator=gen, dtype=F64) for _ in range(2))
        N, big = int(m.sum()), max(s[m].abs().max().item(), t[m].abs().max().item())
        text = (f"logits of shape {shape}, {dtype_name(dtype)}, T={T:g}, mask selecting {N} of {B * S} positions, "
                f"|logits| up to {big:.3g} there")
        cases.append(Case((s.to(dtype), t.to(dtype), m, T), {}, text, (math.log(V) + 2 * big / T) * T * T,
                          {"s": s, "t": t, "m": m, "T": T, "t2": T * T, "N": N, "B": B, "BS": B * S, "V": V}))
    return cases


def _kl(v: dict, Ts: float | None = None, Tt: float | None = None, reverse=False, cross=False) -> Tensor:
    """(B, S) KL(p_t || q_s) at every position, no T² (or a mistaken variant of it)."""
    log_q = log_softmax_with_temperature(v["s"], v["T"] if Ts is None else Ts)
    log_p = log_softmax_with_temperature(v["t"], v["T"] if Tt is None else Tt)
    if reverse:
        log_p, log_q = log_q, log_p
    return (log_p.exp() * ((0 if cross else log_p) - log_q)).sum(-1)


def _sel(c: Case, x: Tensor) -> Tensor:
    return x[c.v["m"]]


UNSELECTED_HINT = ("the loss changes when the logits at unselected positions change: keep only the positions "
                   "where mask is True")
ONE_SIDE = "temperature applied to only one side: divide both the student and the teacher logits by T"
CE_MISTAKES = [
    ("the loss is T² = {t2:g} times too small: multiply by T² (Hinton et al. 2015, Sec. 2.1; DistilBERT keeps it)",
     lambda c: _sel(c, _kl(c.v)).mean()),
    ("averaged over all B×S = {BS} positions: keep only the positions where mask is True (N = {N}) and "
     "average over them", lambda c: _kl(c.v).mean() * c.v["t2"]),
    ("divided by all B×S = {BS} positions: divide by the number of selected ones, mask.sum() = {N}",
     lambda c: _sel(c, _kl(c.v)).sum() / c.v["BS"] * c.v["t2"]),
    ("divided by the batch size B = {B}: F.kl_div's 'batchmean' on a (batch, seq, vocab) tensor divides by its "
     "first dimension only; select the rows first (student_logits[mask] is (N, vocab)), then divide by N = {N}",
     lambda c: _sel(c, _kl(c.v)).sum() / c.v["B"] * c.v["t2"]),
    ("every position counted, divided by the batch size B = {B}: select the rows first (student_logits[mask] "
     "is (N, vocab)) and average over those N = {N}", lambda c: _kl(c.v).sum() / c.v["B"] * c.v["t2"]),
    ("the loss is N = {N} times too large: average over the selected positions, do not sum",
     lambda c: _sel(c, _kl(c.v)).sum() * c.v["t2"]),
    ("the loss is V = {V} times too small: you averaged over the vocabulary too (reduction='mean'); "
     "'batchmean' on the (N, vocab) rows divides by N only", lambda c: _sel(c, _kl(c.v)).mean() * c.v["t2"] / c.v["V"]),
    ("KL in the wrong direction: KL(student‖teacher) instead of KL(teacher's soft targets‖student's soft "
     "predictions)", lambda c: _sel(c, _kl(c.v, reverse=True)).mean() * c.v["t2"]),
    (ONE_SIDE, lambda c: _sel(c, _kl(c.v, Ts=1.0)).mean() * c.v["t2"]),
    (ONE_SIDE, lambda c: _sel(c, _kl(c.v, Tt=1.0)).mean() * c.v["t2"]),
    ("the loss ignores T: divide both the student and the teacher logits by T",
     lambda c: _sel(c, _kl(c.v, 1.0, 1.0)).mean() * c.v["t2"]),
    ("differs from the KL by the teacher's entropy: you computed the cross-entropy; use the KL (same "
     "gradients, and 0 when the student matches the teacher)",
     lambda c: _sel(c, _kl(c.v, cross=True)).mean() * c.v["t2"]),
]


@one_thread
def check_L_ce(fn: Callable) -> None:
    """Check fn(student_logits, teacher_logits, mask, T) -> scalar against :func:`L_ce`.

    T² KL(softmax(z_t/T) || softmax(z_s/T)), averaged over the positions where mask is True (Sanh et al. 2019).
    """
    name, usage = "L_ce", "L_ce(student_logits, teacher_logits, mask, T)"
    cases = _ce_cases()
    scalar_first(fn, name, usage, cases[0], "one number: the mean over the selected positions of the KL, "
                                            "which sums over the vocabulary")

    def probe(c: Case, got: Tensor) -> str | None:
        s, t, m, T = c.args
        if (~m).any():
            s2, t2 = s.clone(), t.clone()
            s2[~m], t2[~m] = 5 - 2 * s[~m], t[~m].flip(-1)
            if differs(fn, name, usage, c, (s2, t2, m, T), got):
                return UNSELECTED_HINT
        if not differs(fn, name, usage, c, (t, t, m, T), torch.zeros((), dtype=s.dtype)):
            return None
        return "the loss is not 0 when student_logits equal teacher_logits: KL(p‖p) = 0, so use the KL"

    run(name, fn, L_ce, usage, cases, CE_MISTAKES,
        "(batch, seq, vocab) (2, 5, 7), (3, 4, 11), (1, 6, 5), (4, 3, 30); T from 0.5 to 4; float32 and "
        "float64; garbage at unselected positions; logits up to ±1e4", probe,
        lambda: grad_reaches_student(fn, name, usage, cases[0], "student_logits"))


# --------------------------------------------------------------------------- L_mlm
def _mlm_cases() -> list[Case]:
    """Logits N(0, 3²) (then up to ±1e4); about 30% of the positions labelled, the rest -100."""
    gen, cases = torch.Generator().manual_seed(5), []
    for large, shape, dtype in itertools.product((False, True), ((2, 6, 9), (3, 5, 13), (1, 8, 20), (4, 4, 6)),
                                                 DTYPES):
        B, S, V = shape
        keep = _selection(gen, B, S, 0.3)
        z = random_logits(gen, shape, F64, large)
        y = torch.full((B, S), IGNORE_INDEX, dtype=torch.long)
        y[keep] = torch.randint(0, V, (int(keep.sum()),), generator=gen)
        N, big = int(keep.sum()), z.abs().max().item()
        text = (f"logits of shape {shape}, {dtype_name(dtype)}, {N} of {B * S} positions labelled "
                f"(labels {y.tolist()}), |logits| up to {big:.3g}")
        cases.append(Case((z.to(dtype), y), {}, text, math.log(V) + 2 * big,
                          {"z": z, "y": y, "m": keep, "N": N, "B": B, "BS": B * S, "V": V}))
    return cases


def _nll(v: dict, dim: int = -1, prob: bool = False) -> Tensor:
    """(B, S) -log p(label) at every position (-p(label) with prob), a label -100 read as token 0."""
    log_q = torch.log_softmax(v["z"], dim)
    picked = log_q.gather(-1, v["y"].clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return -(picked.exp() if prob else picked)


MLM_MISTAKES = [
    ("positions labelled -100 were included (as if their token were id 0): -100 marks 'no target', so keep "
     "only the positions where mlm_labels != -100", lambda c: _nll(c.v).mean()),
    ("divided by all B×S = {BS} positions: average over the N = {N} positions with a label "
     "(mlm_labels != -100)", lambda c: _sel(c, _nll(c.v)).sum() / c.v["BS"]),
    ("divided by the batch size B = {B}: average over the N = {N} labelled positions",
     lambda c: _sel(c, _nll(c.v)).sum() / c.v["B"]),
    ("the loss is N = {N} times too large: average over the labelled positions, do not sum",
     lambda c: _sel(c, _nll(c.v)).sum()),
    ("you used probabilities: the loss is the mean of −log p(true token); take torch.log_softmax, then pick "
     "the true token's entry", lambda c: _sel(c, _nll(c.v, prob=True)).mean()),
    ("the loss is negative: it is −log p(true token), mind the minus sign", lambda c: -_sel(c, _nll(c.v)).mean()),
    ("softmax taken over dim 1 (the positions) instead of the vocabulary (dim -1)",
     lambda c: _sel(c, _nll(c.v, dim=1)).mean()),
]


@one_thread
def check_L_mlm(fn: Callable) -> None:
    """Check fn(student_logits, mlm_labels) -> scalar against :func:`L_mlm`.

    Mean over the positions whose label is not -100 of −log p_s(true token) (Devlin et al. 2019, Sec. 3.1).
    """
    name, usage = "L_mlm", "L_mlm(student_logits, mlm_labels)"
    cases = _mlm_cases()
    try:
        scalar_first(fn, name, usage, cases[0], "one number: the mean of −log p(true token) over the labelled "
                                                "positions")
        run(name, fn, L_mlm, usage, cases, MLM_MISTAKES,
            "(batch, seq, vocab) (2, 6, 9), (3, 5, 13), (1, 8, 20), (4, 4, 6); float32 and float64; "
            "logits up to ±1e4", None, lambda: grad_reaches_student(fn, name, usage, cases[0], "student_logits"))
    except CheckFailed as e:
        text = str(e)
        if " raised " in text and "Hint:" not in text and any(w in text for w in ("-100", "bounds", "negative")):
            raise CheckFailed(text + " Hint: -100 is no token id but the mark of a position without a target: "
                                     "select the positions where mlm_labels != -100 before picking the true "
                                     "token's log-probability.") from e
        raise


# --------------------------------------------------------------------------- BERT's 80/10/10
def _share_hint(got: dict, want: dict) -> str:
    near = lambda a, b: abs(a - b) < 0.02  # noqa: E731
    if near(got["[MASK]"], want["[MASK]"] * (1 - want["random"])) and near(got["random"], want["random"]):
        return ("two independent draws overlap: a token picked for [MASK] can be picked again for a random token. "
                "Draw one u per token: u < 0.8 → [MASK], 0.8 ≤ u < 0.9 → a random id, else keep")
    if near(got["[MASK]"], want["[MASK]"]) and near(got["random"], want["random"] * (1 - want["[MASK]"])):
        return ("10% of all chosen tokens become random: that is half of the 20% left after [MASK] (0.1 / 0.2), "
                "not 10% of them")
    if got["kept"] < 0.01:
        return "no chosen token stayed unchanged: BERT keeps 10% as they are, so the model cannot trust what it sees"
    if got["random"] < 0.01:
        return "no chosen token became a random one: BERT replaces 10% by a token drawn from the vocabulary"
    return ("draw one u = torch.rand(n, generator=generator) per token: u < 0.8 → [MASK], 0.8 ≤ u < 0.9 → a "
            "random id, u ≥ 0.9 → unchanged")


@one_thread
def check_bert_corruption(fn: Callable) -> None:
    """Check fn(chosen_ids, mask_token_id, vocab_size, generator) -> ids against BERT's 80/10/10 rule.

    On 20,000 chosen ids (fixed seeds): [MASK], random and kept shares within 2 points of
    :class:`kd_teach.distilbert.masking.MaskingConfig`'s 0.8 / 0.1 / 0.1 (Devlin et al. 2019, Section 3.1), random
    ids spread over the vocabulary, the same seed giving the same result, another seed another one.
    """
    name, usage = "bert_corruption", "bert_corruption(chosen_ids, mask_token_id, vocab_size, generator)"
    n, V, MASK = 20_000, 1000, 103
    ids = torch.randint(200, V, (n,), generator=torch.Generator().manual_seed(0))
    text = f"{n:,} chosen ids drawn from [200, {V}), mask_token_id={MASK}, vocab_size={V}"

    def corrupt(seed: int) -> Tensor:
        arg = ids.clone()
        try:
            out = fn(arg, MASK, V, torch.Generator().manual_seed(seed))
        except NotImplementedError:
            raise
        except Exception as e:
            hint = f" Hint: your function is called as {usage}." if isinstance(e, TypeError) else ""
            raise CheckFailed(f"{name} raised {type(e).__name__} for {text}: {e}.{hint}") from e
        if not torch.equal(arg, ids):
            raise CheckFailed(f"{name} changed chosen_ids in place ({text}). Hint: start from a copy "
                              "(torch.where(...) or chosen_ids.clone()): the caller keeps the originals as labels.")
        if not isinstance(out, Tensor) or out.shape != ids.shape or out.dtype != ids.dtype:
            got = f"shape {tuple(out.shape)}, {out.dtype}" if isinstance(out, Tensor) else f"a {type(out).__name__}"
            raise CheckFailed(f"{name} returned {got} for {text}; expected a tensor of the input's shape ({n},) "
                              "and dtype torch.int64. Hint: return the corrupted ids, one per chosen id.")
        if int(out.min()) < 0 or int(out.max()) >= V:
            raise CheckFailed(f"{name} returned ids from {int(out.min())} to {int(out.max())} for {text}. "
                              "Hint: token ids lie in [0, vocab_size): torch.randint(vocab_size, ...) never gives "
                              "vocab_size.")
        return out

    out = corrupt(1)
    if not torch.equal(out, corrupt(1)):
        raise CheckFailed(f"two calls with generators seeded alike gave different results ({text}). Hint: "
                          "pass generator=generator to every draw (torch.rand, torch.randint), so a seed "
                          "reproduces the masks.")
    if torch.equal(out, corrupt(2)):
        raise CheckFailed(f"the same tokens were corrupted the same way for two different seeds ({text}). "
                          "Hint: decide each token's fate at random, with one u = torch.rand(n, generator=generator) "
                          "per token.")
    cfg = MaskingConfig()
    want = {"[MASK]": cfg.word_mask, "random": cfg.word_rand, "kept": cfg.word_keep}
    is_mask, kept = out == MASK, out == ids
    got = {"[MASK]": is_mask.double().mean().item(), "kept": kept.double().mean().item()}
    got["random"] = 1 - got["[MASK]"] - got["kept"]
    off = [k for k in want if abs(got[k] - want[k]) > 0.02]
    if off:
        k, became = off[0], {"[MASK]": "became [MASK]", "random": "became a random token", "kept": "stayed unchanged"}
        shares = ", ".join(f"{k2} {got[k2]:.1%}" for k2 in want)
        raise CheckFailed(f"about {got[k]:.0%} of the chosen tokens {became[k]}; BERT's rule is {want[k]:.0%} (Devlin "
                          f"et al. 2019, Section 3.1). Measured on {text}: {shares}; expected 80% / 10% / 10% within "
                          f"±2 points.\nHint: {_share_hint(got, want)}.")
    rand = out[~is_mask & ~kept]
    distinct, expected = rand.unique().numel(), V * (1 - math.exp(-rand.numel() / V))
    if distinct < expected / 2:
        raise CheckFailed(f"the {rand.numel():,} random replacements take only {distinct} different ids (about "
                          f"{expected:.0f} expected from a {V}-token vocabulary; {text}). Hint: draw each from "
                          "the whole vocabulary, torch.randint(vocab_size, chosen_ids.shape, generator=generator).")
    print(f"✓ {name} follows BERT's rule on {n:,} chosen tokens: [MASK] {got['[MASK]']:.1%}, random "
          f"{got['random']:.1%}, kept {got['kept']:.1%} (80 / 10 / 10 within ±2 points); reproducible with a seed.")
