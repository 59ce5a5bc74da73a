"""Faults in the middle of a release: the service killed mid-swap, a training killed mid-run.

Afterwards no process of the level runs, the registry and the champion are as the faults found
them, and the next run works.

The release stages run in this process (on the session's Prefect test server); the service and
the interrupted training run as their own processes, marked by ``process_trace`` so that every
process they started is found, wherever it ended up.
"""

from __future__ import annotations

import json
import re
import signal
import time
import uuid

import pytest
from mlflow.tracking import MlflowClient

from level2_cicd import stages
from level2_cicd.config import DEFAULT_CONFIG, load_config
from level2_cicd.deployment import LOG_FILE, PID_FILE
from level2_cicd.processes import ProcessRecord
from level2_cicd.registry import CHAMPION, version_with_alias
from level2_cicd.runtime import free_port

RELEASE = ("train", "gate", "register", "promote")
PACKAGE = stages.__package__
PROCESS_SECONDS = 300


def registry_state(name: str) -> list[tuple[str, list[str], dict[str, str]]]:
    """Every version of the model with its aliases and tags."""
    versions = MlflowClient().search_model_versions(f"name = '{name}'")
    return sorted((v.version, sorted(v.aliases), dict(v.tags)) for v in versions)


def wait_for_line(path, pattern: str) -> None:
    """Return as soon as a line of the file matches (bounded by PROCESS_SECONDS)."""
    deadline = time.monotonic() + PROCESS_SECONDS
    while not re.search(pattern, path.read_text(errors="replace")):
        assert time.monotonic() < deadline, f"no {pattern!r} in {path}"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_killing_the_service_mid_swap_and_a_training_mid_run_leaves_nothing_behind(
    test_config, process_trace, monkeypatch, capsys
):
    config_path = test_config(DEFAULT_CONFIG, "level2-fault-tests")
    state = load_config(config_path).tracking.state_dir
    name = f"recommender-{uuid.uuid4().hex[:8]}"
    args = [
        *("--config", str(config_path), "--set", f"registry.model_name={name}"),
        *("--set", f"serving.port={free_port()}", "--set", "serving.refresh_seconds=1"),
    ]
    monkeypatch.setenv(process_trace.variable, process_trace.value)  # the service inherits the mark
    assert [stages.main([stage, *args]) for stage in RELEASE] == [0, 0, 0, 0]
    assert stages.main(["deploy", *args]) == 0
    try:
        service = ProcessRecord.read(state / PID_FILE).running()
        assert service is not None

        # A second champion: the service sees the alias move and starts loading it; kill it then.
        assert [stages.main([stage, *args]) for stage in RELEASE] == [0, 0, 0, 0]
        wait_for_line(state / LOG_FILE, r"\bversion 2\b")
        service.kill()
        service.wait(timeout=PROCESS_SECONDS)

        # A training stopped mid-run, as a cancelled CI job is: SIGTERM to the stage's process.
        registry, candidate = registry_state(name), (state / stages.CANDIDATE_FILE).read_text()
        training = process_trace.start_mid_run(f"{PACKAGE}.stages", "train", *args)
        training.send_signal(signal.SIGTERM)
        code = training.wait(timeout=PROCESS_SECONDS)

        assert code == 128 + signal.SIGTERM, process_trace.log()
        assert "Interrupted by SIGTERM" in process_trace.log()
        assert process_trace.running() == []
        assert registry_state(name) == registry
        assert version_with_alias(name, CHAMPION).version == "2"
        assert (state / stages.CANDIDATE_FILE).read_text() == candidate
        experiment = MlflowClient().get_run(json.loads(candidate)["run_id"]).info.experiment_id
        runs = MlflowClient().search_runs([experiment], "attributes.status = 'KILLED'")
        assert [run.data.tags["failure"] for run in runs] == ["interrupted by SIGTERM"]

        # The next runs work: a training, and the service back on the champion.
        assert stages.main(["train", *args]) == 0
        capsys.readouterr()
        assert stages.main(["deploy", *args]) == 0
        assert "is no longer running; removed the stale" in capsys.readouterr().out
        assert stages.main(["smoke", *args]) == 0
    finally:
        assert stages.main(["stop", *args]) == 0
    assert process_trace.running() == []
