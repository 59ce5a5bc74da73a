"""The question file: levels, dimensions and weighted questions, validated before anything is asked.

A broken file stops the assessment with one line that names the question (by its id, or its place
when it has none) and the field, so whoever edits ``questions.toml`` finds the mistake at once,
rather than as a wrong score later.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_QUESTIONS = Path(__file__).resolve().parent / "questions.toml"
LEVELS = range(5)  # the project's levels, 0 to 4
ID_PATTERN = re.compile(r"[a-z][a-z0-9_]*")

QUESTION_FIELDS = {"id", "dimension", "weight", "text", "options"}
OPTION_FIELDS = {"key", "level", "label"}
TOP_FIELDS = {"levels", "dimensions", "questions"}


class QuestionFileError(ValueError):
    """The question file cannot be used; the message names the question and the field."""


@dataclass(frozen=True)
class Level:
    """A rung of the ladder: its number, the folder that implements it and a short name."""

    number: int
    folder: str
    name: str


@dataclass(frozen=True)
class Dimension:
    """A group of questions scored together; ``next_steps[n]`` is the advice at level n."""

    id: str
    title: str
    next_steps: tuple[str, ...]


@dataclass(frozen=True)
class Option:
    """One answer to a question, and the level of the ladder it describes."""

    number: int  # 1-based, as the terminal shows it
    key: str
    level: int
    label: str


@dataclass(frozen=True)
class Question:
    """A question of one dimension, weighted by how critical it is."""

    id: str
    dimension: str
    weight: float
    text: str
    options: tuple[Option, ...]

    def option(self, key: str) -> Option:
        """The option with this key (a KeyError when there is none)."""
        for option in self.options:
            if option.key == key:
                return option
        raise KeyError(key)


@dataclass(frozen=True)
class Questionnaire:
    """Everything the question file holds, in the file's order."""

    levels: tuple[Level, ...]
    dimensions: tuple[Dimension, ...]
    questions: tuple[Question, ...]

    def question(self, question_id: str) -> Question:
        """The question with this id (a KeyError when there is none)."""
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    def dimension(self, dimension_id: str) -> Dimension:
        """The dimension with this id (a KeyError when there is none)."""
        for dimension in self.dimensions:
            if dimension.id == dimension_id:
                return dimension
        raise KeyError(dimension_id)

    def level(self, number: int) -> Level:
        """The rung with this number."""
        return self.levels[number]


def load_questions(path: Path = DEFAULT_QUESTIONS) -> Questionnaire:
    """Read and validate the question file; a QuestionFileError says what is wrong and where."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise QuestionFileError(f"{path}: cannot be read: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise QuestionFileError(f"{path}: not valid TOML: {error}") from None
    try:
        return parse_questions(data)
    except QuestionFileError as error:
        raise QuestionFileError(f"{path}: {error}") from None


def parse_questions(data: dict[str, Any]) -> Questionnaire:
    """The questionnaire from the file's parsed content, every field checked."""
    unknown = sorted(set(data) - TOP_FIELDS)
    if unknown:
        raise QuestionFileError(f"unknown table {unknown[0]!r} (expected {sorted(TOP_FIELDS)})")
    levels = parse_levels(data.get("levels"))
    dimensions = parse_dimensions(data.get("dimensions"))
    raw_questions = data.get("questions")
    if not isinstance(raw_questions, list) or not raw_questions:
        raise QuestionFileError("no [[questions]]")
    questions: list[Question] = []
    places: dict[str, int] = {}
    for place, raw in enumerate(raw_questions, 1):
        question = parse_question(raw, place, {dimension.id for dimension in dimensions})
        if question.id in places:
            raise QuestionFileError(
                f"question {question.id!r}: duplicate id (question #{place} and "
                f"#{places[question.id]} share it)"
            )
        places[question.id] = place
        questions.append(question)
    for dimension in dimensions:
        if not any(question.dimension == dimension.id for question in questions):
            raise QuestionFileError(f"dimension {dimension.id!r}: no question asks about it")
    return Questionnaire(levels, dimensions, tuple(questions))


def parse_levels(raw: Any) -> tuple[Level, ...]:
    """The five rungs, in order 0-4, each with a folder and a name."""
    if not isinstance(raw, list) or len(raw) != len(LEVELS):
        raise QuestionFileError(f"[[levels]] must list the {len(LEVELS)} levels 0-4")
    levels = []
    for expected, entry in zip(LEVELS, raw, strict=True):
        where = f"[[levels]] #{expected + 1}"
        if not isinstance(entry, dict):
            raise QuestionFileError(f"{where}: must be a table")
        if entry.get("level") != expected:
            raise QuestionFileError(f"{where}: field 'level' must be {expected}")
        folder, name = (text_field(entry, field, where) for field in ("folder", "name"))
        levels.append(Level(expected, folder, name))
    return tuple(levels)


