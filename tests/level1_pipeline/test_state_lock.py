"""One run at a time per state folder, released by the operating system however a run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from level1_pipeline.state_lock import StateFolderError, lock_state_folder

ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from pathlib import Path
from level1_pipeline.state_lock import lock_state_folder
lock = lock_state_folder(Path(sys.argv[1]))
print("held", flush=True)
time.sleep(120)
"""


def test_a_second_run_is_refused_naming_the_folder_and_the_holder(tmp_path):
    with lock_state_folder(tmp_path / "state"), pytest.raises(StateFolderError) as refused:
        lock_state_folder(tmp_path / "state")

    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'state'} is in use by another run (pid {os.getpid()} ")
    assert message.endswith("; wait for it to finish, or give this run another tracking.state_dir")


def test_the_folder_is_free_again_once_the_run_is_over(tmp_path):
    with lock_state_folder(tmp_path):
        pass

    with lock_state_folder(tmp_path) as lock:
        assert lock.folder == tmp_path


def test_a_killed_run_leaves_no_lock_behind(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(StateFolderError, match=rf"\(pid {holder.pid} "):
            lock_state_folder(tmp_path)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        holder.stdout.close()

    with lock_state_folder(tmp_path):
        pass


def test_a_state_folder_that_cannot_be_created_is_named(tmp_path):
    (tmp_path / "a-file").write_text("")

    with pytest.raises(StateFolderError) as refused:
        lock_state_folder(tmp_path / "a-file" / "state")

    assert str(refused.value) == (
        f"tracking.state_dir: cannot write to {tmp_path / 'a-file' / 'state'}: Not a directory"
    )
