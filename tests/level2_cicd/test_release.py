"""The release: the gate's decisions, registration of every model, promotion with an audit trail.

Candidates are logged straight to MLflow (no Prefect run needed; see ``conftest.py``), each test
with its own registered model name, so tests never see each other's champions.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from data import World, WorldConfig, write_dataset
from level2_cicd.config import DEFAULT_CONFIG, GateConfig, load_config
from level2_cicd.gate import not_worse_than_champion, quality_floor
from level2_cicd.registry import CHALLENGER, CHAMPION, version_with_alias
from level2_cicd.release import judge_candidate, promote_candidate, register_candidate
from level2_cicd.stages import StageError

# On the tiny world: l2=200 gives NDCG@10 0.169, l2=3000 gives 0.146 (above popularity's 0.128
# x 1.1, but more than 2 % below the first): a model that passes the floor, not the champion check.
GOOD_L2, WEAK_L2 = 200.0, 3000.0


def test_the_first_good_model_becomes_champion_with_an_audit_trail(config, candidates):
    released, code = candidates.release(GOOD_L2)

    assert (released["gate"], code) == ("passed", 0)
    champion = version_with_alias(config.registry.model_name, CHAMPION)
    assert champion.version == released["version"] == "1"
    tags = MlflowClient().get_model_version(config.registry.model_name, "1").tags
    assert tags["run_id"] == released["run_id"]
    assert tags["gate.verdict"] == "passed"
    assert tags["replaced_version"] == "none"
    assert released["run_id"] in tags["promotion_reason"]
    assert tags["promoted_at"].startswith("20")
    assert "@" in tags["promoted_by"]
    assert len(tags["mlflow.source.git.commit"]) in {40, len("unknown")}


def test_the_gate_report_is_kept_with_the_run_and_in_the_state_folder(config, candidates):
    released, _ = candidates.release(GOOD_L2)

    run = MlflowClient().get_run(released["run_id"])
    assert run.data.tags["gate.verdict"] == "passed"
    report = json.loads((config.tracking.state_dir / "gate.json").read_text())
    assert report["verdict"] == "passed"
    assert {check["name"] for check in report["checks"]} >= {
        "quality floor",
        "deterministic",
        "no already-seen items",
        "10 items per user",
        "unknown user answered",
        "input signature respected",
        "not worse than champion",
    }
    artifacts = {item.path for item in MlflowClient().list_artifacts(released["run_id"])}
    assert {"gate.json", "gate.md"} <= artifacts


def test_a_worse_model_is_registered_but_never_becomes_champion(config, candidates, capsys):
    candidates.release(GOOD_L2)

    worse, code = candidates.release(WEAK_L2)

    assert (worse["gate"], code) == ("failed", 1)
    assert version_with_alias(config.registry.model_name, CHAMPION).version == "1"
    assert version_with_alias(config.registry.model_name, CHALLENGER).version == "2"
    tags = MlflowClient().get_model_version(config.registry.model_name, "2").tags
    assert tags["gate.verdict"] == "failed"
    assert "promoted_at" not in tags
    assert "the champion stays version 1" in capsys.readouterr().out
    report = json.loads((config.tracking.state_dir / "gate.json").read_text())
    failed = [check["name"] for check in report["checks"] if not check["passed"]]
    assert failed == ["not worse than champion"]


def test_a_better_model_replaces_the_champion(config, candidates):
    candidates.release(WEAK_L2)

    better, code = candidates.release(GOOD_L2)

    assert (better["gate"], code) == ("passed", 0)
    assert version_with_alias(config.registry.model_name, CHAMPION).version == "2"
    tags = MlflowClient().get_model_version(config.registry.model_name, "2").tags
    assert tags["replaced_version"] == "1"


def test_a_version_that_cannot_be_loaded_is_never_promoted(config, candidates, capsys):
    candidates.release(GOOD_L2)
    second = candidates.log(GOOD_L2)
    second["gate"] = judge_candidate(config, second["run_id"], second["model_uri"])
    second["version"] = register_candidate(config, second)
    stored = candidates.stored_files(candidates.version_uri(second["version"]))
    shutil.rmtree(stored)  # the artifact store lost the files after the gate passed them
    capsys.readouterr()

    assert promote_candidate(config, second) == 1

    assert version_with_alias(config.registry.model_name, CHAMPION).version == "1"
    assert (
        "promoted_at" not in MlflowClient().get_model_version(config.registry.model_name, "2").tags
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("Cannot promote version 2: cannot use version 2")
    assert stored.as_uri() in err  # the whole path, not cut off
    assert err.endswith("the champion stays version 1.")


def corrupt(path: Path) -> None:
    """Overwrite the start of a file with bytes no pickle starts with, as a disk fault would."""
    path.write_bytes(b"\xa8" * 64 + path.read_bytes()[64:])


@pytest.mark.parametrize("fault", ["corrupted", "deleted"])
def test_a_champion_that_cannot_be_evaluated_fails_the_gate_in_one_line(
    config, candidates, capsys, fault
):
    candidates.release(GOOD_L2)
    stored = candidates.stored_files(candidates.version_uri("1"))
    if fault == "corrupted":
        corrupt(stored / "artifacts" / "recommender.joblib")
    else:
        shutil.rmtree(stored)
    candidate = candidates.log(GOOD_L2)
    capsys.readouterr()

    verdict = judge_candidate(config, candidate["run_id"], candidate["model_uri"])

    assert verdict == "failed"
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("warning: the champion (version 1) cannot be evaluated")
    assert stored.as_uri() in err  # the whole path, not cut off
    report = json.loads((config.tracking.state_dir / "gate.json").read_text())
    failed = [check for check in report["checks"] if not check["passed"]]
    assert [check["name"] for check in failed] == ["not worse than champion"]
    assert "champion v1 cannot be evaluated" in failed[0]["detail"]
    assert "champion" not in report["metrics"]
    assert version_with_alias(config.registry.model_name, CHAMPION).version == "1"


def test_error_summaries_keep_the_file_they_name():
    from level2_cicd.champion import summarize

    path = "/srv/mlflow/artifacts/models/m-0123456789abcdef/artifacts/recommender.joblib"
    missing = FileNotFoundError(2, "No such file or directory", path)
    refused = OSError(
        "HTTPConnectionPool(host='x'): (Caused by NewConnectionError('<c at 0x7f>: "
        "Failed to establish a new connection: [Errno 111] Connection refused'))"
    )

    assert summarize(missing) == f"[Errno 2] No such file or directory: '{path}'"
    assert summarize(refused) == "[Errno 111] Connection refused"


@pytest.fixture(scope="module")
def other_world(tmp_path_factory) -> Path:
    """Another tiny world (another seed): data no candidate of these tests was trained on."""
    folder = tmp_path_factory.mktemp("world") / "stable-tiny-seed8"
    return write_dataset(World(WorldConfig(seed=8, size="tiny")).history(), folder)


@pytest.mark.parametrize("override", ["data.path", "split.test_fraction"])
def test_the_gate_refuses_data_the_candidate_was_not_trained_on(
    config_path, model_name, candidates, other_world, override
):
    candidate = candidates.log(GOOD_L2)
    value = str(other_world) if override == "data.path" else "0.3"
    other = load_config(config_path, {"registry.model_name": model_name, override: value})

    with pytest.raises(StageError) as refused:
        judge_candidate(other, candidate["run_id"], candidate["model_uri"])

    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("the gate evaluates a model on the held-out period of its own")
    named = "was trained on" if override == "data.path" else "split.test_fraction 0.2"
    assert named in message and value in message
    assert not (other.tracking.state_dir / "gate.json").exists()
    assert "gate.verdict" not in MlflowClient().get_run(candidate["run_id"]).data.tags


def test_the_gate_names_data_it_cannot_read(config_path, model_name, candidates, tmp_path):
    candidate = candidates.log(GOOD_L2)
    missing = tmp_path / "no-such-dataset"
    gone = load_config(config_path, {"registry.model_name": model_name, "data.path": str(missing)})

    with pytest.raises(StageError) as refused:
        judge_candidate(gone, candidate["run_id"], candidate["model_uri"])

    assert str(refused.value).startswith("the gate cannot read its data (data.path)")
    assert str(missing) in str(refused.value)


def test_the_gate_accepts_the_training_data_at_another_path(
    config_path, model_name, candidates, tiny_world, tmp_path
):
    candidate = candidates.log(GOOD_L2)
    copy = shutil.copytree(tiny_world, tmp_path / "moved")
    moved = load_config(config_path, {"registry.model_name": model_name, "data.path": str(copy)})

    assert judge_candidate(moved, candidate["run_id"], candidate["model_uri"]) == "passed"


def metrics(model: float, popularity: float, champion: float | None = None) -> dict:
    table = {"challenger": {"ndcg_at_10": model}, "popularity": {"ndcg_at_10": popularity}}
    if champion is not None:
        table["champion"] = {"ndcg_at_10": champion}
    return table


@pytest.mark.parametrize(
    ("model", "popularity", "passes"),
    [(0.111, 0.10, True), (0.109, 0.10, False), (0.05, 0.10, False)],
)
def test_quality_floor_needs_the_stated_lift_over_popularity(model, popularity, passes):
    check = quality_floor(metrics(model, popularity), k=10, min_lift=1.1)

    assert check.passed is passes
    assert "0.1100" in check.detail


@pytest.mark.parametrize(
    ("model", "champion", "passes"), [(0.098, 0.10, True), (0.0979, 0.10, False), (0.2, 0.1, True)]
)
def test_not_worse_than_champion_allows_the_stated_tolerance(model, champion, passes):
    check = not_worse_than_champion(metrics(model, 0.05, champion), 10, 0.02, "4")

    assert check.passed is passes
    assert "champion v4" in check.detail


def test_without_a_champion_the_comparison_passes():
    assert not_worse_than_champion(metrics(0.01, 0.05), 10, 0.02, None).passed


def test_gate_config_refuses_a_lift_below_one():
    with pytest.raises(ValueError, match="min_lift_over_popularity"):
        GateConfig(min_lift_over_popularity=0.9)


def test_the_shipped_config_loads():
    config = load_config(DEFAULT_CONFIG)

    assert config.registry.model_name == "recommender"
    assert Path(config.tracking.state_dir).name == "level2_cicd"
