"""Scoring: pure functions from the chosen options to levels (the rule is in the package docstring).

Only answered questions count. A dimension nobody answered anything in has no score and no level,
and is left out of the overall level, which the report says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .questions import Option, Question, Questionnaire

#: Scores are sums of products of weights such as 1.5 and 2.5: 2.9999999999999996 is level 3.
ROUNDING = 9


@dataclass(frozen=True)
class Evidence:
    """A line of a repository that supports an option: where it is and what it says."""

    file: str
    line: int
    text: str

    def __str__(self) -> str:
        """``file:line: text``, as the report shows it."""
        return f"{self.file}:{self.line}: {self.text}"


@dataclass(frozen=True)
class Answer:
    """The option chosen for a question, and where the choice came from."""

    question: Question
    option: Option
    source: str  # "evidence", "answers file" or "you"
    evidence: tuple[Evidence, ...] = field(default=())


@dataclass(frozen=True)
class DimensionScore:
    """A dimension's weighted mean level over its answered questions, and its level."""

    id: str
    title: str
    score: float | None  # None: no question of the dimension was answered
    level: int | None
    answered: int
    questions: int


@dataclass(frozen=True)
class Score:
    """The assessment's figures: per dimension, overall, and the weakest dimension."""

    dimensions: tuple[DimensionScore, ...]
    level: int
    mean: float
    weakest: DimensionScore
    answered: int
    questions: int


def weighted_mean(answers: list[Answer]) -> float | None:
    """Sum of weight * level / sum of weight over the answers; None when there are none."""
    if not answers:
        return None
    total = sum(answer.question.weight for answer in answers)
    mean = sum(answer.question.weight * answer.option.level for answer in answers) / total
    return round(mean, ROUNDING)


def score(questionnaire: Questionnaire, answers: dict[str, Answer]) -> Score:
    """Score the answers; a ValueError when not one question was answered."""
    if not answers:
        raise ValueError("no question was answered: there is nothing to score")
    dimensions = []
    for dimension in questionnaire.dimensions:
        asked = [q for q in questionnaire.questions if q.dimension == dimension.id]
        chosen = [answers[q.id] for q in asked if q.id in answers]
        mean = weighted_mean(chosen)
        level = None if mean is None else math.floor(mean)
        dimensions.append(
            DimensionScore(dimension.id, dimension.title, mean, level, len(chosen), len(asked))
        )
    scored = [dimension for dimension in dimensions if dimension.score is not None]
    # min() keeps the first of equal scores: ties go to the dimension written first in the file.
    weakest = min(scored, key=lambda dimension: dimension.score or 0.0)
    overall = weighted_mean(list(answers.values()))
    return Score(
        dimensions=tuple(dimensions),
        level=min(dimension.level or 0 for dimension in scored),
        mean=overall or 0.0,
        weakest=weakest,
        answered=len(answers),
        questions=len(questionnaire.questions),
    )
