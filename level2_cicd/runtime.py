"""Where MLflow and Prefect keep their state: local files by default, servers when configured.

Both tools read their settings from environment variables, so the embedded default is a set of
defaults for those variables, applied only where the environment says nothing. Setting
``MLFLOW_TRACKING_URI`` or ``PREFECT_API_URL`` runs the same code against servers. This must run
before ``mlflow`` or ``prefect`` is imported: Prefect reads its settings at import time.

Without ``PREFECT_API_URL``, :func:`prefect_api` starts a local Prefect server for the duration of
a run or a schedule, and makes sure it stops: see its docstring.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil

from .processes import remember_server, stop_left_behind, stop_tree

SERVER_STARTUP_SECONDS = 120
#: The server answers /health within milliseconds once up: polling often saves most of a second.
HEALTH_POLL_SECONDS = 0.2
PREFECT_SERVER = (str(Path(sys.executable).with_name("prefect")), "server", "start")
#: The local Prefect server a run started, with the run's own process (see processes.py).
SERVER_RECORD, SERVER_LOG = "prefect-server.json", "prefect-server.log"


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


@contextmanager
def prefect_api(state_dir: Path, *options: str) -> Iterator[str]:
    """The Prefect API: the configured one, a local one already running, or one started for the run.

    A server already running at Prefect's own address is used as it is (see
    :func:`running_local_server`). Prefect's own temporary server would run in this process's
    group, so a Ctrl-C would take it down while the interrupted run still reports to it; and it
    is stopped only at interpreter exit, which SIGKILL skips, leaving it running for good. So
    the level starts ``prefect server start`` (with ``options``) on 127.0.0.1 in a session of
    its own, records it in the state folder with this process as its owner, and stops it on the
    way out, whatever happens; the next run stops a server whose owner was killed outright.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if PREFECT_API_URL.value():
        yield str(PREFECT_API_URL.value())
        return
    running = running_local_server()
    if running is not None:
        print(f"Using the Prefect server already running on {running}.", flush=True)
        os.environ["PREFECT_API_URL"] = running  # for the flow runs a schedule starts
        try:
            with temporary_settings({PREFECT_API_URL: running}):
                yield running
        finally:
            os.environ.pop("PREFECT_API_URL", None)
        return
    record = state_dir / SERVER_RECORD
    stop_left_behind(record, "Prefect server")
    port = free_port()
    log_path = state_dir / SERVER_LOG
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        server = subprocess.Popen(
            [*PREFECT_SERVER, "--host", "127.0.0.1", "--port", str(port), *options],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        remember_server(record, server.pid)
        print(f"Starting a Prefect server on {url} (log: {log_path}) ...", flush=True)
        wait_until_healthy(url, server)
        os.environ["PREFECT_API_URL"] = url  # for the flow runs a schedule starts as processes
        with temporary_settings({PREFECT_API_URL: url}):
            yield url
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        if server.poll() is None:
            with suppress(psutil.NoSuchProcess):
                stop_tree(psutil.Process(server.pid))
        server.wait()
        record.unlink(missing_ok=True)


def running_local_server() -> str | None:
    """The API of a Prefect server already running at Prefect's own address, if one answers.

    ``prefect server start`` without options listens on ``PREFECT_SERVER_API_HOST`` and
    ``PREFECT_SERVER_API_PORT`` (127.0.0.1:4200). A reader who keeps one open, to watch the flows
    in its UI, has every run use it instead of starting a server of its own each time.
    """
    from prefect.settings import PREFECT_SERVER_API_HOST, PREFECT_SERVER_API_PORT

    url = f"http://{PREFECT_SERVER_API_HOST.value()}:{PREFECT_SERVER_API_PORT.value()}/api"
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            healthy = response.status == 200 and response.read().strip() == b"true"
    except (OSError, ValueError):
        return None
    return url if healthy else None


def unreachable_server() -> str | None:
    """Why a server the settings name cannot be used now, in one line; None if all answer.

    Checked before a run changes anything: a tracking server or Prefect API that does not
    answer would otherwise fail the run half-way, after minutes of retries, with a traceback.
    """
    servers = [
        ("MLflow tracking server", "MLFLOW_TRACKING_URI", os.environ.get("MLFLOW_TRACKING_URI")),
        ("Prefect API", "PREFECT_API_URL", configured_prefect_api()),
    ]
    for what, setting, url in servers:
        if not url or not str(url).startswith(("http://", "https://")):
            continue  # a local store, or no server named
        try:
            with urllib.request.urlopen(f"{str(url).rstrip('/')}/health", timeout=5):
                pass
        except (OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            return (
                f"the {what} at {url} ({setting}) does not answer ({reason}): start it "
                f"(make stack), or unset {setting} to use the level's local state"
            )
    return None


def configured_prefect_api() -> str | None:
    """``PREFECT_API_URL`` as Prefect reads it, without importing Prefect when it is not loaded.

    Importing Prefect costs about a second, which the stages that never run a flow (gate,
    register, promote, deploy, smoke) need not pay; before that import, with the level's own
    ``PREFECT_HOME``, the environment is where the setting comes from.
    """
    if "prefect.settings" in sys.modules:
        from prefect.settings import PREFECT_API_URL

        return PREFECT_API_URL.value()
    return os.environ.get("PREFECT_API_URL")


def wait_until_healthy(url: str, server: subprocess.Popen[bytes]) -> None:
    """Return once the server answers; raise if it exits or is still silent at the time limit."""
    deadline = time.monotonic() + SERVER_STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(HEALTH_POLL_SECONDS)
    raise RuntimeError(f"the Prefect server did not answer at {url} in {SERVER_STARTUP_SECONDS} s")


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now, for the level's own Prefect server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
