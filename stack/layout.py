"""Where the stack's servers listen and keep their state, and what the levels must export.

Everything lives under one folder (``state/stack/`` by default, so ``make clean`` wipes it):
PostgreSQL's data, the artifact store standing in for object storage, Prefect's home, the
Evidently workspace, one log per server, and ``stack.json`` with the servers' process records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Ports of their own, so a reader's `mlflow ui` (5000) or `prefect server start` (4200) and a
#: system PostgreSQL (5432) are left alone.
DEFAULT_PORTS = {"postgres": 5433, "mlflow": 5001, "prefect": 4201, "evidently": 8001}
WORK_POOL = "recsys"


@dataclass(frozen=True)
class Layout:
    """The stack's folder and ports; every path and URL the servers and levels use."""

    state: Path
    ports: dict[str, int]
    work_pool: str = WORK_POOL

    @property
    def record(self) -> Path:
        """The servers' process records."""
        return self.state / "stack.json"

    @property
    def env_file(self) -> Path:
        """The exports to source."""
        return self.state / "env.sh"

    @property
    def postgres_data(self) -> Path:
        """PostgreSQL's data folder."""
        return self.state / "postgres"

    @property
    def artifacts(self) -> Path:
        """The MLflow server's artifact store: a folder standing in for an S3 bucket."""
        return self.state / "artifacts"

    @property
    def prefect_home(self) -> Path:
        """The Prefect server's and worker's home."""
        return self.state / "prefect"

    @property
    def evidently_workspace(self) -> Path:
        """The Evidently UI's workspace folder."""
        return self.state / "evidently"

    def log(self, server: str) -> Path:
        """A server's log file."""
        return self.state / "logs" / f"{server}.log"

    @property
    def mlflow_url(self) -> str:
        """The MLflow tracking server."""
        return f"http://127.0.0.1:{self.ports['mlflow']}"

    @property
    def prefect_url(self) -> str:
        """The Prefect server (its UI)."""
        return f"http://127.0.0.1:{self.ports['prefect']}"

    @property
    def prefect_api(self) -> str:
        """The Prefect server's API, as PREFECT_API_URL wants it."""
        return f"{self.prefect_url}/api"

    @property
    def evidently_url(self) -> str:
        """The Evidently UI."""
        return f"http://127.0.0.1:{self.ports['evidently']}"

    def exports(self) -> dict[str, str]:
        """The tools' own variables that point the levels at the stack."""
        return {
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            "PREFECT_API_URL": self.prefect_api,
            "PREFECT_DEPLOYMENTS_DEFAULT_WORK_POOL_NAME": self.work_pool,
        }
