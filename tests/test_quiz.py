"""The quiz: the widget driven through its Python API, the terminal quiz, and ``kd-teach quiz`` for real."""
import html
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import ipywidgets as widgets
import pytest

from kd_teach.course.bank import SYLLABUS, load_bank, pick
from kd_teach.course.interview import export_markdown, load_sheet, to_jupyterquiz, to_markdown
from kd_teach.course.quiz import Quiz, parse_choices, parse_number, show, title
from kd_teach.course.terminal_quiz import run_terminal

BANK = load_bank()
BY_ID = {q.id: q for q in BANK}
CLI = [sys.executable, "-m", "kd_teach.engine.cli"]


def first(kind):
    return next(q for q in BANK if q.type == kind)


def one(question):
    quiz = Quiz([question])
    return quiz, quiz.items[0]


def test_right_single_answer_says_right_and_scores():
    quiz, item = one(first("single"))
    assert quiz.score_label.value == "Score: 0 / 0" and item.result is None
    item.answer_with(item.question.answer)
    assert item.check() is True
    assert "✓ Right." in item.feedback.value
    assert html.escape(item.question.explanation, quote=False) in item.feedback.value
    assert (quiz.score, quiz.answered) == (1, 1) and quiz.score_label.value == "Score: 1 / 1"
    assert item.check_button.disabled and item.input.disabled  # graded once
    assert item.check() is True and quiz.score_label.value == "Score: 1 / 1"  # checking again changes nothing


def test_wrong_single_answer_gives_the_answer_and_explanation():
    quiz, item = one(first("single"))
    q = item.question
    item.answer_with("a" if q.answer != 0 else "b")  # a letter works too
    assert item.check() is False
    assert f"✗ Not quite. The answer is {html.escape(q.answer_text(), quote=False)}." in item.feedback.value
    assert html.escape(q.explanation, quote=False) in item.feedback.value
    assert quiz.score_label.value == "Score: 0 / 1"
    assert "kd-quiz-wrong" in item.feedback._dom_classes
    labels = [label for label, _ in item.input.options]              # the right option is marked in the list
    assert [i for i, label in enumerate(labels) if label.endswith("✓ the answer")] == [q.answer]
    assert item.input.value == (0 if q.answer != 0 else 1)             # the learner's choice stays selected


def test_check_with_no_answer_asks_for_one_and_does_not_count():
    quiz, item = one(first("single"))
    assert item.check() is None and "Choose an option first." in item.feedback.value
    assert quiz.answered == 0 and not item.check_button.disabled


def test_numeric_within_tolerance_is_right_and_outside_is_wrong():
    q = BY_ID["dk-why-03"]  # 7.09 ± 0.02
    quiz = Quiz([q, q])
    quiz.items[0].answer_with(q.answer + 0.9 * q.tolerance)
    quiz.items[1].answer_with(str(q.answer + 3 * q.tolerance))
    assert quiz.items[0].check() is True and quiz.items[1].check() is False
    assert "The answer is 7.09 (± 0.02)." in quiz.items[1].feedback.value
    assert quiz.score_label.value == "Score: 1 / 2"


def test_numeric_text_that_is_no_number_is_explained():
    _, item = one(first("numeric"))
    item.answer_with("seven")
    assert item.check() is None and "type a number" in item.feedback.value and "seven" in item.feedback.value


def test_multiple_needs_exactly_the_right_set():
    q = next(q for q in BANK if q.type == "multiple" and len(q.answer) >= 2)
    quiz = Quiz([q, q])
    quiz.items[0].answer_with(list(reversed(q.answer)))
    quiz.items[1].answer_with(q.answer[:1])
    assert [box.value for box in quiz.items[0].boxes] == [i in q.answer for i in range(len(q.options))]
    assert quiz.items[0].check() is True and quiz.items[1].check() is False
    assert "✗ Not quite. The answer is" in quiz.items[1].feedback.value
    assert [box.description.endswith("✓ the answer") for box in quiz.items[1].boxes] == \
        [i in q.answer for i in range(len(q.options))]                 # the right boxes are marked in the list
    assert quiz.score_label.value == "Score: 1 / 2"


