"""Continuous training: serve the pipeline on a schedule with Prefect's own scheduler.

Schedules need a real Prefect server (the temporary in-process one refuses them), so unless
``PREFECT_API_URL`` points at one, this starts ``prefect server start`` on 127.0.0.1 with the
level's state, serves the flow until Ctrl-C, and stops the server again.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from . import PACKAGE
from .config import Config

DEPLOYMENT = f"{PACKAGE}-scheduled-training"
SERVER_STARTUP_SECONDS = 120
PREFECT_SERVER = (str(Path(sys.executable).with_name("prefect")), "server", "start")


def serve_on_schedule(config_path: Path, overrides: dict[str, str], config: Config) -> int:
    """Run the training flow every ``schedule.interval_minutes`` until interrupted."""
    with prefect_api(config.tracking.state_dir):
        from prefect.deployments.runner import EntrypointType

        from .flow import training_flow

        interval = timedelta(minutes=config.schedule.interval_minutes)
        print(f"Serving {DEPLOYMENT!r} every {interval}; the first run starts within a minute.")
        print(f"Prefect UI: {os.environ['PREFECT_API_URL'].removesuffix('/api')}  (Ctrl-C stops)")
        training_flow.serve(
            name=DEPLOYMENT,
            interval=interval,
            parameters={"config_path": str(config_path.resolve()), "overrides": overrides},
            # Runs load the flow by module name, so its relative imports keep working.
            entrypoint_type=EntrypointType.MODULE_PATH,
            print_starting_message=False,
        )
    return 0


@contextmanager
def prefect_api(state_dir: Path) -> Iterator[str]:
    """The Prefect API to use: the configured one, or a local server started for the duration."""
    if os.environ.get("PREFECT_API_URL"):
        yield os.environ["PREFECT_API_URL"]
        return
    port = free_port()
    log_path = state_dir / "prefect-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        server = subprocess.Popen(
            [*PREFECT_SERVER, "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        print(f"Starting a Prefect server on {url} (log: {log_path}) ...", flush=True)
        wait_until_healthy(url, server)
        os.environ["PREFECT_API_URL"] = url
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def wait_until_healthy(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"the Prefect server did not answer at {url} in {SERVER_STARTUP_SECONDS} s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
