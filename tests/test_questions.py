"""The question bank: the real bank is valid and covers the syllabus; malformed questions are named."""
import re
from importlib.resources import files

import pytest
import yaml

from kd_teach.course.bank import (KINDS, NOTEBOOKS, PART_FILE, SYLLABUS, TYPES, check_compute, coverage, load_bank,
                                  pick, validate_part, validate_question)

BANK = load_bank()
NUMERIC = [q for q in BANK if q.compute]


def test_syllabus_has_the_fifteen_items_in_order():
    assert [number for number, _ in SYLLABUS.values()] == list(range(1, 16))
    assert list(SYLLABUS)[:3] == ["why-distil", "dark-knowledge", "temperature"] and list(SYLLABUS)[-1] == "practice"


def test_the_packaged_files_are_parts_with_valid_questions():
    folder = files("kd_teach.course").joinpath("questions")
    paths = sorted(p for p in folder.iterdir() if PART_FILE.fullmatch(p.name))
    assert len(paths) == 8
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".yaml") and p not in paths) == ["interview.yaml"]
    total = 0
    for path in paths:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        total += len(validate_part(data, f"kd_teach/course/questions/{path.name}"))
    assert total == len(BANK) >= 170


def test_ids_are_unique_and_every_field_is_in_its_vocabulary():
    assert len({q.id for q in BANK}) == len(BANK)
    for q in BANK:
        assert q.topic in SYLLABUS and q.kind in KINDS and q.type in TYPES, q.id
        if q.type == "single":
            assert 0 <= q.answer < len(q.options), q.id
        if q.type == "multiple":
            assert q.answer and list(q.answer) == sorted(set(q.answer)) and q.answer[-1] < len(q.options), q.id
        if q.type == "numeric":
            assert q.tolerance > 0, q.id


def test_every_syllabus_item_has_three_questions_asked_two_ways():
    table = coverage()
    assert list(table) == list(SYLLABUS)
    thin = {slug: row for slug, row in table.items() if row["count"] < 3 or len(row["kinds"]) < 2}
    assert not thin, f"syllabus items with < 3 questions or < 2 kinds: {thin}"
    assert sum(row["count"] for row in table.values()) == len(BANK)


def test_the_two_stages_and_augmentation_are_asked_ten_times_each():
    table = coverage()
    thin = {slug: table[slug]["count"] for slug in ("general-distillation", "task-distillation", "data-augmentation")
            if table[slug]["count"] < 10}
    assert not thin, f"fewer than 10 questions on {thin}"


def test_the_bank_mixes_all_types_and_kinds():
    assert {q.type for q in BANK} == set(TYPES)
    assert {q.kind for q in BANK} == set(KINDS)


@pytest.mark.parametrize("q", NUMERIC, ids=[q.id for q in NUMERIC])
def test_compute_recomputed_with_the_package_gives_the_answer(q):
    value = check_compute(q)
    assert abs(value - q.answer) <= q.tolerance, f"{q.id}: compute gives {value}, the bank {q.answer} ± {q.tolerance}"
    assert q.grade(value) and q.grade(q.answer)
    assert q.grade(float(f"{value:.3g}")), f"{q.id}: the computed value to 3 significant figures is marked wrong"


def test_numeric_questions_all_have_a_compute_expression():
    assert len(NUMERIC) == sum(q.type == "numeric" for q in BANK) >= 10


def test_filters_by_topic_and_by_the_notebook_that_teaches():
    temperature = load_bank(topic="temperature")
    assert temperature and all(q.topic == "temperature" for q in temperature)
    hinton = load_bank(chapter="02_hinton_kd")
    assert hinton and all(q.taught_in == "02_hinton_kd" for q in hinton)
    assert load_bank(chapter="hinton-kd") == load_bank(chapter="02") == hinton
    assert load_bank(chapter="02_hinton_kd", topic="temperature") == [q for q in hinton if q.topic == "temperature"]
    upto = load_bank(upto="03_teacher_student")
    assert {q.taught_in for q in upto} == {"01_dark_knowledge", "02_hinton_kd", "03_teacher_student"}
    assert len(upto) == sum(len(load_bank(chapter=nb)) for nb in list(NOTEBOOKS)[:3])
    assert load_bank(upto="99_interview_prep") == BANK
    with pytest.raises(ValueError, match=r"unknown topic 'temprature'; choose one of: why-distil, .*practice"):
        load_bank(topic="temprature")
    with pytest.raises(ValueError, match=r"unknown chapter 'nine'; choose a notebook: 01_dark_knowledge"):
        load_bank(chapter="nine")
    with pytest.raises(ValueError, match=r"unknown chapter '03_distilbert'"):  # a bank file, not a notebook
        load_bank(upto="03_distilbert")


