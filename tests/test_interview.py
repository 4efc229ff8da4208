"""The interview sheet: valid, linked to real bank questions and real notebook sections, exported."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from kd_teach.course.bank import load_bank
from kd_teach.course.interview import (PAPERS, export_markdown, load_sheet, sheet_markdown, to_markdown, validate_sheet,
                                       where)

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
SHEET = load_sheet()
BANK_IDS = {q.id for q in load_bank()}


def headings(notebook: str) -> set[str]:
    """The Markdown headings of a notebook's jupytext source ('# ## Why multiply by T²?' -> 'Why multiply by T²?')."""
    text = (NOTEBOOK_DIR / f"{notebook}.py").read_text(encoding="utf-8")
    return {m.group(1).strip() for m in re.finditer(r"^# #+ (.+)$", text, flags=re.MULTILINE)}


def test_every_paper_has_its_questions():
    assert len(SHEET) >= 40 and len({e.id for e in SHEET}) == len(SHEET)
    for paper in PAPERS:
        assert sum(e.paper == paper for e in SHEET) >= 5, paper


def test_every_linked_bank_question_exists():
    missing = {e.id: [i for i in e.bank if i not in BANK_IDS] for e in SHEET}
    assert not {k: v for k, v in missing.items() if v}


@pytest.mark.parametrize("entry", SHEET, ids=[e.id for e in SHEET])
def test_every_linked_section_is_a_heading_of_its_notebook(entry):
    assert (NOTEBOOK_DIR / f"{entry.notebook}.py").is_file(), entry.notebook
    found = headings(entry.notebook)
    if entry.section == "introduction":    # the notebook's opening cell, under its title
        return
    text = (NOTEBOOK_DIR / f"{entry.notebook}.py").read_text(encoding="utf-8")
    title = re.search(r"^# # (.+)$", text, flags=re.MULTILINE).group(1).strip()
    assert entry.section != title, f"{entry.id}: points to the notebook's title; name a section or 'introduction'"
    assert entry.section in found, f"{entry.id}: no heading {entry.section!r} in notebooks/{entry.notebook}.py: {found}"


def test_what_only_the_sheet_teaches_is_on_the_sheet():
    linked = {i for e in SHEET for i in e.bank}
    only_here = [q.id for q in load_bank(chapter="99_interview_prep")]
    assert only_here and set(only_here) <= linked


def test_markdown_holds_every_entry_under_its_paper():
    text = sheet_markdown()
    assert text.startswith("# Interview sheet")
    positions = [text.index(f"## {name}") for name in PAPERS.values()]
    assert positions == sorted(positions)
    for e in SHEET:
        block = text[text.index(f"**{e.question}**"):]
        assert block.index(e.answer) < block.index(where(e)) < block.index(f"`{e.bank[0]}`")
    assert export_markdown(SHEET, []) == text and export_markdown([], load_bank()) == to_markdown(load_bank())


def test_filters_by_chapter_and_topic():
    assert {e.notebook for e in load_sheet(chapter="05_transformer_distillation")} == {"05_transformer_distillation"}
    early = load_sheet(upto="02_hinton_kd")
    assert early and {e.notebook for e in early} <= {"01_dark_knowledge", "02_hinton_kd"}
    mapping = {q.id for q in load_bank(topic="layer-mapping")}
    chosen = load_sheet(topic="layer-mapping")
    assert chosen and all(mapping & set(e.bank) for e in chosen)
    assert len(chosen) == sum(bool(mapping & set(e.bank)) for e in SHEET)


GOOD = {"id": "iv-x-01", "paper": "hinton", "question": "Why T²?", "answer": "Gradients.", "notebook": "02_hinton_kd",
        "section": "Why multiply by T²?", "bank": ["hk-loss-08"]}


@pytest.mark.parametrize("change, message", [
    ({"bank": ["no-such-id"]}, r"field 'bank': expected ids of the question bank; no question has the id\(s\) no-such-id"),
    ({"bank": []}, r"field 'bank': expected a non-empty list of question ids"),
    ({"notebook": "03_distilbert"}, r"field 'notebook': expected one of 01_dark_knowledge"),
    ({"paper": "bert"}, r"field 'paper': expected one of hinton, distilbert, tinybert, practice"),
    ({"answer": " "}, r"field 'answer': expected a non-empty string"),
    ({"hint": "x"}, r"field 'hint': expected the fields id, paper"),
    ({"id": "Bad Id"}, r"field 'id': expected a lowercase slug"),
])
def test_a_malformed_entry_is_named(change, message):
    data = {"title": "t", "intro": "i", "entries": [{**GOOD, **change}]}
    with pytest.raises(ValueError, match=r"interview.yaml: entry .*" + message):
        validate_sheet(data, BANK_IDS)


def test_a_repeated_id_and_wrong_top_level_keys_are_named():
    with pytest.raises(ValueError, match=r"entry 'iv-x-01': field 'id': expected a lowercase slug used once"):
        validate_sheet({"title": "t", "intro": "i", "entries": [GOOD, GOOD]}, BANK_IDS)
    with pytest.raises(ValueError, match=r"expected the top-level keys title, intro, entries, got \['entries'\]"):
        validate_sheet({"entries": [GOOD]}, BANK_IDS)
    title, intro, [entry] = validate_sheet({"title": "t", "intro": "i", "entries": [GOOD]}, BANK_IDS)
    assert entry.bank == ("hk-loss-08",) and entry.section == "Why multiply by T²?"
