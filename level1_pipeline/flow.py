"""The training pipeline as a Prefect flow: load → validate → split → train → evaluate → log.

The flow only wires steps; each task is a thin wrapper around a function of its own module, so
every step can be tested and read without Prefect. Prefect adds what a script lacks: a record of
every run and its steps, retries on I/O, and schedules (see ``schedule.py``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from mlflow.exceptions import MlflowException
from prefect import Task, flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.runtime import flow_run
from prefect.states import State

from data import Dataset, oracle_for, read_dataset, typed_dataset

from . import PACKAGE
from .config import DEFAULT_CONFIG, Config, Expectations, load_config
from .evaluation import Split, evaluate_models, split_by_time
from .model import EaseRecommender, PopularityRecommender, Recommender
from .tracking import (
    log_failure,
    log_results,
    start_run,
    tracking_store_errors,
    write_metrics_file,
)
from .validation import DataValidationError, ValidationReport, validate

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class TrainingResult:
    """What a finished run hands back: where to find it and how good it was."""

    run_id: str
    model_uri: str
    metrics: dict[str, dict[str, float]]
    metrics_path: Path


def step(
    retries: int = 0, retry_on: tuple[type[BaseException], ...] = ()
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """A pipeline step: a Prefect task that says what it did and how long it took.

    Steps pass data frames in memory and are never cached: a training run must see today's data.
    A failed step is retried only for the errors in ``retry_on``, the kinds that can pass (an I/O
    error on a network share); data that breaks the contract fails the same way every time.
    """

    def decorate(function: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(function)
        def timed(*args: P.args, **kwargs: P.kwargs) -> T:
            started = time.perf_counter()
            result = function(*args, **kwargs)
            print(f"  {function.__name__:<16} {time.perf_counter() - started:5.1f} s", flush=True)
            return result

        return task(
            timed,
            name=function.__name__,
            retries=retries,
            retry_delay_seconds=2,
            retry_condition_fn=_retry_only(retry_on),
            cache_policy=NO_CACHE,
        )

    return decorate


def _retry_only(
    transient: tuple[type[BaseException], ...],
) -> Callable[[Task[..., Any], TaskRun, State[Any]], bool]:
    def is_transient(_task: Task[..., Any], _task_run: TaskRun, state: State[Any]) -> bool:
        return isinstance(state.result(raise_on_failure=False), transient)

    return is_transient


@step(retries=2, retry_on=(OSError,))
def load_data(path: Path) -> Dataset:
    """Read the dataset folder (an I/O error is retried: the files may sit on a network share)."""
    return read_dataset(path)


@step()
def validate_data(dataset: Dataset, expectations: Expectations) -> tuple[Dataset, ValidationReport]:
    """Stop the run before training when the data breaks the contract or the expectations."""
    report = validate(dataset, expectations)
    if not report.passed:
        raise DataValidationError(report)
    return typed_dataset(dataset), report


@step()
def split_data(dataset: Dataset, test_fraction: float) -> Split:
    """Hold out the latest interactions for evaluation."""
    return split_by_time(dataset.interactions, test_fraction)


@step()
def train_model(split: Split, l2: float) -> dict[str, Recommender]:
    """Fit the recommender and the popularity baseline on the training period."""
    return {
        "model": EaseRecommender(l2=l2).fit(split.train),
        "popularity": PopularityRecommender().fit(split.train),
    }


@step()
def evaluate_model(
    models: dict[str, Recommender], dataset: Dataset, split: Split, k: int
) -> dict[str, dict[str, float]]:
    """Rank for the test users with each model (and the oracle, on simulated data)."""
    candidates: dict[str, Any] = dict(models)
    oracle = oracle_for(dataset, seen=split.train, day=split.cutoff_day)
    if oracle is not None:
        candidates["oracle"] = oracle
    return evaluate_models(candidates, split, k=k)


@step(retries=1, retry_on=(OSError, MlflowException))
def start_tracking(
    config: Config, experiment: str | None = None, run_name: str | None = None
) -> str:
    """Open the MLflow run (retried once: the tracking server may be briefly unreachable).

    A locked or read-only database is not retried: it fails as one line naming the file.
    """
    with tracking_store_errors():
        return start_run(config, flow_run.id, experiment=experiment, run_name=run_name)


@step()
def log_run(
    run_id: str,
    *,
    config: Config,
    dataset: Dataset,
    split: Split,
    validation: ValidationReport,
    metrics: dict[str, dict[str, float]],
    model: Recommender,
) -> tuple[str, Path]:
    """Record everything in MLflow, model last, and write ``metrics.json``.

    Not retried: a second attempt would log a second model. MLflow's client already retries
    each HTTP request on its own.
    """
    report = {
        **metrics,
        "evaluation": {
            "k": config.evaluation.k,
            "test_fraction": config.split.test_fraction,
            "cutoff_day": split.cutoff_day,
            "train_interactions": len(split.train),
            "test_interactions": len(split.test),
        },
        "params": {"l2": config.model.l2},
        "dataset": {"path": str(config.data.path), **dataset.meta},
    }
    model_uri = log_results(
        run_id,
        config=config,
        dataset=dataset,
        split=split,
        validation=validation,
        report=report,
        model=model,
    )
    return model_uri, write_metrics_file(report, config.tracking.state_dir)


@flow(name=f"{PACKAGE}-training")
def training_flow(
    config_path: str = str(DEFAULT_CONFIG), overrides: dict[str, str] | None = None
) -> TrainingResult:
    """Train, evaluate and record the recommender once, from the configuration file.

    Parameters are plain JSON types, as a scheduled run receives them from the Prefect server.
    """
    config = load_config(Path(config_path), overrides)
    run_id = start_tracking(config)
    try:
        dataset = load_data(config.data.path)
        dataset, validation = validate_data(dataset, config.expectations)
        split = split_data(dataset, config.split.test_fraction)
        models = train_model(split, config.model.l2)
        metrics = evaluate_model(models, dataset, split, config.evaluation.k)
        model_uri, metrics_path = log_run(
            run_id,
            config=config,
            dataset=dataset,
            split=split,
            validation=validation,
            metrics=metrics,
            model=models["model"],
        )
    except BaseException as error:
        log_failure(run_id, error)
        raise
    return TrainingResult(run_id, model_uri, metrics, metrics_path)
