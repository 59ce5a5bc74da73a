"""An answers file: question id → option number (1, 2, …) or option key, in TOML or JSON.

    run_tracking = 2          # the second option, as the terminal numbers them
    release = "promoted"      # or the option's key from questions.toml

A file with ``.json`` in its name is read as JSON, anything else as TOML. Every entry is checked
against the questions: an unknown id or option stops the run with one line naming both.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from .questions import Option, Question, Questionnaire


class AnswersError(ValueError):
    """The answers file cannot be used; the message names the file, the question and the value."""


def read_answers(path: Path, questionnaire: Questionnaire) -> dict[str, Option]:
    """The options the file chooses, by question id."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise AnswersError(f"{path}: cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise AnswersError(f"{path}: not UTF-8 text: {error}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise AnswersError(f"{path}: not valid {kind}: {error}") from None
    if not isinstance(data, dict):
        raise AnswersError(f"{path}: must map question ids to options, got {type(data).__name__}")
    chosen = {}
    for question_id, value in data.items():
        try:
            question = questionnaire.question(question_id)
        except KeyError:
            known = ", ".join(question.id for question in questionnaire.questions)
            raise AnswersError(
                f"{path}: question {question_id!r} is not in the questions (known: {known})"
            ) from None
        chosen[question_id] = choose(question, value, path)
    return chosen


def choose(question: Question, value: Any, path: Path) -> Option:
    """The option ``value`` names: its number (1-based) or its key."""
    if isinstance(value, int) and not isinstance(value, bool):
        if 1 <= value <= len(question.options):
            return question.options[value - 1]
    elif isinstance(value, str):
        for option in question.options:
            if option.key == value or (value.isdigit() and int(value) == option.number):
                return option
    keys = ", ".join(option.key for option in question.options)
    raise AnswersError(
        f"{path}: question {question.id!r}: {value!r} is not an option "
        f"(a number from 1 to {len(question.options)}, or one of: {keys})"
    )
