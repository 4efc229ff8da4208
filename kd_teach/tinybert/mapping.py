"""Layer mapping n = g(m): which teacher layer each student layer learns from (TinyBERT, Section 3.1).

Layers are counted as ``hidden_states`` counts them: 0 is the embedding layer, 1..M the
student's transformer layers, 1..N the teacher's. The embedding layer always maps to the
embedding layer, g(0) = 0 (L_embd), and the prediction layer to the prediction layer,
g(M + 1) = N + 1 (L_pred); in between (L_hidn and L_attn):

- ``"uniform"`` g(m) = m * N / M: every N/M-th teacher layer (a 4-layer student of a
  12-layer BERT learns from layers 3, 6, 9, 12). Needs N divisible by M.
- ``"top"``     g(m) = N - M + m: the teacher's last M layers.
- ``"bottom"``  g(m) = m: the teacher's first M layers.
- an explicit list of M teacher layers, increasing, each in 1..N.

TinyBERT found uniform best on GLUE (Table 6: top and bottom lost 1-9 points, depending on
the task). The reference code assumed N divisible by M and crashed otherwise; here a misfit
is an error that says what fits.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence

STRATEGIES = ("uniform", "top", "bottom")


def _uniform_suggestion(M: int, N: int) -> list[int]:
    """m * N / M rounded half up: the nearest explicit list to a uniform mapping."""
    return [max(1, (2 * m * N + M) // (2 * M)) for m in range(1, M + 1)]


def _layer_count(value, name: str) -> int:
    """``value`` as a Python int: an int or a numpy integer; bool, float (even 3.0) and str refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        why = ": a layer count, not a truth value" if isinstance(value, bool) else ""
        raise ValueError(f"{name} must be an int, got {value!r} ({type(value).__name__}){why}")
    return int(value)


def _layer_list(strategy, M: int) -> list[int]:
    """An explicit strategy as a list of Python ints: a list/tuple of ints or numpy ints, a 1-D numpy
    integer array or torch integer tensor. Floats (2.0 too), bools and nested lists are refused."""
    if hasattr(strategy, "tolist") and getattr(strategy, "ndim", 1) != 1:
        raise ValueError(f"strategy must be one of {list(STRATEGIES)} or a 1-D list of {M} teacher layers, "
                         f"got an array of shape {tuple(strategy.shape)}")
    try:
        items = strategy.tolist() if hasattr(strategy, "tolist") else list(strategy)
    except TypeError:
        raise ValueError(f"strategy must be one of {list(STRATEGIES)} or a list of {M} teacher layers, "
                         f"got {strategy!r} ({type(strategy).__name__})") from None
    layers = []
    for i, n in enumerate(items):
        value = n.tolist() if hasattr(n, "tolist") else n   # numpy int, 0-d tensor -> a Python number
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"strategy must list teacher layers as ints, got {n!r} ({type(n).__name__}) at "
                             f"position {i} of {items!r}")
        layers.append(value)
    return layers


