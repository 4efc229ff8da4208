# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 9. Deploying the student
#
# Distillation exists to ship a small model. Eight chapters measured students in the runtime
# they were trained in, PyTorch float32; a deployed model is usually served another way:
# its weights quantised to 8-bit integers, its graph exported to ONNX and run by ONNX
# Runtime. This chapter serves the teacher and a student **four ways**, measures each exactly
# as the results table measures a row, and asks the question a deployment asks: *which
# student, under this latency budget?*
#
# It also sets the course a goal, the kind TinyBERT's paper reports (96.8% of BERT-base's
# GLUE score at 9.4x its speed; Jiao et al. 2020, Table 1): a student that keeps **at least
# 95% of the teacher's dev accuracy at at least 5x lower batch-1 latency**, the teacher
# measured in the same run, on the same machine, in the same runtime.
#
# Nothing here is new distillation: the student is notebook 4's, cut to one layer. The new
# code is the serving (`kd_teach.engine.deploy`) and the table (`kd_teach.engine.deployment`).

# %%
# %matplotlib inline
import json

from IPython.display import Markdown, display

from kd_teach.course.chapters import (CHAPTER_COMPARISONS, beside_reference, chapter_reference, expectation,
                                      run_dir, training_estimate)
from kd_teach.engine.deploy import RUNTIMES
from kd_teach.engine.deployment import GOAL, deploy_run, deployment_table, plot_frontier, provenance as deployment_provenance
from kd_teach.engine.pipeline import run_sst2
from kd_teach.engine.presets import get_preset, one_layer_settings, preset_for_hardware
from kd_teach.engine.report import provenance, reference_results
from kd_teach.engine.verdicts import comparison_table, interval_table, reference_labels

# %% [markdown]
# ## Four ways to serve one model
#
# `kd_teach.engine.deploy.RUNTIMES`:
#
# | runtime | what runs | what is stored |
# |---|---|---|
# | `torch` | the model as trained, float32, in PyTorch | `model.safetensors` |
# | `torch-int8` | PyTorch's **dynamic int8 quantisation**: each `nn.Linear` keeps int8 weights (one scale per output row) and quantises its input on the fly, batch by batch | the int8 state dict |
# | `onnx` | the model exported to an ONNX graph (`torch.onnx.export`, dynamic batch and length) and run by ONNX Runtime, float32 | `model.onnx` |
# | `onnx-int8` | that graph through ONNX Runtime's dynamic int8 quantisation (the same scheme; the embedding table in int8 too) | `model-int8.onnx` |
#
# "Dynamic" means no calibration data: the scale of each layer's input is computed from the
# batch itself at run time. Only the weights are stored in 8 bits, which is why the files
# shrink about 4x. Every runtime is measured by the same code as every row of the course:
# accuracy on all 872 SST-2 dev sentences, and latency per sentence at batch 1 and batch 32
# over the first 64 dev sentences, the median of several passes, on the same CPU threads.
#
# **Speed-ups are taken against the teacher in the same runtime.** A student in ONNX Runtime
# int8 against a teacher in PyTorch float32 would credit distillation with what quantisation
# and a faster runtime did; both also speed up the teacher. Accuracy shares are taken against
# the teacher as trained (PyTorch float32), the stricter reading when int8 costs the teacher
# accuracy too.
#
# ## The reference: three seeds at the `cpu` preset
#
# What the course measured, committed in `results/cpu-deploy/deployment.json` (`kd-teach run
# sst2 --preset cpu --rows distilbert-1layer --seeds 0,1,2`, then `kd-teach deploy
# runs/sst2-cpu`): the teacher and the one-layer student, every seed, every runtime, measured
# in one process with nothing else running. Each share of the teacher comes with its 95%
# interval (the paired bootstrap over the 872 dev sentences and the seeds, notebook 8).

# %%
# NBVAL_CHECK_OUTPUT
CHAPTER = "09_deploying_the_student"
deployed = json.loads((reference_results("cpu-deploy") / "deployment.json").read_text())
print(deployment_provenance(deployed))
display(Markdown(deployment_table(deployed["rows"], deployed["dev_labels"])))

# %% [markdown]
# How to read it:
#
# - **int8 is a faster runtime, not a free one.** Dynamic quantisation changed some
#   predictions: the teacher lost 0.9 points in torch int8 (0.8245 against 0.8337) and 0.1
#   in ONNX Runtime int8 (0.8326), the student 0.1 to 0.2 points. The int8 files are about a
#   quarter of the float32 ones, except torch's, which keeps the embedding table in float32.
# - **The speed-up depends on the runtime less than the latency does,** because the runtime
#   speeds up the teacher too. It is lowest in the int8 runtimes (4.2x in torch, 4.98x in ONNX
#   Runtime, against 7.1x and 8.2x in float32): int8 speeds up matrix products, most of the
#   six-layer teacher's time, while much of a one-layer student's time at batch 1 is per-call
#   overhead that int8 does not touch.
# - **What makes the student fast is its shape:** one transformer layer of the teacher's six,
#   with the teacher's embeddings. Those embeddings hold half the teacher's 22.7M parameters,
#   so the student is not small on disk; int8 (ONNX) is what shrinks the file, to 14 MB.
# - **The goal column** asks for the whole 95% interval of the share at or above 95%, and a
#   mean batch-1 speed-up of at least 5x. The student keeps 95.2% on average (0.7940), but its
#   interval is [92.5%, 97.8%]: 872 sentences cannot tell 95.2% from 93%, so the goal is not
#   met, in any runtime. The speed-ups' sd over seeds (up to 0.6x) is timing noise: each seed
#   is timed apart, and sub-millisecond latencies move that much from one timing to the next.

