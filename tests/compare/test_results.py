"""compare.json from what the levels left: every field read from its source, and the page."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from compare.ladder import LEVELS
from compare.page import TABLE_ID, timeline_id
from compare.results import build_result, write_outputs
from compare.runner import LevelRun
from compare.tables import level_table, matrix_rows

DAYS = [90, 91, 92, 93]
SWITCH = 92
STALE = {90: 0.30, 91: 0.32, 92: 0.05, 93: 0.04}
STAGES = {"train": 4.0, "gate": 1.0, "register": 0.5, "promote": 0.25, "deploy": 2.0, "smoke": 0.5}


def level_timeline(quality: dict[int, float], failed: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": DAYS,
            "failed": failed,
            "ctr": [0.11, 0.12, 0.10, 0.09],
            "online_ndcg_at_10": [0.6, 0.61, 0.4, float("nan")],
            "true_quality": [quality[day] for day in DAYS],
        }
    )


@pytest.fixture
def kept(tmp_path: Path) -> dict[str, Path]:
    """What the five levels' runs left, as the runner keeps it."""
    folders = {level.name: tmp_path / "levels" / level.name for level in LEVELS}
    for folder in folders.values():
        folder.mkdir(parents=True)
    for name in ("level2_cicd", "level3_monitoring", "level4_autonomous"):
        (folders[name] / "stage_seconds.json").write_text(json.dumps(STAGES))
    alert = {
        "day": 92,
        "kind": "data_drift",
        "metric": "new_item_share",
        "value": 0.7,
        "message": "70% of the feed is on new items",
        "report": "state/x/monitoring/reports/day-0092/feed_drift.html",
    }
    false_alarm = {**alert, "day": 91, "message": "a false alarm"}
    level3 = {"switch_day": SWITCH, "alerts": [false_alarm, alert], "seconds": 60.0}
    level3_timeline = level_timeline(STALE, [0, 1, 0, 0])
    recovered = {90: 0.30, 91: 0.32, 92: 0.05, 93: 0.29}
    decision = {"day": 92, "action": "retrain", "model_version": "2", "reason": "drift"}
    level4 = {**level3, "alerts": [alert], "decisions": [decision], "seconds": 90.25}
    for name, summary, timeline in (
        ("level3_monitoring", level3, level3_timeline),
        ("level4_autonomous", level4, level_timeline(recovered, [0, 0, 0, 0])),
    ):
        (folders[name] / "summary.json").write_text(json.dumps(summary))
        timeline.to_csv(folders[name] / "timeline.csv", index=False)
    return folders


def comparison(kept: dict[str, Path]) -> dict:
    runs = {
        name: LevelRun(name, ["make", "-s", f"level{i}", "SCENARIO=x"], 0, 10.0 + i, Path("l"))
        for i, name in enumerate(kept)
    }
    world = {"scenario": "catalog_shift", "seed": 42, "size": "tiny", "first_day": 90,
             "last_day": 93, "switch_day": SWITCH, "dataset": "state/datasets/x"}  # fmt: skip
    replayed = {name: dict(STALE) for name in ("level0_manual", "level1_pipeline", "level2_cicd")}
    return build_result(world, runs, kept, replayed)


def test_each_figure_comes_from_the_file_the_level_left(kept):
    levels = comparison(kept)["levels"]
    level0, level2 = levels["level0_manual"], levels["level2_cicd"]
    level3, level4 = levels["level3_monitoring"], levels["level4_autonomous"]
    # Level 0: no stages, no monitoring, no service: the whole command is its training.
    assert level0["seconds"] == {"command": 10.0, "training": 10.0, "release": None,
                                 "deployment": None}  # fmt: skip
    assert level0["production"]["detection_delay_days"] is None
    assert level0["production"]["failed_requests"] is None
    # Level 2: stages grouped; release = gate + register + promote, deployment = deploy + smoke.
    assert level2["seconds"] == {"command": 12.0, "training": 4.0, "release": 1.75,
                                 "deployment": 2.5}  # fmt: skip
    # Level 3: its production days are its run's seconds minus its stages (60 - 8.25).
    assert level3["seconds"]["production_days"] == pytest.approx(51.8)
    # The false alarm on day 91 does not count; the alert of day 92 is the detection.
    assert level3["production"]["detection_delay_days"] == 0
    assert level3["production"]["failed_requests"] == 1
    assert level3["production"]["alerts"][1]["report"].endswith("day-0092/feed_drift.html")
    # Pre-switch 0.31; level 3 loses (0.31 - 0.05) + (0.31 - 0.04) = 0.53 and never recovers.
    assert level3["production"]["pre_switch_quality"] == pytest.approx(0.31)
    assert level3["production"]["quality_lost"] == pytest.approx(0.53)
    assert level3["production"]["time_to_recover_days"] is None
    # Level 4 is back above 0.279 on day 93, one day after the switch, for good.
    assert level4["production"]["time_to_recover_days"] == 1
    assert level4["production"]["quality_lost"] == pytest.approx(0.28)
    assert level4["production"]["decisions"] == [
        {"day": 92, "action": "retrain", "model_version": "2", "reason": "drift"}
    ]
    assert level4["timeline"][3] == {"day": 93, "true_quality": 0.29, "ctr": 0.09,
                                     "online_ndcg_at_10": None}  # fmt: skip
    assert level2["timeline"][2] == {"day": 92, "true_quality": 0.05, "ctr": None,
                                     "online_ndcg_at_10": None}  # fmt: skip


class Elements(HTMLParser):
    """The ids of a page's elements, its tables' rows and whether its images are embedded."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, dict[str, str | None]] = {}
        self.rows: dict[str, int] = {}
        self._table: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: D102
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids[str(attributes["id"])] = {"tag": tag, **attributes}
        if tag == "table":
            self._table = attributes.get("id")
        if tag == "tr" and self._table is not None:
            self.rows[self._table] = self.rows.get(self._table, 0) + 1

    def handle_endtag(self, tag: str) -> None:  # noqa: D102
        if tag == "table":
            self._table = None


def test_the_page_has_every_levels_timeline_and_the_table(kept, tmp_path):
    result = comparison(kept)
    page = write_outputs(result, tmp_path)
    parsed = Elements()
    parsed.feed(page.read_text(encoding="utf-8"))
    for level in LEVELS:
        timeline = parsed.ids[timeline_id(level.name)]
        assert timeline["tag"] == "img"
        assert str(timeline["src"]).startswith("data:image/png;base64,")
        assert f"level-{level.name}" in parsed.ids
    assert parsed.rows[TABLE_ID] == 1 + len(LEVELS)  # the header and one row per level
    assert (tmp_path / "compare.png").read_bytes().startswith(b"\x89PNG")
    assert (
        json.loads((tmp_path / "compare.json").read_text())["levels"].keys()
        == result["levels"].keys()
    )
    for level in LEVELS[1:]:
        assert (tmp_path / "diffs" / f"{level.name}.html").exists()


def test_the_terminal_table_and_the_matrix_show_the_figures(kept):
    result = comparison(kept)
    table = level_table(result)
    assert "no monitoring" in table.splitlines()[1]  # level 0
    assert "0.53" in table.splitlines()[4]  # level 3's quality lost
    headers, rows = matrix_rows({"catalog_shift": result})
    assert headers == ["scenario", "level 0", "level 1", "level 2", "level 3", "level 4"]
    assert rows[0][4] == "0 d / never / 0.53"
    assert rows[0][5] == "0 d / 1 d / 0.28"
