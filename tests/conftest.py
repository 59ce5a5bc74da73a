"""Every test session keeps all MLflow and Prefect state in one temporary folder.

Prefect reads its settings when it is imported, so the environment is set here, at import time:
pytest imports this conftest before any test module. Settings from the outer environment are
dropped first, because ``use_local_state`` only fills in what is unset, and a developer's
``MLFLOW_TRACKING_URI`` or ``PREFECT_API_URL`` must never receive test runs. Fixtures shared by
the levels' tests (worlds, the Prefect test server, test configurations) live here too.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from data import World, WorldConfig, write_dataset

ROOT = Path(__file__).resolve().parents[1]


def use_local_state(state: Path) -> None:
    """Apply the embedded-state settings of the first package that has them.

    Every level from 1 up carries the same ``runtime.py``; a project made from one level has only
    its own package, under whatever name it was given, so the tests look for whichever is there.
    """
    for runtime in sorted(ROOT.glob("*/runtime.py")):
        module = importlib.import_module(f"{runtime.parent.name}.runtime")
        module.use_local_state(state)
        return


STATE = Path(tempfile.mkdtemp(prefix="mlops-tests-"))
for _name in [name for name in os.environ if name.startswith(("MLFLOW_", "PREFECT_"))]:
    del os.environ[_name]
use_local_state(STATE)


@pytest.fixture(scope="session", autouse=True)
def _remove_state() -> Iterator[None]:
    """Delete the tracking and orchestration state once the session is over."""
    yield
    shutil.rmtree(STATE, ignore_errors=True)


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect server for the tests that run a flow (it takes 15-20 s to start)."""
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
def test_config(
    tmp_path_factory: pytest.TempPathFactory, tiny_world: Path
) -> Callable[[Path, str], Path]:
    """Write a level's config.toml as shipped, but on the tiny world with state in a temp folder.

    Call it with the level's default config path and an experiment name; it returns the new file.
    """

    def write(default_config: Path, experiment: str) -> Path:
        folder = tmp_path_factory.mktemp("config")
        values = {"path": tiny_world, "experiment": experiment, "state_dir": folder / "state"}
        path = folder / "config.toml"
        path.write_text(with_values(default_config.read_text(), values))
        return path

    return write


def with_values(toml: str, values: dict[str, object]) -> str:
    """The TOML text with the named keys (of any section) set to new string values."""
    lines = []
    for line in toml.splitlines():
        key = line.partition("=")[0].strip()
        lines.append(f"{key} = '{values[key]}'" if key in values else line)
    return "\n".join(lines) + "\n"
