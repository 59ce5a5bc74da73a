"""What is wrong with a dataset, said so that a person can find and fix it.

Every reader and check reports a :class:`Problem` naming the file and the column (as spelled in
that file), and gathers all of them before giving up, so one run shows every fix to make.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file (and column, when the problem is about a column)."""

    file: str
    column: str | None
    message: str

    def __str__(self) -> str:
        """The problem as one line of an error message, led by where to look."""
        if self.column is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}, column {self.column!r}: {self.message}"


class DataError(ValueError):
    """A dataset that cannot be read or does not meet the file contract; lists every problem.

    ``where`` is the dataset folder, named in the message's first line when given.
    """

    def __init__(self, problems: Sequence[Problem], where: str | Path | None = None) -> None:
        self.problems = list(problems)
        self.where = None if where is None else str(where)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        header = f"dataset {self.where}" if self.where else "dataset"
        lines = [f"{header} has {count} {noun}:", *(f"  - {problem}" for problem in self.problems)]
        super().__init__("\n".join(lines))
