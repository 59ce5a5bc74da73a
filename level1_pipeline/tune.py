"""Tuning: pick EASE's ``l2`` on a validation period carved from the end of the training period.

``python -m level1_pipeline.train --tune`` (``make level1-tune``) runs this flow::

    start_tracking → load_data → validate_data → split_data → carve_validation
        → for each candidate: train_model → evaluate_model → log_candidate
        → log_choice

It reuses the training flow's own steps, so a candidate is trained and judged exactly as a
training run is, on other days: the training period less its last ``tuning.validation_days``
days trains, those days judge. The test period, on which every training run reports, is split
off first and never read, so the tuning cannot flatter the figures a training run reports.

Each candidate is a nested MLflow run under one run named "tune" (in the experiment
``<tracking.experiment>-tuning``, apart from the training runs), which records the choice with
its evidence: ``tuning.md`` and ``tuning.json``, also written to the state folder. Training runs
keep reading ``model.l2`` from the configuration: the tuning never changes it, it says how to.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from prefect import flow

from data import Dataset

from . import PACKAGE
from .config import DEFAULT_CONFIG, Config, load_config
from .evaluation import Split, relevant_items
from .flow import (
    evaluate_model,
    load_data,
    split_data,
    start_tracking,
    step,
    train_model,
    validate_data,
)
from .tracking import log_datasets, log_failure, save_atomically

TUNING_RUN = "tune"
EXPERIMENT_SUFFIX = "-tuning"
EVIDENCE_MARKDOWN, EVIDENCE_JSON = "tuning.md", "tuning.json"
RULE = "the highest NDCG@{k} on the validation period; a tie goes to the larger l2"


@dataclass(frozen=True)
class Trial:
    """One candidate ``l2`` and the model's metrics at k on the validation period."""

    l2: float
    metrics: dict[str, float]


@dataclass(frozen=True)
class Periods:
    """Which days trained the candidates and which judged them; where the test period starts."""

    fit_first_day: int
    fit_last_day: int
    fit_interactions: int
    validation_first_day: int
    validation_last_day: int
    validation_interactions: int
    validation_users: int
    test_first_day: int


@dataclass(frozen=True)
class TuningResult:
    """What a tuning hands back: every candidate's figures, the choice, and where they are."""

    run_id: str
    data_path: str
    config_path: str
    k: int
    current_l2: float
    chosen_l2: float
    trials: tuple[Trial, ...]
    references: dict[str, dict[str, float]]
    periods: Periods

    def ndcg(self, l2: float) -> float:
        """NDCG@k of the candidate ``l2`` on the validation period."""
        return next(trial.metrics[f"ndcg_at_{self.k}"] for trial in self.trials if trial.l2 == l2)

    def gain(self) -> float:
        """The chosen value's NDCG@k over the configured one's, as a fraction (0.05 = +5 %)."""
        current = self.ndcg(self.current_l2)
        return self.ndcg(self.chosen_l2) / current - 1.0 if current else 0.0


def choose_l2(ndcg_by_l2: Mapping[float, float]) -> float:
    """The ``l2`` with the highest NDCG; among equals the largest, the most regularised model."""
    if not ndcg_by_l2:
        raise ValueError("no candidate to choose from")
    return max(ndcg_by_l2, key=lambda l2: (ndcg_by_l2[l2], l2))


def validation_split(train: pd.DataFrame, days: int) -> Split:
    """The last ``days`` days of the training period to judge on, the days before them to fit on.

    Only the training period comes in, so the test period cannot leak into the choice.
    """
    first, last = int(train["day"].min()), int(train["day"].max())
    start = last + 1 - days
    if start <= first:
        raise ValueError(
            f"tuning.validation_days = {days}: the training period has only {last - first + 1} "
            f"days (days {first}-{last}), and the candidates need days before the validation "
            "period to train on"
        )
    held = train["day"].to_numpy() >= start
    validation = Split(
        train=train[~held],
        test=train[held],
        cutoff_timestamp=int(train.loc[held, "timestamp"].min()),
        cutoff_day=start,
    )
    if relevant_items(validation).empty:
        raise ValueError(
            f"tuning.validation_days = {days}: no user of days {start}-{last} has new items there "
            "and history before: nothing to judge the candidates on; give it more days"
        )
    return validation