def layer_mapping(student_layers: int, teacher_layers: int, strategy: str | Sequence[int] = "uniform") -> list[int]:
    """g as a list: ``g[m]`` is the teacher layer that student layer m learns from, for m = 0..M.

    Args:
        student_layers: M, the student's transformer layers (>= 1), an int (a numpy integer
            too; a float such as 3.0 or a bool is refused).
        teacher_layers: N, the teacher's (>= M), an int likewise.
        strategy: "uniform", "top", "bottom", or an explicit list of M teacher layers (1..N,
            increasing) for student layers 1..M; a list of M + 1 starting with 0 is accepted too.
            The list may be a sequence of ints or numpy integers, a 1-D numpy integer array or
            a torch integer tensor; it is returned as Python ints.
    Returns:
        [0, g(1), ..., g(M)]: M + 1 teacher layer indices, g(0) = 0 for the embeddings.
    Raises:
        ValueError: for a layer count that is not an int, M < 1, M > N, an unknown strategy, a
            uniform mapping with N not divisible by M (the message suggests an explicit list), or
            a list with a non-integer entry, of the wrong length, out of range or not increasing
            (the message says which).
    Source: TinyBERT, Jiao et al. 2020, Section 3.1 (n = g(m), Eq. 6) and Section 4.5.
    """
    M, N = _layer_count(student_layers, "student_layers"), _layer_count(teacher_layers, "teacher_layers")
    if not 1 <= M <= N:
        raise ValueError(f"need 1 <= student_layers <= teacher_layers, got student_layers={M!r} and "
                         f"teacher_layers={N!r}: a student cannot learn from more teacher layers than there are")
    if isinstance(strategy, str):
        if strategy == "uniform":
            if N % M:
                raise ValueError(
                    f"a uniform mapping needs the teacher's layers divisible by the student's: g(m) = m * {N} / {M} "
                    f"is not a whole layer (a {M}-layer student from a {N}-layer teacher is not uniform). Use "
                    f"strategy='top' or 'bottom', or an explicit list such as {_uniform_suggestion(M, N)}")
            return [m * N // M for m in range(M + 1)]
        if strategy == "top":
            return [0] + [N - M + m for m in range(1, M + 1)]
        if strategy == "bottom":
            return list(range(M + 1))
        raise ValueError(f"strategy must be one of {list(STRATEGIES)} or a list of {M} teacher layers, got {strategy!r}")
    given = _layer_list(strategy, M)
    layers = given[1:] if len(given) == M + 1 and given[:1] == [0] else given   # [0, g(1), ..., g(M)] in full
    if len(layers) != M:
        problem = f"{len(layers)} layers, not {M}"
    else:
        problem = next((f"{n} is not in 1..{N}" for n in layers if not 1 <= n <= N), None) or next(
            (f"{a} then {b} is not increasing" for a, b in zip(layers, layers[1:]) if a >= b), None)
    if problem:
        raise ValueError(f"an explicit mapping must list {M} teacher layers (one per student layer), increasing, "
                         f"each in 1..{N} (0 is the embedding layer, mapped to itself), got {given!r}: {problem}")
    return [0] + layers


def describe_mapping(g: Sequence[int], teacher_layers: int) -> str:
    """The mapping in words, one line per layer, prediction layer included."""
    M = len(g) - 1
    lines = ["student embeddings  -> teacher embeddings   (L_embd)"]
    lines += [f"student layer {m:<5} -> teacher layer {g[m]:<7} (L_hidn, L_attn)" for m in range(1, M + 1)]
    lines.append(f"student prediction  -> teacher prediction   (L_pred; layer {M + 1} -> {teacher_layers + 1})")
    return "\n".join(lines)


def draw_mapping(g: Sequence[int], teacher_layers: int, ax=None, title: str | None = None):
    """Draw the mapping: teacher layers on the left, student layers on the right, an arrow per pair.

    Returns the matplotlib figure (a new one when ``ax`` is None).
    """
    from matplotlib.figure import Figure

    M, N = len(g) - 1, teacher_layers
    if ax is None:
        fig = Figure(figsize=(4.5, 0.45 * (N + 3) + 0.6), layout="constrained")
        ax = fig.subplots()
    fig = ax.figure

    def name(i: int, top: int) -> str:
        return "embeddings" if i == 0 else ("prediction" if i == top + 1 else f"layer {i}")

    def box(x: float, y: float, label: str, used: bool) -> None:
        ax.text(x, y, label, ha="center", va="center", fontsize=9,
                bbox={"boxstyle": "round", "fc": "#cfe3f7" if used else "#eeeeee", "ec": "#555555"})

    used = set(g) | {N + 1}
    for n in range(N + 2):
        box(0.0, n, name(n, N), n in used)
    scale = (N + 1) / (M + 1)                         # spread the student's layers over the same height
    for m in range(M + 2):
        box(1.0, m * scale, name(m, M), True)
    for m, n in list(enumerate(g)) + [(M + 1, N + 1)]:
        ax.annotate("", xy=(0.22, n), xytext=(0.78, m * scale),
                    arrowprops={"arrowstyle": "->", "color": "#1f5fa0", "lw": 1.2})
    ax.text(0.0, N + 1.9, f"teacher ({N} layers)", ha="center", fontweight="bold")
    ax.text(1.0, N + 1.9, f"student ({M} layers)", ha="center", fontweight="bold")
    ax.set_xlim(-0.45, 1.45)
    ax.set_ylim(-0.8, N + 2.4)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return fig
