"""Checkers for the exercises: compare a learner's function with the package's reference.

``check_softmax_with_temperature(my_softmax)`` runs the learner's function and the reference (in
float64) on seeded random inputs: shapes (batch 1 too), float32 and float64, T from 0.05 to 100,
logits up to +-1e4, every ``dim``. All agree: one line of success. Otherwise CheckFailed says what
differs on which input, expected vs got, and a hint: a usual mistake, named only if the reference
redone with it reproduces the learner's outputs. NotImplementedError (an exercise placeholder)
propagates unchanged; other exceptions become a CheckFailed naming the input.
"""
from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import Tensor

from kd_teach.losses.hinton import distillation_loss, kd_loss, student_loss
from kd_teach.temperature import entropy, log_softmax_with_temperature, soft_targets, softmax_with_temperature

TEMPERATURES = (2.0, 0.5, 1.0, 5.0, 0.05, 20.0, 100.0)  # T = 2 first: most mistakes show at once
DTYPES = (torch.float64, torch.float32)
WEIGHTS = ((0.7, 0.3), (0.2, 0.8), (0.5, 1.5), (1.0, 0.0), (0.0, 1.0))  # (alpha, beta) for kd_loss
_SUMMARY = "T from 0.05 to 100; float32 and float64; logits up to ±1e4"


class CheckFailed(AssertionError):
    """The learner's function differs from the reference; the message says where, and a hint why."""


@dataclass
class _Case:
    """One input: the learner's arguments, their float64 twins by name and a description."""
    args: tuple    # positional arguments, as the learner's function receives them
    kwargs: dict   # keyword arguments (dim, scale_by_T2), only those not at their default
    text: str      # "logits of shape (4, 3), float32, T=0.05, |logits| up to 9.1"
    scale: float   # size of the intermediate values (e.g. max|z|/T): rounding errors grow with it
    v: dict        # {"x": logits.double(), "T": 0.05, "dim": -1, ...}: for references and mistakes


# --------------------------------------------------------------------------- the engine
def _fmt(x) -> str:
    """Numbers with 4 significant digits, nested like the tensor."""
    x = x.detach().double().tolist() if isinstance(x, Tensor) else x
    return "[" + ", ".join(_fmt(e) for e in x) + "]" if isinstance(x, list) else f"{x:.4g}"


def _close(got: Tensor, want: Tensor, c: _Case, loose: bool = False) -> bool:
    """|got - want| <= atol + rtol |want| in float64, with a tolerance for the input's dtype."""
    got, want, dtype = got.detach().double(), want.detach().double(), c.args[0].dtype
    if got.shape != want.shape or not bool(torch.isfinite(got).all()):
        return False
    rtol = (1e-4 if dtype == torch.float32 else 1e-5) * (10 if loose else 1)
    atol = rtol / 100 + 16 * torch.finfo(dtype).eps * c.scale * (10 if loose else 1)
    return bool(((got - want).abs() <= atol + rtol * want.abs()).all())


def _call(fn: Callable, name: str, usage: str, c: _Case):
    """fn on a copy of the case's inputs; its exceptions (but NotImplementedError) become CheckFailed."""
    args = tuple(a.clone() if isinstance(a, Tensor) else a for a in c.args)
    try:
        out = fn(*args, **c.kwargs)
    except NotImplementedError:
        raise  # an exercise placeholder: "write ... here"
    except Exception as e:
        hint = f" Hint: your function is called as {usage}." if isinstance(e, TypeError) else ""
        raise CheckFailed(f"{name} raised {type(e).__name__} for {c.text}: {e}.{hint}") from e
    if any(isinstance(a, Tensor) and not torch.equal(a, b) for a, b in zip(c.args, args)):
        raise CheckFailed(f"{name} changed its input in place for {c.text}. Hint: compute a new tensor "
                          "(z = z / T) instead of modifying the argument (z /= T): the caller still needs it.")
    return out


