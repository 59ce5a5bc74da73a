"""Level 0 from a dataset folder to a handed-over model file, on a tiny simulated world."""

import json
from pathlib import Path

import pytest

from data import World, WorldConfig, write_dataset
from level0_manual import recommend, train


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("world") / "stable-tiny"
    return write_dataset(World(WorldConfig(seed=7, size="tiny")).history(), folder)


@pytest.fixture(scope="module")
def level0_run(tiny_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("level0")
    assert train.main(["--data", str(tiny_world), "--out", str(out)]) == 0
    return out


def test_writes_metrics_for_model_baseline_and_oracle(level0_run):
    metrics = json.loads((level0_run / "metrics.json").read_text())

    for name in ("model", "popularity", "oracle"):
        assert set(metrics[name]) >= {
            "precision_at_10",
            "recall_at_10",
            "ndcg_at_10",
            "map_at_10",
            "coverage",
        }, name
        assert all(0.0 <= value <= 1.0 for value in metrics[name].values()), name


def test_the_model_beats_popularity_and_the_oracle_beats_the_model(level0_run):
    metrics = json.loads((level0_run / "metrics.json").read_text())

    assert metrics["model"]["ndcg_at_10"] > metrics["popularity"]["ndcg_at_10"]
    assert metrics["oracle"]["ndcg_at_10"] > metrics["model"]["ndcg_at_10"]


def test_the_handed_over_file_recommends_for_a_user(level0_run, capsys):
    model_file = level0_run / "model.joblib"

    assert recommend.main(["--model", str(model_file), "--user", "0", "--k", "5"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Top 5 for user 0")
    assert len(lines) == 6


def test_an_unknown_user_gets_popular_items(level0_run, capsys):
    assert recommend.main(["--model", str(level0_run / "model.joblib"), "--user", "-5"]) == 0

    assert "unknown user: most popular items" in capsys.readouterr().out


def test_a_broken_feed_is_refused_and_nothing_is_written(tmp_path, capsys):
    incident = World(WorldConfig(seed=7, size="tiny", scenario="feed_incident", switch_day=60))
    folder = write_dataset(incident.history(), tmp_path / "incident")
    out = tmp_path / "out"

    assert train.main(["--data", str(folder), "--out", str(out)]) == 2

    error = capsys.readouterr().err
    assert "interactions.csv" in error
    assert "'event'" in error
    assert not out.exists()


def test_runs_on_a_movielens_folder_without_an_oracle(tmp_path):
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "ml-100k-mini"

    assert train.main(["--data", str(fixture), "--out", str(tmp_path)]) == 0

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"model", "popularity"} <= set(metrics)
    assert "oracle" not in metrics
    assert metrics["dataset"]["source"] == "movielens-100k"
