"""What the comparison keeps of a level's run, and the world every level is given."""

from __future__ import annotations

import os
import time

from compare import runner
from compare.runner import LevelRun, WorldSpec


def test_every_level_gets_the_same_world_as_make_variables():
    spec = WorldSpec("taste_shift", seed=1, size="tiny", days=5, switch_day=92)
    assert spec.make_args() == [
        "SCENARIO=taste_shift", "SEED=1", "SIZE=tiny", "DAYS=5", "SWITCH_DAY=92",
    ]  # fmt: skip
    assert spec.dataset == runner.STATE / "datasets" / "taste_shift-tiny-seed1-switch92"


def test_keep_takes_the_results_reports_and_this_runs_mlflow_artefacts(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "STATE", tmp_path / "state")
    started = time.time() - 1  # the run started just before it wrote its files
    level = tmp_path / "state" / "level3_monitoring"
    (level / "monitoring" / "reports" / "day-0094").mkdir(parents=True)
    (level / "monitoring" / "reports" / "day-0094" / "feed_drift.html").write_text("<html>")
    (level / "summary.json").write_text("{}")
    (level / "predictions.db").write_text("not kept: the prediction log is the level's own")
    old_run = level / "artifacts" / "old" / "artifacts" / "gate.md"
    new_card = level / "artifacts" / "new" / "artifacts" / "model_card" / "recommender-v2.md"
    for path in (old_run, new_card):
        path.parent.mkdir(parents=True)
        path.write_text(path.name)
    os.utime(old_run, (started - 60, started - 60))  # an earlier run's artefact
    run = LevelRun("level3_monitoring", ["make"], 0, 1.0, tmp_path / "log", started)
    kept = runner.keep(run, tmp_path / "kept")
    found = sorted(str(path.relative_to(kept)) for path in kept.rglob("*") if path.is_file())
    assert found == [
        "mlflow/new/artifacts/model_card/recommender-v2.md",
        "reports/day-0094/feed_drift.html",
        "summary.json",
    ]
    # A later run of the level cannot change a finished comparison's files.
    (level / "summary.json").unlink()
    (level / "summary.json").write_text('{"next": "run"}')
    assert (kept / "summary.json").read_text() == "{}"


def test_the_levels_run_on_their_own_mlflow_stores(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    environment = runner.level_environment()
    assert "MLFLOW_TRACKING_URI" not in environment
    assert environment["PREFECT_API_URL"] == "http://127.0.0.1:4200/api"


def test_reading_a_levels_store_leaves_the_environment_as_it_was(tmp_path, monkeypatch):
    from compare.replay import tracking

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "sqlite:///elsewhere.db")
    with tracking(tmp_path) as mlflow:
        assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
        assert os.environ["MLFLOW_TRACKING_URI"] == mlflow.get_tracking_uri()
    # Left set, the next level the comparison runs would write into this level's store.
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert os.environ["MLFLOW_REGISTRY_URI"] == "sqlite:///elsewhere.db"
    # Nothing stays pinned in the process: MLflow follows the environment again.
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "sqlite:///next.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///next.db")
    assert mlflow.get_registry_uri() == mlflow.get_tracking_uri() == "sqlite:///next.db"