def parse_dimensions(raw: Any) -> tuple[Dimension, ...]:
    """The dimensions in the file's order, each with a title and one next step per level."""
    if not isinstance(raw, dict) or not raw:
        raise QuestionFileError("no [dimensions.<id>] table")
    dimensions = []
    for dimension_id, entry in raw.items():
        where = f"dimension {dimension_id!r}"
        if not isinstance(entry, dict):
            raise QuestionFileError(f"{where}: must be a table")
        unknown = sorted(set(entry) - {"title", "next_steps"})
        if unknown:
            raise QuestionFileError(f"{where}: unknown field {unknown[0]!r}")
        title = text_field(entry, "title", where)
        steps = entry.get("next_steps")
        if (
            not isinstance(steps, list)
            or len(steps) != len(LEVELS)
            or not all(isinstance(step, str) and step.strip() for step in steps)
        ):
            raise QuestionFileError(
                f"{where}: field 'next_steps' must be {len(LEVELS)} texts, one per level 0-4"
            )
        dimensions.append(Dimension(dimension_id, title, tuple(steps)))
    return tuple(dimensions)


def parse_question(raw: Any, place: int, dimensions: set[str]) -> Question:
    """One question, named in every error by its id (or its place when the id is missing)."""
    if not isinstance(raw, dict):
        raise QuestionFileError(f"question #{place}: must be a table")
    question_id = raw.get("id")
    if not isinstance(question_id, str) or not ID_PATTERN.fullmatch(question_id):
        problem = (
            "is missing" if question_id is None else f"must be snake_case, got {question_id!r}"
        )
        raise QuestionFileError(f"question #{place}: field 'id' {problem}")
    where = f"question {question_id!r}"
    unknown = sorted(set(raw) - QUESTION_FIELDS)
    if unknown:
        raise QuestionFileError(f"{where}: unknown field {unknown[0]!r}")
    dimension = text_field(raw, "dimension", where)
    if dimension not in dimensions:
        raise QuestionFileError(
            f"{where}: field 'dimension' is {dimension!r}, not one of {sorted(dimensions)}"
        )
    if "weight" not in raw:
        raise QuestionFileError(f"{where}: field 'weight' is missing")
    weight = raw["weight"]
    if (
        isinstance(weight, bool)
        or not isinstance(weight, int | float)
        or not math.isfinite(weight)
        or weight <= 0
    ):
        raise QuestionFileError(f"{where}: field 'weight' must be a number above 0, got {weight!r}")
    text = text_field(raw, "text", where)
    raw_options = raw.get("options")
    if not isinstance(raw_options, list) or len(raw_options) < 2:
        raise QuestionFileError(f"{where}: field 'options' must list at least 2 options")
    options = tuple(
        parse_option(entry, number, where) for number, entry in enumerate(raw_options, 1)
    )
    keys = [option.key for option in options]
    duplicate = next((key for key in keys if keys.count(key) > 1), None)
    if duplicate is not None:
        raise QuestionFileError(f"{where}: two options have the key {duplicate!r}")
    return Question(question_id, dimension, float(weight), text, options)


def parse_option(raw: Any, number: int, where: str) -> Option:
    """One option: a key, the level it describes (0-4) and its label."""
    field = f"options[{number}]"
    if not isinstance(raw, dict):
        raise QuestionFileError(f"{where}: field '{field}' must be a table")
    unknown = sorted(set(raw) - OPTION_FIELDS)
    if unknown:
        raise QuestionFileError(f"{where}: field '{field}.{unknown[0]}' is not known")
    key = text_field(raw, "key", where, prefix=f"{field}.")
    if not ID_PATTERN.fullmatch(key):
        raise QuestionFileError(f"{where}: field '{field}.key' must be snake_case, got {key!r}")
    if "level" not in raw:
        raise QuestionFileError(f"{where}: field '{field}.level' is missing")
    level = raw["level"]
    if isinstance(level, bool) or not isinstance(level, int) or level not in LEVELS:
        raise QuestionFileError(
            f"{where}: field '{field}.level' must be a whole number from 0 to 4, got {level!r}"
        )
    label = text_field(raw, "label", where, prefix=f"{field}.")
    return Option(number, key, level, label)


def text_field(raw: dict[str, Any], field: str, where: str, prefix: str = "") -> str:
    """A required, non-empty text field."""
    if field not in raw:
        raise QuestionFileError(f"{where}: field '{prefix}{field}' is missing")
    value = raw[field]
    if not isinstance(value, str) or not value.strip():
        raise QuestionFileError(f"{where}: field '{prefix}{field}' must be a non-empty text")
    return value.strip()
