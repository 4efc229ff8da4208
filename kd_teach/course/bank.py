"""The course's question bank: packaged YAML files, validated, filtered and exported.

The bank is cut into parts, one file ``kd_teach/course/questions/NN_name.yaml`` each::

    part: 01_dark_knowledge             # the file's stem
    title: Dark knowledge and temperature
    questions:
      - {id, topic, kind, type, difficulty, taught_in, text, answer, explanation,
         options (single/multiple), tolerance and optional compute (numeric)}

``taught_in`` names the notebook (``notebooks/<taught_in>.py``, one of :data:`NOTEBOOKS`)
whose text and code let a learner answer the question; ``99_interview_prep`` marks what only
the interview sheet teaches. A chapter's quiz draws from its own notebook, or from it and
the earlier ones (:func:`load_bank`'s ``chapter`` and ``upto``), never from a later one.
``answer`` is an option index (single), a sorted list of indices (multiple), a number
(numeric, right within ``tolerance``) or a model answer in words (open). ``compute`` is a
Python expression, evaluated by :func:`check_compute` with the package's own functions,
that must give the numeric answer. This module imports PyYAML only; torch is imported
lazily, by :func:`check_compute` alone: taking or exporting a quiz never needs it.
"""
from __future__ import annotations

import math
import random
import re
import warnings
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib.resources import files
from types import MappingProxyType

import yaml

#: The 15 items of the syllabus (DESIGN.md), in order: topic slug -> (item number, short title).
SYLLABUS = MappingProxyType({
    "why-distil": (1, "Why distil"),
    "dark-knowledge": (2, "Dark knowledge"),
    "temperature": (3, "Softmax with temperature"),
    "kd-loss": (4, "Soft targets and the KD loss"),
    "distilbert": (5, "DistilBERT"),
    "student-design": (6, "Designing a student"),
    "tinybert-overview": (7, "TinyBERT's three contributions"),
    "embedding-loss": (8, "Embedding-layer distillation"),
    "layer-losses": (9, "Hidden, attention and prediction losses"),
    "layer-mapping": (10, "Layer mapping"),
    "general-distillation": (11, "General distillation"),
    "task-distillation": (12, "Task-specific distillation"),
    "data-augmentation": (13, "Data augmentation"),
    "results-ablations": (14, "Results and ablations"),
    "practice": (15, "Practice"),
})
#: The ways a topic is asked.
KINDS = ("definition", "why", "calculation", "design", "diagnosis")
#: Answer types: one option, several options, a number, free text (self-marked).
TYPES = ("single", "multiple", "numeric", "open")
DIFFICULTIES = ("easy", "medium", "hard")
#: The course's notebooks in teaching order: stem -> the title a learner reads ("Check yourself: ...").
NOTEBOOKS = MappingProxyType({
    "01_dark_knowledge": "Dark knowledge and temperature",
    "02_hinton_kd": "Hinton's knowledge distillation",
    "03_teacher_student": "Teacher and student",
    "04_distilbert": "DistilBERT",
    "05_transformer_distillation": "TinyBERT's transformer distillation",
    "06_general_distillation": "TinyBERT's general distillation",
    "07_task_distillation": "Task distillation and data augmentation",
    "08_full_runs": "Full runs",
    "09_deploying_the_student": "Deploying the student",
    "99_interview_prep": "Interview prep",
})

_ID = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_COMMON = ("id", "topic", "kind", "type", "difficulty", "taught_in", "text", "answer", "explanation")
_EXTRA = {"single": ("options",), "multiple": ("options",), "numeric": ("tolerance", "compute"), "open": ()}
#: How each type is answered, in words.
TYPE_NAMES = {"single": "one answer", "multiple": "select all that apply", "numeric": "a number",
              "open": "answer in words"}
_REQUIRED_EXTRA = {"single": ("options",), "multiple": ("options",), "numeric": ("tolerance",), "open": ()}


