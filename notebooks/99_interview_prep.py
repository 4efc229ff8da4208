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
# # Interview prep: the whole question bank
#
# Every question of the course, by syllabus topic: why distil, dark knowledge, temperature,
# the KD loss, DistilBERT, student design, TinyBERT's losses, layer mapping, the two stages,
# data augmentation, results and practice. Each has an explanation; numeric answers are
# recomputed from the `kd_teach` package by the test suite, so they agree with the code you
# run in the chapters.
#
# Questions come as single choice, multiple choice (select all that apply), numbers (with a
# tolerance) and open questions (write your answer, then compare it with the model answer and
# mark yourself honestly). Some topics belong to chapters still to come; the questions
# already stand on their own.
#
# The same bank in a terminal, for drilling: `kd-teach quiz --n 10`; as Markdown flashcards:
# `kd-teach quiz --export md`.

# %%
# NBVAL_CHECK_OUTPUT
from kd_teach.course import quiz
from kd_teach.course.bank import SYLLABUS, coverage, load_bank

bank = load_bank()
counts = coverage(bank)
print(f"{len(bank)} questions")
for slug, (item, title) in SYLLABUS.items():
    print(f"{item:>2}. {title:<45} {counts[slug]['count']:>3} questions  ({', '.join(sorted(counts[slug]['kinds']))})")
assert all(counts[slug]["count"] >= 3 for slug in SYLLABUS)  # every syllabus item is asked

# %% [markdown]
# ## A quick round: ten questions from anywhere
#
# A new draw each time you run the cell (pass `seed=` for a repeatable one).

# %%
quiz.show(n=10)

# %% [markdown]
# ## One topic at a time
#
# Pick a topic slug from the table above, for example `"layer-mapping"` or `"kd-loss"`.

# %% tags=["parameters"]
TOPIC = "temperature"

# %%
quiz.show(topic=TOPIC)
