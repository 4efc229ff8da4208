"""The interview sheet, and the question bank exported as Markdown or jupyterquiz JSON.

The sheet, ``kd_teach/course/questions/interview.yaml``, holds what a learner is likely to be
asked about Hinton KD, DistilBERT and TinyBERT, each with a short model answer and where to
read more::

    title: ...
    intro: ...
    entries:
      - id: iv-hinton-01                 # a lowercase slug, unique
        paper: hinton                     # one of PAPERS: the sheet's sections, in order
        question: Why multiply the soft loss by T²?
        answer: ...                       # a short model answer, in words
        notebook: 02_hinton_kd            # the notebook that teaches it (bank.NOTEBOOKS)
        section: Why multiply by T²?      # a heading of that notebook, as written there, or "introduction"
        bank: [hk-loss-08, hk-loss-15]    # related questions of the bank, at least one

``kd-teach quiz --export md`` writes the sheet, then the bank's flashcards
(:func:`export_markdown`); ``notebooks/99_interview_prep`` shows the sheet. Like the bank,
this module needs PyYAML only.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from types import MappingProxyType

import yaml

from kd_teach.course.bank import (NOTEBOOKS, SYLLABUS, TYPE_NAMES, Question, format_number, letter, load_bank,
                                  resolve_notebook)

#: The sheet's sections, in order: slug -> heading.
PAPERS = MappingProxyType({
    "hinton": "Hinton, Vinyals and Dean (2015): knowledge distillation",
    "distilbert": "DistilBERT (Sanh, Debut, Chaumond and Wolf, 2019)",
    "tinybert": "TinyBERT (Jiao et al., 2020)",
    "practice": "Distillation in practice: reading results, finding bugs",
})
SHEET = "kd_teach/course/questions/interview.yaml"
_ID = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_FIELDS = ("id", "paper", "question", "answer", "notebook", "section", "bank")


@dataclass(frozen=True)
class Entry:
    """One question of the interview sheet with its model answer, the notebook section that
    teaches it and the ids of related bank questions."""

    id: str
    paper: str
    question: str
    answer: str
    notebook: str
    section: str
    bank: tuple[str, ...]


def validate_sheet(data: dict, bank_ids: set[str], source: str = SHEET) -> tuple[str, str, list[Entry]]:
    """Check the sheet's content and return (title, intro, entries).

    Args:
        data: the parsed YAML (keys title, intro, entries).
        bank_ids: the ids of the question bank, which every entry's ``bank`` must draw from.
        source: where it comes from, quoted in errors.
    Raises:
        ValueError: naming the source, the entry, the field, the bad value and what was expected:
            wrong top-level keys, a missing or unknown field, an id that is no slug or repeats, an
            unknown paper or notebook, an empty text, or a bank list that is empty or names an id
            the bank does not have.
    """
    if not isinstance(data, dict) or set(data) != {"title", "intro", "entries"}:
        got = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{source}: expected the top-level keys title, intro, entries, got {got}")
    if not isinstance(data["entries"], list) or not data["entries"]:
        raise ValueError(f"{source}: 'entries' must be a non-empty list, got {data['entries']!r}")
    entries, seen = [], set()
    for raw in data["entries"]:
        if not isinstance(raw, dict):
            raise ValueError(f"{source}: each entry must be a mapping, got {raw!r}")
        eid = raw.get("id")

        def fail(field: str, expected: str):
            raise ValueError(f"{source}: entry {eid!r}: field {field!r}: expected {expected}, "
                             f"got {raw.get(field, '<missing>')!r}")

        for field in sorted(set(_FIELDS) - set(raw)) + sorted(set(raw) - set(_FIELDS), key=str):
            fail(field, f"the fields {', '.join(_FIELDS)} and no others")
        if not isinstance(eid, str) or not _ID.fullmatch(eid) or eid in seen:
            fail("id", "a lowercase slug used once, such as 'iv-hinton-01'")
        seen.add(eid)
        if raw["paper"] not in PAPERS:
            fail("paper", f"one of {', '.join(PAPERS)}")
        if raw["notebook"] not in NOTEBOOKS:
            fail("notebook", f"one of {', '.join(NOTEBOOKS)}")
        for field in ("question", "answer", "section"):
            if not isinstance(raw[field], str) or not raw[field].strip():
                fail(field, "a non-empty string")
        links = raw["bank"]
        if not isinstance(links, list) or not links or not all(isinstance(i, str) for i in links):
            fail("bank", "a non-empty list of question ids")
        missing = [i for i in links if i not in bank_ids]
        if missing:
            fail("bank", f"ids of the question bank; no question has the id(s) {', '.join(missing)}")
        entries.append(Entry(eid, raw["paper"], raw["question"].strip(), raw["answer"].strip(), raw["notebook"],
                             raw["section"].strip(), tuple(links)))
    return data["title"], data["intro"].strip(), entries


@lru_cache(maxsize=1)
def _sheet() -> tuple[str, str, tuple[Entry, ...]]:
    path = files("kd_teach.course").joinpath("questions", "interview.yaml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ValueError(f"{SHEET}: not valid YAML: {err}") from None
    title, intro, entries = validate_sheet(data, {q.id for q in load_bank()})
    return title, intro, tuple(entries)


def load_sheet(chapter: str | None = None, topic: str | None = None, upto: str | None = None) -> list[Entry]:
    """The sheet's entries in order; with ``chapter``, those taught in that notebook (``upto``:
    in it or an earlier one); with ``topic``, those linked to a bank question of that topic.

    Raises:
        ValueError: if the sheet is malformed (see :func:`validate_sheet`), or for an unknown
            chapter or topic (the message lists the valid ones).
    """
    entries = list(_sheet()[2])
    if chapter is not None:
        stem = resolve_notebook(chapter)
        entries = [e for e in entries if e.notebook == stem]
    if upto is not None:
        order = list(NOTEBOOKS)
        entries = [e for e in entries if order.index(e.notebook) <= order.index(resolve_notebook(upto))]
    if topic is not None:
        ids = {q.id for q in load_bank(topic=topic)}
        entries = [e for e in entries if ids & set(e.bank)]
    return entries


def where(e: Entry) -> str:
    """Where an entry is taught, in words: 'section "Why multiply by T²?"', or 'its introduction'."""
    return "its introduction" if e.section == "introduction" else f'section "{e.section}"'


def sheet_markdown(entries: list[Entry] | None = None, heading: str = "#") -> str:
    """The sheet as Markdown: one section per paper, each entry as its question in bold, the
    model answer, then where it is taught and which bank questions drill it."""
    title, intro, every = _sheet()
    entries = list(every) if entries is None else entries
    lines = [f"{heading} {title}", "", intro, ""]
    for paper, name in PAPERS.items():
        chosen = [e for e in entries if e.paper == paper]
        if not chosen:
            continue
        lines += [f"{heading}# {name}", ""]
        for e in chosen:
            lines += [f"**{e.question}**", "", e.answer, "",
                      f"*Read:* notebook `{e.notebook}`, {where(e)} · "
                      f"*drill:* {', '.join(f'`{i}`' for i in e.bank)}", ""]
    return "\n".join(lines)


def to_markdown(questions: list[Question], title: str = "kd-teach flashcards") -> str:
    """Flashcards as plain Markdown: one ``## id · topic`` card per question with its text,
    lettered options, then the answer, the explanation and the notebook that teaches it.
    Text is written as is (no escaping)."""
    lines = [f"# {title}", "", f"{len(questions)} questions. Read a card, answer it in your head, then read on.", ""]
    for q in questions:
        number, name = SYLLABUS[q.topic]
        lines += [f"## {q.id} · {q.topic}", "",
                  f"*Item {number}, {name} · {q.kind} · {q.difficulty} · {TYPE_NAMES[q.type]} · "
                  f"taught in `{q.taught_in}`*", "", q.text, ""]
        if q.options:
            lines += [f"- {letter(i)}) {option}" for i, option in enumerate(q.options)] + [""]
        lines += [f"**Answer:** {q.answer_text()}", "", f"**Why:** {q.explanation}", "", "---", ""]
    return "\n".join(lines)


def export_markdown(entries: list[Entry], questions: list[Question]) -> str:
    """What ``kd-teach quiz --export md`` writes: the interview sheet (``entries``), then the
    flashcards of ``questions``; either part is left out when it is empty."""
    parts = ([sheet_markdown(entries)] if entries else []) + ([to_markdown(questions)] if questions else [])
    return "\n".join(parts)


def to_jupyterquiz(questions: list[Question]) -> list[dict]:
    """The questions in jupyterquiz's JSON format (a list for ``jupyterquiz.display_quiz``).

    single -> "multiple_choice", multiple -> "many_choice" (one entry per option with ``correct``
    and ``feedback``), numeric -> "numeric" with a ``value`` answer, a ``range`` [answer -
    tolerance, answer + tolerance] answer and a ``default`` feedback giving the answer.
    Open questions are skipped: jupyterquiz can only grade choices, numbers and exact strings,
    not free text; they stay in the widget, the terminal quiz and the Markdown flashcards.
    Text is HTML-escaped because jupyterquiz inserts it as HTML.
    """
    def esc(s: str) -> str:
        return html.escape(s, quote=False)

    out = []
    for q in questions:
        why = esc(q.explanation)
        if q.type == "single":  # jupyterquiz shuffles the options, so feedback quotes the answer, not its letter
            out.append({"question": esc(q.text), "type": "multiple_choice", "answers": [
                {"answer": esc(option), "correct": i == q.answer,
                 "feedback": f"Right. {why}" if i == q.answer else
                 f"Not quite. The answer is: {esc(q.options[q.answer])}. {why}"}
                for i, option in enumerate(q.options)]})
        elif q.type == "multiple":
            out.append({"question": esc(q.text), "type": "many_choice", "answers": [
                {"answer": esc(option), "correct": i in q.answer,
                 "feedback": f"Right: this is one of the answers. {why}" if i in q.answer else
                 f"Not quite: this one does not belong. {why}"}
                for i, option in enumerate(q.options)]})
        elif q.type == "numeric":
            a, tol = q.answer, q.tolerance
            out.append({"question": esc(q.text), "type": "numeric", "answers": [
                {"type": "value", "value": a, "correct": True, "feedback": f"Right. {why}"},
                {"type": "range", "range": [round(a - tol, 12), round(a + tol, 12)], "correct": True,
                 "feedback": f"Right (within ± {format_number(tol)}). {why}"},
                {"type": "default", "feedback": f"Not quite. The answer is {esc(q.answer_text())}. {why}"},
            ]})
    return out
