"""The Prefect flow end to end, on tiny simulated worlds, and what it leaves in MLflow.

Each flow run costs seconds, so the flow runs once per dataset (module fixtures) and the tests
read what it recorded.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from data import load_dataset
from level1_pipeline import recommend, train
from level1_pipeline.config import load_config
from level1_pipeline.evaluation import split_by_time
from level1_pipeline.flow import TrainingResult, training_flow
from level1_pipeline.model import EaseRecommender
from level1_pipeline.validation import DataValidationError

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

MODELS = ("model", "popularity", "oracle")
STEPS = (
    "start_tracking",
    "load_data",
    "validate_data",
    "split_data",
    "train_model",
    "evaluate_model",
    "log_run",
)
METRICS = ("precision_at_10", "recall_at_10", "ndcg_at_10", "map_at_10", "coverage")


@dataclass(frozen=True)
class FailedRun:
    """A flow run the data validation refused, and the count of logged models around it."""

    error: DataValidationError
    run_id: str
    models_before: int
    models_after: int


@pytest.fixture(scope="module")
def config(config_file):
    return load_config(config_file)


@pytest.fixture(scope="module")
def client():
    return MlflowClient()


def experiment_id(config) -> str:
    return MlflowClient().get_experiment_by_name(config.tracking.experiment).experiment_id


def run_ids(config) -> set[str]:
    runs = mlflow.search_runs([experiment_id(config)], output_format="list")
    return {run.info.run_id for run in runs}


def logged_models(config) -> list:
    return mlflow.search_logged_models(experiment_ids=[experiment_id(config)], output_format="list")


def prefect_states(flow_run_id: str) -> tuple[str, dict[str, str]]:
    """The state of a Prefect flow run, and of each of its task runs by task name."""
    with get_client(sync_client=True) as prefect:
        flow_run = prefect.read_flow_run(UUID(flow_run_id))
        only_this_run = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id]))
        task_runs = prefect.read_task_runs(flow_run_filter=only_this_run)
    return flow_run.state.type.value, {
        task_run.name.rpartition("-")[0]: task_run.state.type.value for task_run in task_runs
    }


@pytest.fixture(scope="module")
def tiny_run(
    prefect_harness,  # noqa: ARG001 -- the flow reports to the Prefect test server
    config_file,
    tiny_world,
) -> TrainingResult:
    return training_flow(str(config_file), overrides={"data.path": str(tiny_world)})


@pytest.fixture(scope="module")
def incident_run(
    prefect_harness,  # noqa: ARG001 -- the flow reports to the Prefect test server
    tiny_run,  # noqa: ARG001 -- a good run has logged a model first
    config,
    config_file,
    incident_world,
) -> FailedRun:
    """The feed-incident data through the flow, after a good run has logged a model."""
    runs_before, models_before = run_ids(config), len(logged_models(config))
    with pytest.raises(DataValidationError) as refused:
        training_flow(str(config_file), overrides={"data.path": str(incident_world)})
    (run_id,) = run_ids(config) - runs_before
    return FailedRun(refused.value, run_id, models_before, len(logged_models(config)))


# A good run: what MLflow holds ------------------------------------------------------------------


def test_the_run_finished_with_its_parameters(tiny_run, client, tiny_world):
    run = client.get_run(tiny_run.run_id)

    assert run.info.status == "FINISHED"
    assert run.data.params["model.l2"] == "200.0"
    assert run.data.params["data.path"] == str(tiny_world)
    assert run.data.params["evaluation.k"] == "10"
    assert run.data.params["split.test_fraction"] == "0.2"


def test_the_logged_metrics_are_the_returned_ones(tiny_run, client):
    logged = client.get_run(tiny_run.run_id).data.metrics

    for name in MODELS:
        for metric in METRICS:
            assert logged[f"{name}/{metric}"] == pytest.approx(
                tiny_run.metrics[name][metric], rel=1e-12
            ), f"{name}/{metric}"
    assert logged["model/ndcg_at_10"] > logged["popularity/ndcg_at_10"]
    assert logged["oracle/ndcg_at_10"] > logged["model/ndcg_at_10"]


def checkout_commit() -> str:
    """The commit of the code under test; "unknown" outside git (a project new from a level)."""
    found = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return found.stdout.strip() if found.returncode == 0 else "unknown"


def test_the_run_records_code_version_and_flow_run(tiny_run, client):
    tags = client.get_run(tiny_run.run_id).data.tags

    commit = checkout_commit()
    assert tags["mlflow.source.git.commit"] == commit
    assert tags["code.dirty"] in ({"true", "false"} if commit != "unknown" else {"unknown"})
    assert tags["level"] == "level1_pipeline"
    assert re.fullmatch(r"[0-9a-f-]{36}", tags["prefect.flow_run_id"])


def test_the_run_records_training_and_evaluation_data(tiny_run, client, tiny_world):
    inputs = client.get_run(tiny_run.run_id).inputs.dataset_inputs
    by_context = {
        {tag.key: tag.value for tag in entry.tags}["mlflow.data.context"]: entry.dataset
        for entry in inputs
    }
    split = split_by_time(load_dataset(tiny_world).interactions)

    assert set(by_context) == {"training", "evaluation"}
    for context, rows in (("training", len(split.train)), ("evaluation", len(split.test))):
        dataset = by_context[context]
        assert dataset.digest
        assert str(tiny_world) in dataset.source
        assert json.loads(dataset.profile)["num_rows"] == rows, context
    assert by_context["training"].digest != by_context["evaluation"].digest


def test_the_run_keeps_validation_config_and_metrics(tiny_run, client, tiny_world, tmp_path):
    names = {artifact.path for artifact in client.list_artifacts(tiny_run.run_id)}
    assert {"validation.json", "config.json", "metrics.json"} <= names

    folder = Path(client.download_artifacts(tiny_run.run_id, "", str(tmp_path)))
    validation = json.loads((folder / "validation.json").read_text())
    config = json.loads((folder / "config.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    assert validation["passed"] is True
    assert validation["problems"] == []
    assert config["data"]["path"] == str(tiny_world)
    assert config["model"]["l2"] == 200.0
    assert metrics["model"] == tiny_run.metrics["model"]


def test_the_logged_model_recommends_as_the_model_trained_in_process(tiny_run, tiny_world):
    split = split_by_time(load_dataset(tiny_world).interactions, 0.2)
    in_process = EaseRecommender(l2=200.0).fit(split.train)
    users = [*split.test["user_id"].drop_duplicates().head(20).tolist(), -1]

    logged = mlflow.pyfunc.load_model(tiny_run.model_uri)
    served = logged.predict(pd.DataFrame({"user_id": users}), params={"k": 10})
    expected = in_process.recommend(users, k=10)

    assert len(expected) == 10 * len(users)
    columns = ["user_id", "item_id", "rank"]
    pd.testing.assert_frame_equal(
        served[columns].reset_index(drop=True), expected[columns], check_dtype=False
    )
    assert served["score"].to_numpy() == pytest.approx(expected["score"].to_numpy(), rel=1e-6)
    assert set(served.loc[served["user_id"] == -1, "item_id"]) == set(
        expected.loc[expected["user_id"] == -1, "item_id"]
    )


def test_the_logged_model_belongs_to_the_run(tiny_run, config):
    models = [model for model in logged_models(config) if model.source_run_id == tiny_run.run_id]

    assert [model.model_uri for model in models] == [tiny_run.model_uri]


def test_prefect_recorded_the_flow_run_and_every_step(tiny_run, client):
    flow_run_id = client.get_run(tiny_run.run_id).data.tags["prefect.flow_run_id"]

    flow_state, task_states = prefect_states(flow_run_id)

    assert flow_state == "COMPLETED"
    assert task_states == dict.fromkeys(STEPS, "COMPLETED")


# A good run: metrics.json -------------------------------------------------------------------------


def test_metrics_file_has_the_shape_every_level_writes(tiny_run, config):
    metrics = json.loads(tiny_run.metrics_path.read_text())

    assert tiny_run.metrics_path == config.tracking.state_dir / "metrics.json"
    for name in MODELS:
        assert set(metrics[name]) == set(METRICS), name
        assert all(0.0 <= value <= 1.0 for value in metrics[name].values()), name
    assert metrics["params"] == {"l2": 200.0}
    assert metrics["evaluation"]["k"] == 10


# A broken feed: refused, on record, no model ---------------------------------------------------


def test_a_broken_feed_is_refused_naming_file_and_column(incident_run):
    message = str(incident_run.error)

    assert "interactions.csv" in message
    assert "'event'" in message
    assert "'user_id'" in message


def test_the_refused_run_is_failed_with_its_reason(incident_run, client):
    run = client.get_run(incident_run.run_id)

    assert run.info.status == "FAILED"
    assert run.data.tags["failure"].startswith("DataValidationError: data validation failed")
    assert "interactions.csv" in run.data.tags["failure"]


def test_the_refused_run_keeps_the_validation_report(incident_run, client, tmp_path):
    names = {artifact.path for artifact in client.list_artifacts(incident_run.run_id)}
    path = client.download_artifacts(incident_run.run_id, "validation.json", str(tmp_path))
    report = json.loads(Path(path).read_text())

    assert {"validation.json", "failure.txt"} <= names
    assert "metrics.json" not in names
    assert report["passed"] is False
    assert report["problems"] == incident_run.error.report.problems


def test_prefect_recorded_the_failure_at_validation(incident_run, client):
    flow_run_id = client.get_run(incident_run.run_id).data.tags["prefect.flow_run_id"]

    flow_state, task_states = prefect_states(flow_run_id)

    assert flow_state == "FAILED"
    assert task_states == {
        "start_tracking": "COMPLETED",
        "load_data": "COMPLETED",
        "validate_data": "FAILED",
    }


def test_the_refused_run_logged_no_model(incident_run, config):
    sources = {model.source_run_id for model in logged_models(config)}

    assert incident_run.run_id not in sources
    assert incident_run.models_after == incident_run.models_before >= 1


# The command lines -----------------------------------------------------------------------------


@pytest.mark.usefixtures("prefect_harness")
def test_the_command_line_trains_and_says_where_the_run_is(config_file, capsys):
    assert train.main(["--config", str(config_file)]) == 0

    out = capsys.readouterr().out
    match = re.search(r"^run id:\s+([0-9a-f]{32})", out, re.MULTILINE)
    assert match, out
    assert MlflowClient().get_run(match.group(1)).info.status == "FINISHED"
    state_dir = load_config(config_file).tracking.state_dir
    assert f"metrics: {state_dir / 'metrics.json'}" in out


@pytest.mark.usefixtures("prefect_harness")
def test_the_command_line_refuses_a_broken_feed(config_file, incident_world, capsys):
    assert train.main(["--config", str(config_file), "--data", str(incident_world)]) == 1

    err = capsys.readouterr().err
    assert "The data was refused; nothing was trained." in err
    assert "interactions.csv" in err


def test_the_command_line_refuses_a_bad_override(config_file, capsys):
    assert train.main(["--config", str(config_file), "--set", "evaluation.k=0"]) == 2
    assert "field 'evaluation.k'" in capsys.readouterr().err

    assert train.main(["--config", str(config_file), "--set", "model.l2"]) == 2
    assert "expected section.key=value" in capsys.readouterr().err


def test_recommend_lists_the_finished_runs(tiny_run, incident_run, config_file, capsys):
    assert recommend.main(["--config", str(config_file), "--list"]) == 0

    out = capsys.readouterr().out
    assert tiny_run.run_id in out
    assert incident_run.run_id not in out


def test_recommend_prints_the_top_items_of_a_run(tiny_run, tiny_world, config_file, capsys):
    split = split_by_time(load_dataset(tiny_world).interactions, 0.2)
    user = int(split.train["user_id"].iloc[0])
    expected = EaseRecommender(l2=200.0).fit(split.train).recommend([user], k=5)

    args = ["--config", str(config_file), "--run", tiny_run.run_id, "--user", str(user)]

    assert recommend.main([*args, "--k", "5"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"Top 5 for user {user} from run {tiny_run.run_id}:"
    listed = [int(re.search(r"item (\d+)", line).group(1)) for line in lines[1:]]
    assert listed == expected["item_id"].tolist()
