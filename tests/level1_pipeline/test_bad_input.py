"""The command line on bad input: one clear line, a non-zero exit, no retry of what cannot pass.

Each refusal is checked for what it says, that it printed no traceback, and (where the flow ran)
how often Prefect ran the step that failed: a data error is never retried, an I/O error is.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path
from uuid import UUID

import mlflow
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from level1_pipeline import flow, train
from level1_pipeline.config import DEFAULT_CONFIG, load_config
from level1_pipeline.state_lock import lock_state_folder
from level1_pipeline.tracking import TrackingStoreError, tracking_store_errors

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def config_path(test_config) -> Path:
    return test_config(DEFAULT_CONFIG, "level1-bad-input")


def step_attempts(experiment: str, step: str) -> int:
    """How many times Prefect ran ``step`` in the newest run of ``experiment``."""
    (run,) = mlflow.search_runs(
        experiment_names=[experiment],
        order_by=["start_time DESC"],
        max_results=1,
        output_format="list",
    )
    flow_run_id = UUID(run.data.tags["prefect.flow_run_id"])
    with get_client(sync_client=True) as prefect:
        only_this_run = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        task_runs = prefect.read_task_runs(flow_run_filter=only_this_run)
    (task_run,) = [run for run in task_runs if run.name.rpartition("-")[0] == step]
    return task_run.run_count


def copy_of(world: Path, folder: Path) -> Path:
    shutil.copytree(world, folder)
    return folder


def not_utf8(folder: Path) -> str:
    path = folder / "items.csv"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = b"\xff" + lines[2]
    path.write_bytes(b"".join(lines))
    return "items.csv: not valid utf-8 text (first invalid byte at line 3)"


def folder_as_file(folder: Path) -> str:
    (folder / "users.csv").unlink()
    (folder / "users.csv").mkdir()
    return "users.csv: a folder, not a file"


def missing(folder: Path) -> str:
    shutil.rmtree(folder)
    return f"{folder}: no such folder"


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("spoil", [not_utf8, folder_as_file, missing])
def test_unreadable_data_is_refused_in_one_line_and_not_retried(
    config_path, tiny_world, tmp_path, capsys, spoil
):
    folder = copy_of(tiny_world, tmp_path / "world")
    expected = spoil(folder)

    assert train.main(["--config", str(config_path), "--data", str(folder)]) == 1

    err = capsys.readouterr().err
    assert "The data was refused; nothing was trained." in err
    assert f"  - {expected}" in err.splitlines()
    assert "Traceback" not in err
    assert step_attempts(load_config(config_path).tracking.experiment, "load_data") == 1


@pytest.mark.usefixtures("prefect_harness")
def test_an_io_error_reading_the_data_is_retried(config_path, monkeypatch):
    calls = []
    read = flow.read_dataset

    def flaky_share(path):
        calls.append(path)
        if len(calls) == 1:
            raise OSError(errno.EIO, "Input/output error")
        return read(path)

    monkeypatch.setattr(flow, "read_dataset", flaky_share)

    assert train.main(["--config", str(config_path)]) == 0

    assert len(calls) == 2
    assert step_attempts(load_config(config_path).tracking.experiment, "load_data") == 2


def one_moment(world: Path, folder: Path) -> Path:
    """Valid data in which every interaction happened in the same second: nothing to split."""
    copy_of(world, folder)
    interactions = pd.read_csv(folder / "interactions.csv", keep_default_na=False)
    interactions["timestamp"] = interactions["timestamp"].iloc[0]
    interactions["day"] = interactions["day"].iloc[0]
    interactions = interactions.drop_duplicates(["timestamp", "user_id", "item_id", "event"])
    interactions.to_csv(folder / "interactions.csv", index=False)
    return folder


@pytest.mark.usefixtures("prefect_harness")
def test_data_that_cannot_be_split_ends_in_one_line(config_path, tiny_world, tmp_path, capsys):
    folder = one_moment(tiny_world, tmp_path / "one-moment")

    assert train.main(["--config", str(config_path), "--data", str(folder)]) == 1

    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-2].startswith("error: the time split at timestamp ")
    assert err.splitlines()[-1] == (
        "The pipeline failed; its MLflow run is marked FAILED, with no model."
    )


# --- the state folder and the tracking database --------------------------------------------------


def test_a_second_run_on_a_busy_state_folder_is_refused_and_changes_nothing(config_path, capsys):
    state = load_config(config_path).tracking.state_dir
    with lock_state_folder(state):
        before = {path.name: path.read_bytes() for path in state.iterdir() if path.is_file()}

        assert train.main(["--config", str(config_path)]) == 2

        after = {path.name: path.read_bytes() for path in state.iterdir() if path.is_file()}
    err = capsys.readouterr().err
    assert err.startswith(f"error: {state} is in use by another run (pid {os.getpid()} ")
    assert len(err.splitlines()) == 1
    assert after == before


def test_a_state_folder_that_cannot_be_written_is_refused_naming_the_setting(
    config_path, tmp_path, capsys
):
    (tmp_path / "a-file").write_text("")
    state = tmp_path / "a-file" / "state"

    code = train.main(["--config", str(config_path), "--set", f"tracking.state_dir={state}"])

    assert code == 2
    assert capsys.readouterr().err == (
        f"error: tracking.state_dir: cannot write to {state}: Not a directory\n"
    )


def make_read_only(path: Path) -> None:
    """Read-only even for root (the immutable flag), or by mode bits for anyone else."""
    if os.geteuid() == 0:
        made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
        if made.returncode != 0:
            pytest.skip("root here cannot make a file immutable, so cannot make it read-only")
    else:
        path.chmod(stat.S_IRUSR)


def make_writable(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=False)
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)


@pytest.mark.usefixtures("prefect_harness")
def test_a_read_only_tracking_database_is_named_in_one_line(
    config_path, tmp_path, monkeypatch, capsys
):
    database = tmp_path / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{database}")
    MlflowClient().search_experiments()  # creates the database and its tables
    make_read_only(database)
    try:
        assert train.main(["--config", str(config_path)]) == 1
    finally:
        make_writable(database)

    err = capsys.readouterr().err
    assert "Traceback" not in err
    # SQLite says "read-only" when the mode bits forbid writing, "disk I/O error" when the file
    # is immutable; either way the one line names the database and what to check.
    assert err.splitlines()[-1].startswith(f"error: MLflow database {database} ")
    assert "writable" in err.splitlines()[-1]


def test_a_locked_tracking_database_is_named_in_one_line(tmp_path, monkeypatch):
    # A real lock makes MLflow wait 20 s (its busy timeout) before it gives up with this error.
    database = tmp_path / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{database}")
    sqlite3.connect(database).close()

    with pytest.raises(TrackingStoreError) as refused, tracking_store_errors():
        raise MlflowException("(sqlite3.OperationalError) database is locked\n[SQL: SELECT 1]")

    assert str(refused.value) == (
        f"MLflow database {database} is locked by another process (MLflow waited 20 s): "
        "stop whatever holds it, such as an `mlflow ui` writing to it, and run again"
    )
