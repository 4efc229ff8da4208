"""Quizzes on the question bank in the notebooks: an ipywidgets quiz (``kd-teach quiz``'s terminal quiz is
:mod:`kd_teach.course.terminal_quiz`).

The widget uses core ipywidgets only (no CDN, no external JavaScript, no ``<script>``), so it
works offline. Its Python API is what a learner does with the mouse::

    quiz = show(topic="temperature", n=3, seed=0)   # a Quiz; it displays itself in a notebook
    item = quiz.items[0]          # a QuizItem: .question, .input, .check_button, .feedback
    item.answer_with(1)           # an option index or letter (single); indices/letters (multiple);
                                  # a number or its text (numeric); text (open)
    item.check()                  # the Check button: True / False; None if there is nothing to grade
                                  # yet, or for an open question (it reveals the model answer)
    item.mark(True)               # open questions: the "I had it" (True) / "I missed it" (False) buttons
    item.result                   # None until graded (open: until marked), then True or False
    quiz.score, quiz.answered     # right so far, graded so far; quiz.score_label.value == "Score: k / m"

CSS classes for browser tests: kd-quiz, kd-quiz-item, kd-quiz-input, kd-quiz-check,
kd-quiz-feedback (plus kd-quiz-right / kd-quiz-wrong once graded), kd-quiz-had-it,
kd-quiz-missed-it, kd-quiz-score. A question is graded once: Check then locks its input.
"""
from __future__ import annotations

import html
import re

import ipywidgets as widgets

from kd_teach.course.bank import NOTEBOOKS, Question, SYLLABUS, letter, load_bank, pick, resolve_notebook

# Plain CSS in an HTML widget: no JavaScript, nothing loaded. Core widgets cut long option texts
# (labels are one line high, checkbox labels end in "..."), so options wrap inside the quiz; and
# ipywidgets puts a radio button *after* its text and floats it left, which leaves it beside the
# last line of a wrapped option: each option is laid out as a row instead, the input first, at the
# top. Feedback is green (right) or red (wrong) with a ✓ or ✗, so colour is never the only sign; a
# locked answer stays readable and the chosen option stays marked.
_STYLE = """<style>
.kd-quiz .widget-radio-box label, .kd-quiz .jupyter-widget-radio-box label,
.kd-quiz .widget-checkbox label, .kd-quiz .jupyter-widget-checkbox label {
  display: flex; align-items: flex-start; gap: 0.5em; height: auto; line-height: 1.35;
  white-space: normal; overflow: visible; margin: 2px 0; padding: 2px 6px; border-radius: 3px; }
.kd-quiz .widget-radio-box input, .kd-quiz .jupyter-widget-radio-box input,
.kd-quiz .widget-checkbox input, .kd-quiz .jupyter-widget-checkbox input {
  order: -1; float: none; flex: 0 0 auto; align-self: flex-start; height: 1.35em; margin: 0;
  accent-color: #1565c0; opacity: 1; }
.kd-quiz .widget-checkbox, .kd-quiz .jupyter-widget-checkbox { height: auto; }
.kd-quiz .widget-label-basic, .kd-quiz .jupyter-widget-label-basic {
  white-space: normal; overflow: visible; line-height: 1.35; }
.kd-quiz label:has(input:checked) {
  background: rgba(21, 101, 192, 0.14); box-shadow: inset 3px 0 #1565c0; font-weight: 600; }
.kd-quiz label:has(input:disabled) { opacity: 1; color: var(--jp-ui-font-color1, #222); }
.kd-quiz label:has(input:disabled:not(:checked)) { color: var(--jp-ui-font-color2, #555); }
.kd-quiz .kd-quiz-input input:disabled, .kd-quiz .kd-quiz-input textarea:disabled {
  opacity: 1 !important; color: var(--jp-ui-font-color0, #111) !important;
  -webkit-text-fill-color: currentColor; font-weight: 600; }
.kd-quiz .kd-quiz-feedback { line-height: 1.4; }
.kd-quiz .kd-quiz-right, .kd-quiz .kd-quiz-wrong { padding: 4px 8px; border-radius: 3px; }
.kd-quiz .kd-quiz-right { color: #1b5e20; background: #e8f5e9; border-left: 4px solid #2e7d32; }
.kd-quiz .kd-quiz-wrong { color: #b71c1c; background: #ffebee; border-left: 4px solid #c62828; }
.kd-quiz .kd-quiz-right *, .kd-quiz .kd-quiz-wrong * { color: inherit; }
</style>"""