def _problem(name: str, c: _Case, got, want: Tensor) -> str | None:
    """What is wrong with got before its values are compared: type, shape, dtype, NaN or inf."""
    x, dim, dtype = c.args[0], c.v.get("dim", -1), c.args[0].dtype
    if not isinstance(got, Tensor):
        hint = " (return the tensor itself, not .item(): gradients must flow)" if isinstance(got, float) else ""
        return f"{name} returned a {type(got).__name__} for {c.text}; it should return a torch.Tensor{hint}."
    if got.shape != want.shape:
        wrong = [d for d in range(x.dim()) if got.shape == x.sum(d).shape and want.shape != x.shape]
        reduced = want.shape == x.shape and got.shape == x.sum(dim).shape
        hint = ("one loss per example: average over the batch" if want.dim() == 0 and got.shape == x.shape[:1] else
                "sum over the classes, then average over the batch" if want.dim() == 0 and got.shape == x.shape else
                f"sum over dim {dim}: one entropy per distribution" if got.shape == x.shape else
                f"you reduced over {c.v.get('where')}: keep it (keepdim=True)" if reduced else
                f"summed over dim {wrong[0]} instead of dim {dim}" if wrong else "")
        return (f"{name} returned shape {tuple(got.shape)} for {c.text}; expected {tuple(want.shape)}."
                + (f" Hint: {hint}." if hint else ""))
    if got.dtype != dtype:
        return (f"{name} returned {got.dtype} for {dtype} input ({c.text}). Hint: keep the input's dtype "
                "(no .float(), .double() or new tensors of the default dtype).")
    if bool(torch.isfinite(got).all()):
        return None
    limit = math.log(torch.finfo(dtype).max)
    big = "x" in c.v and c.scale > limit  # softmax logits beyond exp's range
    hint = ("NaN where a probability is 0: treat 0·log 0 as 0 (e.g. torch.xlogy(p, p))" if "p" in c.v else
            f"overflow: exp(z/T) is inf once z/T > {limit:.0f} in {dtype} (here |z/T| reaches {c.scale:.3g}); "
            "subtract the largest logit before exp, which leaves the softmax unchanged" if big else
            "a probability underflowed to 0 (its log is -inf) or exp overflowed: compute log-probabilities "
            "with torch.log_softmax (or subtract the largest logit before exp), never log(softmax(...))")
    return f"{name} returned NaN or inf for {c.text}, where the reference is finite. Hint: {hint}."


def _one_thread(run: Callable) -> Callable:
    """Run on one thread: the tensors are tiny, extra threads only wait (a lot on a busy CPU)."""
    def wrapper(*args, **kwargs):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return run(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)
    return wrapper


@_one_thread
def _run(name: str, fn: Callable, ref: Callable, usage: str, cases: list[_Case], mistakes: list,
         summary: str, local_hint: Callable | None = None, then: Callable = lambda: None) -> None:
    """Compare fn with ref on every case (then run ``then``); print one line of success or raise CheckFailed."""
    first, seen = None, []   # first: (case, got, want) of the first case whose values differ
    for c in cases:
        want = ref(*(a.double() if isinstance(a, Tensor) and a.is_floating_point() else a for a in c.args),
                   **c.kwargs)
        try:
            got = _call(fn, name, usage, c)
            if problem := _problem(name, c, got, want):
                raise CheckFailed(problem)
        except CheckFailed:
            if first is None:
                raise
            continue  # after the first difference, the other cases only help to name the mistake
        seen.append((c, got))
        first = first or (None if _close(got, want, c) else (c, got, want))
    if first is None:
        then()  # e.g. the gradient checks, once the values agree
        print(f"✓ {name} matches the reference on {len(cases)} cases ({summary}).")
        return
    c, got, want = first
    lines = [f"{name} gives different values for {c.text} "
             f"(max abs difference {(got.detach().double() - want).abs().max().item():.3g})."]
    if sum(a.numel() for a in c.args if isinstance(a, Tensor)) <= 40:  # small enough to show
        names = usage[usage.index("(") + 1:].split(", ")
        lines += [f"  {k}: {_fmt(a)}" for k, a in zip(names, c.args) if isinstance(a, Tensor)]
        lines += [f"  expected: {_fmt(want)}", f"  got:      {_fmt(got)}"]
    def explains(mistake: Callable, others: list) -> bool:  # reproduces got here and on every (case, got)
        return all(_close(g, mistake(c2), c2, loose=True) for c2, g in [(c, got), *others])

    hint = next((h for h, m in mistakes if explains(m, seen)), None)   # one mistake for every case
    hint = hint or next((h for h, m in mistakes if explains(m, [])), None)  # or for this case at least
    hint = hint.format(**c.v) if hint else (local_hint and local_hint(c, got))
    lines.append("Hint: " + (hint or "compare your formula with the reference's docstring, term by term") + ".")
    raise CheckFailed("\n".join(lines))


