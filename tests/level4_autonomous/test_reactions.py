"""The online check and the watch on live traffic: promote, reject a sabotaged model, roll back.

Each test releases a champion as the CI stages do, puts a version on the test arm by the
registry's ``ab_test`` alias, and plays production days of the tiny world against the service
in-process (FastAPI's TestClient, the world answering its lists with clicks), then lets
``review_online_check`` judge the arms from the prediction log and act on the registry. The
sabotaged model is EASE with its item labels shuffled after training (each item's scores answer
for another item): it loads and answers, but what it ranks has nothing to do with the users.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
from fastapi.testclient import TestClient

from data import World, WorldConfig, load_dataset, write_dataset
from level4_autonomous.champion import ChampionHolder
from level4_autonomous.config import Config, load_config
from level4_autonomous.decisions import DecisionLog
from level4_autonomous.evaluation import split_by_time
from level4_autonomous.model import EaseRecommender
from level4_autonomous.prediction_log import PredictionLog, log_path
from level4_autonomous.promotion import put_on_test_arm, review_online_check
from level4_autonomous.registry import AB_TEST, CHAMPION, ModelVersion, promote, version_with_alias
from level4_autonomous.release import judge_candidate, register_candidate
from level4_autonomous.serve import create_app
from level4_autonomous.tracking import log_datasets, log_model
from level4_autonomous.traffic import TrafficPlayer

pytestmark = pytest.mark.slow  # a release and two days of the default world per test

#: The default world: about 950 visitors a day, so two days give each arm 900 lists or more
#: (the check and the watch both on half of the users here, for a clear verdict in two days).
WORLD = WorldConfig(seed=42, size="small")
POLICY = {"policy.online_share": "0.5", "policy.watch_share": "0.5"}
DAYS = range(90, 92)


@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default world's history (about 200,000 interactions): live traffic worth judging."""
    return write_dataset(World(WORLD).history(), tmp_path_factory.mktemp("world") / "small")


@pytest.fixture
def config(config_path: Path, model_name: str, small_world: Path) -> Config:
    """The level's config on the default world, the test arm half of the users."""
    overrides = {"registry.model_name": model_name, "data.path": str(small_world), **POLICY}
    return load_config(config_path, overrides)


def log_sabotaged(candidates, config: Config) -> dict[str, str]:
    """EASE with shuffled item labels, logged as the flow logs a model."""
    dataset = load_dataset(config.data.path)
    split = split_by_time(dataset.interactions, config.split.test_fraction)
    model = EaseRecommender(l2=200.0).fit(split.train)
    model.item_ids_ = np.random.default_rng(0).permutation(model.item_ids_)
    with mlflow.start_run(experiment_id=candidates.experiment_id()) as run:
        mlflow.log_params(config.flat())
        log_datasets(dataset, split)
        model_uri = log_model(model, split, config.evaluation.k)
    return {"run_id": run.info.run_id, "model_uri": model_uri}


def play(config: Config, days: range) -> int:
    """Serve the days' visitors from the champion and the test arm; the failed requests."""
    dataset = load_dataset(config.data.path)
    world = World(WORLD)
    holder = ChampionHolder(config.registry.model_name)
    holder.load()
    arm = ChampionHolder(config.registry.model_name, alias=AB_TEST, optional=True)
    arm.refresh()
    state = config.tracking.state_dir
    failed = 0
    with PredictionLog.open(log_path(state)) as prediction_log:
        shares = {"challenger": config.policy.online_share, "watch": config.policy.watch_share}
        app = create_app(holder, 100, prediction_log, arm, shares)
        with TestClient(app) as client:
            player = TrafficPlayer(world, client, state, dataset.interactions)
            for day in days:
                failed += player.play_day(day).failed
    return failed


def register(config: Config, found: dict[str, str]) -> ModelVersion:
    found["gate"] = judge_candidate(config, found["run_id"], found["model_uri"])
    version = register_candidate(config, found)
    return ModelVersion(config.registry.model_name, version, found["run_id"])


def serving(config: Config) -> tuple[str | None, str | None]:
    name = config.registry.model_name
    found = [version_with_alias(name, alias) for alias in (CHAMPION, AB_TEST)]
    return tuple(version.version if version else None for version in found)  # type: ignore[return-value]


def test_a_sabotaged_challenger_fails_the_gate_and_is_refused_live(candidates, config) -> None:
    candidates.release(200.0)  # version 1, the champion
    sabotaged = log_sabotaged(candidates, config)
    challenger = register(config, sabotaged)
    assert sabotaged["gate"] == "failed"
    # forced past the gate, it is still refused on live traffic
    put_on_test_arm(challenger, "challenger", DAYS[0])
    assert play(config, DAYS) == 0
    decisions = review_online_check(DAYS[-1], config)
    assert [(d.action, d.model_version) for d in decisions] == [("reject", "2")]
    new, old = decisions[0].evidence["new"], decisions[0].evidence["old"]
    assert new["lists"] >= 200 and old["lists"] >= 200
    assert new["ctr"] < old["ctr"] and decisions[0].evidence["p_value"] < 0.05
    assert serving(config) == ("1", None)


def test_a_challenger_as_good_as_the_champion_is_promoted_and_watched(candidates, config) -> None:
    candidates.release(200.0)
    challenger = register(config, candidates.log(200.0))
    put_on_test_arm(challenger, "challenger", DAYS[0])
    assert play(config, DAYS) == 0
    decisions = review_online_check(DAYS[-1], config)
    assert [(d.action, d.model_version) for d in decisions] == [("promote", "2")]
    # the replaced champion keeps the test arm for the watch, from the next day
    assert serving(config) == ("2", "1")
    tags = mlflow.MlflowClient().get_model_version(config.registry.model_name, "2").tags
    assert tags["decision.promote"].startswith(f"day {DAYS[-1]}: not worse live")
    assert tags["replaced_version"] == "1"


def test_a_new_champion_worse_live_is_rolled_back(candidates, config) -> None:
    candidates.release(200.0)
    sabotaged = register(config, log_sabotaged(candidates, config))
    replaced = promote(sabotaged, "promoted by hand, past every check")
    assert replaced is not None
    put_on_test_arm(replaced, "watch", DAYS[0])
    assert play(config, DAYS) == 0
    decisions = review_online_check(DAYS[-1], config)
    assert [(d.action, d.model_version) for d in decisions] == [("rollback", "2")]
    assert decisions[0].evidence["restored_version"] == "1"
    assert serving(config) == ("1", None)
    logged = DecisionLog(config.tracking.state_dir).read()
    assert [(d["action"], d["model_version"]) for d in logged] == [("rollback", "2")]
    tags = mlflow.MlflowClient().get_model_version(config.registry.model_name, "1").tags
    assert tags["promotion_reason"].startswith(f"rollback, day {DAYS[-1]}: version 2 worse live")
