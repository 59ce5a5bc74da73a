"""Data validation: the file contract first, then the level's expectations, problems named."""

import dataclasses
import json

import pytest

from data import read_dataset, validate_dataset, write_dataset
from level1_pipeline.config import Expectations
from level1_pipeline.validation import DataValidationError, validate

EVERY_CHECK = ["file contract", "volume: interactions", "volume: users", "volume: items"]


@pytest.fixture(scope="module")
def valid(tiny_world):
    return read_dataset(tiny_world)


def failed_checks(report) -> list[str]:
    return [check.name for check in report.checks if not check.passed]


def test_a_valid_dataset_passes_every_check(valid):
    report = validate(valid, Expectations())

    assert report.passed
    assert report.problems == []
    assert [check.name for check in report.checks] == [*EVERY_CHECK, "range: price"]
    assert failed_checks(report) == []
    assert json.loads(json.dumps(report.to_dict()))["passed"] is True


def test_a_broken_feed_fails_the_contract_naming_file_and_columns(incident_world):
    report = validate(read_dataset(incident_world), Expectations())

    assert not report.passed
    assert all(problem.startswith("interactions.csv, column ") for problem in report.problems)
    text = "\n".join(report.problems)
    assert "column 'event'" in text
    assert "column 'user_id'" in text
    assert "column 'event_type'" in text
    # Expectations are only measured on data that meets the contract.
    assert [check.name for check in report.checks] == ["file contract"]
    assert report.to_dict()["problems"] == report.problems


def test_prices_in_cents_fail_only_the_price_expectation(valid, tmp_path):
    interactions = valid.interactions.assign(price=valid.interactions["price"] * 100)
    cents = dataclasses.replace(valid, interactions=interactions)
    cents = read_dataset(write_dataset(cents, tmp_path / "cents"))

    report = validate(cents, Expectations())

    assert validate_dataset(cents) == []  # still within the file contract
    assert failed_checks(report) == ["range: price"]
    assert len(report.problems) == 1
    assert report.problems[0].startswith("interactions.csv, column 'price': highest value ")
    assert "cents" in report.problems[0]


def test_too_few_interactions_fail_the_volume_check(valid):
    few = dataclasses.replace(valid, interactions=valid.interactions.head(500))

    report = validate(few, Expectations())

    assert "volume: interactions" in failed_checks(report)
    assert "interactions.csv: 500 rows (expected at least 1,000)" in report.problems
    assert "range: price" not in failed_checks(report)


def test_the_thresholds_come_from_the_expectations(valid):
    users = valid.interactions["user_id"].nunique()
    items = valid.interactions["item_id"].nunique()
    strict = Expectations(min_users=users + 1, min_items=items + 1)

    report = validate(valid, strict)

    assert failed_checks(report) == ["volume: users", "volume: items"]
    assert f"interactions.csv, column 'user_id': {users:,} distinct users" in report.problems[0]
    assert f"interactions.csv, column 'item_id': {items:,} distinct items" in report.problems[1]
    assert validate(valid, Expectations(min_users=users, min_items=items)).passed


def test_the_error_lists_every_problem(incident_world):
    report = validate(read_dataset(incident_world), Expectations())

    error = DataValidationError(report)

    assert error.report is report
    assert str(error).startswith("data validation failed:\n")
    assert all(f"  - {problem}" in str(error) for problem in report.problems)