def test_pick_spread_lets_every_topic_take_a_turn():
    pool = load_bank(chapter="01_dark_knowledge")
    topics = list(dict.fromkeys(q.topic for q in pool))
    assert len(topics) >= 3
    first_round = pick(pool, n=len(topics), shuffle=False, spread=True)
    assert [q.topic for q in first_round] == topics and first_round[0] == pool[0]
    assert sorted(q.id for q in pick(pool, shuffle=False, spread=True)) == sorted(q.id for q in pool)
    assert [q.topic for q in pick(pool, n=len(topics), shuffle=False)] != topics  # without spread: the bank's order


def test_pick_samples_reproducibly():
    assert pick(BANK, n=5, shuffle=False) == BANK[:5]
    assert pick(BANK, n=5, seed=3) == pick(BANK, n=5, seed=3) != pick(BANK, n=5, seed=4)
    assert sorted(q.id for q in pick(BANK, seed=1)) == sorted(q.id for q in BANK)
    with pytest.raises(ValueError, match="n must be a whole number >= 1, got 0"):
        pick(BANK, n=0)


GOOD = {"id": "t-01", "topic": "temperature", "kind": "definition", "type": "single", "difficulty": "easy",
        "taught_in": "01_dark_knowledge", "text": "What does T = 1 give?", "options": ["the usual softmax", "a uniform distribution", "argmax"],
        "answer": 0, "explanation": "Dividing by 1 changes nothing."}


def test_a_good_question_validates():
    q = validate_question(GOOD, "x.yaml")
    assert q.answer == 0 and q.options == tuple(GOOD["options"]) and q.item == 3
    assert q.grade(0) and not q.grade(2) and q.answer_text() == "a) the usual softmax"


MALFORMED = [
    ({"topic": "temprature"}, "topic", "expected a syllabus slug, one of why-distil"),
    ({"kind": "trivia"}, "kind", "expected one of definition, why"),
    ({"type": "essay"}, "type", "expected one of single, multiple, numeric, open, got 'essay'"),
    ({"difficulty": "brutal"}, "difficulty", "expected one of easy, medium, hard"),
    ({"taught_in": "03_distilbert"}, "taught_in", "the notebook that teaches it, one of 01_dark_knowledge"),
    ({"options": "a, b, c"}, "options", "2 to 10 distinct non-empty strings, got 'a, b, c'"),
    ({"options": ["same", "same"]}, "options", "distinct"),
    ({"answer": 3}, "answer", "expected an option index 0..2, got 3"),
    ({"answer": True}, "answer", "an option index"),
    ({"type": "multiple", "answer": [2, 0]}, "answer",
     "sorted non-empty list of distinct option indices in 0..2, got [2, 0]"),
    ({"type": "multiple", "answer": []}, "answer", "sorted non-empty list"),
    ({"type": "multiple", "answer": [0, 5]}, "answer", "got [0, 5]"),
    ({"type": "numeric", "answer": 0.5, "tolerance": 0.1}, "options", "no such field on a numeric question"),
    ({"text": "  "}, "text", "a non-empty string"),
    ({"hint": "think"}, "hint", "no such field on a single question"),
    ({"id": "Bad Id"}, "id", "a lowercase slug"),
]


@pytest.mark.parametrize("change, field, message", MALFORMED,
                         ids=["+".join(f"{k}={v}" for k, v in change.items()) for change, _, _ in MALFORMED])
def test_malformed_questions_are_named(change, field, message):
    raw = {**GOOD, **change}
    with pytest.raises(ValueError) as err:
        validate_question(raw, "kd_teach/course/questions/99_test.yaml")
    text = str(err.value)
    assert text.startswith("kd_teach/course/questions/99_test.yaml: question ") and f"field {field!r}" in text, text
    assert message in text, text


