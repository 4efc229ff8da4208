"""The checkers' engine for functions whose inputs are not one tensor: layer outputs, batches, tuples of states.

:mod:`kd_teach.course.checks.core` compares functions of a few tensors. The exercises of notebooks
06, 07 and 90 take nested inputs instead (a model's :class:`~kd_teach.tinybert.attention.LayerOutputs`,
a tuple of hidden states, a batch dict) and return one loss. :func:`compare` runs the learner's
function and the reference on a list of :class:`Inputs` (the reference in float64), and explains
the first difference the way ``core.run`` does: the input in words, expected vs got, and a hint,
a usual mistake named only when the reference redone with that mistake reproduces the learner's
numbers. Every call gets a fresh copy of the inputs, so a function that changes them in place is
caught; NotImplementedError (an exercise placeholder) propagates unchanged.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from torch import Tensor

from kd_teach.course.checks.core import CheckFailed, fmt, one_thread


@dataclass
class Inputs:
    """One input of a nested checker: the learner's arguments and their float64 twins."""
    args: tuple              # as the learner's function receives them (copied afresh for every call)
    ref: tuple               # the same in float64: what the reference and the mistakes read
    text: str                # "a 2-layer student of a 6-layer teacher, batch 3 × 7, float32, ..."
    dtype: torch.dtype       # the learner's floating dtype: sets the tolerance and the dtype expected back
    v: dict = field(default_factory=dict)   # numbers for the hints' {placeholders}


# --------------------------------------------------------------------------- nested tensors
def nested_map(x, f: Callable[[Tensor], Tensor]):
    """x with f applied to every tensor inside tuples, lists, dicts and dataclasses (others kept)."""
    if isinstance(x, Tensor):
        return f(x)
    if isinstance(x, (tuple, list)):
        return type(x)(nested_map(e, f) for e in x)
    if isinstance(x, dict):
        return {k: nested_map(e, f) for k, e in x.items()}
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return dataclasses.replace(x, **{k.name: nested_map(getattr(x, k.name), f) for k in dataclasses.fields(x)})
    return x


def tensors(x) -> Iterator[Tensor]:
    """Every tensor inside x, in a fixed order."""
    found: list[Tensor] = []
    nested_map(x, lambda t: found.append(t) or t)
    return iter(found)


def fresh(x):
    """A deep copy of x's tensors (detached): what the learner's function receives."""
    return nested_map(x, lambda t: t.detach().clone())


def as_double(x):
    """x with every floating tensor in float64 (the reference's precision)."""
    return nested_map(x, lambda t: t.detach().double() if t.is_floating_point() else t.detach().clone())


# --------------------------------------------------------------------------- calling the learner
def call(fn: Callable, name: str, usage: str, inp: Inputs, error_hints=(), args: tuple | None = None):
    """fn on a fresh copy of the input; its exceptions (but NotImplementedError) become CheckFailed.

    ``error_hints``: (words, hint) pairs; the first whose words appear in "ExceptionType: message"
    is added to the message (a TypeError without one says how the function is called). ``args``:
    call with these arguments as they are (e.g. tensors requiring grad) instead of a copy of the input's.
    """
    given = inp.args if args is None else args
    copy = fresh(given) if args is None else args
    try:
        out = fn(*copy)
    except NotImplementedError:
        raise  # an exercise placeholder: "write ... here"
    except Exception as e:
        said = f"{type(e).__name__}: {e}"
        hint = next((h for words, h in error_hints if any(w in said for w in words)), None)
        hint = hint or (f"your function is called as {usage}" if isinstance(e, TypeError) else None)
        raise CheckFailed(f"{name} raised {said} for {inp.text}." + (f" Hint: {hint}." if hint else "")) from e
    if args is None and any(not torch.equal(a, b) for a, b in zip(tensors(given), tensors(copy))):
        raise CheckFailed(f"{name} changed its input in place for {inp.text}. Hint: compute new tensors "
                          "(x = x * mask) instead of modifying the arguments (x *= mask, x[...] = 0): the caller "
                          "still needs them.")
    return out


def scalar(out, name: str, inp: Inputs, what: str) -> Tensor:
    """The learner's output, checked to be a finite scalar tensor of the input's dtype."""
    if not isinstance(out, Tensor):
        hint = " (return the tensor itself, not .item(): gradients must flow)" if isinstance(out, float) else ""
        raise CheckFailed(f"{name} returned a {type(out).__name__} for {inp.text}; it should return a scalar "
                          f"torch.Tensor{hint}.")
    if out.dim() != 0:
        raise CheckFailed(f"{name} returned shape {tuple(out.shape)} for {inp.text}; expected a scalar, shape (). "
                          f"Hint: {what}.")
    if out.dtype != inp.dtype:
        raise CheckFailed(f"{name} returned {out.dtype} for {inp.dtype} inputs ({inp.text}). Hint: keep the inputs' "
                          "dtype (no .float(), .double() or new tensors of the default dtype).")
    if not bool(torch.isfinite(out)):
        raise CheckFailed(f"{name} returned {out.item()} for {inp.text}, where the reference is finite. Hint: the "
                          "padded entries hold huge values; select the real ones before squaring.")
    return out


