"""The level's run end to end: release, production days over real HTTP, monitoring, outputs.

A tiny world whose upstream feed breaks on day 92, two days into production: the run releases a
champion and starts the service, the visitors ask it over HTTP, their feedback comes back
through ``POST /feedback``, each day's monitoring flow runs on the session's Prefect server,
and the broken feed must come out as one data_quality alert, in the alert log, in the summary,
on the webhook, and not as drift. Days of a tiny world have about 100 requests and 220 feed
rows, too few to judge drift or click-through on (``min_rows``), so this test checks the
plumbing; the detection of each scenario is ``test_detection.py``'s.
"""

from __future__ import annotations

import csv
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from data import World, WorldConfig, write_dataset
from level4_autonomous import prediction_log, production, stages
from level4_autonomous.config import DEFAULT_CONFIG, load_config
from level4_autonomous.prediction_log import log_path, read_requests
from level4_autonomous.runtime import free_port
from level4_autonomous.timeline import COLUMNS

pytestmark = pytest.mark.slow

SWITCH_DAY, DAYS = 92, 4
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def broken_feed_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny world whose feed breaks on day 92 (a renamed column, null user ids)."""
    folder = tmp_path_factory.mktemp("world") / "feed-incident-tiny-switch92"
    world = World(WorldConfig(seed=7, size="tiny", scenario="feed_incident", switch_day=92))
    return write_dataset(world.history(), folder)


@dataclass
class LevelRun:
    """The command-line options of one run, and where it keeps its state."""

    world: Path
    model_name: str
    args: list[str]
    state: Path


@pytest.fixture
def level_run(broken_feed_world, test_config, webhook) -> LevelRun:
    """The level's config on the broken-feed world: its own model name, port and webhook."""
    config_path = test_config(DEFAULT_CONFIG, "level4-production-tests")
    model_name = f"recommender-{uuid.uuid4().hex[:8]}"
    settings = {
        "registry.model_name": model_name,
        "serving.port": free_port(),
        "monitoring.webhook_url": webhook.url,
        "monitoring.html_reports": "alerts",
    }
    options = [item for key, value in settings.items() for item in ("--set", f"{key}={value}")]
    state = load_config(config_path).tracking.state_dir
    return LevelRun(broken_feed_world, model_name, ["--config", str(config_path), *options], state)


@pytest.mark.usefixtures("prefect_harness")
def test_a_run_plays_monitored_days_and_reports_the_broken_feed(
    level_run, webhook, process_trace, monkeypatch, capsys
):
    args, state = level_run.args, level_run.state
    monkeypatch.setenv(process_trace.variable, process_trace.value)  # the service inherits it
    try:
        code = production.main([*args, "--data", str(level_run.world), "--days", str(DAYS)])
        out = capsys.readouterr().out
        assert code == 0, out

        summary = json.loads((state / "summary.json").read_text())
        expected = {"scenario": "feed_incident", "seed": 7, "first_day": 90, "switch_day": 92}
        assert {key: summary[key] for key in expected} == expected
        assert summary["days"] == DAYS
        alerts = [(a["day"], a["kind"], a["metric"]) for a in summary["alerts"]]
        assert alerts == [(SWITCH_DAY, "data_quality", "feed_contract_problems")]
        alert = summary["alerts"][0]
        assert "interactions-day0092.csv" in alert["message"]
        assert Path(alert["report"]).is_file()
        assert webhook.received == summary["alerts"]
        lines = (state / "alerts.jsonl").read_text().splitlines()
        assert [json.loads(line) for line in lines] == summary["alerts"]
        assert f"ALERT day {SWITCH_DAY} [data_quality]" in out

        with (state / "timeline.csv").open() as file:
            rows = list(csv.DictReader(file))
        assert list(rows[0]) == list(COLUMNS)
        assert [int(row["day"]) for row in rows] == list(range(90, 90 + DAYS))
        by_day = {int(row["day"]): row for row in rows}
        assert by_day[SWITCH_DAY]["alert_kinds"] == "data_quality"
        assert by_day[90]["new_item_share"] != ""  # a feed that passed is measured,
        assert by_day[SWITCH_DAY]["new_item_share"] == ""  # a broken one is not
        assert {row["feed_drift_share"] for row in rows} == {""}  # too few rows to judge drift
        for row in rows:
            assert 0 < float(row["true_quality"]) < 1
            assert 0 < float(row["coverage"]) <= 1
            assert int(row["errors"]) == 0

        logged = read_requests(log_path(state), 90, 90 + DAYS - 1)
        assert logged.groupby("day").size().tolist() == [int(row["requests"]) for row in rows]
        assert set(logged["model_version"]) == {"1"}
        assert (state / "timeline.png").read_bytes().startswith(PNG_SIGNATURE)

        request_id = logged["request_id"].iat[0]
        explain = ["explain", request_id, *args]
        assert prediction_log.main(explain) == 0
        lineage = capsys.readouterr().out
        assert f"version 1 (models:/{level_run.model_name}/1" in lineage
        assert str(level_run.world) in lineage
        assert "promoted" in lineage
    finally:
        assert stages.main(["stop", *args]) == 0
    assert process_trace.running() == []
