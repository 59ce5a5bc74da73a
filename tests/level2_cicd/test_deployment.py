"""Stopping the service signals the service deploy started, and never another process.

``serve.pid`` outlives the service: after a reboot or a crash its pid may belong to anything.
Each test puts a real, unrelated process (a ``sleep`` leading its own process group, as a
daemon does) where the service should be, and checks that ``stop`` leaves it running.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from level2_cicd import deployment
from level2_cicd.config import DEFAULT_CONFIG, Config, load_config
from level2_cicd.processes import ProcessRecord

SERVICE_COMMAND = (sys.executable, "-m", f"{deployment.__package__}.serve")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(DEFAULT_CONFIG, {"tracking.state_dir": str(tmp_path / "state")})


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A process that has nothing to do with the project, leading its own process group."""
    process = subprocess.Popen(["sleep", "300"], start_new_session=True)
    yield process
    process.kill()
    process.wait(timeout=10)


def pid_file(config: Config) -> Path:
    path = config.tracking.state_dir / deployment.PID_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_bare_pid(path: Path, pid: int) -> None:
    """A pid alone: an older serve.pid, or one written by hand. It cannot prove anything."""
    path.write_text(f"{pid}\n")


def write_record_of_an_ended_service(path: Path, pid: int) -> None:
    """The service recorded under ``pid`` has ended, and another process got its pid since."""
    started = psutil.Process(pid).create_time()
    ProcessRecord(pid, started - 3600, SERVICE_COMMAND).save(path)


@pytest.mark.parametrize("write", [write_bare_pid, write_record_of_an_ended_service])
def test_stop_leaves_alone_a_process_that_only_has_the_recorded_pid(
    config, stranger, capsys, write
):
    write(pid_file(config), stranger.pid)

    assert deployment.stop_service(config) == 0

    assert stranger.poll() is None, "stop signalled a process that is not the service"
    out = capsys.readouterr().out
    assert f"pid {stranger.pid} is not the service deploy started" in out
    assert "not signalled" in out
    assert not pid_file(config).exists()


def test_deploy_does_not_take_a_stranger_for_the_running_service(config, stranger, capsys):
    """Deploy must start the service, not wait for a process that merely has the old pid."""
    pid_file(config).write_text(f"{stranger.pid}\n")

    assert deployment.running_service(config) is None

    assert stranger.poll() is None
    assert "not signalled" in capsys.readouterr().out
    assert not pid_file(config).exists()


def test_stop_ends_the_recorded_service_and_every_process_it_started(config, capsys):
    """The service is recognised by its record; its children go with it."""
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess; subprocess.run(['sleep', '300'])"],
        start_new_session=True,
    )
    try:
        children = wait_for_children(parent.pid)
        ProcessRecord.of(parent.pid).save(pid_file(config))

        assert deployment.stop_service(config) == 0

        assert parent.wait(timeout=30) is not None
        _, alive = psutil.wait_procs(children, timeout=10)
        assert alive == []
        assert f"Stopped the service (pid {parent.pid})" in capsys.readouterr().out
        assert not pid_file(config).exists()
    finally:
        parent.kill()
        parent.wait(timeout=10)


def wait_for_children(pid: int, attempts: int = 200) -> list[psutil.Process]:
    """The process's children once it has started one (bounded by ``attempts`` polls)."""
    for _ in range(attempts):
        children = psutil.Process(pid).children(recursive=True)
        if children:
            return children
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} started no child")
