"""The model card: every registered version has one, with the figures its run and registry hold.

Candidates are trained and logged as the flow logs them (``tracking.start_run`` and
``log_results``: parameters, dataset inputs, the metrics of the model, popularity and the oracle,
then the model), without a Prefect run, then released as the CI stages release them.
"""

from __future__ import annotations

import json
from typing import Any

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from data import load_dataset, oracle_for
from level4_autonomous.config import Config, load_config
from level4_autonomous.evaluation import evaluate_models, split_by_time
from level4_autonomous.model import EaseRecommender, PopularityRecommender
from level4_autonomous.model_card import CARD_TAG, card_path
from level4_autonomous.registry import CHAMPION, version_with_alias
from level4_autonomous.release import judge_candidate, promote_candidate, register_candidate
from level4_autonomous.tracking import log_results, start_run
from level4_autonomous.validation import validate

GOOD_L2 = 200.0  # NDCG@10 0.169 on the tiny world, well above popularity's 0.128


def train_and_log(config: Config) -> dict[str, Any]:
    """What the training flow does, step by step, without Prefect: a run with its metrics."""
    run_id = start_run(config, None)
    dataset = load_dataset(config.data.path)
    split = split_by_time(dataset.interactions, config.split.test_fraction)
    model = EaseRecommender(l2=config.model.l2).fit(split.train)
    compared = {
        "model": model,
        "popularity": PopularityRecommender().fit(split.train),
        "oracle": oracle_for(dataset, seen=split.train, day=split.cutoff_day),
    }
    model_uri = log_results(
        run_id,
        config=config,
        dataset=dataset,
        split=split,
        validation=validate(dataset, config.expectations),
        report=evaluate_models(compared, split, k=config.evaluation.k),
        model=model,
    )
    return {"run_id": run_id, "model_uri": model_uri}


def judged_and_registered(config: Config) -> dict[str, Any]:
    """A trained candidate through the gate and registration stages."""
    candidate = train_and_log(config)
    candidate["gate"] = judge_candidate(config, candidate["run_id"], candidate["model_uri"])
    candidate["version"] = register_candidate(config, candidate)
    return candidate


def card_of(config: Config, version: str) -> str:
    """The card the version's ``model_card`` tag points to, read back from MLflow."""
    tags = MlflowClient().get_model_version(config.registry.model_name, version).tags
    return mlflow.artifacts.load_text(tags[CARD_TAG])


def table_row(card: str, first_cell: str) -> list[str]:
    """The cells of the markdown table row that starts with ``first_cell``."""
    for line in card.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in the card:\n{card}")


@pytest.fixture
def config(config_path, model_name) -> Config:
    """The shipped config on the tiny world, with the model's l2 the tests' good one."""
    return load_config(config_path, {"registry.model_name": model_name, "model.l2": GOOD_L2})


def test_a_registered_version_has_a_card_with_its_true_figures(config, capsys):
    candidate = judged_and_registered(config)

    name, version = config.registry.model_name, candidate["version"]
    registered = MlflowClient().get_model_version(name, version)
    path = card_path(name, version)
    assert registered.tags[CARD_TAG] == f"runs:/{candidate['run_id']}/{path}"
    assert f"Model card of version {version}: runs:/" in capsys.readouterr().out
    card = card_of(config, version)
    run = MlflowClient().get_run(candidate["run_id"])
    assert card.startswith(f"# Model card: {name} version {version}\n")
    assert registered.tags["model.sha256"] in card
    assert run.data.tags["data.path"] in card
    metrics = run.data.metrics
    names = {key.partition("/")[2] for key in metrics}
    assert names == {"precision_at_10", "recall_at_10", "ndcg_at_10", "map_at_10", "coverage"}
    for metric in names:
        model, popularity, oracle = (
            metrics[f"{who}/{metric}"] for who in ("model", "popularity", "oracle")
        )
        row = table_row(card, metric)
        assert row[1:4] == [f"{model:.4f}", f"{popularity:.4f}", f"{oracle:.4f}"]
        assert row[4:6] == [f"{model / popularity:.2f}x", f"{model / oracle:.2f}x"]
    contexts = []
    for dataset_input in run.inputs.dataset_inputs:
        context = next(t.value for t in dataset_input.tags if t.key == MLFLOW_DATASET_CONTEXT)
        rows = json.loads(dataset_input.dataset.profile)["num_rows"]
        assert table_row(card, context)[2:] == [str(rows), f"`{dataset_input.dataset.digest}`"]
        contexts.append(context)
    assert sorted(contexts) == ["evaluation", "training"]
    assert "**PASSED**" in card
    assert table_row(card, "quality floor")[1] == "pass"
    assert "- Not promoted." in card
    for limit in ("New users get popularity", "No new items", "The world is simulated"):
        assert limit in card


def test_the_promoted_versions_card_shows_its_promotion(config):
    candidate = judged_and_registered(config)

    assert promote_candidate(config, candidate) == 0

    name, version = config.registry.model_name, candidate["version"]
    tags = MlflowClient().get_model_version(name, version).tags
    card = card_of(config, version)
    assert tags[CARD_TAG] == f"runs:/{candidate['run_id']}/{card_path(name, version)}"
    cards = MlflowClient().list_artifacts(candidate["run_id"], "model_card")
    assert [card.path for card in cards] == [card_path(name, version)]  # rewritten, not added
    assert "- Not promoted." not in card
    for key in ("promoted_at", "promoted_by", "promotion_reason", "replaced_version"):
        assert f"- `{key}`: {tags[key]}" in card
    assert "`champion`" in card


@pytest.mark.parametrize("failing_step", ["register", "promote"])
def test_a_card_that_cannot_be_written_leaves_the_release_as_it_was_with_a_warning(
    config, monkeypatch, capsys, failing_step
):
    def unwritable(*_args: object, **_kwargs: object) -> None:
        raise PermissionError("[Errno 13] Permission denied: '/srv/mlflow/artifacts'")

    candidate = train_and_log(config)
    candidate["gate"] = judge_candidate(config, candidate["run_id"], candidate["model_uri"])
    if failing_step == "promote":
        candidate["version"] = register_candidate(config, candidate)
    monkeypatch.setattr(MlflowClient, "log_text", unwritable)  # the artifact store refuses
    capsys.readouterr()
    if failing_step == "register":
        candidate["version"] = register_candidate(config, candidate)

    assert promote_candidate(config, candidate) == 0

    name, version = config.registry.model_name, candidate["version"]
    assert version_with_alias(name, CHAMPION).version == version == "1"
    tags = MlflowClient().get_model_version(name, version).tags
    assert tags["gate.verdict"] == "passed"
    assert tags["promoted_by"]
    assert CARD_TAG not in tags  # not even the card of registration: it misses the promotion
    err = capsys.readouterr().err.splitlines()  # MLflow says "Created version…" there too
    warnings = [line for line in err if "model card" in line]
    expected = 2 if failing_step == "register" else 1  # once per step that wrote no card
    assert len(warnings) == expected, warnings
    for warning in warnings:
        assert warning.startswith(f"warning: no model card for {name} version 1 (")
        assert "Permission denied: '/srv/mlflow/artifacts'" in warning
        assert "the release stands" in warning
