"""Alert rules, incidents and delivery: what turns a day's measurements into alerts."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from level4_autonomous.alerts import (
    AlertLog,
    DayMeasurements,
    DriftSummary,
    Finding,
    Incidents,
    ctr_drop_p_value,
    findings,
)
from level4_autonomous.config import MonitoringConfig

SETTINGS = MonitoringConfig()


def kinds(day: DayMeasurements) -> list[tuple[str, str]]:
    return [(finding.kind, finding.metric) for finding in findings(day, SETTINGS)]


def test_a_quiet_day_raises_nothing():
    day = DayMeasurements(
        day=95,
        requests=900,
        error_rate=0.0,
        p99_latency_ms=12.0,
        drift={"request": DriftSummary(0.0, ()), "feed": DriftSummary(0.0, ())},
        new_item_share=0.25,  # at the threshold, not over it
        ctr=0.12,
        baseline_ctr=0.12,
        ctr_p_value=0.9,
    )
    assert kinds(day) == []


def test_each_threshold_raises_its_own_kind():
    day = DayMeasurements(
        day=97,
        requests=900,
        error_rate=0.05,
        p99_latency_ms=900.0,
        drift={
            "request": DriftSummary(0.25, ("country",)),
            "prediction": DriftSummary(0.4, ("category", "score")),
            "feed": DriftSummary(0.2, ("price",)),
        },
        feed_problems=("interactions-day0097.csv: missing column 'event'",),
        new_item_share=0.6,
        ctr=0.07,
        baseline_ctr=0.12,
        ctr_p_value=0.001,
    )
    assert kinds(day) == [
        ("data_quality", "feed_contract_problems"),
        ("data_drift", "request_drift_share"),  # 0.25 reaches drift_share; the feed's 0.2 does not
        ("prediction_drift", "prediction_drift_share"),
        ("data_drift", "new_item_share"),
        ("quality", "ctr"),
        ("service", "error_rate"),
        ("service", "p99_latency_ms"),
    ]
    quality = findings(day, SETTINGS)[4]
    assert quality.value == 0.07
    assert quality.threshold == pytest.approx(SETTINGS.min_ctr_ratio * 0.12)


def test_a_ctr_drop_alerts_only_when_it_is_significant():
    unlucky = DayMeasurements(day=98, requests=900, ctr=0.09, baseline_ctr=0.12, ctr_p_value=0.2)
    assert kinds(unlucky) == []


def test_the_ctr_p_value_is_the_normal_tail_of_the_poisson_count():
    # 1000 lists, baseline 0.12, floor 0.85 x 0.12 = 0.102: 102 clicks expected under the null.
    z = (80 - 102) / math.sqrt(102)
    assert ctr_drop_p_value(80, 1000, 0.12, 0.85) == pytest.approx(0.5 * math.erfc(-z / 2**0.5))
    assert ctr_drop_p_value(80, 1000, 0.12, 0.85) == pytest.approx(0.0147, abs=1e-4)  # z = -2.18
    assert ctr_drop_p_value(102, 1000, 0.12, 0.85) == pytest.approx(0.5)
    assert ctr_drop_p_value(0, 0, 0.12, 0.85) == 1.0


def test_an_incident_is_announced_once_while_it_lasts_and_again_after_it_ended():
    drift = Finding("data_drift", "request_drift_share", 0.5, 0.25, "drift")
    quality = Finding("quality", "ctr", 0.07, 0.1, "drop")
    incidents = Incidents()
    assert [a.metric for a in incidents.announce(97, [drift])] == ["request_drift_share"]
    assert [a.metric for a in incidents.announce(98, [drift, quality])] == ["ctr"]
    assert incidents.announce(99, [drift, quality]) == []
    assert incidents.announce(100, [quality]) == []
    assert [a.day for a in incidents.announce(101, [drift, quality])] == [101]


def test_alerts_are_logged_printed_and_posted_to_the_webhook(tmp_path: Path, webhook, capsys):
    found = Finding("data_quality", "feed_contract_problems", 3, 0, "broken feed", "r.json")
    alert = Incidents().announce(97, [found])[0]
    log = AlertLog(tmp_path, webhook.url)

    log.append([alert])

    assert log.read() == [alert.as_dict()]
    assert webhook.received == [alert.as_dict()]
    assert "ALERT day 97 [data_quality] broken feed" in capsys.readouterr().out
    expected = {"day", "kind", "metric", "value", "threshold", "message", "report"}
    assert set(log.read()[0]) == expected


def test_an_unreachable_webhook_loses_no_alert(tmp_path: Path, caplog):
    found = Finding("service", "error_rate", 0.5, 0.01, "errors")
    log = AlertLog(tmp_path, "http://127.0.0.1:9/unreachable")

    log.append(Incidents().announce(100, [found]))

    assert [alert["metric"] for alert in log.read()] == ["error_rate"]
    assert "not delivered" in caplog.text
