"""Level 4 test helpers: candidates logged straight to MLflow, released as the CI stages do.

Candidates are logged without a Prefect run, as the flow logs them (dataset inputs, then the model
and its digest), each test with a registered model name of its own, so tests never see each
other's champions.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import joblib
import mlflow
import pytest
from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository

from data import load_dataset
from level4_autonomous.config import DEFAULT_CONFIG, Config, load_config
from level4_autonomous.evaluation import split_by_time
from level4_autonomous.mlflow_model import RECOMMENDER_ARTIFACT
from level4_autonomous.model import EaseRecommender
from level4_autonomous.release import judge_candidate, promote_candidate, register_candidate
from level4_autonomous.tracking import log_datasets, log_model


@pytest.fixture
def config_path(test_config) -> Path:
    """The level's config file on the tiny world, with state in a temporary folder."""
    return test_config(DEFAULT_CONFIG, "level4-release-tests")


@pytest.fixture
def model_name() -> str:
    """A registered model name of the test's own."""
    return f"recommender-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def config(config_path: Path, model_name: str) -> Config:
    """The level's config on the tiny world, with a registered model name of its own."""
    return load_config(config_path, {"registry.model_name": model_name})


@dataclass
class Candidates:
    """Train, log and release candidates under one configuration."""

    config: Config

    def log(self, l2: float) -> dict[str, Any]:
        """Train EASE with ``l2`` on the configured data and log it as a run's model."""
        dataset = load_dataset(self.config.data.path)
        split = split_by_time(dataset.interactions, self.config.split.test_fraction)
        model = EaseRecommender(l2=l2).fit(split.train)
        tags = {"data.path": str(self.config.data.path)}
        with mlflow.start_run(experiment_id=self.experiment_id(), tags=tags) as run:
            mlflow.log_params(self.config.flat())
            log_datasets(dataset, split)
            model_uri = log_model(model, split, self.config.evaluation.k)
        return {"run_id": run.info.run_id, "model_uri": model_uri}

    def release(self, l2: float) -> tuple[dict[str, Any], int]:
        """Gate, register and promote a candidate as the CI stages do; return it and the exit."""
        found = self.log(l2)
        found["gate"] = judge_candidate(self.config, found["run_id"], found["model_uri"])
        found["version"] = register_candidate(self.config, found)
        return found, promote_candidate(self.config, found)

    def experiment_id(self) -> str:
        """The configured experiment, made on first use with its artifacts in the state folder."""
        name = self.config.tracking.experiment
        experiment = mlflow.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        artifacts = (self.config.tracking.state_dir / "artifacts").resolve().as_uri()
        return mlflow.create_experiment(name, artifact_location=artifacts)

    def version_uri(self, version: str) -> str:
        """The URI of one registered version of the configured model."""
        return f"models:/{self.config.registry.model_name}/{version}"

    @staticmethod
    def stored_files(model_uri: str) -> Path:
        """The folder in the (local) artifact store that holds a model's files."""
        location = ModelsArtifactRepository.get_underlying_uri(model_uri)
        return Path(unquote(urlparse(location).path))

    def swap_recommender(self, model_uri: str, l2: float = 50_000.0) -> Path:
        """Replace the stored recommender by another, valid one: what an attacker would plant.

        The model still loads and answers, so only the digest can tell. Returns the file.
        """
        stored = self.stored_files(model_uri) / "artifacts" / f"{RECOMMENDER_ARTIFACT}.joblib"
        interactions = load_dataset(self.config.data.path).interactions
        planted = EaseRecommender(l2=l2).fit(split_by_time(interactions, 0.2).train)
        joblib.dump(planted, stored)
        return stored


@pytest.fixture
def candidates(config: Config) -> Candidates:
    return Candidates(config)


# ---- a webhook receiver for the alerts -----------------------------------------------------


@dataclass
class Webhook:
    """A local webhook receiver: its URL, and the JSON bodies POSTed to it, in order."""

    url: str
    received: list[dict[str, Any]]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A webhook on a free port of 127.0.0.1 that keeps what it is sent and answers 204."""
    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:  # quiet: no line on stderr per request
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Webhook(f"http://127.0.0.1:{server.server_address[1]}/alerts", received)
    finally:
        server.shutdown()
        server.server_close()