@step()
def carve_validation(train: pd.DataFrame, days: int) -> Split:
    """Split the training period (and only it) into the days to fit on and the days to judge."""
    return validation_split(train, days)


@step()
def log_candidate(parent_run_id: str, trial: Trial, k: int, progress: str) -> None:
    """A nested MLflow run for the candidate: its ``l2``, its metrics on the validation days."""
    client = MlflowClient()
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    run = client.create_run(
        experiment_id, tags={MLFLOW_PARENT_RUN_ID: parent_run_id}, run_name=f"l2={trial.l2:g}"
    )
    client.log_param(run.info.run_id, "model.l2", trial.l2)
    for name, value in trial.metrics.items():
        client.log_metric(run.info.run_id, f"model/{name}", value)
    client.set_terminated(run.info.run_id)
    ndcg = trial.metrics[f"ndcg_at_{k}"]
    print(f"  l2 = {trial.l2:<8g} NDCG@{k} {ndcg:.4f}   (candidate {progress})", flush=True)


@step()
def log_choice(result: TuningResult, dataset: Dataset, validation: Split, state_dir: Path) -> Path:
    """Record the choice on the parent run with its evidence; the evidence also in ``state_dir``."""
    markdown, data = evidence_markdown(result), evidence_json(result)
    with mlflow.start_run(run_id=result.run_id):
        log_datasets(dataset, validation)
        mlflow.set_tag("tuning.chosen_l2", f"{result.chosen_l2:g}")
        mlflow.log_metrics(
            {
                "chosen/l2": result.chosen_l2,
                f"chosen/ndcg_at_{result.k}": result.ndcg(result.chosen_l2),
                f"current/ndcg_at_{result.k}": result.ndcg(result.current_l2),
                **{
                    f"{name}/{key}": value
                    for name, metrics in result.references.items()
                    for key, value in metrics.items()
                },
            }
        )
        mlflow.log_text(markdown, EVIDENCE_MARKDOWN)
        mlflow.log_dict(data, EVIDENCE_JSON)
    text = json.dumps(data, indent=2) + "\n"
    save_atomically(state_dir / EVIDENCE_JSON, lambda path: path.write_text(text))
    return save_atomically(state_dir / EVIDENCE_MARKDOWN, lambda path: path.write_text(markdown))


@flow(name=f"{PACKAGE}-tuning")
def tuning_flow(
    config_path: str = str(DEFAULT_CONFIG), overrides: dict[str, str] | None = None
) -> TuningResult:
    """Try every candidate ``l2`` on the validation period and record the best, with evidence."""
    config = load_config(Path(config_path), overrides)
    experiment = f"{config.tracking.experiment}{EXPERIMENT_SUFFIX}"
    run_id = start_tracking(config, experiment, TUNING_RUN)
    try:
        dataset = load_data(config.data.path)
        dataset, _ = validate_data(dataset, config.expectations)
        split = split_data(dataset, config.split.test_fraction)
        validation = carve_validation(split.train, config.tuning.validation_days)
        candidates = sorted({*config.tuning.l2_grid, config.model.l2})
        k = config.evaluation.k
        trials, references = [], {}
        for number, l2 in enumerate(candidates, start=1):
            models = train_model(validation, l2)
            metrics = evaluate_model(models, dataset, validation, k)
            trial = Trial(l2, metrics.pop("model"))
            log_candidate(run_id, trial, k, f"{number}/{len(candidates)}")
            trials.append(trial)
            references = metrics  # the baselines: the same for every candidate
        result = TuningResult(
            run_id=run_id,
            data_path=str(config.data.path),
            config_path=shown(Path(config_path)),
            k=k,
            current_l2=config.model.l2,
            chosen_l2=choose_l2({trial.l2: trial.metrics[f"ndcg_at_{k}"] for trial in trials}),
            trials=tuple(trials),
            references=references,
            periods=periods_of(validation, split),
        )
        log_choice(result, dataset, validation, config.tracking.state_dir)
    except BaseException as error:
        log_failure(run_id, error)
        raise
    return result


def shown(path: Path) -> str:
    """``path`` as a person would type it here: relative to the current folder if inside it."""
    absolute = path.resolve()
    return str(absolute.relative_to(Path.cwd()) if absolute.is_relative_to(Path.cwd()) else path)