# %%
# NBVAL_CHECK_OUTPUT
reference = chapter_reference(CHAPTER)
print(provenance(reference))
labels = reference_labels()
display(Markdown(interval_table(reference, labels)))
display(Markdown(comparison_table(reference, CHAPTER_COMPARISONS[CHAPTER], labels)))

# %% [markdown]
# The results table, three seeds: cutting DistilBERT's student from three teacher layers
# (`distilbert-init`, notebook 4) to one costs accuracy, and the one-layer student still
# starts from the teacher's weights, which the randomly initialised `hinton-kd` student of
# notebook 2 (four layers of width 256) does not.
#
# A second one-layer student, `tinybert-1layer`, asks whether the training, not the shape,
# holds it back: the same cut (the teacher's embeddings and its layer 0), then TinyBERT's task
# distillation on the same 32,256 sentences (step 1 matches its one layer to the teacher's
# last, and the embeddings; step 2 the logits; notebook 7) instead of DistilBERT's logit KD.
# It ends 0.7 points behind `distilbert-1layer` [-1.9, +0.5], inside the noise, and below the
# line too: at one layer, matching the teacher's intermediate layers buys nothing that its
# logits do not. Deployed beside `distilbert-1layer` and the 3-layer `tinybert`
# (`results/cpu-deploy-tinybert/`, [`docs/deploy.md`](../docs/deploy.md)), it is as fast
# (6.7x in torch, 4.97x in ONNX int8) and keeps 94.4% [91.5%, 97.2%]: no student meets the goal.

# %% [markdown]
# ## Your run
#
# The parameters: `PRESET` picks the scale (a GPU run uses `gpu-full`; on a CPU the default is
# `smoke`, which only checks that every cell runs; `PRESET = "cpu"` gives the course's real
# scale, and its run cell prints how long the reference run took before it starts), `SEED`
# the student's seed.

# %% tags=["parameters"]
PRESET = preset_for_hardware()  # or "smoke", "cpu", "gpu-full"
SEED = 0

# %%
from kd_teach.engine.report import run_label

preset = get_preset(PRESET)
print(run_label(preset.name))   # what every output below was made with
one = one_layer_settings(preset)
print(f"distilbert-1layer: the teacher's layer {one.layer} and its embeddings, "
      f"{one.task_epochs} epoch{'s' * (one.task_epochs > 1)} of logit KD at lr {one.task_lr:g}")

# %% [markdown]
# Train the student: DistilBERT's initialisation (`init_distilbert_student`, notebook 4)
# with a single teacher layer, `distilbert-init`'s task training (logit KD from the fine-tuned
# teacher on the 2,000 labelled sentences and the 30,256-sentence transfer set), with a larger
# learning rate: one layer has to move further than three. The teachers come from the cache;
# a second run of this cell only measures.

# %%
out_dir = run_dir(CHAPTER, preset.name)
print(training_estimate(preset.name, ("teacher", "distilbert-1layer"), reference="cpu-deploy"))
table = run_sst2(preset, out_dir=out_dir, seed=SEED, rows=("teacher", "distilbert-1layer"))

# %%
rows = {r["name"]: r for r in table["rows"] if r.get("seed") in (SEED, preset.teacher_seed)}
student, teacher = rows["distilbert-1layer"], rows["teacher"]
assert student["teacher_layers"] == [one.layer] and student["params"] < teacher["params"]
print(expectation(preset.name))
Markdown(beside_reference([teacher, student], reference))

# %% [markdown]
# Now serve the teacher and the student four ways each (`deploy_run`, what `kd-teach deploy`
# runs): export, quantise, measure. Each ONNX export takes a few seconds.

# %%
REPEATS = 2 if preset.name == "smoke" else 20   # timed passes per batch size: smoke only checks that it runs
deployment = deploy_run(out_dir, ("distilbert-1layer",), preset, repeats=REPEATS)
Markdown(deployment_table(deployment["rows"], deployment["dev_labels"]))

# %% [markdown]
# What must hold whatever the machine (the latencies themselves are this machine's):

# %%
by = {(r["name"], r["runtime"]): r for r in deployment["rows"]}
for runtime in RUNTIMES:
    t = by["teacher", runtime]
    assert t["speedup_b1"] == 1.0                                  # each runtime's own teacher is the reference
    s = by["distilbert-1layer", runtime]
    assert abs(s["speedup_b1"] - s["teacher_latency_ms_b1"] / s["latency_ms_b1"]) < 1e-12  # teacher / student,
    assert s["teacher_latency_ms_b1"] == t["latency_ms_b1"]        # the teacher timed just before the student
