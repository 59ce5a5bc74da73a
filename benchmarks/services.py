"""A champion and real services of a benchmark's own: what the serving benchmarks share.

A serving benchmark trains the level's model, registers it as champion in an MLflow store under
its own folder (``use_own_store``, ``register_champion``) and starts the level's real service
(``python -m <level>.serve``) on free ports of 127.0.0.1 (``Service``), so the level's own
registry, prediction log and port are never touched. Each service is stopped by its pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks.open_loop import load
from level2_cicd.processes import stop_tree
from level2_cicd.runtime import free_port

ROOT = Path(__file__).resolve().parents[1]
#: Seconds a service may take to answer after its start (MLflow's import, the model's load).
START_SECONDS = 180


def use_own_store(work: Path) -> None:
    """Point MLflow (here and in the services) at a store in ``work``, whatever is configured.

    Set before MLflow is imported: the benchmark registers a model, and must never do so in the
    level's registry or on a server named in the environment.
    """
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        os.environ.pop(name, None)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{(work / 'mlflow.db').resolve()}"
    for name, value in {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "MLFLOW_LOGGING_LEVEL": "WARNING",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }.items():
        os.environ.setdefault(name, value)


def register_champion(
    package: str, work: Path, data: Path, *, l2: float, k: int, model_name: str
) -> str:
    """Empty ``work``, then train ``package``'s model on ``data`` and make it champion there.

    The store is ``work``'s own (``use_own_store``). Returns the version. The model is logged as
    the level's flow logs it (with the digest the service checks before it loads a model).
    """
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    use_own_store(work)
    print(f"training and registering a champion on {data} ...", flush=True)
    import mlflow
    from mlflow.tracking import MlflowClient

    from data import load_dataset

    evaluation = importlib.import_module(f"{package}.evaluation")
    model = importlib.import_module(f"{package}.model")
    tracking = importlib.import_module(f"{package}.tracking")
    split = evaluation.split_by_time(load_dataset(data).interactions, 0.2)
    recommender = model.EaseRecommender(l2=l2).fit(split.train)
    client = MlflowClient()
    experiment = client.create_experiment(
        work.name, artifact_location=(work / "artifacts").resolve().as_uri()
    )
    with mlflow.start_run(experiment_id=experiment):
        uri = tracking.log_model(recommender, split, k)
    version = str(mlflow.register_model(uri, model_name).version)
    client.set_registered_model_alias(model_name, "champion", version)
    return version


class Service:
    """One ``python -m <package>.serve`` on a free port, with a state folder of its own.

    ``overrides`` are ``--set`` values beyond the state folder and the port.
    """

    def __init__(self, package: str, folder: Path, overrides: dict[str, str]) -> None:
        self.package = package
        self.folder = folder.resolve()
        self.overrides = overrides
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the service; its output goes to ``service.log`` in its folder."""
        self.folder.mkdir(parents=True, exist_ok=True)
        overrides = {
            "tracking.state_dir": str(self.folder),
            "serving.port": str(self.port),
            **self.overrides,
        }
        command = [sys.executable, "-m", f"{self.package}.serve"]
        for key, value in overrides.items():
            command += ["--set", f"{key}={value}"]
        with (self.folder / "service.log").open("wb") as output:
            self.process = subprocess.Popen(
                command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_until_ready(self) -> None:
        """Return once ``/health`` answers; raise if the service exits or stays silent."""
        assert self.process is not None
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited: see {self.folder / 'service.log'}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the service did not answer in {START_SECONDS} s: {self.url}")

    def model_version(self) -> str:
        """The version the service answers with now."""
        return httpx.get(f"{self.url}/health", timeout=5).json()["model_version"]

    def cpu_seconds(self) -> float:
        """User and system CPU seconds the service has used so far."""
        assert self.process is not None
        times = psutil.Process(self.process.pid).cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        """SIGTERM by pid (the service answers what is in flight, then exits); SIGKILL if stuck."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            stop_tree(psutil.Process(self.process.pid))
        self.process.wait()


def measured_load(
    services: list[Service],
    rate: float,
    seconds: float,
    users: int,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``load`` on ``services`` in turn, with the CPU time they used per request meanwhile."""
    before = sum(service.cpu_seconds() for service in services)
    result = asyncio.run(load([service.url for service in services], rate, seconds, users, context))
    server = sum(service.cpu_seconds() for service in services) - before
    return {
        **result,
        "server_cpu_s": server,
        "server_cpu_ms_per_request": server * 1000 / max(result["sent"], 1),
    }
