"""The checkers' engine: run a learner's function and the reference on the same inputs, explain a difference.

:func:`run` compares a function with its reference (in float64) on a list of :class:`Case`s;
all agree: one line of success. Otherwise :class:`CheckFailed` says what differs on which input,
expected vs got, and a hint: a usual mistake, named only if the reference redone with it
reproduces the learner's outputs. :func:`call` turns the learner's exceptions into a
CheckFailed naming the input (NotImplementedError, an exercise placeholder, propagates
unchanged); the probes (:func:`differs`, :func:`grad_reaches_student`, :func:`scalar_first`)
back the hints of the checkers in this package.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import Tensor


class CheckFailed(AssertionError):
    """The learner's function differs from the reference; the message says where, and a hint why."""


@dataclass
class Case:
    """One input: the learner's arguments, their float64 twins by name and a description."""
    args: tuple    # positional arguments, as the learner's function receives them
    kwargs: dict   # keyword arguments (dim, scale_by_T2), only those not at their default
    text: str      # "logits of shape (4, 3), float32, T=0.05, |logits| up to 9.1"
    scale: float   # size of the intermediate values (e.g. max|z|/T): rounding errors grow with it
    v: dict        # {"x": logits.double(), "T": 0.05, "dim": -1, ...}: for references and mistakes


# --------------------------------------------------------------------------- the engine
def fmt(x) -> str:
    """Numbers with 4 significant digits, nested like the tensor."""
    x = x.detach().double().tolist() if isinstance(x, Tensor) else x
    return "[" + ", ".join(fmt(e) for e in x) + "]" if isinstance(x, list) else f"{x:.4g}"


def close(got: Tensor, want: Tensor, c: Case, loose: bool = False) -> bool:
    """|got - want| <= atol + rtol |want| in float64, with a tolerance for the input's dtype."""
    got, want, dtype = got.detach().double(), want.detach().double(), c.args[0].dtype
    if got.shape != want.shape or not bool(torch.isfinite(got).all()):
        return False
    rtol = (1e-4 if dtype == torch.float32 else 1e-5) * (10 if loose else 1)
    atol = rtol / 100 + 16 * torch.finfo(dtype).eps * c.scale * (10 if loose else 1)
    return bool(((got - want).abs() <= atol + rtol * want.abs()).all())


def call(fn: Callable, name: str, usage: str, c: Case):
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


def problem(name: str, c: Case, got, want: Tensor) -> str | None:
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


def one_thread(run: Callable) -> Callable:
    """Run on one thread: the tensors are tiny, extra threads only wait (a lot on a busy CPU)."""
    @functools.wraps(run)  # the checker keeps its name and docstring (help(check_L_ce) in a notebook)
    def wrapper(*args, **kwargs):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return run(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)
    return wrapper


@one_thread
def run(name: str, fn: Callable, ref: Callable, usage: str, cases: list[Case], mistakes: list,
        summary: str, local_hint: Callable | None = None, then: Callable = lambda: None) -> None:
    """Compare fn with ref on every case (then run ``then``); print one line of success or raise CheckFailed."""
    first, seen = None, []   # first: (case, got, want) of the first case whose values differ
    for c in cases:
        want = ref(*(a.double() if isinstance(a, Tensor) and a.is_floating_point() else a for a in c.args),
                   **c.kwargs)
        try:
            got = call(fn, name, usage, c)
            if issue := problem(name, c, got, want):
                raise CheckFailed(issue)
        except CheckFailed:
            if first is None:
                raise
            continue  # after the first difference, the other cases only help to name the mistake
        seen.append((c, got))
        first = first or (None if close(got, want, c) else (c, got, want))
    if first is None:
        then()  # e.g. the gradient checks, once the values agree
        print(f"✓ {name} matches the reference on {len(cases)} cases ({summary}).")
        return
    c, got, want = first
    lines = [f"{name} gives different values for {c.text} "
             f"(max abs difference {(got.detach().double() - want).abs().max().item():.3g})."]
    if sum(a.numel() for a in c.args if isinstance(a, Tensor)) <= 40:  # small enough to show
        names = usage[usage.index("(") + 1:].split(", ")
        lines += [f"  {k}: {fmt(a)}" for k, a in zip(names, c.args) if isinstance(a, Tensor)]
        lines += [f"  expected: {fmt(want)}", f"  got:      {fmt(got)}"]
    def explains(mistake: Callable, others: list) -> bool:  # reproduces got here and on every (case, got)
        return all(close(g, mistake(c2), c2, loose=True) for c2, g in [(c, got), *others])

    hint = next((h for h, m in mistakes if explains(m, seen)), None)   # one mistake for every case
    hint = hint or next((h for h, m in mistakes if explains(m, [])), None)  # or for this case at least
    hint = hint.format(**c.v) if hint else (local_hint and local_hint(c, got))
    lines.append("Hint: " + (hint or "compare your formula with the reference's docstring, term by term") + ".")
    raise CheckFailed("\n".join(lines))


def random_logits(gen: torch.Generator, shape: tuple, dtype: torch.dtype, large: bool) -> Tensor:
    """Normal logits (std 3), or uniform in [-1e4, 1e4] when large; drawn in float64."""
    if large:
        return ((torch.rand(shape, generator=gen, dtype=torch.float64) - 0.5) * 2e4).to(dtype)
    return (torch.randn(shape, generator=gen, dtype=torch.float64) * 3).to(dtype)


def dtype_name(d: torch.dtype) -> str:
    return str(d).removeprefix("torch.")


def scalar_first(fn: Callable, name: str, usage: str, c: Case, what: str) -> None:
    """A loss is one number: say so at once, before any value is compared."""
    out = call(fn, name, usage, c)
    if isinstance(out, Tensor) and out.dim() > 0:
        raise CheckFailed(f"{name} returned shape {tuple(out.shape)} for {c.text}; expected a scalar, shape (). "
                          f"Hint: {what}.")


def differs(fn: Callable, name: str, usage: str, c: Case, args: tuple, got: Tensor) -> bool:
    """True if fn on other args gives another value than got (the probes behind some hints)."""
    out = call(fn, name, usage, replace(c, args=args))
    return not (isinstance(out, Tensor) and close(out, got, c, loose=True))


def grad_reaches_student(fn: Callable, name: str, usage: str, c: Case, arg: str) -> None:
    x = c.args[0].detach().clone().requires_grad_()
    c = replace(c, args=(x, *c.args[1:]), text=c.text + f", {arg} requiring grad")
    out = call(fn, name, usage, c)
    if not (isinstance(out, Tensor) and out.requires_grad):
        raise CheckFailed(f"no gradient reaches {arg} through {name} ({c.text}). Hint: keep the loss a tensor "
                          "computed from it, without .detach(), .item() or torch.no_grad().")


def right_padding(gen: torch.Generator, B: int, S: int) -> Tensor:
    """(B, S) int64 attention mask: sentence lengths 1..S-1, the last sentence full."""
    lengths = torch.randint(1, S, (B,), generator=gen)
    lengths[-1] = S
    return (torch.arange(S) < lengths[:, None]).long()