# --------------------------------------------------------------------------- inputs
def _logits(gen: torch.Generator, shape: tuple, dtype: torch.dtype, large: bool) -> Tensor:
    """Normal logits (std 3), or uniform in [-1e4, 1e4] when large; drawn in float64."""
    if large:
        return ((torch.rand(shape, generator=gen, dtype=torch.float64) - 0.5) * 2e4).to(dtype)
    return (torch.randn(shape, generator=gen, dtype=torch.float64) * 3).to(dtype)


def _softmax_cases(with_dim: bool) -> list[_Case]:
    """Normal logits on every shape, dtype and T; then other dims; then logits up to +-1e4."""
    gen, shapes = torch.Generator().manual_seed(0), ((4, 3), (2, 3, 7), (5,), (1, 6))

    def case(shape, dtype, T, dim=-1, large=False):
        x = _logits(gen, shape, dtype, large)
        m, where = x.abs().max().item(), "the last dimension" if dim == -1 else f"dim {dim}"
        text = f"logits of shape {shape}, {str(dtype)[6:]}, T={T:g}" + (f", dim={dim}" if dim != -1 else "")
        return _Case((x, T), {} if dim == -1 else {"dim": dim}, text + f", |logits| up to {m:.3g}", m / T,
                     {"x": x.double(), "T": T, "dim": dim, "where": where})

    cases = [case(s, d, T) for s, d, T in itertools.product(shapes, DTYPES, TEMPERATURES)]
    if with_dim:
        cases += [case(s, d, T, dim) for s in shapes for dim in range(len(s) - 1) for d in DTYPES for T in (0.5, 2, 5)]
    return cases + [case(s, d, T, large=True) for s, d, T in itertools.product(shapes, DTYPES, TEMPERATURES)]


def _loss_cases(kd: bool) -> list[_Case]:
    """(batch, classes) student and teacher logits, normal then up to +-1e4; scale_by_T2 both ways."""
    gen, cases = torch.Generator().manual_seed(1), []
    for large, s, d, T in itertools.product((False, True), ((5, 3), (2, 7), (1, 4), (8, 2)), DTYPES, TEMPERATURES):
        for flag in (True,) if kd or large else (True, False):
            zs, zt = _logits(gen, s, d, large), _logits(gen, s, d, large)
            m = max(zs.abs().max().item(), zt.abs().max().item())
            v = {"s": zs.double(), "t": zt.double(), "T": T, "t2": T * T if flag else 1.0, "B": s[0], "C": s[1]}
            scale = (math.log(s[1]) + 2 * m / T) * v["t2"]
            args, text = (zs, zt, T), f"student and teacher logits of shape {s}, {str(d)[6:]}, T={T:g}"
            text += "" if kd else f", scale_by_T2={flag}"
            if kd:
                a, b = WEIGHTS[len(cases) % len(WEIGHTS)]
                y = torch.randint(0, s[1], s[:1], generator=gen)
                v |= {"y": y, "a": a, "b": b}
                args, scale = (zs, zt, y, a, b, T), a * (math.log(s[1]) + 2 * m) + b * scale
                text += f", alpha={a:g}, beta={b:g}, labels {y.tolist()}"
            cases.append(_Case(args, {} if flag else {"scale_by_T2": False}, text + f", |logits| up to {m:.3g}",
                               scale, v))
    return cases


