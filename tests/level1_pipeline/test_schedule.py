"""Continuous training: the served flow really runs on its schedule, on a real Prefect server."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data import World, WorldConfig, write_dataset

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_SECONDS = 300


def clean_environment() -> dict[str, str]:
    """The caller's environment without any tool setting, so the run uses its own state only."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MLFLOW_", "PREFECT_"))
    }
    # The server's scheduler looks for due runs every 60 s by default; 5 s keeps the test short.
    environment["PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS"] = "5"
    return environment


def port_is_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_a_scheduled_run_trains_and_interrupting_stops_the_server(tmp_path):
    data = write_dataset(World(WorldConfig(seed=3, size="tiny")).history(), tmp_path / "data")
    state = tmp_path / "state"
    log = (tmp_path / "serve.log").open("w+")
    serving = subprocess.Popen(
        [
            *(sys.executable, "-m", "level1_pipeline.train", "--schedule", "--data", str(data)),
            *("--set", f"tracking.state_dir={state}", "--set", "schedule.interval_minutes=1"),
        ],
        cwd=ROOT,
        env=clean_environment(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not (state / "metrics.json").exists() and time.monotonic() < deadline:
            assert serving.poll() is None, Path(log.name).read_text()
            time.sleep(2)
        output = Path(log.name).read_text()
        assert (state / "metrics.json").exists(), output
    finally:
        serving.send_signal(signal.SIGINT)
        serving.wait(timeout=60)

    port = int(re.search(r"http://127\.0\.0\.1:(\d+)/api", output).group(1))
    assert "log_run" in output
    assert not port_is_open(port), "the Prefect server outlived the scheduler"