@dataclass(frozen=True)
class Question:
    """One validated question. ``answer`` is an int (single), a tuple of ints (multiple),
    a float (numeric) or a str (open); ``options`` is empty unless the type is single/multiple;
    ``taught_in`` is the notebook that teaches it; ``part`` the bank file it comes from."""

    id: str
    topic: str
    kind: str
    type: str
    difficulty: str
    taught_in: str
    text: str
    answer: int | tuple[int, ...] | float | str
    explanation: str
    options: tuple[str, ...] = ()
    tolerance: float | None = None
    compute: str | None = None
    part: str = ""

    @property
    def item(self) -> int:
        """The question's syllabus item number (1-15)."""
        return SYLLABUS[self.topic][0]

    def grade(self, response) -> bool:
        """True if ``response`` is right: an option index (single), a collection of indices
        (multiple, order ignored) or a number (numeric, within ``tolerance``).

        Raises:
            ValueError: for an open question (learners mark themselves) or a response of the wrong kind.
        """
        if self.type == "single":
            if isinstance(response, bool) or not isinstance(response, int):
                raise ValueError(f"{self.id}: a single-choice response is an option index, got {response!r}")
            return response == self.answer
        if self.type == "multiple":
            try:
                chosen = sorted(set(int(i) for i in response))
            except (TypeError, ValueError):
                raise ValueError(f"{self.id}: a multiple-choice response is a list of option indices, "
                                 f"got {response!r}") from None
            return tuple(chosen) == self.answer
        if self.type == "numeric":
            if isinstance(response, bool) or not isinstance(response, (int, float)) or not math.isfinite(response):
                raise ValueError(f"{self.id}: a numeric response is a finite number, got {response!r}")
            return abs(response - self.answer) <= self.tolerance + 1e-12 * max(1.0, abs(self.answer))
        raise ValueError(f"{self.id}: open questions are self-marked; there is nothing to grade automatically")

    def answer_text(self) -> str:
        """The right answer in words: lettered option(s), the number with its tolerance, or the model answer."""
        if self.type == "single":
            return f"{letter(self.answer)}) {self.options[self.answer]}"
        if self.type == "multiple":
            return "; ".join(f"{letter(i)}) {self.options[i]}" for i in self.answer)
        if self.type == "numeric":
            return f"{format_number(self.answer)} (± {format_number(self.tolerance)})"
        return self.answer


def letter(index: int) -> str:
    """0 -> 'a', 1 -> 'b', ..."""
    return "abcdefghijklmnopqrstuvwxyz"[index]


def format_number(x: float) -> str:
    """A number as a learner would write it: 16, 0.665, 1346980, 2.5e-05."""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.6g}"


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def validate_question(raw: dict, source: str = "<question>") -> Question:
    """Check one question as read from YAML and return it as a :class:`Question`.

    Args:
        raw: the question's mapping.
        source: where it comes from (a file name), quoted in errors.
    Raises:
        ValueError: naming the source, the question's id, the field, the bad value and what was
            expected: unknown topic/kind/type/difficulty, a missing or unexpected field, options
            that are not 2-10 distinct strings, an answer index out of range, a multiple answer
            that is not a sorted non-empty list of distinct indices, a numeric question without
            a tolerance > 0, an open question without a model answer.
    """
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: each question must be a mapping, got {raw!r}")
    qid = raw.get("id")

    def fail(field: str, expected: str):
        value = raw.get(field, "<missing>")
        raise ValueError(f"{source}: question {qid!r}: field {field!r}: expected {expected}, got {value!r}")

    if not isinstance(qid, str) or not _ID.fullmatch(qid):
        fail("id", "a lowercase slug such as 'dk-temp-01'")
    qtype = raw.get("type")
    if qtype not in TYPES:
        fail("type", f"one of {', '.join(TYPES)}")
    for field in _COMMON + _REQUIRED_EXTRA[qtype]:
        if field not in raw:
            fail(field, f"a value (required for {qtype} questions)")
    for field in sorted(set(raw) - set(_COMMON) - set(_EXTRA[qtype]), key=str):
        fail(field, f"no such field on a {qtype} question (allowed: {', '.join(_COMMON + _EXTRA[qtype])})")
    if raw["topic"] not in SYLLABUS:
        fail("topic", f"a syllabus slug, one of {', '.join(SYLLABUS)}")
    if raw["kind"] not in KINDS:
        fail("kind", f"one of {', '.join(KINDS)}")
    if raw["difficulty"] not in DIFFICULTIES:
        fail("difficulty", f"one of {', '.join(DIFFICULTIES)}")
    if raw["taught_in"] not in NOTEBOOKS:
        fail("taught_in", f"the notebook that teaches it, one of {', '.join(NOTEBOOKS)}")
    for field in ("text", "explanation"):
        if not isinstance(raw[field], str) or not raw[field].strip():
            fail(field, "a non-empty string")

    answer, options, tolerance = raw["answer"], (), None
    if qtype in ("single", "multiple"):
        opts = raw["options"]
        if (not isinstance(opts, list) or not 2 <= len(opts) <= 10
                or not all(isinstance(o, str) and o.strip() for o in opts) or len(set(opts)) != len(opts)):
            fail("options", "a list of 2 to 10 distinct non-empty strings")
        options = tuple(opts)
        if qtype == "single":
            if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(options):
                fail("answer", f"an option index 0..{len(options) - 1}")
        else:
            if (not isinstance(answer, list) or not answer
                    or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(options) for i in answer)
                    or answer != sorted(set(answer))):
                fail("answer", f"a sorted non-empty list of distinct option indices in 0..{len(options) - 1}")
            answer = tuple(answer)
    elif qtype == "numeric":
        if not _number(answer):
            fail("answer", "a finite number")
        tolerance = raw["tolerance"]
        if not _number(tolerance) or tolerance <= 0:
            fail("tolerance", "a finite number > 0")
        if "compute" in raw and (not isinstance(raw["compute"], str) or not raw["compute"].strip()):
            fail("compute", "a Python expression as a string")
        answer, tolerance = float(answer), float(tolerance)
    elif not isinstance(answer, str) or not answer.strip():
        fail("answer", "a model answer in words (a non-empty string)")
    return Question(id=qid, topic=raw["topic"], kind=raw["kind"], type=qtype, difficulty=raw["difficulty"],
                    taught_in=raw["taught_in"], text=raw["text"].strip(), answer=answer,
                    explanation=raw["explanation"].strip(), options=options, tolerance=tolerance,
                    compute=raw.get("compute"))


