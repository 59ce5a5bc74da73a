"""Where MLflow and Prefect keep their state: local files by default, servers when configured.

Both tools read their settings from environment variables, so the embedded default is a set of
defaults for those variables, applied only where the environment says nothing. Setting
``MLFLOW_TRACKING_URI`` or ``PREFECT_API_URL`` runs the same code against servers. This must run
before ``mlflow`` or ``prefect`` is imported: Prefect reads its settings at import time.
"""

from __future__ import annotations

import os
from pathlib import Path


def use_local_state(state_dir: Path) -> dict[str, str]:
    """Default every tool setting to a file under ``state_dir``; return the settings in force."""
    state = state_dir.resolve()
    prefect_home = state / "prefect"
    defaults = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{state / 'mlflow.db'}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "MLFLOW_LOGGING_LEVEL": "WARNING",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{prefect_home / 'prefect.db'}",
        # The temporary local server takes 13-20 s to start on 2 cores; the default allows 20 s.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    prefect_home.mkdir(parents=True, exist_ok=True)
    for name, value in defaults.items():
        if not os.environ.get(name):  # unset or empty, as CI systems pass an unset secret
            os.environ[name] = value
    return {name: os.environ[name] for name in defaults}


def artifact_location(state_dir: Path) -> str | None:
    """Where a new experiment stores artifacts: under ``state_dir`` for a local SQLite store.

    A tracking server decides for itself (its ``--artifacts-destination``), so None there.
    """
    if os.environ.get("MLFLOW_TRACKING_URI", "").startswith("sqlite:"):
        return (state_dir.resolve() / "artifacts").as_uri()
    return None