def periods_of(validation: Split, split: Split) -> Periods:
    """The days of each period, for the evidence."""
    fit, held = validation.train, validation.test
    return Periods(
        fit_first_day=int(fit["day"].min()),
        fit_last_day=int(fit["day"].max()),
        fit_interactions=len(fit),
        validation_first_day=int(held["day"].min()),
        validation_last_day=int(held["day"].max()),
        validation_interactions=len(held),
        validation_users=int(relevant_items(validation)["user_id"].nunique()),
        test_first_day=split.cutoff_day,
    )


def evidence_markdown(result: TuningResult) -> str:
    """The evidence for a person: every candidate's figures, the rule, the choice, what to do."""
    k, periods = result.k, result.periods
    names = [f"ndcg_at_{k}", f"precision_at_{k}", f"recall_at_{k}", f"map_at_{k}", "coverage"]
    header = ["l2", f"NDCG@{k}", f"precision@{k}", f"recall@{k}", f"MAP@{k}", "coverage", ""]
    rows = []
    for trial in result.trials:
        role = [
            label
            for label, l2 in (("current", result.current_l2), ("**chosen**", result.chosen_l2))
            if trial.l2 == l2
        ]
        figures = [f"{trial.metrics[name]:.4f}" for name in names]
        rows.append([f"{trial.l2:g}", *figures, ", ".join(role)])
    table = [
        "| " + " | ".join(header) + " |",
        "|" + "---:|" * (len(header) - 1) + ":---|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    references = ", ".join(
        f"{name} {metrics[f'ndcg_at_{k}']:.4f}" for name, metrics in result.references.items()
    )
    chosen, current = result.chosen_l2, result.current_l2
    if chosen == current:
        verdict = f"The configured l2 = {current:g} is the best of these: nothing to change."
    else:
        verdict = (
            f"Chosen: **l2 = {chosen:g}**, NDCG@{k} {result.ndcg(chosen):.4f} against "
            f"{result.ndcg(current):.4f} for the configured l2 = {current:g} "
            f"({result.gain():+.1%} on the validation period).\n\n"
            f"To adopt it, set `l2 = {chosen:g}` under `[model]` in `{result.config_path}`; "
            f'to try it on one run first: `SET="model.l2={chosen:g}"` with the level\'s make '
            f"target, or `python -m {PACKAGE}.train --set model.l2={chosen:g}`."
        )
    if chosen in (result.trials[0].l2, result.trials[-1].l2):
        verdict += "\n\nThe best value is at the edge of the grid: try values beyond it."
    return "\n".join(
        [
            f"## Tuning model.l2 on `{result.data_path}`",
            "",
            f"Each candidate was trained on days {periods.fit_first_day}-{periods.fit_last_day} "
            f"({periods.fit_interactions:,} interactions) and judged on the validation period, "
            f"days {periods.validation_first_day}-{periods.validation_last_day} "
            f"({periods.validation_interactions:,} interactions; {periods.validation_users:,} "
            "users with new items to find): the end of the training period, which stops where "
            f"the test period begins (in day {periods.test_first_day}). The test period was not "
            "read.",
            "",
            *table,
            "",
            f"On the same days: {references}." if references else "",
            "",
            f"Rule: {RULE.format(k=k)}.",
            "",
            verdict,
            "",
        ]
    )


def evidence_json(result: TuningResult) -> dict[str, object]:
    """The same evidence as data, for a script or a later comparison."""
    return {
        **asdict(result),
        "rule": RULE.format(k=result.k),
        f"gain_in_ndcg_at_{result.k}": result.gain(),
    }


def tune(config_path: Path, overrides: dict[str, str], config: Config) -> int:
    """Run the tuning once and print its evidence and run id; the exit code."""
    from .train import run_flow

    print("Starting the tuning (Prefect and MLflow start up first) ...", flush=True)
    started = time.perf_counter()
    result = run_flow(tuning_flow, config_path, overrides, config)
    if result is None:
        return 1
    print(f"\n{evidence_markdown(result)}")
    print(f"run id:   {result.run_id}   ({time.perf_counter() - started:.0f} s in all)")
    print(f"evidence: {config.tracking.state_dir / EVIDENCE_MARKDOWN} (and {EVIDENCE_JSON})")
    experiment = f"{config.tracking.experiment}{EXPERIMENT_SUFFIX}"
    print(f"Browse the candidates with `make ui-mlflow`, experiment {experiment!r}.")
    return 0