def validate_part(data: dict, source: str) -> list[Question]:
    """Check one bank file's content (keys part, title, questions) and return its questions.

    Raises:
        ValueError: if the top-level keys are wrong, ``part`` differs from the file's stem,
            a question is malformed (see :func:`validate_question`) or an id repeats.
    """
    if not isinstance(data, dict) or set(data) != {"part", "title", "questions"}:
        got = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{source}: expected the top-level keys part, title, questions, got {got}")
    stem = source.rsplit("/", 1)[-1].removesuffix(".yaml")
    if data["part"] != stem:
        raise ValueError(f"{source}: 'part' must be the file's stem {stem!r}, got {data['part']!r}")
    if not isinstance(data["questions"], list) or not data["questions"]:
        raise ValueError(f"{source}: 'questions' must be a non-empty list, got {data['questions']!r}")
    questions = [replace(validate_question(raw, source), part=stem) for raw in data["questions"]]
    _check_unique(questions, source)
    return questions


def _check_unique(questions: list[Question], source: str) -> None:
    seen: dict[str, str] = {}
    for q in questions:
        if q.id in seen:
            raise ValueError(f"{source}: question {q.id!r}: field 'id': duplicate id, already used in "
                             f"part {seen[q.id]!r}; expected ids unique across the bank")
        seen[q.id] = q.part


#: A bank file's name: two digits, a name, .yaml (other YAML files in the folder, such as the
#: interview sheet, are not questions).
PART_FILE = re.compile(r"\d\d_[a-z0-9_]+\.yaml")


@lru_cache(maxsize=1)
def _bank() -> tuple[tuple[Question, ...], tuple[tuple[str, str], ...]]:
    folder = files("kd_teach.course").joinpath("questions")
    paths = sorted((p for p in folder.iterdir() if PART_FILE.fullmatch(p.name)), key=lambda p: p.name)
    questions, parts = [], []
    for path in paths:
        source = f"kd_teach/course/questions/{path.name}"
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ValueError(f"{source}: not valid YAML: {err}") from None
        questions += validate_part(data, source)
        parts.append((data["part"], data["title"]))
    _check_unique(questions, "kd_teach/course/questions")
    return tuple(questions), tuple(parts)


def parts() -> dict[str, str]:
    """The bank's files in order: stem (e.g. '01_dark_knowledge') -> title."""
    return dict(_bank()[1])


def resolve_notebook(name: str) -> str:
    """The notebook stem for ``name``: the stem, its number ('04') or its name ('distilbert', 'hinton-kd').

    Raises:
        ValueError: naming ``name`` and listing the notebooks, if none matches.
    """
    wanted = str(name).strip().lower().replace("-", "_")
    for stem in NOTEBOOKS:
        if wanted in (stem, *stem.split("_", 1)):
            return stem
    raise ValueError(f"unknown chapter {name!r}; choose a notebook: {', '.join(NOTEBOOKS)}")


