"""Checker for the exercise of notebook 05 on TinyBERT's layer mapping g(m) (Jiao et al. 2020, Section 3.1).

``check_layer_mapping`` compares the learner's uniform mapping [0, g(1), ..., g(M)] with
:func:`kd_teach.tinybert.mapping.layer_mapping` on fitting (student, teacher) sizes and demands a
ValueError on misfits; a wrong list is explained by the usual mistake it matches (off by one,
M / N instead of N / M, the embeddings missing). NotImplementedError (an exercise placeholder)
propagates unchanged.
"""
from __future__ import annotations

import numbers
from typing import Callable

from kd_teach.course.checks.core import CheckFailed, one_thread
from kd_teach.tinybert.mapping import layer_mapping


FITS = ((4, 12), (6, 12), (3, 6), (2, 8), (1, 12), (12, 12), (3, 12), (4, 8), (2, 24))   # (M, N)
MISFITS = ((4, 6), (5, 12), (3, 4), (8, 12), (7, 12))


def _g(M: int, N: int) -> list[int]:
    return layer_mapping(M, N, "uniform")


OFF_BY_ONE = ("layer numbers are off by one: layers are counted as hidden_states counts them, 0 the embeddings "
              "and 1..N the transformer layers, so g(m) = m × N / M, not m × N / M − 1 (4 from 12: 3, 6, 9, 12)")
M_OVER_N = "you used M / N: student layer m learns from teacher layer m × N / M (here N / M = {k})"
MAPPING_MISTAKES = [  # (hint, the mapping redone with that mistake)
    ("the embedding layer is missing: the list starts with g(0) = 0 (embeddings to embeddings, L_embd), then "
     "g(1), ..., g(M): M + 1 entries", lambda M, N: _g(M, N)[1:]),
    (OFF_BY_ONE, lambda M, N: [0] + [n - 1 for n in _g(M, N)[1:]]),
    (OFF_BY_ONE, lambda M, N: [n - 1 for n in _g(M, N)]),
    (M_OVER_N, lambda M, N: [m * M / N for m in range(M + 1)]),
    (M_OVER_N, lambda M, N: [m * M // N for m in range(M + 1)]),
    ("the last student layer is missing: m runs from 0 to M, M + 1 entries (range(M + 1))",
     lambda M, N: _g(M, N)[:-1]),
    ("that is the 'bottom' mapping g(m) = m (the teacher's first M layers); uniform takes one teacher layer "
     "in N / M = {k}, g(m) = m × N / M", lambda M, N: list(range(M + 1))),
    ("that is the 'top' mapping g(m) = N − M + m (the teacher's last M layers); uniform takes one teacher "
     "layer in N / M = {k}, g(m) = m × N / M", lambda M, N: [0] + [N - M + m for m in range(1, M + 1)]),
]


def _numbers(x) -> list[float] | None:
    """x as a list of floats, or None if it is not a list of real numbers."""
    if not isinstance(x, list) or any(isinstance(e, bool) or not isinstance(e, numbers.Real) for e in x):
        return None
    return [float(e) for e in x]


def _same(got, want) -> bool:
    g, w = _numbers(got), _numbers(want)
    return g is not None and w is not None and len(g) == len(w) and all(abs(a - b) < 1e-9 for a, b in zip(g, w))


@one_thread
def check_layer_mapping(fn: Callable) -> None:
    """Check fn(student_layers, teacher_layers) -> [0, g(1), ..., g(M)] against the uniform mapping.

    g(m) = m × N / M as ints (Jiao et al. 2020, Section 3.1, n = g(m)), reference
    :func:`kd_teach.tinybert.mapping.layer_mapping`; fn must raise ValueError when N is not divisible by M.
    """
    usage = "layer_mapping(student_layers, teacher_layers)"

    def call(M: int, N: int):
        text = f"student_layers={M}, teacher_layers={N}"
        try:
            return fn(M, N)
        except NotImplementedError:
            raise
        except Exception as e:
            hint = (f" Hint: your function is called as {usage}." if isinstance(e, TypeError) else
                    f" Hint: {N} is divisible by {M}, so the mapping is uniform: raise only when "
                    "teacher_layers % student_layers != 0." if isinstance(e, ValueError) and not N % M else "")
            raise CheckFailed(f"layer_mapping raised {type(e).__name__} for {text}: {e}.{hint}") from e

    got = {(M, N): call(M, N) for M, N in FITS}
    for (M, N), out in got.items():
        want = _g(M, N)
        if out == want and all(type(n) is int for n in out):
            continue
        text = f"layer_mapping({M}, {N}) returned {out!r}; expected {want} ({M}-layer student, {N}-layer teacher)."
        if not isinstance(out, list):
            raise CheckFailed(f"{text}\nHint: return a Python list, [0, g(1), ..., g(M)].")
        if _same(out, want):
            raise CheckFailed(f"{text}\nHint: layer numbers must be Python ints: m * N / M is a float in Python 3 "
                              f"({N} / {M} = {N / M}); use integer division, m * N // M, as they index "
                              "hidden_states.")
        explains = lambda m, pairs: all(_same(got[p], m(*p)) for p in pairs)  # noqa: E731
        hint = (next((h for h, m in MAPPING_MISTAKES if explains(m, got)), None)
                or next((h for h, m in MAPPING_MISTAKES if explains(m, [(M, N)])), None)
                or "g(m) = m × N / M for m = 0..M: a 4-layer student of a 12-layer teacher gives [0, 3, 6, 9, 12]")
        raise CheckFailed(f"{text}\nHint: {hint.format(k=N // M)}.")
    for M, N in MISFITS:
        try:
            out = fn(M, N)
        except NotImplementedError:
            raise
        except ValueError:
            continue
        except Exception as e:
            raise CheckFailed(f"layer_mapping raised {type(e).__name__} for student_layers={M}, teacher_layers={N}: "
                              f"{e}; expected a ValueError.\nHint: test teacher_layers % student_layers and raise "
                              "ValueError (with a message saying what fits), not another exception.") from e
        raise CheckFailed(f"layer_mapping({M}, {N}) returned {out!r}; expected a ValueError: g(1) = {N} / {M} = "
                          f"{N / M:.3g} is not a whole layer.\nHint: a {M}-layer student from a {N}-layer "
                          "teacher is not uniform: raise ValueError.")
    print(f"✓ layer_mapping matches the uniform mapping on {len(FITS)} (student, teacher) sizes and raises "
          f"ValueError on {len(MISFITS)} misfits ({', '.join(f'{M} from {N}' for M, N in MISFITS)}).")
