"""The stack's parts: PostgreSQL from the wheel, process records, and its refusals."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from stack import postgres
from stack.control import read_record, start_stack, status, stop_stack, write_record
from stack.layout import DEFAULT_PORTS, Layout
from stack.processes import Running, StackError, stop

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A state folder whose parents every user can pass: PostgreSQL runs as nobody under root."""
    folder = Path(tempfile.mkdtemp(prefix="stack-test-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_postgres_from_the_wheel_starts_makes_both_databases_and_stops(open_folder, free_port):
    binaries = postgres.find_binaries(prefer="wheel")
    assert binaries.source == postgres.WHEEL
    port = free_port()
    log = open_folder / "postgres.log"

    postgres.initialise(binaries, open_folder / "data", log)
    running = postgres.start_server(binaries, open_folder / "data", port, log)
    try:
        postgres.create_databases(port)
        postgres.create_databases(port)  # again: the databases are there, nothing to do
        for database in postgres.DATABASES:
            assert postgres.accepts_clients(port, database)
        assert (open_folder / "data" / "PG_VERSION").read_text().strip() == "18"
    finally:
        assert stop(running)
    assert running.process() is None
    assert not postgres.accepts_clients(port)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="as root only")
def test_as_root_a_data_folder_nobody_cannot_reach_is_refused_naming_the_folder(tmp_path):
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    binaries = postgres.find_binaries(prefer="wheel")
    with pytest.raises(StackError, match=r"nobody .* closed to other users") as refused:
        postgres.initialise(binaries, closed / "data", tmp_path / "log")
    assert str(closed) in str(refused.value)


def test_a_record_whose_pid_now_names_another_process_is_never_signalled():
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = psutil.Process(stranger.pid).create_time()
        reused = Running("mlflow", stranger.pid, started - 1000.0, ("mlflow",), "log")
        assert reused.process() is None
        assert stop(reused) is False
        assert stranger.poll() is None  # still running: it was not ours to stop
    finally:
        stranger.kill()
        stranger.wait()


def test_stop_stops_recorded_servers_and_says_which_had_gone(tmp_path):
    layout = Layout(tmp_path / "stack", dict(DEFAULT_PORTS))
    server = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    alive = Running("prefect", server.pid, psutil.Process(server.pid).create_time(), (), "log")
    gone = Running("mlflow", 2**22 + 1, 0.0, (), "log", signal.SIGTERM)
    write_record(layout, [gone, alive], {})

    stopped = stop_stack(layout, quiet=True)

    assert stopped == [("prefect", True), ("mlflow", False)]  # last started, first stopped
    assert server.wait(timeout=30) is not None
    assert not layout.record.exists()
    assert status(layout) == {}


def test_a_port_in_use_is_refused_naming_the_server_and_its_option(tmp_path, free_port):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        ports = {**DEFAULT_PORTS, "mlflow": busy.getsockname()[1]}
        ports["postgres"] = free_port()
        with pytest.raises(StackError) as refused:
            start_stack(Layout(tmp_path / "stack", ports))
    message = str(refused.value)
    assert f"port {ports['mlflow']} (mlflow) is in use" in message
    assert "--mlflow-port" in message
    assert read_record(Layout(tmp_path / "stack", ports)) == []  # nothing was started


def test_status_and_stop_without_a_stack_say_so(tmp_path):
    command = [sys.executable, "-m", "stack"]
    state = ["--state", str(tmp_path / "none")]
    report = subprocess.run(
        [*command, "status", *state], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert report.returncode == 1
    assert "No stack is running here" in report.stdout
    stopped = subprocess.run(
        [*command, "stop", *state], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert stopped.returncode == 0
    assert "No stack is running here" in stopped.stdout


def test_a_port_number_out_of_range_is_refused_in_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "stack", "start", "--prefect-port", "70000"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --prefect-port 70000 is not a port number"
