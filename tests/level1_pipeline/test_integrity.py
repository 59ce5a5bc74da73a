"""The model's digest at level 1: recorded when the run logs its model, checked by recommend.py.

Loading the model runs code from the artifact store, so a model whose files changed there since
logging is refused before anything of it is loaded. The attack played: the stored
``recommender.joblib`` replaced by another valid model, which MLflow alone would load and use.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import joblib
import mlflow
from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository

from data import load_dataset
from level1_pipeline import recommend
from level1_pipeline.config import load_config
from level1_pipeline.evaluation import split_by_time
from level1_pipeline.model import EaseRecommender
from level1_pipeline.tracking import log_model


def logged_model(config_file: Path, l2: float) -> tuple[str, str, Path]:
    """Train EASE on the configured data and log it as a run's model, as the flow does."""
    config = load_config(config_file)
    split = split_by_time(load_dataset(config.data.path).interactions, 0.2)
    experiment = mlflow.get_experiment_by_name("level1-integrity-tests")
    experiment_id = (
        experiment.experiment_id
        if experiment
        else mlflow.create_experiment(
            "level1-integrity-tests",
            artifact_location=(config.tracking.state_dir / "artifacts").resolve().as_uri(),
        )
    )
    with mlflow.start_run(experiment_id=experiment_id) as run:
        model_uri = log_model(EaseRecommender(l2=l2).fit(split.train), split, k=10)
    location = ModelsArtifactRepository.get_underlying_uri(model_uri)
    return run.info.run_id, model_uri, Path(unquote(urlparse(location).path))


def test_recommend_refuses_a_model_whose_files_changed(config_file, capsys):
    run_id, _, stored = logged_model(config_file, 200.0)
    args = ["--config", str(config_file), "--run", run_id, "--user", "1"]
    assert recommend.main(args) == 0
    capsys.readouterr()

    planted = joblib.load(stored / "artifacts" / "recommender.joblib")
    planted.l2 = 1.0  # any change to the stored files will do
    joblib.dump(planted, stored / "artifacts" / "recommender.joblib")

    assert recommend.main(args) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ")
    assert "do not match the SHA-256 recorded when it was logged" in captured.err
    assert len(captured.err.strip().splitlines()) == 1