def _entropy_cases() -> list[_Case]:
    """Probabilities: smooth and sharp rows, other dims, then rows with exact zeros (one-hot too)."""
    gen, shapes = torch.Generator().manual_seed(2), ((4, 3), (3, 3), (2, 3, 7), (5,), (1, 6))

    def case(shape, dtype, sharp, dim=-1, zeros=False):
        x = torch.randn(shape, generator=gen, dtype=torch.float64) * sharp
        if zeros:  # empty classes, never the largest: every row keeps some mass
            x[(torch.rand(shape, generator=gen) < 0.5) & (x < x.amax(dim, keepdim=True))] = -math.inf
        p = softmax_with_temperature(x, 1.0, dim).to(dtype)
        n0 = int((p == 0).sum())
        text = (f"probabilities of shape {shape}, {str(dtype)[6:]}" + (f", dim={dim}" if dim != -1 else "")
                + (f", {n0} of them exactly 0" if n0 else f", smallest {p.min().item():.2g}"))
        return _Case((p,), {} if dim == -1 else {"dim": dim}, text, math.log(shape[dim]) + 1,
                     {"dim": dim, "C": shape[dim], "H": entropy(p.double(), dim), "p": p})

    cases = [case(s, d, sharp) for s, d, sharp in itertools.product(shapes, DTYPES, (0.5, 3.0, 10.0))]
    cases += [case(s, d, 3.0, dim) for s in shapes for dim in range(len(s) - 1) for d in DTYPES]
    return cases + [case(s, d, sharp, zeros=True) for s, d, sharp in itertools.product(shapes, DTYPES, (1.0, 1e3))]


# --------------------------------------------------------------------------- the usual mistakes
def _sm(c: _Case, T: float | None = None, dim: int | None = None) -> Tensor:
    return softmax_with_temperature(c.v["x"], c.v["T"] if T is None else T, c.v["dim"] if dim is None else dim)


def _sum_hint(c: _Case, got: Tensor) -> str | None:
    if ((got.detach().double().sum(c.v["dim"]) - 1).abs() > 1e-3).any():
        return f"rows do not sum to 1 along {c.v['where']}: divide the exponentials by their sum over it"


SOFTMAX_MISTAKES = [  # (hint, the reference redone with that mistake)
    ("output does not change with T: divide the logits by T before the softmax", lambda c: _sm(c, T=1.0)),
    ("the distribution gets sharper as T grows: divide by T, do not multiply", lambda c: _sm(c, T=1 / c.v["T"])),
    ("normalised along the last dimension instead of {where}: pass dim to every max and sum", lambda c: _sm(c, dim=-1)),
    ("normalised along dim 0 instead of {where}: pass dim to every max and sum", lambda c: _sm(c, dim=0)),
    ("normalised over the whole tensor: sum over {where} only, with keepdim=True",
     lambda c: softmax_with_temperature(c.v["x"].flatten(), c.v["T"]).view_as(c.v["x"])),
]

ENTROPY_MISTAKES = [
    ("values are 1.44 times too large: use the natural log, not log2", lambda c: c.v["H"] / math.log(2)),
    ("values are 2.3 times too small: use the natural log, not log10", lambda c: c.v["H"] / math.log(10)),
    ("entropy is negative: it is −Σ p log p, mind the minus sign", lambda c: -c.v["H"]),
    ("values are C = {C} times too small: sum over the classes, do not average", lambda c: c.v["H"] / c.v["C"]),
]


def _kl(c: _Case, Ts: float | None = None, Tt: float | None = None, reverse=False, cross=False) -> Tensor:
    """Batchmean KL(p_t || q_s) from the float64 inputs, no T² (or a mistaken variant of it)."""
    log_q = log_softmax_with_temperature(c.v["s"], c.v["T"] if Ts is None else Ts)
    log_p = log_softmax_with_temperature(c.v["t"], c.v["T"] if Tt is None else Tt)
    if reverse:
        log_p, log_q = log_q, log_p
    return (log_p.exp() * ((0 if cross else log_p) - log_q)).sum(-1).mean()


_ONE_SIDE = "temperature applied to only one side: divide both the student and the teacher logits by T"
KL_MISTAKES = [
    ("loss is T² times too small: multiply by T² (Hinton et al. 2015, Sec. 2.1)", lambda c: _kl(c)),
    ("loss is T² times too large with scale_by_T2=False: multiply by T² only when scale_by_T2 is True",
     lambda c: _kl(c) * c.v["T"] ** 2),
    ("loss is C = {C} times too small: you averaged over classes too (reduction='mean'); "
     "'batchmean' divides by the batch size only", lambda c: _kl(c) * c.v["t2"] / c.v["C"]),
    ("loss is B = {B} times too large: average over the batch, do not sum", lambda c: _kl(c) * c.v["t2"] * c.v["B"]),
    ("KL in the wrong direction: KL(student‖teacher) instead of KL(soft targets‖soft predictions)",
     lambda c: _kl(c, reverse=True) * c.v["t2"]),
    (_ONE_SIDE, lambda c: _kl(c, Ts=1.0) * c.v["t2"]),
    (_ONE_SIDE, lambda c: _kl(c, Tt=1.0) * c.v["t2"]),
    ("the loss ignores T: divide both the student and the teacher logits by T", lambda c: _kl(c, 1, 1) * c.v["t2"]),
    ("differs from the KL by the teacher's entropy: you computed the cross-entropy; subtract H(p_t) or use KL",
     lambda c: _kl(c, cross=True) * c.v["t2"]),
]


