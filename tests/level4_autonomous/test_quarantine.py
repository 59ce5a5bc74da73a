"""Quarantine moves a broken feed day aside with its reason; the decision log and pages keep it."""

from __future__ import annotations

import json
from pathlib import Path

from level4_autonomous.decisions import Decision, DecisionLog, page
from level4_autonomous.quarantine import feed_days, quarantine_feed, quarantined_days
from level4_autonomous.traffic import FEED_FOLDER, feed_file_name


def land(state: Path, day: int) -> Path:
    path = state / FEED_FOLDER / feed_file_name(day)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("day,user_id\n")
    return path


def test_a_quarantined_day_leaves_the_feed_with_its_reason(tmp_path: Path) -> None:
    for day in (96, 97, 98):
        land(tmp_path, day)
    moved = quarantine_feed(tmp_path, 97, ["interactions.csv: column 'event' is missing"])
    assert moved == tmp_path / "quarantine" / "interactions-day0097.csv"
    assert moved.read_text() == "day,user_id\n"
    reason = json.loads(moved.with_suffix(".reason.json").read_text())
    assert reason["day"] == 97 and "column 'event'" in reason["reasons"][0]
    assert feed_days(tmp_path) == [96, 98]
    assert quarantined_days(tmp_path) == [97]


def test_quarantining_twice_is_once_and_a_missing_day_is_none(tmp_path: Path) -> None:
    land(tmp_path, 97)
    first = quarantine_feed(tmp_path, 97, ["broken"])
    assert quarantine_feed(tmp_path, 97, ["broken again"]) == first
    assert json.loads(first.with_suffix(".reason.json").read_text())["reasons"] == ["broken"]
    assert quarantine_feed(tmp_path, 99, ["never landed"]) is None


def test_decisions_are_appended_and_read_back(tmp_path: Path, capsys) -> None:
    log = DecisionLog(tmp_path)
    log.record(Decision(97, "quarantine", None, "the feed is broken", {"problems": ["x"]}))
    log.record(Decision(98, "retrain", "2", "feed drift", {"window": {"from_day": 97}}))
    assert [(d["day"], d["action"], d["model_version"]) for d in log.read()] == [
        (97, "quarantine", None),
        (98, "retrain", "2"),
    ]
    assert "DECISION day 98: retrain version 2: feed drift" in capsys.readouterr().out


def test_a_page_reaches_the_log_and_the_webhook(tmp_path: Path, webhook) -> None:
    page(tmp_path, "the on-call ML engineer", webhook.url, 97, "feed of day 97 quarantined")
    sent = json.loads((tmp_path / "pages.jsonl").read_text())
    assert sent == {
        "day": 97,
        "to": "the on-call ML engineer",
        "message": "feed of day 97 quarantined",
    }
    assert webhook.received == [sent]


def test_an_incident_of_several_days_quarantines_each_and_pages_once(tmp_path: Path) -> None:
    from level4_autonomous.config import DEFAULT_CONFIG, load_config
    from level4_autonomous.retraining import quarantine

    config = load_config(DEFAULT_CONFIG, {"tracking.state_dir": str(tmp_path)})
    log = DecisionLog(tmp_path)
    for day in (97, 98, 100):
        land(tmp_path, day)
        quarantine(config, day, [f"day {day}: column 'event' is missing"], log)
    quarantine(config, 97, ["the same day again"], log)
    assert [(d["day"], d["action"]) for d in log.read()] == [
        (97, "quarantine"),
        (98, "quarantine"),
        (100, "quarantine"),
    ]
    pages = [json.loads(line) for line in (tmp_path / "pages.jsonl").read_text().splitlines()]
    assert [page["day"] for page in pages] == [97, 100]  # day 98 continues day 97's incident
    assert "day 97: column 'event' is missing" in pages[0]["message"]
    assert quarantined_days(tmp_path) == [97, 98, 100]
