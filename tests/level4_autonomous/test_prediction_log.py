"""The prediction log on its own: what the service writes, what the monitoring reads back.

The monitoring reads the log a day at a time and compares its columns with the training data,
so the reading functions must return the same column types every time, empty or not, with ids
exact; a day must end where ``day_of`` says; a file of another layout, or no file at all, must be
refused by name (never silently created, which would read as "no traffic"); and a feedback batch
must be stored whole or not at all, however many request ids it spans. ``explain`` is run as
the command runs it, on a version released as the CI stages release it.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from data.schema import SECONDS_PER_DAY, WORLD_EPOCH
from level4_autonomous.config import Config
from level4_autonomous.prediction_log import (
    CHUNK,
    EXPLAIN_ITEMS,
    FEEDBACK_DTYPES,
    RECOMMENDATION_DTYPES,
    REQUEST_DTYPES,
    SCHEMA_VERSION,
    FeedbackEvent,
    FeedbackRefusedError,
    LoggedRequest,
    PredictionLog,
    PredictionLogError,
    day_of,
    log_path,
    main,
    read_feedback,
    read_recommendations,
    read_requests,
)

if TYPE_CHECKING:
    from tests.level4_autonomous.conftest import Candidates

READERS = (read_requests, read_recommendations, read_feedback)
DTYPES = {
    read_requests: REQUEST_DTYPES,
    read_recommendations: RECOMMENDATION_DTYPES,
    read_feedback: FEEDBACK_DTYPES,
}


def start_of(day: int) -> int:
    """The first second of a simulated day."""
    return WORLD_EPOCH + day * SECONDS_PER_DAY


def answered(
    request_id: str | None = None, timestamp: int = WORLD_EPOCH, **fields: object
) -> LoggedRequest:
    """An answered request (status 200) as the service logs one; ``fields`` override."""
    values: dict[str, object] = {
        "user_id": 42,
        "k": 3,
        "device": "mobile",
        "country": "DE",
        "age_band": "35-44",
        "account_age_days": 12,
        "model_version": "1",
        "fallback": False,
        **fields,
    }
    return LoggedRequest(
        request_id=request_id or uuid.uuid4().hex,
        timestamp=timestamp,
        status=200,
        latency_ms=1.5,
        **values,  # type: ignore[arg-type]
    )


ITEMS = [(1, 10, 0.9), (2, 11, 0.5), (3, 12, 0.25)]


@pytest.fixture
def log(tmp_path: Path) -> Iterator[PredictionLog]:
    """An empty log of the test's own, open for writing as the service opens it."""
    with PredictionLog.open(log_path(tmp_path)) as opened:
        yield opened


def dtypes_of(frame: pd.DataFrame) -> dict[str, str]:
    return {name: str(dtype) for name, dtype in frame.dtypes.items()}


# ---- the frames the monitoring reads ---------------------------------------------------------


@pytest.mark.parametrize("reader", READERS)
def test_an_empty_log_reads_as_empty_frames_of_the_documented_types(
    log: PredictionLog, reader: object
) -> None:
    frame = reader(log.path, 0, 1000)  # type: ignore[operator]

    assert frame.empty
    assert dtypes_of(frame) == DTYPES[reader]  # type: ignore[index]


def test_missing_values_keep_the_documented_types(log: PredictionLog) -> None:
    answer = answered(timestamp=start_of(4), fallback=True)
    log.record_answer(answer, ITEMS)
    refusal = LoggedRequest(uuid.uuid4().hex, start_of(4) + 1, status=422, latency_ms=0.2)
    log.record_error(refusal)
    log.record_feedback([FeedbackEvent(answer.request_id, 11, "click", start_of(4) + 60)])

    requests = read_requests(log.path, 4, 4)
    items = read_recommendations(log.path, 4, 4)
    feedback = read_feedback(log.path, 4, 4)

    assert dtypes_of(requests) == REQUEST_DTYPES
    assert dtypes_of(items) == RECOMMENDATION_DTYPES
    assert dtypes_of(feedback) == FEEDBACK_DTYPES
    first, error = requests.iloc[0], requests.iloc[1]
    assert (first["request_id"], first["fallback"], first["account_age_days"]) == (
        answer.request_id,
        True,
        12.0,
    )
    assert error["status"] == 422
    assert pd.isna(error["user_id"]) and pd.isna(error["k"]) and pd.isna(error["fallback"])
    assert error["device"] is None and pd.isna(error["account_age_days"])
    assert list(zip(items["rank"], items["item_id"], items["score"], strict=True)) == ITEMS
    assert set(items["user_id"]) == {42}
    assert (feedback.iloc[0]["item_id"], feedback.iloc[0]["event"]) == (11, "click")


