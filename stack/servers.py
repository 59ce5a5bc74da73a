"""The stack's servers on top of PostgreSQL: how each starts and how to tell it is ready.

- MLflow's tracking server keeps runs and the registry in PostgreSQL and proxies artifacts to a
  folder standing in for object storage (clients upload and download through the server, as
  they would to S3 behind it): the levels need only its URL.
- Prefect's server keeps flow runs, deployments, events and automations in PostgreSQL.
- One Prefect worker polls the process work pool and runs each flow run as a process of its own:
  Docker and Kubernetes workers take the same deployments to containers.
- Evidently's UI shows a workspace of monitoring reports.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from . import postgres
from .layout import Layout
from .processes import Running, environment, start, wait_until

BIN = Path(sys.executable).parent
#: First starts migrate a new database; on 2 cores that can take a while.
START_SECONDS = 180.0
QUIET = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}


@dataclass(frozen=True)
class Server:
    """One server of the stack: its name, command, environment and readiness check."""

    name: str
    command: list[str]
    env: dict[str, str]
    ready_what: str

    def start(self, layout: Layout) -> Running:
        """Start the server, its output going to its log in the stack's folder."""
        return start(self.name, self.command, self.env, layout.log(self.name))


def mlflow(layout: Layout) -> Server:
    """The tracking server: PostgreSQL for runs and registry, proxied artifacts in a folder."""
    return Server(
        "mlflow",
        [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            postgres.url(layout.ports["postgres"], "mlflow"),
            "--artifacts-destination",
            str(layout.artifacts.resolve()),
            "--serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(layout.ports["mlflow"]),
            "--workers",
            "1",
        ],
        # The job runner starts a dozen more processes for features the levels do not use.
        environment(**QUIET, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"),
        "answer /health",
    )


def prefect(layout: Layout) -> Server:
    """Prefect's server with its services (events, automations, the scheduler) and UI."""
    return Server(
        "prefect",
        [
            str(BIN / "prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(layout.ports["prefect"]),
        ],
        environment(
            **QUIET,
            PREFECT_HOME=str(layout.prefect_home.resolve()),
            PREFECT_API_DATABASE_CONNECTION_URL=postgres.url(
                layout.ports["postgres"], "prefect", driver="asyncpg"
            ),
            PREFECT_LOGGING_LEVEL="WARNING",
        ),
        "answer /api/health",
    )


def worker(layout: Layout) -> Server:
    """A process worker on the stack's work pool; it creates the pool when there is none.

    It polls every second instead of every ten, so a flow run waits for it about as long as a
    run served in-process would. Its flow runs inherit its environment: the stack's MLflow and
    Prefect URLs, whatever the deployment's job variables add.
    """
    return Server(
        "worker",
        [
            str(BIN / "prefect"),
            "worker",
            "start",
            "--pool",
            layout.work_pool,
            "--type",
            "process",
            "--name",
            f"{layout.work_pool}-worker-1",
        ],
        environment(
            **QUIET,
            PREFECT_HOME=str(layout.prefect_home.resolve()),
            PREFECT_API_URL=layout.prefect_api,
            MLFLOW_TRACKING_URI=layout.mlflow_url,
            PREFECT_WORKER_QUERY_SECONDS="1",
            # Its log says which flow run it submitted, whatever the calling shell's level.
            PREFECT_LOGGING_LEVEL="INFO",
            PREFECT_WORKER_PREFETCH_SECONDS="5",
        ),
        "poll its work pool",
    )


def evidently(layout: Layout) -> Server:
    """Evidently's UI on the stack's workspace folder."""
    return Server(
        "evidently",
        [
            str(BIN / "evidently"),
            "ui",
            "--workspace",
            str(layout.evidently_workspace.resolve()),
            "--host",
            "127.0.0.1",
            "--port",
            str(layout.ports["evidently"]),
        ],
        environment(**QUIET),
        "answer /api/version",
    )


def is_ready(name: str, layout: Layout) -> bool:
    """Whether the server ``name`` answers as a ready one does."""
    if name == "mlflow":
        return answers(f"{layout.mlflow_url}/health")
    if name == "prefect":
        return answers(f"{layout.prefect_api}/health")
    if name == "worker":
        return bool(online_workers(layout))
    if name == "evidently":
        return answers(f"{layout.evidently_url}/api/version")
    if name == "postgres":
        return postgres.accepts_clients(layout.ports["postgres"])
    raise ValueError(f"no server is called {name!r}")


def wait_ready(running: Running, server: Server, layout: Layout) -> None:
    """Return once ``server`` is ready (see :func:`is_ready`)."""
    wait_until(running, lambda: is_ready(server.name, layout), START_SECONDS, server.ready_what)


def answers(url: str) -> bool:
    """Whether ``url`` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def online_workers(layout: Layout) -> list[str]:
    """The names of the workers polling the stack's work pool now."""
    request = urllib.request.Request(
        f"{layout.prefect_api}/work_pools/{layout.work_pool}/workers/filter",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            workers = json.loads(response.read())
    except (OSError, ValueError):
        return []
    return [w["name"] for w in workers if w.get("status") == "ONLINE"]
