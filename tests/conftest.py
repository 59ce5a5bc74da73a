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
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from data import World, WorldConfig, write_dataset

if TYPE_CHECKING:
    import psutil

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


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# The levels use a Prefect server already running at Prefect's own address (127.0.0.1:4200);
# a developer's must never receive test runs, so the tests' "own address" is a closed port.
os.environ["PREFECT_SERVER_API_PORT"] = str(closed_port())


@pytest.fixture(scope="session", autouse=True)
def _remove_state() -> Iterator[None]:
    """Delete the tracking and orchestration state once the session is over."""
    yield
    shutil.rmtree(STATE, ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs the Prefect server runs a flow end to end: it is ``slow``, whoever says.

    ``-m "not slow"`` then never pays the server's 15-30 s start-up.
    """
    for item in items:
        if "prefect_harness" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


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


# ---- processes a test starts, and everything they start in turn ----------------------------------

#: Every process a fault test starts carries this variable, and so does everything it starts.
TRACE_VARIABLE = "MLOPS_TEST_TRACE"
#: Longest wait for a level's command to reach the middle of its run (Prefect and MLflow start
#: up first: 15-45 s on 2 busy cores) or to stop after a signal. A limit, not an expectation.
PROCESS_SECONDS = 300

#: Runs a level's command (``python -m <module> <args>``) with its dataset read hanging, as on a
#: stalled network share: the run is then surely in the middle, its MLflow run open, when the
#: file named first appears. The patch is made before the level imports ``data``'s reader.
HANGING_DATA_READ = """
import runpy, sys, time
from pathlib import Path
import data, data.loading
reached, module, *argv = sys.argv[1:]
def hanging_read(path):
    Path(reached).touch()
    time.sleep(600)
data.read_dataset = data.loading.read_dataset = hanging_read
sys.argv = [module, *argv]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


class ProcessTrace:
    """Finds every process started under one trace, wherever it ended up in the process tree.

    The mark is an environment variable, which every child inherits (Prefect's servers and the
    serving API included), so a process is found even after its parent died, in another session.
    """

    def __init__(self, folder: Path) -> None:
        self.variable, self.value = TRACE_VARIABLE, uuid.uuid4().hex
        self.folder = folder

    def environment(self) -> dict[str, str]:
        """This session's environment (its MLflow store) and the mark.

        Without a Prefect server URL, so that a level's command starts and stops its own.
        """
        environment = dict(os.environ, **{TRACE_VARIABLE: self.value})
        environment.pop("PREFECT_API_URL", None)
        return environment

    def running(self) -> list[psutil.Process]:
        """The traced processes still alive; zombies count as ended."""
        import psutil  # levels 1 and up have it; a project made from level 0 needs no traces

        found = []
        for process in psutil.process_iter():
            try:
                traced = process.environ().get(TRACE_VARIABLE) == self.value
                if traced and process.status() != psutil.STATUS_ZOMBIE:
                    found.append(process)
            except psutil.Error:
                continue
        return found

    def start(self, *command: str, name: str = "run") -> subprocess.Popen[str]:
        """Start a command from the repository root; its output goes to ``<name>.log``."""
        with (self.folder / f"{name}.log").open("w") as log:
            return subprocess.Popen(
                [sys.executable, *command],
                cwd=ROOT,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )

    def start_mid_run(self, module: str, *args: str, name: str = "run") -> subprocess.Popen[str]:
        """Start ``python -m module args`` and return once it hangs reading its data."""
        reached = self.folder / f"{name}.reading-data"
        process = self.start("-c", HANGING_DATA_READ, str(reached), module, *args, name=name)
        deadline = time.monotonic() + PROCESS_SECONDS
        while not reached.exists():
            assert process.poll() is None, f"{module} ended first:\n{self.log(name)}"
            assert time.monotonic() < deadline, f"{module} never read its data:\n{self.log(name)}"
            time.sleep(0.2)
        return process

    def log(self, name: str = "run") -> str:
        """What the command started as ``name`` has written so far."""
        return (self.folder / f"{name}.log").read_text()


@pytest.fixture
def process_trace(tmp_path: Path) -> Iterator[ProcessTrace]:
    """A trace for the processes of one test; whatever still runs at the end is killed."""
    trace = ProcessTrace(tmp_path)
    yield trace
    for process in trace.running():
        process.kill()