def _kd(c: _Case, a=None, b=None, Ts=1.0, distil=None) -> Tensor:
    a, b = (c.v["a"] if a is None else a), (c.v["b"] if b is None else b)
    return a * student_loss(c.v["s"] / Ts, c.v["y"]) + b * (_kl(c) * c.v["T"] ** 2 if distil is None else distil(c))


KD_MISTAKES = [
    ("alpha and beta swapped: alpha weighs the student loss (hard labels), beta the distillation loss",
     lambda c: _kd(c, a=c.v["b"], b=c.v["a"])),
    ("student loss computed at temperature T; hard predictions use T = 1", lambda c: _kd(c, Ts=c.v["T"])),
    ("T² missing in the distillation term (Hinton et al. 2015, Sec. 2.1)", lambda c: _kd(c, distil=_kl)),
    ("beta is not used: weigh the distillation loss by beta, not by 1 - alpha", lambda c: _kd(c, b=1 - c.v["a"])),
] + [("in the distillation term, " + h, lambda c, m=m: _kd(c, distil=m)) for h, m in KL_MISTAKES[2:]]


def _check_grads(name: str, fn: Callable, usage: str, c: _Case, loss: bool = True) -> None:
    """A loss passes gradients to the student's logits c.args[0]; nothing may reach the teacher's,
    c.args[1] (c.args[0] for soft targets): the teacher is fixed (Hinton et al. 2015, Sec. 2)."""
    grads = [a.detach().requires_grad_() for a in c.args[:2 if loss else 1]]
    c = replace(c, args=(*grads, *c.args[len(grads):]), text=c.text + ", logits requiring grad")
    out = _call(fn, name, usage, c)
    if loss and not (isinstance(out, Tensor) and out.requires_grad):
        raise CheckFailed(f"no gradient reaches student_logits through {name} ({c.text}). Hint: keep the "
                          "loss a tensor computed from them, without .detach(), .item() or torch.no_grad().")
    if isinstance(out, Tensor) and out.requires_grad and torch.autograd.grad(
            out.sum(), grads[-1], allow_unused=True)[0] is not None:
        raise CheckFailed(f"{name} lets gradients flow back into teacher_logits ({c.text}). Hint: soft targets "
                          "are constants for the student: detach the teacher logits (teacher_logits.detach()).")


# --------------------------------------------------------------------------- the checkers
def check_softmax_with_temperature(fn: Callable) -> None:
    """Check fn(logits, T, dim=-1) -> (same shape) against :func:`kd_teach.temperature.softmax_with_temperature`.

    Hinton et al. 2015, Eq. 1. Prints one line when all cases agree; raises CheckFailed on a difference.
    """
    _run("softmax_with_temperature", fn, softmax_with_temperature,
                "softmax_with_temperature(logits, T, dim=...)", _softmax_cases(with_dim=True), SOFTMAX_MISTAKES,
                f"shapes (4, 3), (2, 3, 7), (5,), (1, 6); dim -1, 0, 1; {_SUMMARY}", _sum_hint)


def check_soft_targets(fn: Callable) -> None:
    """Check fn(teacher_logits, T) -> (same shape) against :func:`kd_teach.temperature.soft_targets`.

    Values as softmax_with_temperature; no gradient back to the teacher (Hinton et al. 2015, Sec. 2).
    """
    name, usage, cases = "soft_targets", "soft_targets(teacher_logits, T)", _softmax_cases(with_dim=False)
    _run(name, fn, soft_targets, usage, cases, SOFTMAX_MISTAKES,
                f"shapes (4, 3), (2, 3, 7), (5,), (1, 6); {_SUMMARY}", _sum_hint,
                lambda: _check_grads(name, fn, usage, cases[0], loss=False))