def test_open_questions_are_self_marked():
    q = first("open")
    quiz = Quiz([q, q])
    had, missed = quiz.items
    with pytest.raises(ValueError, match="after check"):
        had.mark(True)
    had.answer_with("Soft targets carry the teacher's similarities.")
    assert had.check() is None and quiz.answered == 0
    assert html.escape(q.answer, quote=False) in had.feedback.value and had.self_mark.layout.display == "flex"
    assert [b.description for b in had.self_mark.children] == ["I had it", "I missed it"]
    had.self_mark.children[0].click()  # the "I had it" button
    missed.check()
    missed.mark(False)
    assert (had.result, missed.result) == (True, False) and quiz.score_label.value == "Score: 1 / 2"
    assert "✓ You had it." in had.feedback.value and "✗ You missed it" in missed.feedback.value


def test_clicking_check_is_the_same_as_check():
    quiz, item = one(first("single"))
    item.answer_with(item.question.answer)
    item.check_button.click()
    assert item.result is True and quiz.score_label.value == "Score: 1 / 1"


def test_widget_is_core_ipywidgets_with_css_classes_and_no_script():
    quiz = show(n=8, seed=0)
    assert isinstance(quiz.widget, widgets.VBox) and "kd-quiz" in quiz.widget._dom_classes
    assert "application/vnd.jupyter.widget-view+json" in quiz._repr_mimebundle_()
    assert "kd-quiz-score" in quiz.score_label._dom_classes
    intro = quiz.widget.children[0].value
    assert "<script" not in intro.lower() and "http" not in intro  # offline: nothing is loaded
    for item in quiz.items:
        assert "kd-quiz-check" in item.check_button._dom_classes and "kd-quiz-feedback" in item.feedback._dom_classes
        assert "<script" not in item.header.value.lower()
        expected = {"single": widgets.RadioButtons, "multiple": widgets.VBox, "numeric": widgets.Text,
                    "open": widgets.Textarea}[item.question.type]
        assert isinstance(item.input, expected)


def test_a_stored_quiz_keeps_its_answer_key_readable_without_a_kernel():
    """A viewer with no kernel (GitHub, a static page) renders text/html (or text/plain) instead of the widget:
    the questions, each answer folded in a <details>, and the explanation; the widget still checks live."""
    quiz = show(chapter="02_hinton_kd", n=4, seed=1)
    bundle = quiz._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    page, text = bundle["text/html"], bundle["text/plain"]
    assert page.count("<details>") == len(quiz.questions) == 4 and "VBox(" not in text
    for k, q in enumerate(quiz.questions, 1):
        assert f"Answer key, Q{k}" in page and html.escape(q.answer_text(), quote=False) in page
        assert html.escape(q.explanation, quote=False) in page and f"Q{k}. {q.answer_text()}" in text
    assert text.index("Answer key:") > text.index(quiz.questions[-1].text)     # the key after every question
    assert "<script" not in page


def test_show_filters_by_topic_chapter_and_n():
    assert {i.question.topic for i in show(topic="temperature").items} == {"temperature"}
    assert {i.question.taught_in for i in show(chapter="06_general_distillation").items} == {"06_general_distillation"}
    early = {i.question.taught_in for i in show(upto="02_hinton_kd").items}
    assert early == {"01_dark_knowledge", "02_hinton_kd"}
    assert len(show(n=4).items) == 4
    in_order = show(topic="kd-loss", shuffle=False)
    assert [i.question for i in in_order.items] == load_bank(topic="kd-loss")
    with pytest.raises(ValueError, match="unknown topic 'nope'; choose one of: why-distil"):
        show(topic="nope")
    with pytest.raises(ValueError, match="unknown chapter '04_tinybert'; choose a notebook: 01_dark_knowledge"):
        show(chapter="04_tinybert")


def test_a_short_chapter_quiz_spans_the_chapters_topics():
    pool = load_bank(chapter="01_dark_knowledge")
    topics = list(dict.fromkeys(q.topic for q in pool))
    quiz = show(chapter="01_dark_knowledge", n=len(topics), shuffle=False)
    assert [i.question.topic for i in quiz.items] == topics and quiz.items[0].question == pool[0]
    shuffled = show(chapter="05_transformer_distillation", n=5, seed=5)
    assert len({i.question.topic for i in shuffled.items}) == 5  # five topics taught there: one question each


def test_quiz_titles_are_in_words():
    assert title(chapter="04_distilbert") == "Check yourself: DistilBERT"
    assert title(chapter="06", topic="general-distillation") == ("Check yourself: TinyBERT's general distillation · "
                                                                 "General distillation")
    assert title(upto="03_teacher_student") == "Review: up to Teacher and student"
    assert title(topic="kd-loss") == "Quiz: Soft targets and the KD loss" and title() == "Quiz"
    intro = show(chapter="04_distilbert", n=2, seed=0).widget.children[0].value
    assert "<h3>Check yourself: DistilBERT</h3>" in intro and "04_distilbert" not in intro


