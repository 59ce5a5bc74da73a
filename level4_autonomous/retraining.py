"""The reactions, as Prefect flows that automations start: retraining and quarantine.

``retraining_flow`` runs when the monitoring emits a drift or quality event the policy retrains
on (``triggers.py`` wires the automation). It checks the policy (an online check first, cool-down,
budget, fresh data), builds the training data from the history and every feed day that is not in
quarantine (a broken one found on the way is quarantined first), trains with the level's
pipeline, gates the model against the champion on the most recent labelled days, registers it,
and puts a gated model on the online check's test arm. ``quarantine_flow`` runs on a data-quality
event: the day's feed is moved aside and a person is paged. Each outcome is a decision.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, State

from . import PACKAGE
from .config import Config, load_config
from .decisions import Decision, DecisionLog, page
from .policy import Window, retraining_blocked, training_window
from .promotion import online_check_running, put_on_test_arm
from .quarantine import feed_days, quarantine_feed, quarantined_days
from .state_lock import lock_state_folder
from .traffic import CATALOG_FOLDER, FEED_FOLDER, feed_file_name

RETRAINING_FOLDER = "retraining"


@flow(name=f"{PACKAGE}-retraining", flow_run_name="day-{day}")
def retraining_flow(
    day: int,
    config_path: str,
    overrides_json: str = "{}",
    findings_json: str = "[]",
    event_id: str = "",  # noqa: ARG001 (read by the production loop from the run's parameters)
) -> State:
    """Retrain after ``day`` if the policy allows; what was done, for the flow run's result.

    ``findings_json``: the day's alert findings (kind, metric, value, and the first day of the
    incident each belongs to). ``event_id`` names the event that started the run, so the
    production loop can wait for it.
    """
    overrides = json.loads(overrides_json)
    config = load_config(Path(config_path), overrides)
    findings = json.loads(findings_json)
    metrics = [finding["metric"] for finding in findings]
    incident_day = min((finding["incident_day"] for finding in findings), default=day)
    state = config.tracking.state_dir
    # Two events of one day start two runs: the second waits here, then finds the day's done.
    with lock_state_folder(state / RETRAINING_FOLDER, wait=True):
        log = DecisionLog(state, config.registry.model_name)
        window = training_window(metrics, incident_day, day, config.policy)
        blocked = retraining_blocked(
            day, window, log.read(), config.policy, online_check_running(config.registry.model_name)
        )
        if blocked:
            print(f"day {day}: no retraining ({blocked})", flush=True)
            return Completed(message=f"no retraining: {blocked}")
        folder = build_training_data(config, day, window, log)
        return retrain(
            config,
            config_path=Path(config_path),
            overrides=overrides,
            day=day,
            window=window,
            folder=folder,
            metrics=metrics,
        )


@task(cache_policy=NO_CACHE)
def build_training_data(config: Config, day: int, window: Window, log: DecisionLog) -> Path:
    """History plus the sound feed days through ``day``, with the day's users and items."""
    from data import Dataset, load_dataset, write_dataset

    from .monitoring import feed_problems

    state = config.tracking.state_dir
    history = load_dataset(config.data.path)
    frames = [history.interactions]
    used = []
    for feed_day in feed_days(state):
        if feed_day > day:
            continue
        path = state / FEED_FOLDER / feed_file_name(feed_day)
        feed, problems = feed_problems(path, config.expectations)
        if problems or feed is None:
            quarantine(config, feed_day, problems, log)
            continue
        frames.append(feed)
        used.append(feed_day)
    catalog = state / CATALOG_FOLDER
    dataset = Dataset(
        users=pd.read_csv(catalog / "users.csv"),
        items=pd.read_csv(catalog / "items.csv"),
        interactions=pd.concat(frames, ignore_index=True),
        meta={
            "source": f"{PACKAGE} retraining after day {day}",
            "history": str(config.data.path),
            "feed_days": used,
            "window": {"from_day": window.from_day, "last_day": window.last_day},
        },
    )
    return write_dataset(dataset, state / RETRAINING_FOLDER / f"day-{day:04d}")


