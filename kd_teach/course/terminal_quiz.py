"""The terminal quiz of ``kd-teach quiz``: the bank's questions asked one by one on stdin, with a score.

The notebooks' quiz is the widget of :mod:`kd_teach.course.quiz`; both read answers the same way
(:func:`kd_teach.course.quiz.parse_choices`, :func:`kd_teach.course.quiz.parse_number`).
"""
from __future__ import annotations

import sys
import textwrap
from typing import TextIO

from kd_teach.course.bank import SYLLABUS, Question, letter
from kd_teach.course.quiz import parse_choices, parse_number


def run_terminal(questions: list[Question], stdin: TextIO | None = None, stdout: TextIO | None = None,
                 width: int = 88) -> tuple[int, int]:
    """Ask ``questions`` one by one on a terminal (or a pipe), then print "Score: k / m".

    Answers are read line by line: a letter or 1-based number (single); letters separated by
    commas or spaces (multiple); a number (numeric); a line of text, then y/n after the model
    answer (open). An empty line skips a question (it counts as not right); an unreadable
    answer is asked again. End of input or Ctrl-C ends the quiz cleanly with the score so far.
    Returns:
        (right, asked).
    """
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    echo = not (hasattr(stdin, "isatty") and stdin.isatty())  # show piped answers, so the transcript reads well

    def say(text: str = "", indent: str = "") -> None:
        for paragraph in text.split("\n"):
            stdout.write(textwrap.fill(paragraph, width, initial_indent=indent, subsequent_indent=indent) + "\n")

    def read(prompt: str) -> str | None:
        stdout.write(prompt)
        stdout.flush()
        line = stdin.readline()
        if not line:
            stdout.write("\n")
            return None
        if echo:
            stdout.write(line.rstrip("\n") + "\n")
        return line.strip()

    right = asked = 0
    say(f"kd-teach quiz: {len(questions)} questions. Type your answer and press Enter; an empty line skips; "
        f"Ctrl-D (end of input) stops.")
    try:
        for number, q in enumerate(questions, 1):
            say()
            say(f"Q{number}/{len(questions)} [{SYLLABUS[q.topic][1]} · {q.kind} · {q.difficulty}]")
            say(q.text)
            for i, option in enumerate(q.options):
                say(f"{letter(i)}) {option}", indent="  ")
            outcome = _ask(q, read, say)
            if outcome is None:
                break
            asked, right = asked + 1, right + outcome
    except KeyboardInterrupt:
        stdout.write("\n")
    say()
    stopped = f" (stopped after {asked} of {len(questions)} questions)" if asked < len(questions) else ""
    say(f"Score: {right} / {asked}{stopped}")
    stdout.flush()
    return right, asked


def _ask(q: Question, read, say) -> bool | None:
    """One question's dialogue; True/False, or None at the end of input."""
    if q.type == "open":
        if read("Your answer (one line): ") is None:
            return None
        say(f"Model answer: {q.answer}", indent="  ")
        say(f"Why: {q.explanation}", indent="  ")
        while True:
            line = read("Did you get it? [y/n] ")
            if line is None:
                return None
            if line.lower() in ("y", "yes", "n", "no"):
                return line.lower().startswith("y")
            say("Please type y or n.")
    last = letter(len(q.options) - 1) if q.options else ""
    prompt = {"single": f"Your answer (a letter a-{last}): ",
              "multiple": f"Your answer (letters a-{last}, e.g. a, c): ",
              "numeric": "Your answer (a number): "}[q.type]
    while True:
        line = read(prompt)
        if line is None:
            return None
        if not line:
            say(f"– Skipped. The answer is {q.answer_text()}.")
            say(q.explanation, indent="  ")
            return False
        try:
            if q.type == "numeric":
                response = parse_number(line)
            else:
                response = parse_choices(line, len(q.options))
                if q.type == "single":
                    if len(response) != 1:
                        raise ValueError(f"choose exactly one option, got {line!r}")
                    response = response[0]
        except ValueError as err:
            say(f"Please {err}.")
            continue
        right = q.grade(response)
        say("✓ Right." if right else f"✗ Not quite. The answer is {q.answer_text()}.")
        say(q.explanation, indent="  ")
        return right
