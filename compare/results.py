"""compare.json: each level's figures, every one read from what that level's run left.

Levels 3 and 4 measured their own production days (``summary.json``, ``timeline.csv``); levels
0-2 did not, and their line is the replay of the model they released (``replay.py``). Stage wall
times come from ``stage_seconds.json`` (levels 2-4 record each stage); levels 0 and 1 have no
stages, so their training time is their whole command's.
"""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from . import measures
from .ladder import LEVELS, ROOT, Level, describe
from .runner import LevelRun

#: Stages of levels 2-4 grouped as the comparison reports them.
RELEASE_STAGES = ("gate", "register", "promote")
DEPLOYMENT_STAGES = ("deploy", "smoke")
#: Timeline columns the page draws: what the world knows, and what monitoring sees.
TIMELINE_COLUMNS = ("true_quality", "ctr", "online_ndcg_at_10")


def wall_times(run: LevelRun, kept: Path) -> dict[str, float | None]:
    """Seconds of the whole command, training, release, deployment and the production days."""
    stages_path = kept / "stage_seconds.json"
    times: dict[str, float | None] = {"command": run.seconds}
    if not stages_path.exists():  # levels 0 and 1: one command that trains, nothing released
        return {**times, "training": run.seconds, "release": None, "deployment": None}
    stages = json.loads(stages_path.read_text(encoding="utf-8"))
    times["training"] = stages["train"]
    times["release"] = round(sum(stages[name] for name in RELEASE_STAGES), 2)
    times["deployment"] = round(sum(stages[name] for name in DEPLOYMENT_STAGES), 2)
    summary_path = kept / "summary.json"
    if summary_path.exists():
        run_seconds = json.loads(summary_path.read_text(encoding="utf-8"))["seconds"]
        times["production_days"] = round(run_seconds - sum(stages.values()), 1)
    return times


def production(
    switch: int, kept: Path, replayed: dict[int, float] | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The production figures and the day-by-day timeline of one level."""
    if replayed is not None:
        timeline = pd.DataFrame({"day": list(replayed), "true_quality": list(replayed.values())})
        summary: dict[str, Any] = {"alerts": [], "decisions": []}
        failed: int | None = None
        source = "replay of the released model: nobody watches production"
    else:
        timeline = pd.read_csv(kept / "timeline.csv")
        summary = json.loads((kept / "summary.json").read_text(encoding="utf-8"))
        failed = int(timeline["failed"].sum())
        source = "the level's own production run"
    quality = dict(zip(timeline["day"].astype(int), timeline["true_quality"], strict=True))
    monitors = replayed is None
    alert_days = [alert["day"] for alert in summary["alerts"]]
    figures = {
        "source": source,
        "monitors": monitors,
        "pre_switch_quality": round(measures.pre_switch_quality(quality, switch), 4),
        "detection_delay_days": measures.detection_delay(alert_days, switch) if monitors else None,
        "time_to_recover_days": measures.time_to_recover(quality, switch),
        "quality_lost": round(measures.quality_lost(quality, switch), 4),
        "last_day_share": round(measures.last_share(quality, switch), 3),
        "failed_requests": failed,
        "alerts": [
            {key: alert.get(key) for key in ("day", "kind", "metric", "message", "report")}
            for alert in summary["alerts"]
        ],
        "decisions": [
            {key: decision.get(key) for key in ("day", "action", "model_version", "reason")}
            for decision in summary.get("decisions", [])
        ],
    }
    return figures, timeline_records(timeline)


def timeline_records(timeline: pd.DataFrame) -> list[dict[str, Any]]:
    """The timeline's days with the columns the page draws; None where a level measures none."""
    records = []
    for row in timeline.to_dict("records"):
        record: dict[str, Any] = {"day": int(row["day"])}
        for column in TIMELINE_COLUMNS:
            value = row.get(column)
            record[column] = None if value is None or math.isnan(value) else round(value, 5)
        records.append(record)
    return records


def level_result(
    level: Level, run: LevelRun, kept: Path, switch: int, replayed: dict[int, float] | None
) -> dict[str, Any]:
    """Everything compare.json says about one level; ``switch`` is the world's switch day."""
    figures, timeline = production(switch, kept, replayed)
    return {
        **describe(level),
        "make": " ".join(run.command[2:]),
        "exit_code": run.exit_code,
        "seconds": wall_times(run, kept),
        "production": figures,
        "timeline": timeline,
    }


def build_result(
    world: dict[str, Any],
    runs: dict[str, LevelRun],
    kept: dict[str, Path],
    replayed: dict[str, dict[int, float]],
) -> dict[str, Any]:
    """compare.json's content: the world, then every level's figures from what its run left."""
    levels = {
        level.name: level_result(
            level, runs[level.name], kept[level.name], world["switch_day"], replayed.get(level.name)
        )
        for level in LEVELS
    }
    return {
        "world": world,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "levels": levels,
    }


def write_outputs(result: dict[str, Any], out: Path) -> Path:
    """compare.json, compare.png, compare.html and the diffs into ``out``; the page's path."""
    from . import diffs, figure, page

    for lower, upper in itertools.pairwise(LEVELS):
        result["levels"][upper.name]["diff_from_previous"] = diffs.render(
            ROOT / lower.name, ROOT / upper.name, out / "diffs" / f"{upper.name}.html"
        )
    (out / "compare.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    picture = figure.draw(result, out / "compare.png")
    return page.render(result, picture, out)
