"""Each scenario is caught by the right alert, and the stable world raises none (seed 42).

The world switches on day 97, a week into production (days 90-96 are normal traffic; 90-92 are
the champion's baseline). The monitoring is the level's own, fed with what the service would
have logged (``simulation.py``); ``benchmarks/detection.py`` runs seeds 42, 1 and 2 over 30 days.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.level4_autonomous.simulation import Champion, OfflineProduction

SWITCH_DAY = 97
BASELINE_DAYS = (90, 91, 92)
QUALITY = ("measure_service", "measure_quality")


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> Champion:
    """EASE trained on the default-size history of seed 42, served in every scenario."""
    return Champion.trained(tmp_path_factory.mktemp("champion"), 42, "small", SWITCH_DAY)


@pytest.fixture
def production(champion: Champion, tmp_path: Path):
    """A scenario's production, its baseline days already monitored for click-through."""

    def start(scenario: str) -> OfflineProduction:
        run = OfflineProduction.start(champion, tmp_path, scenario)
        for day in BASELINE_DAYS:
            run.monitor(day, QUALITY)
        return run

    return start


def kinds(run: OfflineProduction) -> list[tuple[int, str]]:
    return [(alert["day"], alert["kind"]) for alert in run.alerts()]


def test_the_stable_world_raises_no_alert_in_a_month(production):
    run = production("stable")
    for day in (96, 119):  # the day before the switch day, and 3 weeks later
        result = run.monitor(day)
        assert result.measurements.drift["request"].share == 0.0
        assert result.measurements.drift["feed"].share == 0.0
        assert 0 < result.measurements.new_item_share < 0.25  # new items, but few
    assert kinds(run) == []
    assert result.measurements.drift["prediction"].share < 0.25


def test_a_new_market_is_data_drift_in_the_requests_by_the_day_after_the_switch(production):
    run = production("new_market")
    for day in (SWITCH_DAY, SWITCH_DAY + 1):
        run.monitor(day, ("measure_request_drift", "measure_feed_drift"))
    drift = [alert for alert in run.alerts() if alert["kind"] == "data_drift"]
    assert drift, kinds(run)
    assert drift[0]["day"] <= SWITCH_DAY + 1
    assert drift[0]["metric"] == "request_drift_share"
    assert "country" in drift[0]["message"]


def test_a_new_catalogue_is_data_drift_in_the_feed_on_the_switch_day(production):
    run = production("catalog_shift")
    result = run.monitor(SWITCH_DAY, ("measure_request_drift", "measure_feed_drift"))
    assert {kind for _, kind in kinds(run)} == {"data_drift"}
    new_items = [alert for alert in run.alerts() if alert["metric"] == "new_item_share"]
    assert [alert["day"] for alert in new_items] == [SWITCH_DAY]
    assert new_items[0]["value"] == result.measurements.new_item_share > 0.5


def test_a_taste_shift_is_a_quality_alert_within_two_days(production):
    run = production("taste_shift")
    for day in (SWITCH_DAY, SWITCH_DAY + 1):
        run.monitor(day, QUALITY)
    quality = [alert for alert in run.alerts() if alert["kind"] == "quality"]
    assert quality, kinds(run)
    assert quality[0]["day"] <= SWITCH_DAY + 1
    assert quality[0]["value"] < quality[0]["threshold"]


def test_a_broken_feed_is_a_data_quality_incident_not_drift(production):
    run = production("feed_incident")
    for day in (SWITCH_DAY, SWITCH_DAY + 1):
        result = run.monitor(day, ("measure_request_drift", "measure_feed_drift"))
        assert "feed" not in result.measurements.drift  # a broken feed is not compared
    assert kinds(run) == [(SWITCH_DAY, "data_quality")]  # one incident, announced once
    message = run.alerts()[0]["message"]
    assert "interactions-day0097.csv" in message
    assert "event" in message
