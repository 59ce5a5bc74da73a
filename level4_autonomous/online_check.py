"""The online check: a challenger meets live traffic beside the champion before it is promoted.

A fixed share of users (``policy.online_share``, by a hash of the user id, so each user keeps one
arm) gets the version under the registry's ``ab_test`` alias; the others get the champion. After
each production day the arms are compared by what users did with their lists, counted the same
way as the monitoring's click-through: feedback events per served list.

The decision rule (:func:`judge`), stated:

- each arm needs ``online_min_lists`` answered lists before anything is decided;
- the new version is *worse* when its click-through is lower with a one-sided p-value under
  ``online_significance``. Given the clicks of both arms, under equal click-through each click
  falls in the new arm with probability ``lists_new / (lists_new + lists_old)``, so the p-value
  is the binomial probability of the new arm getting this few of them (a conditional test of two
  Poisson rates, exact at any sample size);
- otherwise it is *not worse*.

Before a promotion the new version is the challenger: worse → reject; not worse → promote;
``online_max_days`` without enough lists → reject (not enough evidence). After a promotion the
replaced champion takes the test arm for ``watch_days``, and the same rule with the roles as they
are now rolls the alias back when the new champion is worse live (``rollback.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from scipy.stats import binom

Outcome = Literal["wait", "worse", "not_worse"]


@dataclass(frozen=True)
class Arm:
    """One version's traffic in the check: answered lists and the feedback events on them."""

    version: str
    lists: int
    clicks: int

    @property
    def ctr(self) -> float | None:
        """Feedback events per list, as the monitoring's click-through."""
        return self.clicks / self.lists if self.lists else None


@dataclass(frozen=True)
class Verdict:
    """What the rule says about ``new`` against ``old``, and the numbers it says it on."""

    outcome: Outcome
    new: Arm
    old: Arm
    p_value: float | None
    reason: str

    def evidence(self) -> dict[str, Any]:
        """The numbers, for the decision log."""
        return {
            "outcome": self.outcome,
            "new": {**asdict(self.new), "ctr": self.new.ctr},
            "old": {**asdict(self.old), "ctr": self.old.ctr},
            "p_value": self.p_value,
        }


def judge(new: Arm, old: Arm, min_lists: int, significance: float) -> Verdict:
    """Is ``new`` worse live than ``old``? See the module docstring for the rule."""
    if new.lists < min_lists or old.lists < min_lists:
        return Verdict(
            "wait",
            new,
            old,
            None,
            f"{new.lists} and {old.lists} lists so far, {min_lists} needed in each arm",
        )
    p_value = worse_p_value(new, old)
    numbers = (
        f"click-through {new.ctr:.4f} ({new.clicks}/{new.lists}) against {old.ctr:.4f} "
        f"({old.clicks}/{old.lists}), one-sided p = {p_value:.3g}"
    )
    if p_value < significance:
        return Verdict("worse", new, old, p_value, f"worse live: {numbers}")
    return Verdict("not_worse", new, old, p_value, f"not worse live: {numbers}")


def worse_p_value(new: Arm, old: Arm) -> float:
    """P(the new arm gets at most its clicks | all clicks, equal click-through per list)."""
    total = new.clicks + old.clicks
    if total == 0:
        return 1.0
    return float(binom.cdf(new.clicks, total, new.lists / (new.lists + old.lists)))


def arms_from_log(log: Path, first_day: int, last_day: int, versions: tuple[str, str]) -> list[Arm]:
    """Each version's answered lists and feedback events on the days of the check."""
    from .prediction_log import read_feedback, read_requests

    requests = read_requests(log, first_day, last_day)
    answered = requests[requests["status"] == 200]
    feedback = read_feedback(log, first_day, last_day)
    version_of = answered.set_index("request_id")["model_version"]
    clicked = feedback["request_id"].map(version_of)
    return [
        Arm(
            version,
            int((answered["model_version"] == version).sum()),
            int((clicked == version).sum()),
        )
        for version in versions
    ]