def retrain(
    config: Config,
    *,
    config_path: Path,
    overrides: dict[str, str],
    day: int,
    window: Window,
    folder: Path,
    metrics: list[str],
) -> State:
    """Train on ``folder`` from the window's first day, gate, register, start the online check."""
    from .flow import training_flow
    from .registry import ModelVersion
    from .release import judge_candidate, register_candidate

    overrides = {
        **overrides,
        "data.path": str(folder),
        "data.train_from_day": str(window.from_day),
    }
    retrain_config = load_config(config_path, overrides)
    result = training_flow(str(config_path), overrides)
    verdict = judge_candidate(retrain_config, result.run_id, result.model_uri)
    candidate = {"run_id": result.run_id, "model_uri": result.model_uri, "gate": verdict}
    version = register_candidate(retrain_config, candidate)
    log = DecisionLog(config.tracking.state_dir, config.registry.model_name)
    ndcg = f"ndcg_at_{config.evaluation.k}"
    evidence = {
        "alerts": metrics,
        "window": {"from_day": window.from_day, "last_day": window.last_day},
        "data": str(folder),
        "run_id": result.run_id,
        "offline": {name: values.get(ndcg) for name, values in result.metrics.items()},
        "gate": verdict,
    }
    log.record(Decision(day, "retrain", version, window.reason, evidence))
    if verdict != "passed":
        reason = f"the offline gate failed (see gate.md of run {result.run_id})"
        log.record(Decision(day, "reject", version, reason, evidence))
        return Completed(message=f"version {version} trained on {window.reason}; gate failed")
    name = config.registry.model_name
    put_on_test_arm(ModelVersion(name, version, result.run_id), "challenger", day + 1)
    print(f"day {day}: version {version} passed the gate; online check from day {day + 1}")
    return Completed(
        message=f"version {version} trained on {window.reason}; online check from day {day + 1}"
    )


def quarantine(config: Config, day: int, problems: list[str], log: DecisionLog) -> None:
    """Move the day's feed aside and record why; page a person on an incident's first day."""
    state = config.tracking.state_dir
    moved = quarantine_feed(state, day, problems)
    if moved is None or any(d["day"] == day and d["action"] == "quarantine" for d in log.read()):
        return
    reason = f"the feed breaks the data contract: {problems[0]}" if problems else "unreadable"
    log.record(
        Decision(day, "quarantine", None, reason, {"problems": problems, "file": str(moved)})
    )
    if day - 1 in quarantined_days(state):
        return  # the same incident as yesterday's: the person is already paged
    policy = config.policy
    page(
        state,
        policy.page_to,
        policy.page_webhook_url,
        day,
        f"feed of day {day} quarantined ({moved}); no training reads it until it is repaired "
        f"and moved back to {state / FEED_FOLDER}: {reason}",
    )


@flow(name=f"{PACKAGE}-quarantine", flow_run_name="day-{day}")
def quarantine_flow(
    day: int,
    config_path: str,
    overrides_json: str = "{}",
    event_id: str = "",  # noqa: ARG001 (read by the production loop from the run's parameters)
) -> State:
    """Quarantine the day's feed if it breaks the contract; page a person."""
    from .monitoring import feed_problems

    config = load_config(Path(config_path), json.loads(overrides_json))
    state = config.tracking.state_dir
    path = state / FEED_FOLDER / feed_file_name(day)
    _, problems = feed_problems(path, config.expectations)
    if not problems:
        return Completed(message=f"nothing to do: {path.name} passes the contract")
    with lock_state_folder(state / RETRAINING_FOLDER, wait=True):
        quarantine(config, day, problems, DecisionLog(state, config.registry.model_name))
    return Completed(message=f"{path.name} quarantined")