@pytest.mark.parametrize("user_id", [2**53 + 1, 2**63 - 1])
def test_a_large_user_id_beside_a_refused_request_is_read_exactly(
    log: PredictionLog, user_id: int
) -> None:
    log.record_answer(answered(timestamp=start_of(2), user_id=user_id), ITEMS)
    log.record_error(LoggedRequest(uuid.uuid4().hex, start_of(2), status=422, latency_ms=0.1))

    requests = read_requests(log.path, 2, 2)

    assert requests["user_id"].iloc[0] == user_id


def test_a_day_ends_where_day_of_says(log: PredictionLog) -> None:
    assert (day_of(WORLD_EPOCH - 1), day_of(WORLD_EPOCH), day_of(start_of(1) - 1)) == (-1, 0, 0)
    moments = {
        "before": start_of(3) - 1,
        "first": start_of(3),
        "last": start_of(4) - 1,
        "after": start_of(4),
    }
    ids = {name: uuid.uuid4().hex for name in moments}
    for name, moment in moments.items():
        log.record_answer(answered(ids[name], moment), ITEMS)

    frame = read_requests(log.path, 3, 3)

    assert list(frame["request_id"]) == [ids["first"], ids["last"]]
    assert set(frame["day"]) == {3}
    assert list(read_requests(log.path, 2, 4)["day"]) == [2, 3, 3, 4]
    assert set(read_recommendations(log.path, 3, 3)["request_id"]) == {ids["first"], ids["last"]}


def test_feedback_is_read_by_the_day_of_its_request(log: PredictionLog) -> None:
    request = answered(timestamp=start_of(3) + 100)
    log.record_answer(request, ITEMS)
    log.record_feedback([FeedbackEvent(request.request_id, 10, "purchase", start_of(5) + 7)])

    on_request_day = read_feedback(log.path, 3, 3)

    assert len(on_request_day) == 1
    row = on_request_day.iloc[0]
    assert (row["day"], row["request_day"], row["timestamp"]) == (5, 3, start_of(5) + 7)
    assert read_feedback(log.path, 5, 5).empty  # it belongs to its request's day


def test_requests_before_the_epoch_have_negative_days(log: PredictionLog) -> None:
    log.record_answer(answered(timestamp=WORLD_EPOCH - 1), ITEMS)

    assert list(read_requests(log.path, -1, -1)["day"]) == [-1]


# ---- files that are not this log, or not there ------------------------------------------------


def other_layout(path: Path) -> Path:
    """A SQLite file that says it is a log of another schema version."""
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE requests (id INTEGER)")
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    return path


def test_a_log_of_another_schema_version_is_refused_by_name(tmp_path: Path) -> None:
    path = other_layout(log_path(tmp_path))
    expected = f"{path} is not a prediction log of this version (schema {SCHEMA_VERSION + 1}"

    with pytest.raises(PredictionLogError) as opening:
        PredictionLog.open(path)
    assert str(opening.value).startswith(expected)
    assert "move it away" in str(opening.value)
    for reader in READERS:
        with pytest.raises(PredictionLogError) as reading:
            reader(path, 0, 1)
        assert str(reading.value).startswith(expected)


def test_a_file_that_is_not_sqlite_is_refused_by_name(tmp_path: Path) -> None:
    path = log_path(tmp_path)
    path.write_text("request_id,user_id\n")

    with pytest.raises(PredictionLogError, match=f"cannot open the prediction log {path}"):
        PredictionLog.open(path)
    with pytest.raises(PredictionLogError, match=f"prediction log {path}"):
        read_requests(path, 0, 1)
    assert path.read_text() == "request_id,user_id\n"  # left as it was


