"""The README is a learner's path (about 250 lines); the detail lives in docs/, and every link resolves."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")   # [text](target) and ![alt](target)


def test_the_readme_stays_a_learners_path():
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines <= 260, f"README.md has {lines} lines; move detail to docs/ (the budget is about 250)"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    targets = [t.split("#")[0] for t in LINK.findall(page.read_text()) if not t.startswith(("http", "#", "mailto:"))]
    missing = [t for t in targets if not (page.parent / t).exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to missing paths: {missing}"


def test_every_docs_page_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text()
    unlinked = [p.name for p in PAGES[1:] if f"](docs/{p.name})" not in readme]
    assert not unlinked, f"docs pages no README link reaches: {unlinked}"


NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.py"))


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_link_in_a_notebook_resolves(source):
    targets = [t.split("#")[0] for t in LINK.findall(source.read_text()) if not t.startswith(("http", "#"))]
    missing = [t for t in targets if not (source.parent / t).exists()]
    assert not missing, f"{source.name} links to missing paths: {missing}"


@pytest.mark.parametrize("source", [p for p in NOTEBOOKS if (ROOT / "exercises" / f"{p.stem}.ipynb").is_file()],
                         ids=lambda p: p.stem)
def test_a_chapter_with_an_exercise_sends_the_learner_to_it_before_its_quiz(source):
    text = source.read_text()
    link = f"](../exercises/{source.stem}.ipynb)"
    assert link in text, f"{source.name} does not link its exercise"
    assert text.index(link) < text.index("# ## Check yourself"), f"{source.name}: the exercise comes before the quiz"


def test_the_readmes_counts_are_the_codes():
    """Counts in the README go stale as the bank grows (it once said 178 questions beside 184)."""
    from kd_teach.course.bank import SYLLABUS, load_bank
    from kd_teach.course.interview import load_sheet

    readme = " ".join((ROOT / "README.md").read_text().split())
    said = re.search(r"A bank of (\d+) questions .* over the (\d+) items of the syllabus", readme)
    entries = re.search(r"interview\.yaml`, (\d+) entries\)", readme)
    assert said and entries, "the README no longer states the bank's counts where this test looks"
    assert (int(said[1]), int(said[2]), int(entries[1])) == (len(load_bank()), len(SYLLABUS), len(load_sheet()))
