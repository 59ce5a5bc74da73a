"""The terminal: colours only where they show, and the questions asked one by one.

Colours are ANSI escapes, used only when the stream is a terminal, ``NO_COLOR`` is not set and
``TERM`` is not ``dumb``: a file, a pipe or a log never gets escape codes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TextIO

from .evidence import Found
from .questions import Option, Question, Questionnaire
from .scoring import Answer

SKIP = {"s", "skip"}
BAR_WIDTH = 20


def colours_supported(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """True when ``stream`` is a terminal that shows colours and the user has not refused them."""
    return stream.isatty() and "NO_COLOR" not in environ and environ.get("TERM") != "dumb"


class Style:
    """Wraps text in ANSI colours when enabled, and leaves it alone otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text

    def bold(self, text: str) -> str:
        """Headings and the question being asked."""
        return self._wrap("1", text)

    def dim(self, text: str) -> str:
        """Evidence and sources: there to check, not to read first."""
        return self._wrap("2", text)

    def cyan(self, text: str) -> str:
        """Commands to run, and the progress bar."""
        return self._wrap("36", text)

    def yellow(self, text: str) -> str:
        """The weakest dimension, and entries that are re-asked."""
        return self._wrap("33", text)


def progress(index: int, total: int) -> str:
    """``[3/16] ###-----------------``: where the user is in the questions."""
    filled = round(BAR_WIDTH * index / total)
    return f"[{index}/{total}] " + "#" * filled + "-" * (BAR_WIDTH - filled)


class InputEndedError(Exception):
    """Standard input ended before every question was answered or skipped."""


def ask_all(
    questionnaire: Questionnaire,
    found: Mapping[str, Found],
    *,
    read_line: Callable[[], str],
    out: TextIO,
    style: Style,
    echo: bool = False,
) -> dict[str, Answer]:
    """Ask every question in the file's order; evidence found in the repository is the default.

    ``read_line`` returns one line of input with its newline, or "" at the end of the input
    (InputEndedError). Enter accepts the default, ``s`` skips a question (it is then not
    scored), and anything that is not a choice is re-asked. ``echo`` writes each entry after its
    prompt when the input is not a terminal (a pipe), as a terminal would, so the output reads as
    the conversation it was.
    """
    answers = {}
    total = len(questionnaire.questions)
    for index, question in enumerate(questionnaire.questions, 1):
        title = questionnaire.dimension(question.dimension).title
        out.write(f"\n{style.cyan(progress(index, total))}  {title}\n")
        out.write(style.bold(question.text) + "\n")
        for option in question.options:
            out.write(f"  {option.number}) {option.label}\n")
        evidence = found.get(question.id)
        if evidence is not None:
            out.write(style.dim(f"  the code says {evidence.option.number}:") + "\n")
            for line in evidence.evidence:
                out.write(style.dim(f"    {line}") + "\n")
        chosen = ask_one(
            question,
            evidence=evidence,
            read_line=read_line,
            out=out,
            style=style,
            place=f"[{index}/{total}]",
            echo=echo,
        )
        if chosen is None:
            continue
        if evidence is not None and chosen == evidence.option:
            answers[question.id] = Answer(question, chosen, "evidence", evidence.evidence)
        else:
            answers[question.id] = Answer(question, chosen, "you")
    return answers


def ask_one(
    question: Question,
    *,
    evidence: Found | None,
    read_line: Callable[[], str],
    out: TextIO,
    style: Style,
    place: str,
    echo: bool,
) -> Option | None:
    """The option the user picks, or None when they skip; re-asks until the entry is a choice."""
    last = len(question.options)
    default = "" if evidence is None else f", Enter = {evidence.option.number}"
    prompt = f"answer [1-{last}{default}, s = skip]: "
    while True:
        out.write(prompt)
        out.flush()
        line = read_line()
        if not line:
            raise InputEndedError(f"input ended at question {place} ({question.id})")
        if echo:
            out.write(line if line.endswith("\n") else line + "\n")
        entry = line.strip().lower()
        if not entry and evidence is not None:
            return evidence.option
        if entry in SKIP:
            return None
        for option in question.options:
            if entry in {str(option.number), option.key}:
                return option
        problem = "there is no default here" if not entry else f"{line.strip()!r} is not a choice"
        out.write(style.yellow(f"  {problem}: type a number from 1 to {last}, or s") + "\n")