@pytest.mark.parametrize("reader", READERS)
def test_reading_a_log_that_is_not_there_creates_nothing(tmp_path: Path, reader: object) -> None:
    path = log_path(tmp_path / "never-served")

    with pytest.raises(PredictionLogError) as error:
        reader(path, 0, 1)  # type: ignore[operator]

    assert str(error.value).startswith(f"no prediction log at {path}:")
    assert "serving.log_predictions" in str(error.value)
    assert not path.parent.exists()


# ---- writing: all or nothing -----------------------------------------------------------------


def test_an_answer_is_stored_with_all_its_items_or_not_at_all(log: PredictionLog) -> None:
    request = answered(timestamp=start_of(1))

    with pytest.raises(PredictionLogError, match=f"{log.path}: cannot record request"):
        log.record_answer(request, [(1, 10, 0.9), (1, 11, 0.5)])  # the same rank twice

    assert read_requests(log.path, 1, 1).empty
    assert read_recommendations(log.path, 1, 1).empty
    log.record_answer(request, ITEMS)  # the same id, once the first try left nothing behind
    assert len(read_recommendations(log.path, 1, 1)) == len(ITEMS)


def test_an_answer_that_failed_on_its_way_out_keeps_the_error_status(log: PredictionLog) -> None:
    request = answered(timestamp=start_of(1))
    log.record_answer(request, ITEMS)

    log.record_error(LoggedRequest(request.request_id, start_of(1), status=500, latency_ms=9.0))

    row = read_requests(log.path, 1, 1).iloc[0]
    assert (row["status"], row["latency_ms"], row["model_version"]) == (500, 9.0, "1")


@pytest.fixture
def many_requests(log: PredictionLog) -> list[str]:
    """More logged requests than one query's chunk of ids: each served items 10, 11 and 12."""
    ids = [f"{index:032x}" for index in range(2 * CHUNK + 200)]
    for request_id in ids:
        log.record_answer(answered(request_id, start_of(6)), ITEMS)
    return ids


@pytest.mark.parametrize(
    ("field", "bad_event"),
    [
        ("item_id", lambda request_id: FeedbackEvent(request_id, 99, "click", start_of(6))),
        ("request_id", lambda _: FeedbackEvent("f" * 32, 10, "click", start_of(6))),
    ],
)
def test_a_feedback_batch_over_many_chunks_is_stored_whole_or_not_at_all(
    log: PredictionLog, many_requests: list[str], field: str, bad_event: object
) -> None:
    events = [FeedbackEvent(request_id, 11, "click", start_of(6)) for request_id in many_requests]
    last = len(events) - 1
    events[last] = bad_event(many_requests[last])  # type: ignore[operator]  # in the last chunk

    with pytest.raises(FeedbackRefusedError) as refused:
        log.record_feedback(events)

    assert [problem.location for problem in refused.value.problems] == [f"events.{last}.{field}"]
    assert f"1 of the {len(events)} events" in str(refused.value)
    assert "none was stored" in str(refused.value)
    assert read_feedback(log.path, 6, 6).empty


def test_a_whole_batch_over_many_chunks_is_stored_then_counted_as_duplicates(
    log: PredictionLog, many_requests: list[str]
) -> None:
    clicks = [FeedbackEvent(request_id, 12, "click", start_of(6)) for request_id in many_requests]

    first = log.record_feedback(clicks)
    again = log.record_feedback(clicks)

    assert (first.accepted, first.duplicates) == (len(clicks), 0)
    assert (again.accepted, again.duplicates) == (0, len(clicks))
    assert len(read_feedback(log.path, 6, 6)) == len(clicks)


# ---- explain ---------------------------------------------------------------------------------


