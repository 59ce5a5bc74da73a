"""Levels 0-2 in production: the model each released, left serving through the same days.

Levels 0-2 have no production loop of their own: nobody watches what happens after the release.
Their line is what that means: the model the level released (level 0's joblib file, level 1's
newest tracked run, level 2's registered champion), loaded from what the level left, answering
every visitor of each production day, judged against the world's best lists exactly as level 3
judges the lists its service serves (``traffic.py``'s ``true_quality``). Nothing is sent over
HTTP, so no request can fail and no monitoring sees anything.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from data import World, load_dataset

from .runner import STATE

K = 10
REGISTERED_MODEL = "recommender"
URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def level0_model(state: Path) -> Any:
    """The joblib file level 0 hands over."""
    import joblib

    return joblib.load(state / "model.joblib")


def level1_model(state: Path) -> Any:
    """The model of level 1's newest finished run with one: the one its make target just trained.

    A tuning's runs (``make level1-tune``) have no model, so they are passed over.
    """
    with tracking(state) as mlflow:
        runs = mlflow.search_runs(
            search_all_experiments=True,
            filter_string="attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            output_format="list",
        )
        trained = next((run for run in runs if run.outputs and run.outputs.model_outputs), None)
        if trained is None:
            raise FileNotFoundError(f"{state / 'mlflow.db'}: no finished run with a model")
        return _load(mlflow, f"models:/{trained.outputs.model_outputs[-1].model_id}")


def level2_model(state: Path) -> Any:
    """The version level 2's registry names champion: what its service serves."""
    with tracking(state) as mlflow:
        return _load(mlflow, f"models:/{REGISTERED_MODEL}@champion")


#: How each level without a production loop of its own hands its model over.
RELEASED_MODEL: dict[str, Callable[[Path], Any]] = {
    "level0_manual": level0_model,
    "level1_pipeline": level1_model,
    "level2_cicd": level2_model,
}


@contextmanager
def tracking(state: Path) -> Iterator[Any]:
    """MLflow pointed at the level's own tracking database, for the duration only.

    ``mlflow.set_tracking_uri`` also exports ``MLFLOW_TRACKING_URI`` for subprocesses; left
    set, the next level the comparison runs would write into this level's database. So on the
    way out MLflow is unpinned (``None``: it resolves from the environment again, as before) and
    the environment is put back as it was. Pinning it back to the old values instead would keep
    the registry on them even after the environment changes.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    saved = {name: os.environ.get(name) for name in URI_VARIABLES}
    uri = f"sqlite:///{(state / 'mlflow.db').resolve()}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield mlflow
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _load(mlflow: Any, uri: str) -> Any:
    """The fitted recommender inside the level's MLflow model."""
    with tempfile.TemporaryDirectory(prefix="compare-") as folder:
        model = mlflow.pyfunc.load_model(uri, dst_path=folder)
        return model.unwrap_python_model().recommender


def true_quality(
    models: dict[str, Any], dataset_path: Path, days: Iterable[int]
) -> dict[str, dict[int, float]]:
    """Each model's true quality on each day, on the day's visitors (the oracle shared)."""
    from level0_manual.evaluation import evaluate_ranking

    dataset = load_dataset(dataset_path)
    world = World.from_metadata(_world_meta(dataset_path))
    seen = dataset.interactions[["user_id", "item_id"]]
    quality: dict[str, dict[int, float]] = {name: {} for name in models}
    for day in days:
        visitors = world.requests(day)[["user_id"]]
        users = visitors["user_id"].unique()
        best = world.oracle(seen, day).recommend(users, k=K)[["user_id", "item_id"]]
        catalogue = len(world.available_items(day))
        for name, model in models.items():
            served = visitors.merge(model.recommend(users, k=K), on="user_id")
            metrics = evaluate_ranking(served, best, K, catalogue)
            quality[name][day] = float(metrics[f"ndcg_at_{K}"])
    return quality


def released_models(levels: Iterable[str]) -> dict[str, Any]:
    """The released model of each of ``levels``, from what its run left in its state folder."""
    return {level: RELEASED_MODEL[level](STATE / level) for level in levels}


def _world_meta(dataset_path: Path) -> dict[str, Any]:
    import json

    return json.loads((dataset_path / "world.json").read_text(encoding="utf-8"))


def frame(quality: dict[int, float]) -> pd.DataFrame:
    """A replayed line as a timeline (``day``, ``true_quality``), like the levels' own."""
    return pd.DataFrame({"day": list(quality), "true_quality": list(quality.values())})
