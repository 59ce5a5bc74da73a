"""The model's digest: recorded when it is logged, checked before anything loads the model.

The gate, promotion, the service and ``recommend.py`` check it first, so files changed in the
artifact store are never run.

The attack the tests play: replace the stored ``recommender.joblib`` with another valid model.
MLflow would load and serve it without complaint; only the digest can tell.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from mlflow.tracking import MlflowClient

from level2_cicd import recommend
from level2_cicd.registry import CHAMPION, version_with_alias
from level2_cicd.release import judge_candidate, promote_candidate, register_candidate
from level2_cicd.stages import StageError

GOOD_L2 = 200.0
TAMPERED = "do not match the SHA-256 recorded when it was logged"


def sha256_of_files(folder) -> str:
    """The documented digest: SHA-256 of "<file's sha256>  <relative path>" lines, by path."""
    files = sorted((path.relative_to(folder).as_posix(), path) for path in folder.rglob("*"))
    lines = "".join(
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {relative}\n"
        for relative, path in files
        if path.is_file()
    )
    return hashlib.sha256(lines.encode()).hexdigest()


def test_a_logged_model_records_the_sha256_of_its_files(candidates):
    logged = candidates.log(GOOD_L2)

    tags = MlflowClient().get_run(logged["run_id"]).data.tags
    assert tags["model.sha256"] == sha256_of_files(candidates.stored_files(logged["model_uri"]))


def test_registration_copies_the_digest_onto_the_version(config, candidates):
    released, _ = candidates.release(GOOD_L2)

    version = MlflowClient().get_model_version(config.registry.model_name, released["version"])
    run = MlflowClient().get_run(released["run_id"])
    assert version.tags["model.sha256"] == run.data.tags["model.sha256"]


def test_the_gate_refuses_a_candidate_whose_files_changed(config, candidates):
    logged = candidates.log(GOOD_L2)
    candidates.swap_recommender(logged["model_uri"])

    with pytest.raises(StageError, match=TAMPERED) as refused:
        judge_candidate(config, logged["run_id"], logged["model_uri"])

    assert "\n" not in str(refused.value)
    assert not (config.tracking.state_dir / "gate.json").exists()
    assert "gate.verdict" not in MlflowClient().get_run(logged["run_id"]).data.tags


def test_promotion_refuses_a_version_whose_files_changed(config, candidates, capsys):
    candidates.release(GOOD_L2)
    second = candidates.log(GOOD_L2)
    second["gate"] = judge_candidate(config, second["run_id"], second["model_uri"])
    second["version"] = register_candidate(config, second)
    candidates.swap_recommender(candidates.version_uri(second["version"]))
    capsys.readouterr()

    assert promote_candidate(config, second) == 1

    assert version_with_alias(config.registry.model_name, CHAMPION).version == "1"
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("Cannot promote version 2")
    assert TAMPERED in err
    assert err.endswith("the champion stays version 1.")


def test_the_service_refuses_a_champion_whose_files_changed(config, candidates):
    from level2_cicd.champion import ChampionHolder, ChampionLoadError

    candidates.release(GOOD_L2)
    candidates.swap_recommender(candidates.version_uri("1"))

    with pytest.raises(ChampionLoadError, match=TAMPERED):
        ChampionHolder(config.registry.model_name).load()


def test_recommend_refuses_a_model_whose_files_changed(config_path, candidates, capsys):
    logged = candidates.log(GOOD_L2)
    args = ["--config", str(config_path), "--run", logged["run_id"], "--user", "1"]
    assert recommend.main(args) == 0
    capsys.readouterr()

    candidates.swap_recommender(logged["model_uri"])

    assert recommend.main(args) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ")
    assert TAMPERED in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_loading_a_model_the_usual_mlflow_way_does_not_break_its_digest(config_path, candidates):
    import mlflow

    logged = candidates.log(GOOD_L2)
    # On a local store MLflow writes a note (registered_model_meta) into the model's folder.
    mlflow.pyfunc.load_model(logged["model_uri"])

    args = ["--config", str(config_path), "--run", logged["run_id"], "--user", "1"]
    assert recommend.main(args) == 0


def test_the_gate_report_names_the_digest_it_judged(config, candidates):
    released, _ = candidates.release(GOOD_L2)

    report = json.loads((config.tracking.state_dir / "gate.json").read_text())
    digest = MlflowClient().get_run(released["run_id"]).data.tags["model.sha256"]
    assert report["model_sha256"] == digest
