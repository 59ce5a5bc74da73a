"""What each level automates and leaves to a person, each claim backed by a line of its code.

The ladder is the same five duties at every level; a level either does a duty by itself or
leaves it to a person. Each claim names its evidence: a line of the level's own code that says
so (found by a pattern, so the page shows the line as it is today), or, for something a level
does not do at all, a pattern that no file of the level matches. :func:`resolve` checks every
claim against the code: a claim whose evidence is gone is an error, not a stale sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Line:
    """Evidence that is there: the first line of ``file`` (in the level) matching ``pattern``."""

    file: str
    pattern: str


@dataclass(frozen=True)
class Absent:
    """Evidence of absence: no Python file of the level matches ``pattern``."""

    pattern: str
    meaning: str


@dataclass(frozen=True)
class Claim:
    """One duty at one level: done by the level itself (``automated``) or by a person."""

    duty: str
    automated: bool
    evidence: Line | Absent


@dataclass(frozen=True)
class Level:
    """A rung of the ladder: its folder, the make target that runs it and its claims."""

    name: str
    title: str
    target: str
    claims: tuple[Claim, ...]

    @property
    def manual(self) -> tuple[Claim, ...]:
        """The duties a person still does at this level."""
        return tuple(claim for claim in self.claims if not claim.automated)

    @property
    def automated(self) -> tuple[Claim, ...]:
        """The duties this level does by itself."""
        return tuple(claim for claim in self.claims if claim.automated)


#: The duties, in the order the ladder automates them.
DUTIES = {
    "train": "run the training on fresh data",
    "record": "record which data, code and parameters made each model",
    "release": "check the model, choose it and deploy it",
    "watch": "watch production: drift, quality, broken feeds",
    "react": "retrain, check the new model on live traffic, promote or roll back",
    "oversee": "set the reaction policy and its budget; repair a broken upstream when paged",
}

_NO_MONITORING = Absent(r"^\s*(from|import) evidently", "no module imports Evidently")
_NO_REACTION = Absent(r"DeploymentEventTrigger", "nothing starts a flow run on an event")

LEVELS = (
    Level(
        "level0_manual",
        "manual",
        "level0",
        (
            Claim("train", False, Line("train.py", r"train the recommender by hand")),
            Claim("record", False, Line("train.py", r"Nothing is tracked, versioned")),
            Claim("release", False, Line("train.py", r"Hand the model file over")),
            Claim("watch", False, _NO_MONITORING),
            Claim("react", False, _NO_REACTION),
        ),
    ),
    Level(
        "level1_pipeline",
        "pipeline",
        "level1",
        (
            Claim("train", True, Line("schedule.py", r"Run the training flow every")),
            Claim("record", True, Line("tracking.py", r"with mlflow\.start_run")),
            Claim("release", False, Line("train.py", r"is still a person's call")),
            Claim("watch", False, _NO_MONITORING),
            Claim("react", False, _NO_REACTION),
        ),
    ),
    Level(
        "level2_cicd",
        "CI/CD",
        "level2",
        (
            Claim("train", True, Line("schedule.py", r"Run the training flow every")),
            Claim("record", True, Line("tracking.py", r"with mlflow\.start_run")),
            Claim("release", True, Line("stages.py", r"^def promote\(")),
            Claim("watch", False, _NO_MONITORING),
            Claim("react", False, _NO_REACTION),
        ),
    ),
    Level(
        "level3_monitoring",
        "monitoring",
        "level3",
        (
            Claim("train", True, Line("schedule.py", r"Run the training flow every")),
            Claim("record", True, Line("tracking.py", r"with mlflow\.start_run")),
            Claim("release", True, Line("stages.py", r"^def promote\(")),
            Claim("watch", True, Line("monitoring.py", r"^@flow\(name=f\"\{PACKAGE\}-monitoring")),
            Claim("react", False, Line("production.py", r"Nobody reacts at level 3")),
        ),
    ),
    Level(
        "level4_autonomous",
        "autonomous",
        "level4",
        (
            Claim("train", True, Line("schedule.py", r"Run the training flow every")),
            Claim("record", True, Line("tracking.py", r"with mlflow\.start_run")),
            Claim("release", True, Line("stages.py", r"^def promote\(")),
            Claim("watch", True, Line("monitoring.py", r"^@flow\(name=f\"\{PACKAGE\}-monitoring")),
            Claim("react", True, Line("triggers.py", r"DeploymentEventTrigger\(")),
            Claim("oversee", False, Line("policy.py", r"a person decides")),
        ),
    ),
)


class EvidenceError(ValueError):
    """A claim's evidence is not in the code (any more)."""


def resolve(level: str, evidence: Line | Absent, root: Path = ROOT) -> str:
    """The evidence as a person reads it: ``file:line: text``, or what no file contains."""
    folder = root / level
    if isinstance(evidence, Line):
        path = folder / evidence.file
        pattern = re.compile(evidence.pattern)
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(text):
                return f"{level}/{evidence.file}:{number}: {text.strip()}"
        raise EvidenceError(f"{level}/{evidence.file}: no line matches {evidence.pattern!r}")
    pattern = re.compile(evidence.pattern, re.MULTILINE)
    for path in sorted(folder.glob("*.py")):
        if pattern.search(path.read_text(encoding="utf-8")):
            raise EvidenceError(
                f"{level}/{path.name} matches {evidence.pattern!r}, but the ladder says "
                f"{evidence.meaning}"
            )
    return f"{level}: {evidence.meaning} (no file matches `{evidence.pattern}`)"


def code_size(level: str, root: Path = ROOT) -> dict[str, int]:
    """Python files and their non-blank lines in the level's folder (its tests live elsewhere)."""
    files = sorted((root / level).glob("*.py"))
    lines = sum(
        1
        for path in files
        for text in path.read_text(encoding="utf-8").splitlines()
        if text.strip()
    )
    return {"files": len(files), "lines": lines}


def describe(level: Level, root: Path = ROOT) -> dict[str, object]:
    """The level's ladder facts for compare.json: code size, what it automates and what not."""

    def claims(selected: tuple[Claim, ...]) -> list[dict[str, str]]:
        return [
            {
                "duty": claim.duty,
                "what": DUTIES[claim.duty],
                "evidence": resolve(level.name, claim.evidence, root),
            }
            for claim in selected
        ]

    return {
        "title": level.title,
        "code": code_size(level.name, root),
        "automated": claims(level.automated),
        "manual_steps": claims(level.manual),
    }