def test_the_style_puts_the_input_first_colours_feedback_and_keeps_locked_answers_readable():
    style = show(n=1, seed=0).widget.children[0].value
    options = style[style.index(".kd-quiz .widget-radio-box input"):]
    options = options[:options.index("}")]
    assert "order: -1" in options and "float: none" in options and "align-self: flex-start" in options
    assert "display: flex" in style and "align-items: flex-start" in style
    assert ".kd-quiz .kd-quiz-right { color: #1b5e20" in style and ".kd-quiz .kd-quiz-wrong { color: #b71c1c" in style
    assert "opacity: 1 !important" in style and "label:has(input:checked)" in style


def test_shuffle_with_a_seed_is_deterministic():
    ids = lambda quiz: [i.question.id for i in quiz.items]  # noqa: E731
    assert ids(show(n=6, seed=7)) == ids(show(n=6, seed=7))
    assert ids(show(seed=7)) != ids(show(seed=8)) and sorted(ids(show(seed=7))) == sorted(q.id for q in BANK)


def test_parsers_read_what_learners_type():
    assert parse_choices("b", 4) == [1] and parse_choices("a, c", 4) == parse_choices("c a", 4) == [0, 2]
    assert parse_choices("1 3", 4) == [0, 2] and parse_choices("AC", 4) == [0, 2]
    with pytest.raises(ValueError, match="letters a to d .* got 'e'"):
        parse_choices("e", 4)
    assert parse_number("7.09") == 7.09 and parse_number("1/4") == 0.25 and parse_number("96%") == 96
    assert parse_number("1,346,980") == 1346980 and parse_number("1e6") == 1e6
    with pytest.raises(ValueError, match="got '7,09'"):
        parse_number("7,09")


def terminal(questions, answers):
    out = io.StringIO()
    result = run_terminal(questions, io.StringIO(answers), out)
    return result, out.getvalue()


def test_terminal_quiz_grades_every_type():
    single, multiple, numeric, opened = (first(t) for t in ("single", "multiple", "numeric", "open"))
    wrong_letter = "a" if single.answer != 0 else "b"
    letters = ", ".join("abcdefghij"[i] for i in multiple.answer)
    answers = f"{wrong_letter}\n{letters}\n{numeric.answer}\nmy own words\ny\n"
    (right, asked), out = terminal([single, multiple, numeric, opened], answers)
    assert (right, asked) == (3, 4)
    assert f"✗ Not quite. The answer is {single.answer_text()}." in " ".join(out.split())  # lines are wrapped
    assert out.count("✓ Right.") == 2 and "Model answer:" in out and "Did you get it? [y/n]" in out
    assert out.rstrip().endswith("Score: 3 / 4")


def test_terminal_quiz_reasks_bad_input_skips_empty_lines_and_stops_on_eof():
    single, numeric = first("single"), first("numeric")
    (right, asked), out = terminal([single, numeric, single], f"z\n{'abcd'[single.answer]}\n\n")
    assert "Please answer with letters a to" in out and "Skipped. The answer is" in out
    assert (right, asked) == (1, 2) and out.rstrip().endswith("Score: 1 / 2 (stopped after 2 of 3 questions)")
    assert terminal([single], "")[0] == (0, 0)


def quiz_cli(*args, stdin="", cwd=None):
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([*CLI, "quiz", *args], input=stdin, capture_output=True, text=True, encoding="utf-8",
                          timeout=120, cwd=cwd, env=env)


def right_answer_lines(q):
    """What a learner who knows the answer types for ``q``, as lines of the terminal quiz."""
    if q.type == "single":
        return ["abcdefghij"[q.answer]]
    if q.type == "multiple":
        return [" ".join("abcdefghij"[i] for i in q.answer)]
    if q.type == "numeric":
        return [repr(q.answer)]
    return ["my answer in words", "y"]


