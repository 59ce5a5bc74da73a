"""The stage commands CI runs, one process call each, handing over through candidate.json."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid

import httpx
import pytest

from level2_cicd import stages
from level2_cicd.config import DEFAULT_CONFIG, load_config
from level2_cicd.registry import CHAMPION, version_with_alias
from level2_cicd.runtime import free_port
from level2_cicd.state_lock import lock_state_folder

RELEASE = ("train", "gate", "register", "promote")


@pytest.fixture(scope="module")
def config_path(test_config):
    return test_config(DEFAULT_CONFIG, "level2-stage-tests")


@pytest.fixture(scope="module")
def model_name():
    return f"recommender-{uuid.uuid4().hex[:8]}"


def run(stage: str, config_path, model_name: str, *extra: str) -> int:
    return stages.main(
        [stage, "--config", str(config_path), "--set", f"registry.model_name={model_name}", *extra]
    )


@pytest.fixture(scope="module")
def released(
    prefect_harness,  # noqa: ARG001 -- the train stage reports to the Prefect test server
    config_path,
    model_name,
):
    """The four release stages, run one after the other as CI steps do."""
    return [run(stage, config_path, model_name) for stage in RELEASE]


def test_the_release_stages_hand_over_and_promote_the_first_model(
    released, config_path, model_name
):
    assert released == [0, 0, 0, 0]
    state = load_config(config_path).tracking.state_dir
    candidate = json.loads((state / stages.CANDIDATE_FILE).read_text())
    assert candidate["gate"] == "passed"
    assert candidate["version"] == "1"
    assert version_with_alias(model_name, CHAMPION).version == "1"


@pytest.mark.usefixtures("released")
def test_a_failed_training_leaves_candidate_and_champion_as_they_were(
    config_path, model_name, incident_world, capsys
):
    state = load_config(config_path).tracking.state_dir
    before = (state / stages.CANDIDATE_FILE).read_text()

    assert run("train", config_path, model_name, "--data", str(incident_world)) == 1

    assert "The data was refused" in capsys.readouterr().err
    assert (state / stages.CANDIDATE_FILE).read_text() == before
    assert version_with_alias(model_name, CHAMPION).version == "1"


@pytest.mark.usefixtures("released")
def test_unreadable_data_is_refused_in_one_line_and_the_candidate_kept(
    config_path, model_name, tiny_world, tmp_path, capsys
):
    state = load_config(config_path).tracking.state_dir
    before = (state / stages.CANDIDATE_FILE).read_text()
    folder = tmp_path / "world"
    shutil.copytree(tiny_world, folder)
    (folder / "users.csv").unlink()
    (folder / "users.csv").mkdir()

    assert run("train", config_path, model_name, "--data", str(folder)) == 1

    err = capsys.readouterr().err
    assert "The data was refused; nothing was trained." in err
    assert "  - users.csv: a folder, not a file" in err.splitlines()
    assert "Traceback" not in err
    assert (state / stages.CANDIDATE_FILE).read_text() == before


def test_a_stage_without_its_inputs_says_what_to_run_first(test_config, capsys):
    fresh = test_config(DEFAULT_CONFIG, "level2-stage-tests-empty")

    assert run("gate", fresh, "unused") == 1

    assert "run the train stage first" in capsys.readouterr().err


def test_a_stage_is_refused_while_another_command_holds_the_state_folder(test_config, capsys):
    busy = test_config(DEFAULT_CONFIG, "level2-stage-tests-busy")
    state = load_config(busy).tracking.state_dir
    state.mkdir(parents=True)
    (state / stages.CANDIDATE_FILE).write_text('{"run_id": "the other run"}\n')

    with lock_state_folder(state):
        codes = {stage: run(stage, busy, "unused") for stage in ("train", "gate", "register")}
        stop_code = run("stop", busy, "unused")

    assert codes == {"train": 2, "gate": 2, "register": 2}
    refusals = capsys.readouterr().err.splitlines()
    assert len(refusals) == 3
    assert all(
        line.startswith(f"error: {state} is in use by another run (pid {os.getpid()} ")
        for line in refusals
    )
    assert stop_code == 0  # stopping the service never waits for the lock
    assert (state / stages.CANDIDATE_FILE).read_text() == '{"run_id": "the other run"}\n'


def test_a_candidate_file_that_is_not_json_is_named(test_config, capsys):
    broken = test_config(DEFAULT_CONFIG, "level2-stage-tests-broken")
    state = load_config(broken).tracking.state_dir
    state.mkdir(parents=True)
    (state / stages.CANDIDATE_FILE).write_text('{"run_id": ')

    assert run("gate", broken, "unused") == 1

    err = capsys.readouterr().err
    assert err.startswith(f"error: {state / stages.CANDIDATE_FILE} is not valid JSON (")
    assert err.rstrip().endswith("run the train stage again")
    assert len(err.splitlines()) == 1


def test_a_bad_override_is_refused_before_any_stage_runs(config_path, capsys):
    assert (
        stages.main(["train", "--config", str(config_path), "--set", "gate.champion_tolerance=2"])
        == 2
    )

    assert "champion_tolerance" in capsys.readouterr().err


@pytest.mark.usefixtures("released")
def test_a_refused_release_leaves_the_running_service_on_its_champion(
    config_path, model_name, capsys
):
    port = free_port()
    serving = ("--set", f"serving.port={port}", "--set", "serving.refresh_seconds=1")
    assert run("deploy", config_path, model_name, *serving) == 0
    try:
        assert run("smoke", config_path, model_name, *serving) == 0
        worse = ("--set", "model.l2=20000")
        codes = [run(stage, config_path, model_name, *worse) for stage in RELEASE]

        assert codes == [0, 0, 0, 1]
        time.sleep(3)  # three polls of the alias: time enough to (wrongly) pick up a new version
        served = httpx.get(f"http://127.0.0.1:{port}/model", timeout=5).json()
        assert served["version"] == version_with_alias(model_name, CHAMPION).version
        assert run("smoke", config_path, model_name, *serving) == 0
    finally:
        assert run("stop", config_path, model_name, *serving) == 0
    assert '"model_version": "1"' in capsys.readouterr().out


def test_a_whole_release_records_its_own_stage_times_and_stop_is_not_one(tmp_path, monkeypatch):
    """``stage_seconds.json`` holds the last release's stages: what ``make compare`` reads."""
    from types import SimpleNamespace

    ran = []
    fake = {name: (lambda _context, name=name: ran.append(name) or 0) for name in stages.STAGES}
    monkeypatch.setattr(stages, "STAGES", fake)
    monkeypatch.setattr(stages, "stop", lambda _context: ran.append("stop") or 0)
    config = SimpleNamespace(tracking=SimpleNamespace(state_dir=tmp_path))
    context = stages.StageContext(tmp_path / "config.toml", {}, config)
    recorded = tmp_path / stages.STAGE_SECONDS_FILE
    recorded.write_text(json.dumps({"train": 99.0, "smoke": 99.0}))

    assert stages.run_stages(context, ["gate"]) == 0  # CI: one stage a step, merged
    assert set(json.loads(recorded.read_text())) == {"train", "smoke", "gate"}
    assert stages.run_stages(context, list(fake)) == 0  # a whole release: from scratch
    assert stages.run_stages(context, ["stop"]) == 0
    times = json.loads(recorded.read_text())
    assert list(times) == list(fake)
    assert all(seconds < 99.0 for seconds in times.values())
    assert ran == ["gate", *fake, "stop"]
