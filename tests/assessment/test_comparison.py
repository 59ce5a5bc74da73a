"""What the step bought, from a hand-made compare.json; and the message when there is none."""

from __future__ import annotations

import json
import time
from pathlib import Path

WORLD = {
    "scenario": "catalog_shift",
    "seed": 7,
    "size": "tiny",
    "first_day": 90,
    "last_day": 99,
    "switch_day": 94,
}


def level_entry(delay: int | None, monitors: bool, recover: int | None, lost: float) -> dict:
    """A level's entry as compare/results.py writes it (the fields the report reads)."""
    return {
        "title": "x",
        "manual_steps": [{"duty": "watch"}] * (1 if monitors else 2),
        "production": {
            "source": "hand-made",
            "monitors": monitors,
            "pre_switch_quality": 0.33,
            "detection_delay_days": delay,
            "time_to_recover_days": recover,
            "quality_lost": lost,
            "last_day_share": 0.5,
            "failed_requests": 0 if monitors else None,
            "alerts": [],
            "decisions": [],
        },
    }


def write_compare(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    levels = {
        "level2_cicd": level_entry(None, False, None, 3.25),
        "level3_monitoring": level_entry(2, True, 5, 2.5),
        "level4_autonomous": level_entry(2, True, 3, 1.125),
    }
    path.write_text(json.dumps({"world": WORLD, "created": "x", "levels": levels}))
    return path


def test_the_steps_figures_come_from_compare_json(assess, answers_at, tmp_path):
    source = write_compare(tmp_path / "mine" / "compare.json")
    run = assess("--answers", str(answers_at(2)), "--format", "json", "--compare", str(source))
    assert run.returncode == 0, run.stderr
    sim = json.loads(run.stdout)["simulated"]
    assert sim["available"] is True
    assert sim["source"] == str(source)
    assert sim["world"] == WORLD
    assert (sim["from"]["folder"], sim["to"]["folder"]) == ("level2_cicd", "level3_monitoring")
    assert sim["from"]["quality_lost"] == 3.25 and sim["to"]["quality_lost"] == 2.5
    assert sim["to"]["detection_delay_days"] == 2 and sim["to"]["time_to_recover_days"] == 5
    assert (sim["from"]["manual_steps"], sim["to"]["manual_steps"]) == (2, 1)


def test_the_text_report_shows_the_figures_as_measured(assess, answers_at, tmp_path):
    source = write_compare(tmp_path / "compare.json")
    run = assess("--answers", str(answers_at(2)), "--compare", str(tmp_path))  # the folder
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "What that step bought on the simulated world (catalog_shift, seed 7, tiny" in out
    assert f"from {source}" in out
    lines = {line.split("  ")[1]: line.split() for line in out.splitlines() if line[:2] == "  "}
    assert lines["detection delay"][-3:] == ["monitoring", "2", "d"]  # "no monitoring", "2 d"
    assert lines["time to recover"][-3:] == ["never", "5", "d"]
    assert lines["quality lost (NDCG-days)"][-2:] == ["3.25", "2.50"]


def test_at_level_four_the_last_step_is_shown(assess, answers_at, tmp_path):
    write_compare(tmp_path / "compare.json")
    run = assess(
        "--answers", str(answers_at(4)), "--format", "markdown", "--compare", str(tmp_path)
    )
    assert run.returncode == 0, run.stderr
    assert "| | level 3 (monitoring) | level 4 (autonomous) |" in run.stdout
    assert "| quality lost (NDCG-days) | 2.50 | 1.12 |" in run.stdout


def test_a_folder_of_scenarios_prefers_the_demos_world(assess, answers_at, tmp_path):
    write_compare(tmp_path / "catalog_shift" / "compare.json")
    other = write_compare(tmp_path / "taste_shift" / "compare.json")
    later = time.time() + 10
    import os

    os.utime(other, (later, later))  # newer, but not the demo's world
    run = assess("--answers", str(answers_at(2)), "--format", "json", "--compare", str(tmp_path))
    assert json.loads(run.stdout)["simulated"]["source"] == str(
        tmp_path / "catalog_shift" / "compare.json"
    )


def test_without_a_comparison_the_report_says_how_to_make_one(assess, answers_at, tmp_path):
    empty = tmp_path / "state" / "compare"
    run = assess("--answers", str(answers_at(2)), "--compare", str(empty))
    assert run.returncode == 0, run.stderr
    assert f"No comparison yet ({empty} has no compare.json)" in run.stdout
    assert "`make compare SCENARIO=catalog_shift`" in run.stdout
    assert "detection delay  " not in run.stdout  # no figures invented
    report = json.loads(
        assess("--answers", str(answers_at(2)), "--format", "json", "--compare", str(empty)).stdout
    )
    assert report["simulated"]["available"] is False


def test_a_comparison_without_the_steps_levels_says_so(assess, answers_at, tmp_path):
    source = tmp_path / "compare.json"
    source.write_text(json.dumps({"world": WORLD, "levels": {}}))
    run = assess("--answers", str(answers_at(0)), "--compare", str(source))
    assert run.returncode == 0, run.stderr
    assert f"{source} has no figures for level0_manual and level1_pipeline" in run.stdout


def test_a_file_that_is_not_a_comparison_is_named_not_trusted(assess, answers_at, tmp_path):
    source = tmp_path / "compare.json"
    source.write_text("{not json")
    run = assess("--answers", str(answers_at(1)), "--compare", str(source))
    assert run.returncode == 0, run.stderr
    assert f"{source}: cannot be read as JSON" in run.stdout