def load_bank(chapter: str | None = None, topic: str | None = None, upto: str | None = None) -> list[Question]:
    """All questions of the packaged bank, in file order; optionally only those taught in the
    notebook ``chapter``, or in ``upto`` and the notebooks before it, and/or of one topic.

    Raises:
        ValueError: if a file is malformed (see :func:`validate_part`), ``topic`` is not a
            syllabus slug, or ``chapter``/``upto`` names no notebook; the message lists the valid values.
    """
    if topic is not None and topic not in SYLLABUS:
        raise ValueError(f"unknown topic {topic!r}; choose one of: {', '.join(SYLLABUS)}")
    order = list(NOTEBOOKS)
    only = resolve_notebook(chapter) if chapter is not None else None
    last = order.index(resolve_notebook(upto)) if upto is not None else len(order)
    return [q for q in _bank()[0] if (only is None or q.taught_in == only) and order.index(q.taught_in) <= last
            and (topic is None or q.topic == topic)]


def pick(questions: list[Question], n: int | None = None, shuffle: bool = True, seed: int | None = None,
         spread: bool = False) -> list[Question]:
    """Up to ``n`` of ``questions``: shuffled (reproducibly when ``seed`` is given) or in order.

    With ``shuffle=False`` and ``n`` set, the first ``n`` are taken. With ``spread=True`` the
    topics take turns (the first question of each topic, then the second of each, ...), so a
    short quiz covers every topic of its pool before it repeats one.
    Raises:
        ValueError: if ``n`` is not an int >= 1.
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a whole number >= 1, got {n!r}")
    chosen = list(questions)
    if shuffle:
        random.Random(seed).shuffle(chosen)
    if spread:
        seen: dict[str, int] = {}
        rounds = []                                        # rounds[i]: how many of its topic came before chosen[i]
        for q in chosen:
            rounds.append(seen.get(q.topic, 0))
            seen[q.topic] = rounds[-1] + 1
        chosen = [q for _, q in sorted(zip(rounds, chosen), key=lambda pair: pair[0])]  # stable within a round
    return chosen[:n] if n is not None else chosen


def check_compute(q: Question) -> float:
    """Evaluate ``q.compute`` with torch, math and the package's temperature, Hinton and TinyBERT losses and g(m).

    Returns:
        The value as a float (to compare with ``q.answer`` within ``q.tolerance``).
    Raises:
        ValueError: if ``q`` has no ``compute``, the expression fails, or it gives no finite number.
    """
    if not q.compute:
        raise ValueError(f"question {q.id!r} has no 'compute' expression")
    import torch  # lazily: the quiz itself never needs torch

    from kd_teach.hinton.losses import distillation_loss, kd_loss, student_loss
    from kd_teach.temperature import entropy, log_softmax_with_temperature, soft_targets, softmax_with_temperature
    from kd_teach.tinybert.losses import L_attn, L_embd, L_hidn, L_pred
    from kd_teach.tinybert.mapping import layer_mapping

    names = dict(torch=torch, math=math, softmax_with_temperature=softmax_with_temperature,
                 log_softmax_with_temperature=log_softmax_with_temperature, soft_targets=soft_targets,
                 entropy=entropy, student_loss=student_loss, distillation_loss=distillation_loss, kd_loss=kd_loss,
                 L_embd=L_embd, L_hidn=L_hidn, L_attn=L_attn, L_pred=L_pred, layer_mapping=layer_mapping)
    try:
        with warnings.catch_warnings():  # e.g. kl_div's notice about reduction='mean', which a question teaches
            warnings.simplefilter("ignore")
            value = eval(q.compute, names)  # the package's own YAML, not user input
    except Exception as err:  # noqa: BLE001 - reported with the expression
        raise ValueError(f"question {q.id!r}: compute {q.compute!r} failed: {type(err).__name__}: {err}") from None
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if not _number(value):
        raise ValueError(f"question {q.id!r}: compute {q.compute!r} must give a finite number, got {value!r}")
    return float(value)


def taught_counts(questions: list[Question] | None = None) -> dict[str, int]:
    """Per notebook, in teaching order: how many questions it teaches."""
    questions = load_bank() if questions is None else questions
    return {stem: sum(q.taught_in == stem for q in questions) for stem in NOTEBOOKS}


def coverage(questions: list[Question] | None = None) -> dict[str, dict]:
    """Per syllabus slug, in order: {"count": questions on it, "kinds": sorted kinds used}."""
    questions = load_bank() if questions is None else questions
    return {slug: {"count": sum(q.topic == slug for q in questions),
                   "kinds": sorted({q.kind for q in questions if q.topic == slug})} for slug in SYLLABUS}
