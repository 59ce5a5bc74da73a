"""The decision log: every action level 4 takes by itself, with the evidence it took it on.

Each decision is a line of ``decisions.jsonl`` in the state folder (``day``, ``action``,
``model_version``, ``reason``, ``evidence``) and, when it concerns a model version, a tag on that
version in the registry (``decision.<action>``), so the registry's audit trail of level 3 also
says why level 4 retrained, promoted, rejected or rolled back. A broken feed also pages a person:
the policy does not decide what to do about an upstream that is broken.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from .alerts import post_json

Action = Literal["retrain", "promote", "reject", "rollback", "quarantine"]
DECISION_LOG, PAGE_LOG = "decisions.jsonl", "pages.jsonl"
#: MLflow keeps tag values up to 5,000 characters.
TAG_LIMIT = 5000


@dataclass(frozen=True)
class Decision:
    """One action and why: ``evidence`` holds the numbers it was decided on."""

    day: int
    action: Action
    model_version: str | None
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """One line for the terminal."""
        version = f" version {self.model_version}" if self.model_version else ""
        return f"DECISION day {self.day}: {self.action}{version}: {self.reason}"


class DecisionLog:
    """``decisions.jsonl`` of a state folder, mirrored as tags on the registry's versions."""

    def __init__(self, state_dir: Path, model_name: str | None = None) -> None:
        self.path = state_dir / DECISION_LOG
        self.model_name = model_name

    def record(self, decision: Decision) -> Decision:
        """Append, tag the version (when there is one and a model name), print."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(decision)) + "\n")
        if decision.model_version and self.model_name:
            from mlflow.tracking import MlflowClient

            MlflowClient().set_model_version_tag(
                self.model_name,
                decision.model_version,
                f"decision.{decision.action}",
                f"day {decision.day}: {decision.reason}"[:TAG_LIMIT],
            )
        print(decision.line(), flush=True)
        return decision

    def read(self) -> list[dict[str, Any]]:
        """Every decision so far, oldest first."""
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


def page(state_dir: Path, to: str, webhook_url: str | None, day: int, message: str) -> None:
    """Call a person: a line in ``pages.jsonl``, on the terminal, and to the webhook if set."""
    body = {"day": day, "to": to, "message": message}
    path = state_dir / PAGE_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(body) + "\n")
    print(f"PAGE day {day} to {to}: {message}", flush=True)
    if webhook_url:
        post_json(webhook_url, body, "page")
