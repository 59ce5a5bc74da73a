"""The tuning of ``l2``: judged on the training period's last days, never on the test period.

The rule and the carving are checked on hand-made data; the flow runs once on the tiny world
(a module fixture) with spies on everything that fits or evaluates a model, and the tests read
what those saw and what the run left in MLflow.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from data import load_dataset
from level3_monitoring import flow, train, tune
from level3_monitoring.config import DEFAULT_CONFIG, load_config
from level3_monitoring.evaluation import split_by_time
from level3_monitoring.model import EaseRecommender, PopularityRecommender

EXPERIMENT = "level3-tuning-tests"
GRID = "50,500"
VALIDATION_DAYS = 10


def interactions(days: list[int]) -> pd.DataFrame:
    """Two users who each meet a new item every day, one hour into it."""
    rows = [
        {"user_id": user, "item_id": 10 * day + user, "day": day, "timestamp": 86400 * day + 3600}
        for day in days
        for user in (1, 2)
    ]
    return pd.DataFrame(rows)


# --- the validation period, on hand-made days --------------------------------------------------


def test_the_validation_period_is_the_last_days_of_the_training_period():
    train = interactions(list(range(10)))

    validation = tune.validation_split(train, days=3)

    assert sorted(validation.train["day"].unique()) == list(range(7))
    assert sorted(validation.test["day"].unique()) == [7, 8, 9]
    assert validation.cutoff_day == 7
    assert validation.cutoff_timestamp == 86400 * 7 + 3600
    assert validation.train["timestamp"].max() < validation.cutoff_timestamp
    assert len(validation.train) + len(validation.test) == len(train)


@pytest.mark.parametrize("days", [10, 11, 365])
def test_a_validation_period_as_long_as_the_training_period_is_refused(days):
    with pytest.raises(ValueError, match=rf"^tuning\.validation_days = {days}: .* only 10 days"):
        tune.validation_split(interactions(list(range(10))), days=days)


def test_a_validation_period_without_users_to_judge_is_refused():
    train = interactions(list(range(10)))
    newcomers = train["day"] >= 8
    train.loc[newcomers, "user_id"] += 100  # nobody in the last days has history before them

    with pytest.raises(ValueError, match=r"^tuning\.validation_days = 2: no user of days 8-9"):
        tune.validation_split(train, days=2)


# --- the choice rule, on hand-made figures -----------------------------------------------------


@pytest.mark.parametrize(
    ("ndcg_by_l2", "chosen"),
    [
        ({10.0: 0.10, 100.0: 0.30, 1000.0: 0.20}, 100.0),
        ({10.0: 0.30, 100.0: 0.20, 1000.0: 0.10}, 10.0),
        ({10.0: 0.10, 100.0: 0.30, 1000.0: 0.30}, 1000.0),
        ({300.0: 0.25, 10.0: 0.25, 30.0: 0.25}, 300.0),
        ({200.0: 0.0}, 200.0),
    ],
    ids=["best", "smallest-best", "tie-to-larger", "all-equal", "one"],
)
def test_the_best_ndcg_wins_and_a_tie_goes_to_the_larger_l2(ndcg_by_l2, chosen):
    assert tune.choose_l2(ndcg_by_l2) == chosen


def test_there_is_no_choice_without_candidates():
    with pytest.raises(ValueError, match="no candidate"):
        tune.choose_l2({})


# --- bad settings: one line naming the setting, before anything runs --------------------------


@pytest.mark.parametrize(
    ("setting", "field"),
    [
        ("tuning.l2_grid=10,0,100", "field 'tuning.l2_grid.1': Input should be greater than 0"),
        ("tuning.l2_grid=10,-5", "field 'tuning.l2_grid.1': Input should be greater than 0"),
        ("tuning.l2_grid=10,nan", "field 'tuning.l2_grid.1': Input should be a finite number"),
        ("tuning.l2_grid=ten", "field 'tuning.l2_grid.0': Input should be a valid number"),
        ("tuning.l2_grid=", "field 'tuning.l2_grid': Value error, give at least one value"),
        ("tuning.validation_days=0", "field 'tuning.validation_days': Input should be greater"),
    ],
    ids=["zero", "negative", "nan", "text", "empty", "no-days"],
)
def test_a_bad_grid_or_period_is_refused_in_one_line(setting, field, capsys):
    assert train.main(["--tune", "--set", setting]) == 2

    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert err.startswith("error: ") and field in err


def test_the_grid_is_read_from_a_comma_separated_override():
    config = load_config(DEFAULT_CONFIG, {"tuning.l2_grid": "[10, 100,1000]"})

    assert config.tuning.l2_grid == (10.0, 100.0, 1000.0)


def test_tuning_and_schedule_are_one_or_the_other(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--tune", "--schedule"])
    assert "not allowed with argument" in capsys.readouterr().err


# --- the flow on the tiny world ----------------------------------------------------------------


@dataclass(frozen=True)
class Tuned:
    """A finished tuning and what its steps were given along the way."""

    result: tune.TuningResult
    config_path: Path
    config_digest_before: str
    fitted: list[pd.DataFrame]
    evaluated: list[tuple[pd.DataFrame, pd.DataFrame]]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tuned(
    prefect_harness,  # noqa: ARG001 -- the flow reports to the Prefect test server
    test_config,
) -> Tuned:
    config_path = test_config(DEFAULT_CONFIG, EXPERIMENT)
    before = digest(config_path)
    fitted: list[pd.DataFrame] = []
    evaluated: list[tuple[pd.DataFrame, pd.DataFrame]] = []

    def spy_on(fit):
        def fit_and_record(model, frame):
            fitted.append(frame.copy())
            return fit(model, frame)

        return fit_and_record

    def evaluate_and_record(models, split, k):
        evaluated.append((split.train.copy(), split.test.copy()))
        return evaluate_models(models, split, k)

    evaluate_models = flow.evaluate_models
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(EaseRecommender, "fit", spy_on(EaseRecommender.fit))
        patch.setattr(PopularityRecommender, "fit", spy_on(PopularityRecommender.fit))
        patch.setattr(flow, "evaluate_models", evaluate_and_record)
        overrides = {"tuning.l2_grid": GRID, "tuning.validation_days": str(VALIDATION_DAYS)}
        result = tune.tuning_flow(str(config_path), overrides)
    return Tuned(result, config_path, before, fitted, evaluated)


@pytest.fixture(scope="module")
def test_cutoff(tiny_world) -> int:
    """Where the test period of every training run on the tiny world starts."""
    return split_by_time(load_dataset(tiny_world).interactions, 0.2).cutoff_timestamp


@pytest.mark.slow
def test_no_candidate_is_fitted_on_the_validation_or_test_period(tuned, test_cutoff):
    validation_start = tuned.result.periods.validation_first_day
    assert len(tuned.fitted) == 2 * 3  # EASE and the baseline, for each of 50, 200 and 500
    for frame in tuned.fitted:
        assert frame["day"].max() < validation_start
        assert frame["timestamp"].max() < test_cutoff


@pytest.mark.slow
def test_candidates_are_judged_on_the_training_periods_last_days_only(tuned, test_cutoff):
    periods = tuned.result.periods
    assert len(tuned.evaluated) == 3
    for fit, judged in tuned.evaluated:
        assert judged["timestamp"].max() < test_cutoff
        assert judged["day"].min() == periods.validation_first_day
        assert fit["day"].max() == periods.validation_first_day - 1
    assert periods.validation_last_day - periods.validation_first_day + 1 == VALIDATION_DAYS
    assert periods.validation_last_day == periods.test_first_day  # the test period starts in it


@pytest.mark.slow
def test_each_candidate_is_a_nested_run_with_its_l2_and_validation_metrics(tuned):
    parent = MlflowClient().get_run(tuned.result.run_id)
    children = mlflow.search_runs(
        experiment_names=[f"{EXPERIMENT}-tuning"],
        filter_string=f"tags.mlflow.parentRunId = '{tuned.result.run_id}'",
        output_format="list",
    )

    assert parent.info.run_name == "tune"
    assert parent.info.status == "FINISHED"
    assert sorted(float(run.data.params["model.l2"]) for run in children) == [50.0, 200.0, 500.0]
    for run in children:
        assert run.info.status == "FINISHED"
        assert run.info.experiment_id == parent.info.experiment_id
        assert run.info.run_name == f"l2={float(run.data.params['model.l2']):g}"
        assert {"model/ndcg_at_10", "model/precision_at_10", "model/coverage"} <= set(
            run.data.metrics
        )
    by_l2 = {
        float(run.data.params["model.l2"]): run.data.metrics["model/ndcg_at_10"] for run in children
    }
    assert tuned.result.chosen_l2 == tune.choose_l2(by_l2)


@pytest.mark.slow
def test_the_choice_is_recorded_on_the_parent_with_its_evidence(tuned):
    result = tuned.result
    run = MlflowClient().get_run(result.run_id)
    chosen = f"{result.chosen_l2:g}"

    assert run.data.tags["tuning.chosen_l2"] == chosen
    assert run.data.metrics["chosen/l2"] == result.chosen_l2
    assert run.data.metrics["current/ndcg_at_10"] == result.ndcg(200.0)
    assert {"popularity/ndcg_at_10", "oracle/ndcg_at_10"} <= set(run.data.metrics)
    assert run.data.params["tuning.l2_grid"] == "(50.0, 500.0)"
    contexts = {
        tag.value for entry in run.inputs.dataset_inputs for tag in entry.tags
    }  # the days the candidates were fitted on, and the validation days
    assert contexts == {"training", "evaluation"}

    state = load_config(tuned.config_path).tracking.state_dir
    markdown = (state / "tuning.md").read_text()
    assert mlflow.artifacts.load_text(f"runs:/{result.run_id}/tuning.md") == markdown
    for l2 in ("50", "200", "500"):
        assert any(line.startswith(f"| {l2} | ") for line in markdown.splitlines())
    assert "Rule: the highest NDCG@10 on the validation period" in markdown
    evidence = json.loads((state / "tuning.json").read_text())
    assert evidence["chosen_l2"] == result.chosen_l2
    assert [trial["l2"] for trial in evidence["trials"]] == [50.0, 200.0, 500.0]


@pytest.mark.slow
def test_the_configuration_is_left_as_it_was(tuned):
    assert digest(tuned.config_path) == tuned.config_digest_before
    assert load_config(tuned.config_path).model.l2 == 200.0


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_a_validation_period_longer_than_the_training_period_is_refused_naming_it(
    test_config, capsys
):
    config_path = test_config(DEFAULT_CONFIG, f"{EXPERIMENT}-refused")
    days = "tuning.validation_days=500"

    assert train.main(["--tune", "--config", str(config_path), "--set", days]) == 1

    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-2].startswith("error: tuning.validation_days = 500: the training")
    (run,) = mlflow.search_runs(
        experiment_names=[f"{EXPERIMENT}-refused-tuning"], output_format="list"
    )
    assert run.info.status == "FAILED"


# --- the evidence, on a hand-made result -------------------------------------------------------


def hand_made(chosen: float, current: float = 200.0) -> tune.TuningResult:
    figures = {10.0: 0.10, 200.0: 0.20, 1000.0: 0.25}
    return tune.TuningResult(
        run_id="abc",
        data_path="some/world",
        config_path="level3_monitoring/config.toml",
        k=10,
        current_l2=current,
        chosen_l2=chosen,
        trials=tuple(
            tune.Trial(l2, dict.fromkeys(METRIC_NAMES, 0.0) | {"ndcg_at_10": ndcg})
            for l2, ndcg in figures.items()
        ),
        references={"popularity": dict.fromkeys(METRIC_NAMES, 0.05)},
        periods=tune.Periods(0, 58, 1000, 59, 72, 300, 40, 72),
    )


METRIC_NAMES = ("precision_at_10", "recall_at_10", "ndcg_at_10", "map_at_10", "coverage")


def test_the_evidence_says_the_gain_and_how_to_adopt_the_choice():
    result = hand_made(chosen=1000.0)
    text = tune.evidence_markdown(result)

    assert result.gain() == pytest.approx(0.25)
    assert "| 200 | 0.2000 | " in text and "| current |" in text
    assert "| 1000 | 0.2500 | " in text and "| **chosen** |" in text
    assert "(+25.0% on the validation period)" in text
    assert 'SET="model.l2=1000"' in text
    assert "python -m level3_monitoring.train --set model.l2=1000" in text
    assert "`l2 = 1000` under `[model]` in `level3_monitoring/config.toml`" in text
    assert "at the edge of the grid" in text


def test_the_evidence_says_when_there_is_nothing_to_change():
    text = tune.evidence_markdown(hand_made(chosen=200.0))

    assert "The configured l2 = 200 is the best of these: nothing to change." in text
    assert "SET=" not in text
    assert "edge of the grid" not in text