def close(got: Tensor, want: Tensor, dtype: torch.dtype, loose: bool = False) -> bool:
    """|got - want| <= rtol |want| + atol in float64; rtol 2e-4 for float32 inputs, 1e-7 for float64."""
    got, want = got.detach().double(), want.detach().double()
    rtol = (2e-4 if dtype == torch.float32 else 1e-7) * (10 if loose else 1)
    return got.shape == want.shape and bool(((got - want).abs() <= rtol * want.abs() + rtol / 100).all())


@one_thread
def compare(name: str, fn: Callable, ref: Callable, usage: str, inputs: list[Inputs], mistakes: list,
            summary: str, what: str, error_hints=(), probe: Callable | None = None,
            then: Callable = lambda: None) -> None:
    """Compare fn with ref on every input (then run ``then``); print one line of success or raise CheckFailed.

    Args:
        mistakes: (hint, f) pairs, f(inputs) -> the float64 value the reference gives with that
            mistake; a hint is named only if f reproduces the learner's value on the first input
            that differs and on every input seen (or, failing that, on the first alone).
        what: the hint when the learner returns a tensor of the wrong shape.
        probe: probe(inputs, got) -> a hint or None, when no mistake matches.
    """
    first, seen = None, []
    for inp in inputs:
        want = ref(*inp.ref)
        try:
            got = scalar(call(fn, name, usage, inp, error_hints), name, inp, what)
        except CheckFailed:
            if first is None:
                raise
            continue  # after the first difference, the other inputs only help to name the mistake
        seen.append((inp, got))
        first = first or (None if close(got, want, inp.dtype) else (inp, got, want))
    if first is None:
        then()
        print(f"✓ {name} matches the reference on {len(inputs)} inputs ({summary}).")
        return
    inp, got, want = first

    def explains(mistake: Callable, pairs: list) -> bool:
        return all(close(g, mistake(i), i.dtype, loose=True) for i, g in pairs)

    hint = (next((h for h, m in mistakes if explains(m, [(inp, got), *seen])), None)
            or next((h for h, m in mistakes if explains(m, [(inp, got)])), None))
    hint = hint.format(**inp.v) if hint else (probe and probe(inp, got))
    raise CheckFailed(f"{name} gives {fmt(got)} for {inp.text}; expected {fmt(want)}.\n"
                      f"Hint: {hint or 'compare your sum with the reference docstring, term by term'}.")


def gradients(fn: Callable, name: str, usage: str, inp: Inputs, learnt: Callable, fixed: Callable,
              error_hints=()) -> None:
    """Gradients must reach every tensor ``learnt(args)`` lists and none that ``fixed(args)`` lists.

    ``learnt`` and ``fixed`` map the (copied) arguments to [(name, tensor)] pairs.
    """
    args = fresh(inp.args)
    for _, t in learnt(args) + fixed(args):
        t.requires_grad_()
    out = call(fn, name, usage, inp, error_hints, args=args)
    if not (isinstance(out, Tensor) and out.requires_grad):
        raise CheckFailed(f"no gradient reaches the student through {name} ({inp.text}). Hint: keep the loss a "
                          "tensor computed from the student's tensors, without .detach(), .item() or torch.no_grad().")
    pairs = learnt(args) + fixed(args)
    grads = torch.autograd.grad(out, [t for _, t in pairs], allow_unused=True)
    n = len(learnt(args))
    missing = [k for (k, _), g in zip(pairs[:n], grads[:n]) if g is None or not bool(g.abs().sum() > 0)]
    if missing:
        raise CheckFailed(f"no gradient reaches {', '.join(missing)} through {name} ({inp.text}). Hint: every "
                          "one of them is learnt: use it in the loss, without .detach().")
    leaked = [k for (k, _), g in zip(pairs[n:], grads[n:]) if g is not None and bool(g.abs().sum() > 0)]
    if leaked:
        raise CheckFailed(f"{name} lets gradients flow into {', '.join(leaked)} ({inp.text}). Hint: the teacher is "
                          "a fixed target: .detach() its tensors (the package's losses do).")
