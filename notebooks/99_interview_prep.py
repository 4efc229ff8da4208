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
# # Interview prep: the interview sheet and the whole question bank
#
# Two ways to get ready for questions on knowledge distillation:
#
# 1. **The interview sheet**: what an interviewer is most likely to ask about Hinton KD,
#    DistilBERT and TinyBERT, each with a short model answer, the notebook section that
#    teaches it and the bank questions that drill it. Say your answer aloud, then read ours.
# 2. **The question bank**: every question of the course, by syllabus topic, as quizzes. Each
#    question names the notebook that teaches it, so a chapter's quiz asks only what that
#    chapter has taught; here you can take all of them, or review everything up to a chapter.
#    Numeric answers are recomputed from the `kd_teach` package by the test suite, so they
#    agree with the code you run in the chapters.
#
# Questions come as single choice, multiple choice (select all that apply), numbers (with a
# tolerance) and open questions (write your answer, then compare it with the model answer and
# mark yourself honestly).
#
# In a terminal: `kd-teach quiz --n 10` to drill, `kd-teach quiz --upto 04_distilbert` to
# review the first four chapters, and `kd-teach quiz --export md --output sheet.md` for the
# interview sheet and the flashcards of every question as one Markdown file.

# %%
# NBVAL_CHECK_OUTPUT
from kd_teach.course import quiz
from kd_teach.course.bank import NOTEBOOKS, SYLLABUS, coverage, load_bank, taught_counts
from kd_teach.course.interview import load_sheet

bank, sheet = load_bank(), load_sheet()
counts = coverage(bank)
print(f"{len(bank)} questions; the interview sheet has {len(sheet)} entries")
for slug, (item, title) in SYLLABUS.items():
    print(f"{item:>2}. {title:<45} {counts[slug]['count']:>3} questions  ({', '.join(sorted(counts[slug]['kinds']))})")
print("\ntaught in")
for notebook, n in taught_counts(bank).items():
    print(f"   {notebook:<30} {n:>3} questions   {NOTEBOOKS[notebook]}")
assert all(counts[slug]["count"] >= 3 for slug in SYLLABUS)  # every syllabus item is asked
assert sum(taught_counts(bank).values()) == len(bank)

# %% [markdown]
# The few questions "taught in" `99_interview_prep` go beyond the chapters (for example what
# Hinton et al. report soft targets buy, or TinyBERT's ablation of its losses): the interview
# sheet below is where the course teaches them.
#
# ## The interview sheet

# %%
from IPython.display import Markdown

from kd_teach.course.interview import sheet_markdown

Markdown(sheet_markdown(sheet, heading="###"))

# %% [markdown]
# ## A quick round: ten questions from anywhere
#
# A new draw each time you run the cell (pass `seed=` for a repeatable one). Topics take
# turns, so ten questions span ten topics.

# %%
quiz.show(n=10)

# %% [markdown]
# ## One topic, or everything up to a chapter
#
# Pick a topic slug from the table above, for example `"layer-mapping"` or `"kd-loss"`; and a
# chapter, to review only what the notebooks up to it have taught.

# %% tags=["parameters"]
TOPIC = "temperature"
UP_TO = "05_transformer_distillation"

# %%
quiz.show(topic=TOPIC)

# %%
review = quiz.show(upto=UP_TO, n=8)
assert all(list(NOTEBOOKS).index(item.question.taught_in) <= list(NOTEBOOKS).index(UP_TO) for item in review.items)
review

# %% [markdown]
# ## What only the interview sheet teaches

# %%
quiz.show(chapter="99_interview_prep", shuffle=False)