def test_missing_options_and_tolerance_say_they_are_required():
    with pytest.raises(ValueError, match=r"question 't-01': field 'options': expected a value \(required for single"):
        validate_question({k: v for k, v in GOOD.items() if k != "options"})
    numeric = {**{k: v for k, v in GOOD.items() if k != "options"}, "type": "numeric", "answer": 0.5}
    missing = r"field 'tolerance': expected a value \(required for numeric questions\), got '<missing>'"
    with pytest.raises(ValueError, match=missing):
        validate_question(numeric)
    with pytest.raises(ValueError, match=r"field 'tolerance': expected a finite number > 0, got -0.1"):
        validate_question({**numeric, "tolerance": -0.1})
    with pytest.raises(ValueError, match=r"field 'answer': expected a finite number, got 'half'"):
        validate_question({**numeric, "tolerance": 0.1, "answer": "half"})
    opened = {**{k: v for k, v in GOOD.items() if k != "options"}, "type": "open", "answer": ""}
    with pytest.raises(ValueError, match=r"field 'answer': expected a model answer in words"):
        validate_question(opened)


def test_duplicate_ids_and_a_wrong_part_header_are_named():
    again = {**GOOD, "text": "Again: what does T = 1 give?"}
    data = {"part": "99_test", "title": "Test", "questions": [GOOD, again]}
    with pytest.raises(ValueError, match=r"99_test.yaml: question 't-01': field 'id': duplicate id"):
        validate_part(data, "kd_teach/course/questions/99_test.yaml")
    with pytest.raises(ValueError, match=r"'part' must be the file's stem '98_other', got '99_test'"):
        validate_part(data, "kd_teach/course/questions/98_other.yaml")
    with pytest.raises(ValueError, match=r"expected the top-level keys part, title, questions, got \['questions'\]"):
        validate_part({"questions": []}, "x.yaml")
    missing = {k: v for k, v in GOOD.items() if k != "taught_in"}
    with pytest.raises(ValueError, match=r"field 'taught_in': expected a value \(required for single questions\)"):
        validate_question(missing)


def test_check_compute_reports_a_broken_expression():
    numeric = {**{k: v for k, v in GOOD.items() if k != "options"}, "type": "numeric", "answer": 0.5, "tolerance": 0.1}
    half = "softmax_with_temperature(torch.zeros(2), 3.0)[0]"  # a tensor is turned into a float
    assert check_compute(validate_question({**numeric, "compute": half})) == 0.5
    with pytest.raises(ValueError, match=r"compute 'undefined_name \+ 1' failed: NameError"):
        check_compute(validate_question({**numeric, "compute": "undefined_name + 1"}))
    with pytest.raises(ValueError, match=r"must give a finite number, got 'text'"):
        check_compute(validate_question({**numeric, "compute": "'text'"}))
    with pytest.raises(ValueError, match="has no 'compute' expression"):
        check_compute(validate_question(numeric))


def test_the_readme_states_the_banks_size():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert f"A bank of {len(BANK)} questions" in readme


# Names and numbers a question may lean on only once a notebook has shown them: paper models, parameter
# counts (110M, 14.5M, ...), losses and tools. Each is taught where it first appears in the notebooks' sources.
TERMS = re.compile(r"\b\d+(?:\.\d+)?M\b|\bTinyBERT\d\b|\bBERT-(?:base|large)\b|\bMiniLM\b|\bDistilBERT\b|\bTinyBERT\b"
                   r"|\bGloVe\b|\bONNX\b|\bint8\b|\bL_(?:embd|hidn|attn|pred|ce|mlm|cos)\b|\bbootstrap\b|\bPareto\b")


def test_a_question_asks_only_what_its_chapter_or_an_earlier_one_has_shown():
    """Checked on content, not on the label: a name or number in a question's text or options must appear in
    its `taught_in` notebook or an earlier one (the chapter quizzes draw by `taught_in`)."""
    from pathlib import Path

    from kd_teach.course.bank import NOTEBOOKS

    root = Path(__file__).resolve().parents[1] / "notebooks"
    order = [nb for nb in NOTEBOOKS if (root / f"{nb}.py").is_file()]
    sources = {nb: (root / f"{nb}.py").read_text() for nb in order}
    first = lambda term: next((nb for nb in order if term in sources[nb]), None)  # noqa: E731
    early = [(q.id, q.taught_in, term, first(term)) for q in BANK
             for term in sorted(set(TERMS.findall(" ".join([q.text, *q.options]))))
             if first(term) is not None and q.taught_in in order and order.index(first(term)) > order.index(q.taught_in)]
    assert not early, "questions that ask what a later notebook teaches (id, taught_in, term, first shown in): " + \
        "; ".join(map(str, early))


def test_every_question_stands_alone():
    """Quizzes draw questions at random: none may lean on another one's example ("Same example", "as above")."""
    leaning = [q.id for q in BANK if re.search(r"\b(same example|as above|previous question|the question before)\b",
                                               q.text, re.I)]
    assert not leaning, f"questions that need another one drawn first: {leaning}"