def parse_number(text: str) -> float:
    """A learner's number: '7.09', '-0.5', '1e6', '1/3', '96%' (-> 96), '1,346,980'.

    Raises:
        ValueError: naming the text, if it is not a number.
    """
    s = str(text).strip().rstrip("%").strip()
    if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?", s):
        s = s.replace(",", "")
    try:
        if "/" in s:
            top, bottom = s.split("/", 1)
            return float(top) / float(bottom)
        return float(s)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"type a number such as 7.09, 1e6 or 1/3 (a point for decimals), got {text!r}") from None


def parse_choices(text: str, n_options: int) -> list[int]:
    """Option indices from letters or 1-based numbers: 'b' -> [1]; 'a, c' / 'a c' / 'ac' / '1 3' -> [0, 2].

    Raises:
        ValueError: naming the bad token and the valid letters.
    """
    last = letter(n_options - 1)
    chosen = set()
    for token in (t for t in re.split(r"[\s,;]+", str(text).strip().lower()) if t):
        if token.isdigit() and 1 <= int(token) <= n_options:
            chosen.add(int(token) - 1)
        elif token.isalpha() and all("a" <= c <= last for c in token):
            chosen.update(ord(c) - ord("a") for c in token)
        else:
            raise ValueError(f"answer with letters a to {last} (or numbers 1 to {n_options}), got {token!r}")
    return sorted(chosen)


def _esc(s: str) -> str:
    return html.escape(str(s), quote=False)


