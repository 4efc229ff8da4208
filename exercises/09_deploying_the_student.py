# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 9: reading a deployment table honestly
#
# These exercises go with the notebook `09_deploying_the_student`. A deployed student is a
# model *and* a way of serving it: PyTorch or ONNX Runtime, float32 or int8. Each way changes
# its speed, and int8 may change its accuracy. Three questions every deployment report must
# answer without fooling anyone:
#
# 1. **How much faster is the student?** Against the teacher served *the same way*.
# 2. **What does int8 cost?** Against the same model in float32, not against the teacher.
# 3. **What do I ship under a latency budget?** One candidate per model and runtime.
#
# They work on the rows of `kd-teach deploy`'s `deployment.json`: one dict per model
# (`name`, `seed`) and runtime (`runtime`: `torch`, `torch-int8`, `onnx`, `onnx-int8`), with
# its dev `accuracy` and `latency_ms_b1` (CPU milliseconds per sentence at batch 1). The
# course's reference, `results/cpu-deploy/deployment.json`, holds the teacher (one seed) and
# `distilbert-1layer` (seeds 0, 1, 2) in all four runtimes.
#
# As before: write each function's body, run its cell, read the checker's verdict. The
# notebook stops at the first exercise still to do.

# %%
import statistics

from kd_teach.course.checks import check_int8_accuracy_loss, check_pick_deployment, check_same_runtime_speedups
from kd_teach.engine.report import load_results, reference_results

rows = load_results(reference_results("cpu-deploy") / "deployment.json")["rows"]
for r in rows:
    print(f"{r['name']:<18} seed {r['seed']}  {r['runtime']:<10} accuracy {r['accuracy']:.4f}  "
          f"{r['latency_ms_b1']:.2f} ms per sentence at batch 1")

# %% [markdown]
# ## Exercise 1: a speed-up, taken in one runtime
#
# Return, for every row that is not the teacher, its batch-1 speed-up over the teacher:
# `{(name, seed, runtime): speed_up}`, where
#
# - speed-up = the teacher's `latency_ms_b1` / the row's `latency_ms_b1` (above 1: the
#   student is faster);
# - the teacher is timed **in the row's own runtime**: an ONNX int8 student against the
#   teacher in ONNX int8, never against the teacher in PyTorch float32, or the runtime would
#   take the credit for what distillation did;
# - when the teacher has several rows in a runtime, take their mean latency.

# %%
def same_runtime_speedups(rows: list[dict]) -> dict[tuple[str, int, str], float]:
    """{(name, seed, runtime): teacher latency in that runtime / row latency}, for every row but the teacher's."""
    raise NotImplementedError("write the body of same_runtime_speedups here")


check_same_runtime_speedups(same_runtime_speedups)

# %%
speedups = same_runtime_speedups(rows)
for runtime in ("torch", "torch-int8", "onnx", "onnx-int8"):
    values = [v for (name, _, rt), v in speedups.items() if rt == runtime]
    print(f"{runtime:<10} distilbert-1layer: {', '.join(f'{v:.1f}x' for v in values)} (seeds 0, 1, 2)")
assert all(v > 1 for v in speedups.values())

# %% [markdown]
# Read the lines: in float32 the one-layer student is about seven times faster than the
# teacher in PyTorch and eight in ONNX Runtime, but in int8 only about four to five. int8
# speeds up matrix products, which are most of the teacher's time and less of the student's,
# whose per-call overhead int8 does not shrink.

# %% [markdown]
# ## Exercise 2: what int8 costs
#
# Return, for every model and int8 runtime, the accuracy it loses to int8, in **points**:
# `{(name, runtime): points}` for `runtime` in `torch-int8` and `onnx-int8`, where
#
# - the loss of one seed = 100 x (accuracy of the same model and seed in the float32
#   runtime that int8 quantises - its accuracy in int8): `torch-int8` against `torch`,
#   `onnx-int8` against `onnx`;
# - then the mean over the seeds that have both.
#
# Not against the teacher: that would mix what distillation cost with what int8 cost.

# %%
def int8_accuracy_loss(rows: list[dict]) -> dict[tuple[str, str], float]:
    """{(name, int8 runtime): mean over seeds of 100 x (float32 accuracy - int8 accuracy)}, same model and seed."""
    raise NotImplementedError("write the body of int8_accuracy_loss here")


check_int8_accuracy_loss(int8_accuracy_loss)

# %%
for (name, runtime), points in sorted(int8_accuracy_loss(rows).items()):
    print(f"{name:<18} {runtime:<10} loses {points:+.2f} points to int8")

# %% [markdown]
# In PyTorch's dynamic int8 the teacher loses about a point; in ONNX Runtime's about a tenth.
# Three seeds and 872 sentences cannot tell differences this small from noise: a loss of 0.1
# points is one sentence in 872.

# %% [markdown]
# ## Exercise 3: what to ship under a latency budget
#
# A service may spend `budget_ms` milliseconds per sentence at batch 1. Every (model,
# runtime) is a candidate, judged by its **mean** accuracy and **mean** `latency_ms_b1` over
# its seeds. Return the `(name, runtime)` with the best mean accuracy among those whose mean
# latency is at most the budget; between two equally accurate candidates (the same model in
# two float32 runtimes gives the same predictions), the faster. Raise `ValueError` when none
# fits. (Notebook 8's exercise did this for rows; here a runtime is part of what you choose.)

# %%
def pick_deployment(rows: list[dict], budget_ms: float) -> tuple[str, str]:
    """The (name, runtime) of best mean accuracy whose mean batch-1 latency is at most budget_ms."""
    raise NotImplementedError("write the body of pick_deployment here")


check_pick_deployment(pick_deployment)

# %%
for budget in (8.0, 2.0, 1.0, 0.3):
    try:
        print(f"{budget:4.1f} ms: {pick_deployment(rows, budget)}")
    except ValueError as e:
        print(f"{budget:4.1f} ms: {e}")

# %% [markdown]
# Read the picks. With 8 ms to spend the teacher itself is shipped, served by ONNX Runtime:
# as accurate as in PyTorch (the same float32 model) and faster. At 2 ms the teacher still
# fits, in ONNX int8. Only at 1 ms does the one-layer student win, and at 0.3 ms only its
# ONNX int8 version fits. A faster runtime can beat a smaller model: a deployment report
# must give both, each against the teacher served the same way.

# %%
picks = {budget: pick_deployment(rows, budget) for budget in (8.0, 2.0, 1.0, 0.3)}
assert picks[8.0] == ("teacher", "onnx") and picks[2.0] == ("teacher", "onnx-int8")
assert picks[1.0][0] == picks[0.3][0] == "distilbert-1layer"
