"""Shared by the assessment's tests: the real command as a subprocess, and answers at a level."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from assessment.questions import Questionnaire, load_questions

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def questionnaire() -> Questionnaire:
    """The project's own question file."""
    return load_questions()


@pytest.fixture
def assess() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m assessment`` from the repository root, as ``make assess`` does."""

    def run(
        *args: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        environ = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
        return subprocess.run(
            [sys.executable, "-m", "assessment", *args],
            cwd=ROOT,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env={**environ, **(env or {})},
            timeout=60,
            check=False,
        )

    return run


@pytest.fixture
def answers_at(questionnaire: Questionnaire, tmp_path: Path) -> Callable[[int], Path]:
    """An answers file choosing, for every question, the option of one level (by its key)."""

    def write(level: int) -> Path:
        lines = [
            f'{question.id} = "{next(o.key for o in question.options if o.level == level)}"'
            for question in questionnaire.questions
        ]
        path = tmp_path / f"answers-level{level}.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write