class QuizItem:
    """One question in the widget: its text, an input, a Check button and the feedback.

    Attributes:
        question: the :class:`~kd_teach.course.bank.Question`.
        input: RadioButtons (single), a VBox of Checkboxes (multiple, see ``boxes``), Text
            (numeric) or Textarea (open).
        check_button, feedback (HTML), self_mark (the open questions' HBox of two buttons).
        result: None until graded, then True (right) or False.
    """

    def __init__(self, question: Question, number: int, on_result=None):
        self.question, self.result, self._on_result = question, None, on_result
        q = question
        topic = SYLLABUS[q.topic][1]
        self.header = widgets.HTML(f"<b>Q{number}.</b> {_esc(q.text)}<br><small>{_esc(topic)} · {q.kind} · "
                                   f"{q.difficulty}</small>")
        labels = [f"{letter(i)}) {option}" for i, option in enumerate(q.options)]
        if q.type == "single":
            self.input = widgets.RadioButtons(options=list(zip(labels, range(len(labels)))), value=None,
                                              layout=widgets.Layout(width="auto"))
        elif q.type == "multiple":
            self.boxes = [widgets.Checkbox(value=False, description=label, indent=False,
                                           layout=widgets.Layout(width="auto"))
                          for label in labels]
            self.input = widgets.VBox(self.boxes)
        elif q.type == "numeric":
            self.input = widgets.Text(placeholder="a number, e.g. 0.5 or 1/3")
        else:
            self.input = widgets.Textarea(placeholder="your answer, in a few sentences",
                                          layout=widgets.Layout(width="90%", height="6em"))
        self.input.add_class("kd-quiz-input")
        self.check_button = widgets.Button(description="Check", button_style="primary")
        self.check_button.add_class("kd-quiz-check")
        self.check_button.on_click(lambda _: self.check())
        self.feedback = widgets.HTML("")
        self.feedback.add_class("kd-quiz-feedback")
        had, missed = widgets.Button(description="I had it"), widgets.Button(description="I missed it")
        had.add_class("kd-quiz-had-it")
        missed.add_class("kd-quiz-missed-it")
        had.on_click(lambda _: self.mark(True))
        missed.on_click(lambda _: self.mark(False))
        self.self_mark = widgets.HBox([had, missed], layout=widgets.Layout(display="none"))
        self.widget = widgets.VBox([self.header, self.input, self.check_button, self.feedback, self.self_mark])
        self.widget.add_class("kd-quiz-item")

    def answer_with(self, response) -> None:
        """Fill in the input as a learner would (see the module's docstring for the forms).

        Raises:
            ValueError: if the response does not fit the question's options.
        """
        q = self.question
        if q.type == "single":
            picked = parse_choices(response, len(q.options)) if isinstance(response, str) else [response]
            if len(picked) != 1 or picked[0] not in range(len(q.options)):
                raise ValueError(f"{q.id}: choose one option, 0..{len(q.options) - 1} or a letter, got {response!r}")
            self.input.value = picked[0]
        elif q.type == "multiple":
            picked = parse_choices(response, len(q.options)) if isinstance(response, str) else list(response)
            if not all(isinstance(i, int) and i in range(len(q.options)) for i in picked):
                raise ValueError(f"{q.id}: choose option indices in 0..{len(q.options) - 1}, got {response!r}")
            for i, box in enumerate(self.boxes):
                box.value = i in picked
        else:
            self.input.value = str(response)

    def response(self):
        """The current input as a gradable value (index, indices, number or text); None if there is none."""
        q = self.question
        if q.type == "single":
            return self.input.value
        if q.type == "multiple":
            return [i for i, box in enumerate(self.boxes) if box.value] or None
        if q.type == "numeric":
            return parse_number(self.input.value) if self.input.value.strip() else None
        return self.input.value

    def check(self) -> bool | None:
        """What the Check button does: grade the input, show right/wrong with the explanation, lock it.

        Returns True/False once graded (checking again changes nothing); None while there is
        nothing to grade (the feedback says what is missing) or for an open question, whose
        model answer is then shown with the two self-marking buttons.
        """
        q = self.question
        if self.result is not None:
            return self.result
        if q.type == "open":
            self.feedback.value = (f"<b>Model answer:</b> {_esc(q.answer)}<br>{_esc(q.explanation)}<br>"
                                   f"<i>Compare it with yours, then mark yourself.</i>")
            self.self_mark.layout.display = "flex"
            self._lock()
            return None
        try:
            response = self.response()
        except ValueError as err:
            self.feedback.value = f"<i>{_esc(err)}</i>"
            return None
        if response is None:
            wanted = {"single": "Choose an option", "multiple": "Tick at least one option", "numeric": "Type a number"}
            self.feedback.value = f"<i>{wanted[q.type]} first.</i>"
            return None
        self._record(q.grade(response))
        return self.result

    def mark(self, had_it: bool) -> None:
        """Self-marking of an open question ("I had it" / "I missed it"), after :meth:`check`.

        Raises:
            ValueError: for a question that is not open, or before its model answer was shown.
        """
        if self.question.type != "open" or self.self_mark.layout.display != "flex":
            raise ValueError(f"{self.question.id}: only an open question whose model answer is shown "
                             f"(after check()) can be self-marked")
        if self.result is None:
            self._record(bool(had_it))

    def _mark_answer(self) -> None:
        """Once graded, the right option(s) say so in the list itself, next to the learner's own choice."""
        q, tag = self.question, "  ✓ the answer"
        if q.type == "single":
            chosen = self.input.value
            self.input.options = [(label + tag if i == q.answer else label, i) for label, i in self.input.options]
            self.input.value = chosen
        elif q.type == "multiple":
            for i in q.answer:
                self.boxes[i].description += tag

    def _lock(self) -> None:
        self.check_button.disabled = True
        for w in getattr(self, "boxes", [self.input]):
            w.disabled = True

    def _record(self, right: bool) -> None:
        q, self.result = self.question, right
        if q.type == "open":
            verdict = "✓ You had it." if right else "✗ You missed it; read the model answer again."
            self.feedback.value = f"<b>{verdict}</b><br>" + self.feedback.value
            for button in self.self_mark.children:
                button.disabled = True
        elif right:
            self.feedback.value = f"<b>✓ Right.</b><br>{_esc(q.explanation)}"
        else:
            self.feedback.value = (f"<b>✗ Not quite. The answer is {_esc(q.answer_text())}.</b><br>"
                                   f"{_esc(q.explanation)}")
        self.feedback.add_class("kd-quiz-right" if right else "kd-quiz-wrong")
        self._mark_answer()
        self._lock()
        if self._on_result:
            self._on_result()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