def check_entropy(fn: Callable) -> None:
    """Check fn(probs, dim=-1) -> (probs' shape without dim) against :func:`kd_teach.temperature.entropy`.

    In nats, 0 log 0 = 0; rows smooth, sharp, with exact zeros, one-hot. Prints one line; raises CheckFailed.
    """
    _run("entropy", fn, entropy, "entropy(probs, dim=...)", _entropy_cases(), ENTROPY_MISTAKES,
                "shapes (4, 3), (3, 3), (2, 3, 7), (5,), (1, 6); dim -1, 0, 1; float32 and float64; zeros, one-hot")


def check_distillation_loss(fn: Callable) -> None:
    """Check fn(student_logits, teacher_logits, T, scale_by_T2=True) -> scalar against the reference.

    :func:`kd_teach.losses.hinton.distillation_loss`: T² KL(p_t || q_s) batchmean (Hinton et al. 2015, 2.1).
    """
    name, usage = "distillation_loss", "distillation_loss(student_logits, teacher_logits, T, scale_by_T2=...)"
    cases = _loss_cases(kd=False)

    def not_zero(c: _Case, got: Tensor) -> str | None:
        zero = _call(fn, name, usage, replace(c, args=(c.args[1], *c.args[1:])))
        if isinstance(zero, Tensor) and zero.numel() == 1 and abs(zero.item()) > 1e-4:
            return (f"the loss is {zero.item():.3g}, not 0, when student_logits equal teacher_logits: "
                    "KL(p‖p) = 0, so use the KL, not the cross-entropy")

    _run(name, fn, distillation_loss, usage, cases, KL_MISTAKES,
                f"batch × classes (5, 3), (2, 7), (1, 4), (8, 2); scale_by_T2 True and False; {_SUMMARY}",
                not_zero, lambda: _check_grads(name, fn, usage, cases[0]))


def check_kd_loss(fn: Callable) -> None:
    """Check fn(student_logits, teacher_logits, labels, alpha, beta, T) -> scalar against the reference.

    :func:`kd_teach.losses.hinton.kd_loss`: alpha CE(z_s, y) + beta T² KL(p_t || q_s) (Hinton et al. 2015).
    """
    name, usage = "kd_loss", "kd_loss(student_logits, teacher_logits, labels, alpha, beta, T)"
    cases = _loss_cases(kd=True)
    _run(name, fn, kd_loss, usage, cases, KD_MISTAKES,
                f"batch × classes (5, 3), (2, 7), (1, 4), (8, 2); {len(WEIGHTS)} (alpha, beta) pairs; {_SUMMARY}",
                None, lambda: _check_grads(name, fn, usage, cases[0]))


# --------------------------------------------------------------------------- predict, then run
def _number(x, what: str) -> float:
    x = x.item() if isinstance(x, Tensor) and x.numel() == 1 else x
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x):
        raise CheckFailed(f"{what} must be a finite number, got {x!r}: write it in place of the placeholder.")
    return float(x)


def check_guess(guess, actual, what: str = "the value", tolerance: float | None = None,
                why: str | None = None) -> None:
    """Print how far a prediction ("predict, then run") is from the value the code computed.

    guess and actual are numbers or one-element tensors; ``what`` names the quantity ("the entropy
    at T = 5"); ``tolerance`` is absolute (default 10% of |actual|); ``why`` is a line of intuition.
    Prints whether |guess - actual| <= tolerance. A wrong guess is how one learns: it is reported
    ("off by ..."), never raised. Raises CheckFailed only if guess is None or not a number.
    """
    g, a = _number(guess, f"your guess for {what}"), _number(actual, f"the actual value of {what}")
    tol = 0.1 * abs(a) if tolerance is None else float(tolerance)
    err = abs(g - a)
    print(f"Your guess for {what}: {g:.4g}; actual: {a:.4g}.")
    if err <= tol:
        print(f"✓ Within tolerance (±{tol:.3g}): well predicted.")
    else:
        rel = f", {err / abs(a):.0%} of the actual value" if a else ""
        print(f"✗ Off by {err:.3g}{rel}: your guess is too {'high' if g > a else 'low'} (tolerance ±{tol:.3g}).")
    if why:
        print(why)
