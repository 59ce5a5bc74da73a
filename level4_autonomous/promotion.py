"""Acting on the online check through the registry: promote, reject, roll back, end the watch.

The version under the ``ab_test`` alias carries its role in tags: ``challenger`` (trained and
gated, now checked live before promotion) or ``watch`` (the champion it replaced, kept on the test
arm after a promotion). After each production day :func:`review_online_check` judges the arms with
the rule of ``online_check.py`` and acts:

- challenger worse live, or no decision within ``online_max_days`` → reject (alias removed);
- challenger not worse → promote: ``champion`` moves to it, the replaced version takes the test
  arm for the watch, and the monitoring's reference becomes the new champion's training data;
- during the watch, the new champion worse live than the one it replaced → roll back: the
  ``champion`` alias returns to the replaced version, with the reason in the registry;
- a watch that found nothing in ``watch_days`` ends (alias removed).

Every alias move goes through ``registry.promote`` (audit tags first, then the alias), and the
service follows the aliases without a restart, so no request fails during a swap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlflow.tracking import MlflowClient

from .config import Config
from .decisions import Action, Decision, DecisionLog
from .online_check import Verdict, arms_from_log, judge
from .registry import AB_TEST, CHAMPION, ROLE_TAG, ModelVersion, promote, version_with_alias

FIRST_DAY_TAG = "online_check.first_day"


def put_on_test_arm(version: ModelVersion, role: str, first_day: int) -> None:
    """Tag ``version`` with its role and first day, then point ``ab_test`` at it."""
    client = MlflowClient()
    client.set_model_version_tag(version.name, version.version, ROLE_TAG, role)
    client.set_model_version_tag(version.name, version.version, FIRST_DAY_TAG, str(first_day))
    client.set_registered_model_alias(version.name, AB_TEST, version.version)


def end_test_arm(name: str) -> None:
    """No version on the test arm any more: every user gets the champion."""
    MlflowClient().delete_registered_model_alias(name, AB_TEST)


def online_check_running(name: str) -> bool:
    """Whether a version is on the test arm (an online check or a watch)."""
    return version_with_alias(name, AB_TEST) is not None


def review_online_check(day: int, config: Config) -> list[Decision]:
    """Judge the test arm after ``day`` and act on the verdict; the decisions taken."""
    from .prediction_log import log_path

    name, policy = config.registry.model_name, config.policy
    tested = version_with_alias(name, AB_TEST)
    champion = version_with_alias(name, CHAMPION)
    if tested is None or champion is None:
        return []
    tags = MlflowClient().get_model_version(name, tested.version).tags
    role, first_day = tags.get(ROLE_TAG, "challenger"), int(tags.get(FIRST_DAY_TAG, day))
    if day < first_day:
        return []
    new, old = (tested, champion) if role == "challenger" else (champion, tested)
    state = config.tracking.state_dir
    arms = arms_from_log(log_path(state), first_day, day, (new.version, old.version))
    verdict = judge(*arms, policy.online_min_lists, policy.online_significance)
    days_run = day - first_day + 1
    evidence = {**verdict.evidence(), "first_day": first_day, "days": days_run, "role": role}
    review = Review(day, config, new, old, verdict, evidence)
    return act_on_challenger(review) if role == "challenger" else act_on_watch(review)


@dataclass(frozen=True)
class Review:
    """One day's verdict on the arms, ``new`` against ``old``, and what acting on it needs."""

    day: int
    config: Config
    new: ModelVersion
    old: ModelVersion
    verdict: Verdict
    evidence: dict[str, Any]

    def record(self, action: Action, version: str, reason: str, **more: Any) -> Decision:
        """The decision, in the log and on the version's tags."""
        log = DecisionLog(self.config.tracking.state_dir, self.config.registry.model_name)
        evidence = {**self.evidence, **more}
        return log.record(Decision(self.day, action, version, reason, evidence))


def act_on_challenger(review: Review) -> list[Decision]:
    """Promote a challenger that is not worse live; reject a worse or undecided one."""
    outcome, days = review.verdict.outcome, review.evidence["days"]
    if outcome == "not_worse":
        return [promote_after_check(review)]
    if outcome == "wait" and days < review.config.policy.online_max_days:
        return []
    end_test_arm(review.config.registry.model_name)
    reason = review.verdict.reason
    if outcome == "wait":
        reason = f"no decision in {days} day(s): {reason}"
    return [review.record("reject", review.new.version, reason)]


def act_on_watch(review: Review) -> list[Decision]:
    """Roll back a new champion that is worse live; end a watch that found nothing in time."""
    if review.verdict.outcome == "worse":
        return [roll_back(review)]
    if review.evidence["days"] >= review.config.policy.watch_days:
        end_test_arm(review.config.registry.model_name)
        print(
            f"day {review.day}: the watch of version {review.new.version} ended "
            f"({review.verdict.reason})"
        )
    return []


def promote_after_check(review: Review) -> Decision:
    """Make the challenger champion; the replaced one takes the test arm for the watch."""
    challenger, champion = review.new, review.old
    promote(challenger, f"online check, day {review.day}: {review.verdict.reason}")
    put_on_test_arm(champion, "watch", review.day + 1)
    refresh_reference(review.config, challenger)
    return review.record("promote", challenger.version, review.verdict.reason)


def roll_back(review: Review) -> Decision:
    """Return the champion alias to the version the current champion replaced."""
    champion, replaced = review.new, review.old
    reason = f"{review.verdict.reason}; version {replaced.version} serves again"
    promote(replaced, f"rollback, day {review.day}: version {champion.version} {reason}")
    end_test_arm(review.config.registry.model_name)
    refresh_reference(review.config, replaced)
    return review.record("rollback", champion.version, reason, restored_version=replaced.version)


def refresh_reference(config: Config, version: ModelVersion) -> None:
    """The monitoring compares production with the new champion's own training data."""
    from data import load_dataset

    from .monitoring import MONITORING_FOLDER, REFERENCE_FOLDER, build_reference

    params = MlflowClient().get_run(version.run_id).data.params
    dataset = load_dataset(params["data.path"])
    reference = build_reference(
        dataset,
        config.monitoring.reference_days,
        float(params.get("split.test_fraction", config.split.test_fraction)),
        int(params.get("data.train_from_day", 0)),
    )
    reference.save(config.tracking.state_dir / MONITORING_FOLDER / REFERENCE_FOLDER)
