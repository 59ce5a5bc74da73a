"""A training stopped mid-run closes its MLflow run and leaves no process behind.

Each test starts the level's real command as a process whose data read hangs, so it is surely in
the middle of the run (MLflow run open, Prefect server up) when the signal arrives. Processes
are found by an environment mark every child inherits (``process_trace``), so one that escaped
its parent's process group or outlived it is found too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid

import pytest
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from level1_pipeline import train

PACKAGE = train.__package__
PROCESS_SECONDS = 300


def start_training_mid_run(
    process_trace, config_file, tmp_path
) -> tuple[str, list[str], subprocess.Popen[str]]:
    """The level's command, hanging on its data: its experiment, its arguments and its process."""
    experiment = f"interrupted-{uuid.uuid4().hex[:8]}"
    args = [
        *("--config", str(config_file)),
        *("--set", f"tracking.experiment={experiment}"),
        *("--set", f"tracking.state_dir={tmp_path / 'state'}"),
    ]
    return experiment, args, process_trace.start_mid_run(f"{PACKAGE}.train", *args)


def runs_of(experiment: str) -> list[Run]:
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment}"
    return client.search_runs([found.experiment_id], order_by=["attributes.start_time ASC"])


@pytest.mark.slow
def test_ctrl_c_mid_run_closes_the_run_as_killed_and_stops_every_process(
    config_file, tmp_path, process_trace
):
    experiment, _, run = start_training_mid_run(process_trace, config_file, tmp_path)

    # What a terminal does on Ctrl-C: SIGINT to every process of the foreground group.
    os.killpg(run.pid, signal.SIGINT)
    code = run.wait(timeout=PROCESS_SECONDS)

    log = process_trace.log()
    assert code == 128 + signal.SIGINT, log
    assert "Interrupted by SIGINT" in log
    assert "Traceback" not in log
    assert process_trace.running() == []
    [killed] = runs_of(experiment)
    assert killed.info.status == "KILLED"
    assert killed.data.tags["failure"] == "interrupted by SIGINT"


@pytest.mark.slow
def test_a_run_killed_outright_is_closed_and_its_server_stopped_by_the_next_run(
    config_file, tmp_path, process_trace
):
    experiment, args, run = start_training_mid_run(process_trace, config_file, tmp_path)
    server_record = json.loads((tmp_path / "state" / "prefect-server.json").read_text())

    run.kill()  # SIGKILL: no handler runs, nothing is cleaned up
    run.wait(timeout=PROCESS_SECONDS)

    left = [process.pid for process in process_trace.running()]
    assert left == [server_record["server"]["pid"]], "SIGKILL should orphan only the server"
    assert [r.info.status for r in runs_of(experiment)] == ["RUNNING"]

    next_run = process_trace.start("-m", f"{PACKAGE}.train", *args, name="next")
    code = next_run.wait(timeout=PROCESS_SECONDS)

    log = process_trace.log("next")
    assert code == 0, log
    assert f"Prefect server (pid {left[0]}) left behind" in log
    assert process_trace.running() == []
    killed, finished = runs_of(experiment)
    assert (killed.info.status, finished.info.status) == ("KILLED", "FINISHED")
    assert f"pid {run.pid}" in killed.data.tags["failure"]


@pytest.mark.slow
def test_sigterm_while_the_schedule_starts_its_server_stops_the_server(
    config_file, tmp_path, process_trace
):
    state = tmp_path / "state"
    args = ("--schedule", "--config", str(config_file), "--set", f"tracking.state_dir={state}")
    serving = process_trace.start("-m", f"{PACKAGE}.train", *args)
    deadline = time.monotonic() + PROCESS_SECONDS
    while "Starting a Prefect server" not in process_trace.log():
        assert serving.poll() is None, process_trace.log()
        assert time.monotonic() < deadline, process_trace.log()
        time.sleep(0.2)

    serving.send_signal(signal.SIGTERM)  # `kill`, or a service manager stopping it
    code = serving.wait(timeout=PROCESS_SECONDS)

    assert code == 128 + signal.SIGTERM, process_trace.log()
    assert process_trace.running() == []