class Quiz:
    """A column of :class:`QuizItem` with a running score; ``widget`` is the ipywidgets VBox."""

    def __init__(self, questions: list[Question], title: str = "Quiz"):
        if not questions:
            raise ValueError("a quiz needs at least one question, got none (check the topic/chapter filters)")
        self.questions, self.title = list(questions), title
        self.items = [QuizItem(q, k, self._update) for k, q in enumerate(self.questions, 1)]
        self.score_label = widgets.Label()
        self.score_label.add_class("kd-quiz-score")
        self._update()
        intro = widgets.HTML(f"{_STYLE}<h3>{_esc(title)}</h3><p>{len(self.items)} questions: answer one, "
                             f"then press Check.</p>")
        self.widget = widgets.VBox([intro, *(item.widget for item in self.items), self.score_label])
        self.widget.add_class("kd-quiz")

    @property
    def score(self) -> int:
        """Questions answered right so far (open ones as self-marked)."""
        return sum(item.result is True for item in self.items)

    @property
    def answered(self) -> int:
        """Questions graded so far."""
        return sum(item.result is not None for item in self.items)

    def _update(self) -> None:
        self.score_label.value = f"Score: {self.score} / {self.answered}"

    def static_html(self) -> str:
        """The quiz for a page without a kernel (a stored notebook on GitHub, a static book): each question and
        its options, then its answer and explanation folded in a ``<details>`` to open after answering."""
        parts = [f"<h3>{_esc(self.title)}</h3>"]
        for k, q in enumerate(self.questions, 1):
            options = "".join(f"<li>{letter(i)}) {_esc(o)}</li>" for i, o in enumerate(q.options))
            parts.append(f"<p><b>Q{k}.</b> {_esc(q.text)}</p>" + (f"<ul>{options}</ul>" if options else "")
                         + f"<details><summary>Answer key, Q{k}</summary><p><b>{_esc(q.answer_text())}</b></p>"
                         f"<p>{_esc(q.explanation)}</p></details>")
        return "\n".join(parts)

    def static_text(self) -> str:
        """The quiz as plain text: the questions, then their answer key at the end."""
        lines = [self.title, ""]
        for k, q in enumerate(self.questions, 1):
            lines += [f"Q{k}. {q.text}", *(f"  {letter(i)}) {o}" for i, o in enumerate(q.options)), ""]
        lines += ["Answer key:", *(f"  Q{k}. {q.answer_text()}" for k, q in enumerate(self.questions, 1))]
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs):
        """The live widget where a kernel runs; where none does, the viewer falls back to :meth:`static_html`
        (or :meth:`static_text`), which keeps the answer key readable."""
        return {**self.widget._repr_mimebundle_(**kwargs), "text/html": self.static_html(),
                "text/plain": self.static_text()}


def title(chapter: str | None = None, topic: str | None = None, upto: str | None = None) -> str:
    """A quiz's heading, in words: "Check yourself: DistilBERT", "Review: up to Teacher and student",
    with the topic's name after a dot when one is chosen; "Quiz" for the whole bank."""
    about = [SYLLABUS[topic][1]] if topic else []
    if chapter is not None:
        return f"Check yourself: {' · '.join([NOTEBOOKS[resolve_notebook(chapter)], *about])}"
    if upto is not None:
        return f"Review: {' · '.join([f'up to {NOTEBOOKS[resolve_notebook(upto)]}', *about])}"
    return f"Quiz: {about[0]}" if about else "Quiz"


def show(topic: str | None = None, n: int | None = None, shuffle: bool = True, chapter: str | None = None,
         seed: int | None = None, upto: str | None = None) -> Quiz:
    """A widget quiz on the bank: all questions, or those taught in the notebook ``chapter`` (or in
    ``upto`` and the notebooks before it), and/or of one topic; ``n`` of them, shuffled (reproducibly
    with ``seed``) unless ``shuffle=False``. Topics take turns, so a short quiz spans its chapter.

    Raises:
        ValueError: for an unknown topic or chapter (listing the valid ones), a bad ``n``, or no question left.
    """
    pool = load_bank(chapter=chapter, topic=topic, upto=upto)
    questions = pick(pool, n=n, shuffle=shuffle, seed=seed, spread=True)
    return Quiz(questions, title=title(chapter, topic, upto))