@pytest.mark.slow
def test_cli_quiz_with_piped_answers_prints_the_score():
    expected = pick(load_bank(), n=3, seed=0)  # what `--n 3 --seed 0` asks
    lines = [line for q in expected for line in right_answer_lines(q)]
    done = quiz_cli("--n", "3", "--seed", "0", stdin="\n".join(lines) + "\n")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert [line for line in done.stdout.splitlines() if line.startswith("Score: ")] == ["Score: 3 / 3"], done.stdout
    asked = [line for line in done.stdout.splitlines() if line.startswith("Q")]
    assert [line.split()[0] for line in asked] == ["Q1/3", "Q2/3", "Q3/3"]
    wrong = quiz_cli("--n", "3", "--seed", "0", "--no-shuffle", stdin="")  # no input at all: ends cleanly
    assert wrong.returncode == 0 and wrong.stdout.rstrip().endswith("Score: 0 / 0 (stopped after 0 of 3 questions)")


@pytest.mark.slow
def test_cli_export_markdown_holds_every_selected_question(tmp_path):
    done = quiz_cli("--export", "md", "--topic", "layer-mapping", "--output", "cards.md", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "cards.md").read_text(encoding="utf-8")
    selected, sheet = load_bank(topic="layer-mapping"), load_sheet(topic="layer-mapping")
    assert sheet and text == export_markdown(sheet, selected)
    cards = text[text.index("# kd-teach flashcards"):]
    assert cards == to_markdown(selected) and cards.count("\n## ") == len(selected)
    for q in selected:
        assert f"## {q.id} · layer-mapping" in cards and q.answer_text() in cards and q.explanation in cards
        assert f"taught in `{q.taught_in}`" in cards
    for entry in sheet:
        assert f"**{entry.question}**" in text and entry.answer in text
    assert f"the interview sheet ({len(sheet)} entries) and {len(selected)} questions" in done.stdout


@pytest.mark.slow
def test_cli_export_markdown_goes_to_stdout_by_default():
    done = quiz_cli("--export", "md")
    assert done.returncode == 0, done.stderr
    assert done.stdout == export_markdown(load_sheet(), load_bank())
    assert done.stdout.startswith("# Interview sheet") and "\n# kd-teach flashcards" in done.stdout
    assert f"the interview sheet ({len(load_sheet())} entries) and {len(load_bank())} questions" in done.stderr
    chapter = quiz_cli("--export", "md", "--chapter", "07_task_distillation")
    assert chapter.stdout == export_markdown(load_sheet(chapter="07_task_distillation"),
                                             load_bank(chapter="07_task_distillation"))


@pytest.mark.slow
def test_cli_export_jupyterquiz_is_the_jupyterquiz_format(tmp_path):
    out = tmp_path / "q.json"
    done = quiz_cli("--export", "jupyterquiz", "--chapter", "02_hinton_kd", "--out", str(out))
    assert done.returncode == 0, done.stderr
    items = json.loads(out.read_text(encoding="utf-8"))
    selected = [q for q in load_bank(chapter="02_hinton_kd") if q.type != "open"]
    assert items == to_jupyterquiz(selected) and len(items) == len(selected) > 0
    for q, item in zip(selected, items):
        assert item["question"] == html.escape(q.text, quote=False)
        assert item["type"] == {"single": "multiple_choice", "multiple": "many_choice", "numeric": "numeric"}[q.type]
        if q.type == "numeric":
            value, span, default = item["answers"]
            assert value == {"type": "value", "value": q.answer, "correct": True, "feedback": value["feedback"]}
            assert span["range"] == pytest.approx([q.answer - q.tolerance, q.answer + q.tolerance]) and span["correct"]
            assert default["type"] == "default" and "The answer is" in default["feedback"]
        else:
            assert [a["answer"] for a in item["answers"]] == [html.escape(o, quote=False) for o in q.options]
            right = {q.answer} if q.type == "single" else set(q.answer)
            assert [a["correct"] for a in item["answers"]] == [i in right for i in range(len(q.options))]
            assert all(a["feedback"] for a in item["answers"])
    skipped = sum(q.type == "open" for q in load_bank(chapter="02_hinton_kd"))
    assert f"{skipped} open question" in done.stdout


@pytest.mark.slow
def test_cli_unknown_topic_exits_2_with_one_line():
    done = quiz_cli("--topic", "nope")
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown topic 'nope'" in lines[0]
    assert all(slug in lines[0] for slug in SYLLABUS)


@pytest.mark.slow
def test_console_script_is_installed_and_answers_help():
    script = Path(sys.executable).with_name("kd-teach")
    if not script.exists():
        pytest.skip(f"no console script beside {sys.executable}")
    done = subprocess.run([str(script), "quiz", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--export {md,jupyterquiz}" in done.stdout
