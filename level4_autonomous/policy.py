"""The policy's decisions as pure functions: may a retraining start now, and on which days?

Everything here takes plain values (the alert metrics that fired, the day the incident began, the
decisions so far) and returns an answer with its reason, so the tests can check each rule by
hand. The numbers come from ``[policy]`` in the configuration: a person's choices.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .config import PolicyConfig


@dataclass(frozen=True)
class Window:
    """The days a retraining reads: from ``from_day`` (0: all of them) through ``last_day``."""

    from_day: int
    last_day: int
    reason: str


def training_window(
    metrics: Iterable[str], incident_day: int, day: int, policy: PolicyConfig
) -> Window:
    """All the data, old and new, unless an alert in ``recent_only_on`` fired that day.

    New users, other contexts, a change of taste: what the old interactions teach about each
    user's long-term taste still holds, and EASE needs it (a model fitted on recent days alone
    gets fewer clicks live, see the README). After a catalogue shift the old data knows nothing
    of the new items and outweighs them: the window starts on the incident's first day.
    """
    recent = sorted(set(metrics) & set(policy.recent_only_on))
    if recent:
        return Window(
            incident_day,
            day,
            f"{', '.join(recent)}: the old data cannot teach the change, so days "
            f"{incident_day}-{day} only",
        )
    return Window(0, day, f"{', '.join(sorted(set(metrics)))}: all data through day {day}")


def retraining_blocked(
    day: int,
    window: Window,
    decisions: Sequence[dict[str, Any]],
    policy: PolicyConfig,
    check_running: bool,
) -> str | None:
    """Why a retraining may not start on ``day`` (None: it may), by the policy's rules."""
    retrains = [d["day"] for d in decisions if d["action"] == "retrain"]
    if day in retrains:
        return "a retraining already ran today (on another of the day's events)"
    if check_running:
        return "an online check or a watch is running; its outcome comes first"
    if retrains and day - max(retrains) < policy.cooldown_days:
        return f"cool-down: the last retraining was on day {max(retrains)}"
    recent = [past for past in retrains if past > day - policy.budget_days]
    if len(recent) >= policy.max_retrains:
        return (
            f"budget spent: {len(recent)} retrainings in the last {policy.budget_days} days "
            f"(max_retrains {policy.max_retrains}); a person decides"
        )
    fresh = day - window.from_day + 1
    if window.from_day > 0 and fresh < policy.min_fresh_days:
        return f"{fresh} day(s) of data since the incident, {policy.min_fresh_days} needed"
    return None