def explain(
    request_id: str, config_path: Path, model_name: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Run ``explain`` as the command line does; its exit code, stdout and stderr."""
    code = main(
        [
            "explain",
            request_id,
            "--config",
            str(config_path),
            "--set",
            f"registry.model_name={model_name}",
        ]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_explain_names_the_version_its_run_gate_and_training_data(
    config: Config,
    config_path: Path,
    model_name: str,
    candidates: Candidates,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mlflow.tracking import MlflowClient

    released, promoted = candidates.release(l2=200.0)
    assert promoted == 0, "the test candidate must pass the gate"
    path = log_path(config.tracking.state_dir)
    request = answered(timestamp=start_of(90) + 3600, model_version=released["version"])
    items = [(rank, 100 + rank, 1.0 / rank) for rank in range(1, EXPLAIN_ITEMS + 3)]
    with PredictionLog.open(path) as log:
        log.record_answer(request, items)
        log.record_feedback([FeedbackEvent(request.request_id, 102, "purchase", start_of(91))])
    capsys.readouterr()

    code, out, err = explain(request.request_id, config_path, model_name, capsys)

    assert (code, err) == (0, ""), err
    assert f"Request {request.request_id} (from {path})" in out
    assert "(day 90)" in out
    assert "user 42, k 3; device mobile, country DE, age band 35-44, account age days 12" in out
    assert f"by version {released['version']}, personalised" in out
    assert "and 2 more" in out
    assert "purchase on 102 (day 91)" in out
    assert f"{model_name} version {released['version']}" in out
    assert f"from run {released['run_id']}" in out
    assert "gate      passed" in out
    assert f"data      {config.data.path}" in out
    run = MlflowClient().get_run(released["run_id"])
    digests = [dataset.dataset.digest for dataset in run.inputs.dataset_inputs]
    assert len(digests) == 2  # the training and evaluation periods
    for digest in digests:
        assert f"digest {digest}" in out


def test_explain_of_an_unknown_request_says_which_and_where(
    config: Config, config_path: Path, model_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = log_path(config.tracking.state_dir)
    with PredictionLog.open(path) as log:
        log.record_answer(answered(), ITEMS)
    unknown = uuid.uuid4().hex

    code, out, err = explain(unknown, config_path, model_name, capsys)

    assert (code, out) == (1, "")
    assert err.splitlines() == [f"error: request {unknown} is not in the prediction log {path}"]


def test_explain_of_a_refused_request_says_no_model_answered(
    config: Config, config_path: Path, model_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    refusal = LoggedRequest(uuid.uuid4().hex, start_of(1), status=422, latency_ms=0.3, user_id=5)
    with PredictionLog.open(log_path(config.tracking.state_dir)) as log:
        log.record_error(refusal)

    code, out, _ = explain(refusal.request_id, config_path, model_name, capsys)

    assert code == 0
    assert "No model answered it: the service refused it with status 422." in out


def test_explain_of_a_version_the_registry_lacks_says_so(
    config: Config, config_path: Path, model_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    request = answered(model_version="7")
    with PredictionLog.open(log_path(config.tracking.state_dir)) as log:
        log.record_answer(request, ITEMS)

    code, _, err = explain(request.request_id, config_path, model_name, capsys)

    assert code == 1
    assert err.startswith(f"error: version 7 of '{model_name}' is not in the MLflow registry")


@pytest.mark.parametrize("problem", ["missing", "other layout"])
def test_explain_without_a_usable_log_exits_1_naming_it(
    config: Config,
    config_path: Path,
    model_name: str,
    capsys: pytest.CaptureFixture[str],
    problem: str,
) -> None:
    path = log_path(config.tracking.state_dir)
    if problem == "other layout":
        path.parent.mkdir(parents=True, exist_ok=True)
        other_layout(path)

    code, _, err = explain(uuid.uuid4().hex, config_path, model_name, capsys)

    assert code == 1
    assert len(err.splitlines()) == 1
    assert str(path) in err
    assert path.exists() == (problem == "other layout")  # nothing created


def test_a_capped_read_samples_requests_evenly_over_the_days(log: PredictionLog) -> None:
    for day in (3, 4):
        for user in range(50):
            log.record_answer(answered(timestamp=start_of(day) + user, user_id=user), ITEMS)

    sample = read_recommendations(log.path, 3, 4, at_most_requests=10)
    whole = read_recommendations(log.path, 3, 4)

    requests = sample.groupby("request_id")
    assert requests.ngroups == 10  # one request in every ten, with all its items
    assert (requests.size() == len(ITEMS)).all()
    assert sample.groupby("day")["request_id"].nunique().to_dict() == {3: 5, 4: 5}
    assert set(sample["request_id"]) <= set(whole["request_id"])
    assert len(whole) == 100 * len(ITEMS)
