"""A champion the service cannot load: it keeps serving what it has, says so, and recovers.

The champion's files are broken after it became champion (a storage fault, or someone writing to
the artifact store): promotion cannot catch that. ``/health`` must say it (while the service keeps
answering with the model it has), ``deploy`` must fail at once with the reason, and once the files
are repaired the service must pick the champion up within a minute, however long it was broken.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from mlflow.tracking import MlflowClient

from level2_cicd import champion as champion_module
from level2_cicd import deployment
from level2_cicd.config import load_config
from level2_cicd.runtime import free_port
from level2_cicd.serve import create_app

GOOD_L2 = 200.0
#: The documented promise: a repaired champion is served within a minute.
REPAIRED_WITHIN_SECONDS = 60.0


def break_version(candidates, version: str, backup: Path) -> Path:
    """Overwrite a registered version's stored recommender; keep the original at ``backup``."""
    stored = candidates.stored_files(candidates.version_uri(version))
    recommender = stored / "artifacts" / "recommender.joblib"
    shutil.copy2(recommender, backup)
    recommender.write_bytes(b"\xa8" * 64 + recommender.read_bytes()[64:])
    return recommender


def make_champion(config, version: str) -> None:
    """Move the alias by hand, as an operator would with the MLflow client or UI."""
    MlflowClient().set_registered_model_alias(config.registry.model_name, "champion", version)


def register(candidates, config) -> str:
    """Log and register a good model without promoting it; return its version."""
    logged = candidates.log(GOOD_L2)
    return str(MlflowClient().create_model_version(
        config.registry.model_name, logged["model_uri"], run_id=logged["run_id"]
    ).version)  # fmt: skip


def test_health_says_why_the_champion_cannot_be_loaded_and_the_old_one_serves(
    config, candidates, tmp_path
):
    from level2_cicd.champion import ChampionHolder

    candidates.release(GOOD_L2)
    holder = ChampionHolder(config.registry.model_name)
    holder.load()
    api = TestClient(create_app(holder))
    healthy = api.get("/health").json()
    assert (healthy["status"], healthy["champion_version"], healthy["problem"]) == ("ok", "1", None)

    broken = register(candidates, config)
    break_version(candidates, broken, tmp_path / "backup")
    make_champion(config, broken)
    assert holder.refresh() is False

    response = api.get("/health")
    assert response.status_code == 200  # it still answers: a load balancer must keep it
    body = response.json()
    assert body["status"] == "degraded"
    assert (body["model_version"], body["champion_version"]) == ("1", broken)
    assert body["registry"] == "reachable"
    assert body["problem"].startswith(
        f"cannot use version {broken} of '{config.registry.model_name}'"
    )
    assert "do not match the SHA-256 recorded when it was logged" in body["problem"]
    assert api.get("/recommend", params={"user_id": 1}).json()["model_version"] == "1"


class Unreachable:
    """A registry client whose server is gone."""

    def get_model_version_by_alias(self, _name: str, _alias: str):
        """Refused: the server is gone."""
        raise ConnectionError("[Errno 111] Connection refused")

    def get_run(self, _run_id: str):
        """Refused: the server is gone."""
        raise ConnectionError("[Errno 111] Connection refused")


def test_health_is_degraded_while_the_registry_is_unreachable(config, candidates):
    from level2_cicd.champion import ChampionHolder

    candidates.release(GOOD_L2)
    holder = ChampionHolder(config.registry.model_name)
    holder.load()
    holder.client = Unreachable()
    assert holder.refresh() is False

    body = TestClient(create_app(holder)).get("/health").json()
    assert (body["status"], body["registry"]) == ("degraded", "unreachable")
    assert (body["model_version"], body["champion_version"]) == ("1", "1")  # as last seen
    assert body["problem"].startswith("cannot reach the MLflow registry")


def test_a_repaired_champion_is_served_within_a_minute_however_long_it_was_broken(
    config, candidates, tmp_path, monkeypatch
):
    from level2_cicd.champion import ChampionHolder

    now = [1000.0]
    monkeypatch.setattr(champion_module.time, "monotonic", lambda: now[0])
    candidates.release(GOOD_L2)
    holder = ChampionHolder(config.registry.model_name)
    holder.load()
    broken = register(candidates, config)
    recommender = break_version(candidates, broken, tmp_path / "backup")
    make_champion(config, broken)
    for _ in range(10):  # broken for hours: every retry that falls due fails
        now[0] += 3600
        assert holder.refresh(retry_after=5.0) is False

    shutil.copy2(tmp_path / "backup", recommender)  # repaired right after the last failed retry
    now[0] += REPAIRED_WITHIN_SECONDS

    assert holder.refresh(retry_after=5.0) is True
    assert holder.current.version == broken
    assert holder.problem is None


class Polls:
    """The clock of deploy's wait loop: counts its polls, and fails the test past a bound."""

    def __init__(self, bound: int) -> None:
        self.bound, self.count = bound, 0

    def sleep(self, seconds: float) -> None:
        """Count a poll, fail the test past the bound, then sleep as asked."""
        self.count += 1
        assert self.count <= self.bound, f"deploy still waiting after {self.bound} polls"
        time.sleep(seconds)

    @staticmethod
    def monotonic() -> float:
        """The real clock: only the polls are counted."""
        return time.monotonic()


@pytest.mark.slow
def test_deploy_fails_at_once_with_the_reason_and_succeeds_once_repaired(
    config_path, candidates, tmp_path, monkeypatch, capsys
):
    config = candidates.config
    candidates.release(GOOD_L2)
    overrides = {
        "registry.model_name": config.registry.model_name,
        "serving.port": str(free_port()),
        "serving.refresh_seconds": "0.5",
    }
    serving = load_config(config_path, overrides)
    assert deployment.deploy_champion(config_path, overrides, serving) == 0
    try:
        broken = register(candidates, config)
        recommender = break_version(candidates, broken, tmp_path / "backup")
        make_champion(config, broken)
        polls = Polls(bound=20)
        monkeypatch.setattr(deployment, "time", polls)
        capsys.readouterr()

        assert deployment.deploy_champion(config_path, overrides, serving) == 1

        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert f"cannot serve the champion (version {broken})" in err
        assert "do not match the SHA-256 recorded when it was logged" in err
        assert "it still serves version 1" in err

        shutil.copy2(tmp_path / "backup", recommender)
        polls.count = 0
        assert deployment.deploy_champion(config_path, overrides, serving) == 0
    finally:
        monkeypatch.undo()
        deployment.stop_service(serving)
