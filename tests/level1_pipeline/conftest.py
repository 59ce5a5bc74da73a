"""Level 1 tests keep every MLflow and Prefect file in one temporary folder.

Prefect reads its settings when it is imported, so the environment is set here, at import time:
pytest imports a conftest before the test modules of its folder. Settings from the outer
environment are dropped first, because ``use_local_state`` only fills in what is unset, and a
developer's ``MLFLOW_TRACKING_URI`` or ``PREFECT_API_URL`` must never receive test runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from data import World, WorldConfig, write_dataset
from level1_pipeline.config import DEFAULT_CONFIG, load_config
from level1_pipeline.runtime import use_local_state

STATE = Path(tempfile.mkdtemp(prefix="level1-tests-"))
for _name in [name for name in os.environ if name.startswith(("MLFLOW_", "PREFECT_"))]:
    del os.environ[_name]
use_local_state(STATE)

TEST_EXPERIMENT = "level1-tests"


@pytest.fixture(scope="session", autouse=True)
def _remove_state() -> Iterator[None]:
    """Delete the tracking and orchestration state once the session is over."""
    yield
    shutil.rmtree(STATE, ignore_errors=True)


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect server for the tests that run the flow (it takes 15-20 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid simulated dataset of about 20,000 interactions."""
    folder = tmp_path_factory.mktemp("world") / "stable-tiny"
    return write_dataset(World(WorldConfig(seed=7, size="tiny")).history(), folder)


@pytest.fixture(scope="session")
def incident_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same world whose upstream feed breaks on day 60 (renamed column, null user ids)."""
    folder = tmp_path_factory.mktemp("world") / "feed-incident-tiny"
    config = WorldConfig(seed=7, size="tiny", scenario="feed_incident", switch_day=60)
    return write_dataset(World(config).history(), folder)


@pytest.fixture(scope="session")
def config_file(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """config.toml as shipped, but reading the tiny world and keeping state in a temporary place."""
    folder = tmp_path_factory.mktemp("config")
    values = {"path": tiny_world, "experiment": TEST_EXPERIMENT, "state_dir": folder / "state"}
    path = folder / "config.toml"
    path.write_text(with_values(DEFAULT_CONFIG.read_text(), values))
    config = load_config(path)
    assert config.data.path == tiny_world
    assert config.tracking.experiment == TEST_EXPERIMENT
    assert config.tracking.state_dir == folder / "state"
    return path


def with_values(toml: str, values: dict[str, object]) -> str:
    """The TOML text with the named keys (of any section) set to new string values."""
    lines = []
    for line in toml.splitlines():
        key = line.partition("=")[0].strip()
        lines.append(f"{key} = '{values[key]}'" if key in values else line)
    return "\n".join(lines) + "\n"