for name in ("teacher", "distilbert-1layer"):
    assert by[name, "onnx"]["accuracy"] == by[name, "torch"]["accuracy"]     # the same float32 model, exported
    assert by[name, "onnx-int8"]["size_mb"] < 0.35 * by[name, "onnx"]["size_mb"]   # int8: 1 byte, not 4
    assert by[name, "torch-int8"]["size_mb"] < by[name, "torch"]["size_mb"]
print("checks passed")

# %% [markdown]
# ## The frontier
#
# Every point is a share of the teacher's accuracy against a batch-1 speed-up over the
# teacher. Coloured: this run's deployments (mean over its seeds, the sd as a bar); grey: the
# results table's rows (torch, three seeds, each against its own run's teacher). The green
# corner is the goal. A point is on the **Pareto frontier** when no other point is at least as
# accurate and at least as fast (notebook 8).

# %%
plot_frontier(deployment["rows"], deployment["dev_labels"],
              reference=json.loads((reference_results("cpu") / "results.json").read_text())["rows"],
              caption=deployment_provenance(deployment))

# %% [markdown]
# ## Choose a student under a budget
#
# The explorer of notebook 8 over this run's deployments: each (row, runtime) is a point.
# Pick the cost (batch-1 latency is what one user waiting for one answer feels; batch-32
# latency is a throughput job's), untick rows, and drag the budget: it stars the frontier and
# names the most accurate deployment within the budget.

# %%
from kd_teach.course.leaderboard import LeaderboardExplorer

served = [{**r, "name": f"{r['name']} ({r['runtime']})"} for r in deployment["rows"]]
explorer = LeaderboardExplorer(served, cost="latency_ms_b1", labels=deployment["dev_labels"])
explorer

# %% [markdown]
# The same choice in code: a budget of one fifth of the teacher's fastest batch-1 latency.

# %%
fastest_teacher = min(by["teacher", rt]["latency_ms_b1"] for rt in RUNTIMES)
explorer.budget_box.value = fastest_teacher / GOAL["speedup_b1"]
best = explorer.best
print(f"budget {explorer.budget_box.value:.2f} ms per sentence at batch 1: "
      + (f"{best['name']}, {best['accuracy']:.4f} dev accuracy" if best else "no deployment fits"))
assert best is None or best["name"] in explorer.front and best["cost"] <= explorer.budget_box.value

# %% [markdown]
# ## The goal, honestly
#
# Over the reference's three seeds (the first table), the one-layer student does **not** meet
# the goal. It is fast enough in float32 (7.1x in torch, 8.2x in ONNX Runtime), but:
#
# - **Accuracy.** It keeps 95.0% to 95.2% of the teacher, depending on the runtime: two tenths
#   of a point above the line on average, while the share's 95% interval reaches down to about
#   92.5%. Read honestly, the course cannot say that this student keeps 95%. Its learning rate
#   and epochs were chosen on the tuning split, SST-2 training sentences no row trains on
#   (`benchmarks/tune.py one-layer`, `presets.OneLayerSettings`): five candidates within six
#   sentences of each other, the same recipe an earlier choice read off dev, so dev played no
#   part in it now.
# - **Speed.** Each seed's speed-up divides the teacher's latency, timed just before it, by
#   its own; the three seeds (the same architecture) still spread by up to 0.6x. The ratio,
#   not the milliseconds, is what carries to another machine, and only roughly: an earlier
#   measurement of the same models on a busier machine read 5.6x to 6.9x where this one reads
#   7.1x to 8.2x.
# - **What limits it.** The teacher is already small (6 layers of width 384); a 5x faster
#   student of the same width keeps one layer, and with one layer of attention goes the
#   accuracy that `distilbert-init` keeps with three (the comparison above).
#
# To go further, the course's own tools: TinyBERT's augmentation (notebook 7) for more
# transfer sentences (at this scale it did not pay), a narrower student with general
# distillation (notebook 6: the 3-layer `tinybert` keeps 98.2% of the teacher, its interval's
# lower end at 95.8% or more in every runtime, but deployed it is only 2.0x to 3.7x faster at
# batch 1: three layers of width 312 do about a third of the teacher's arithmetic per token),
# or several
# seeds and keeping the best on the tuning split, never on dev. And to *show* 95%, a student
# must clear it by more than the interval's half-width, about 2.7 points of share here: 97.7%
# of the teacher or more, on these 872 sentences.
#
# ## Next: exercise 09, then the quiz
#
# Practise what this chapter taught in [`exercises/09_deploying_the_student.ipynb`](../exercises/09_deploying_the_student.ipynb):
# speed-ups taken in one runtime, what int8 costs, and what to ship under a latency budget.
# Each exercise ends with a checker that says what is wrong and how to fix it. Then check
# yourself with the quiz below.
#
# ## Check yourself

# %%
from kd_teach.course.quiz import show

show(chapter="09_deploying_the_student", n=4, seed=9)
