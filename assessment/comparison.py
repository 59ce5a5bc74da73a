"""What a step up bought on the simulated world, read from ``make compare``'s compare.json.

compare.json has one entry per level folder under ``levels``; each entry's ``production``
section holds the figures measured on the level's production days (or the replay of its released
model, for levels 0-2): ``detection_delay_days`` (None without an alert, or without monitoring
when ``monitors`` is false), ``time_to_recover_days`` (None: never within the days played),
``quality_lost`` (NDCG-days) and ``last_day_share`` (the last day's true quality as a share of
the pre-switch mean); ``manual_steps`` lists the duties a person still does. Nothing here
invents a figure: without a comparison, the report says how to make one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_FOLDER = Path(__file__).resolve().parent.parent / "state" / "compare"
#: The demo's world, where the levels differ most; preferred when several comparisons exist.
PREFERRED_SCENARIO = "catalog_shift"
MAKE_ONE = f"make compare SCENARIO={PREFERRED_SCENARIO}"


class ComparisonError(ValueError):
    """A compare.json that is there but cannot be read as one."""


@dataclass(frozen=True)
class LevelFigures:
    """One level's production figures on the compared world."""

    folder: str
    monitors: bool
    detection_delay_days: int | None
    time_to_recover_days: int | None
    quality_lost: float
    last_day_share: float | None
    manual_steps: int | None


@dataclass(frozen=True)
class StepFigures:
    """Two neighbouring levels on one world: what the step from ``lower`` to ``upper`` bought."""

    source: Path
    world: dict[str, Any]
    lower: LevelFigures
    upper: LevelFigures


def find_comparison(path: Path) -> Path | None:
    """``path`` itself when it is a file; else its compare.json, or one of its scenarios'.

    In a folder of scenarios (``state/compare/``), the demo's world is preferred, then the
    newest. None when there is no comparison there (or no such folder).
    """
    if path.is_file():
        return path
    if (path / "compare.json").is_file():
        return path / "compare.json"
    preferred = path / PREFERRED_SCENARIO / "compare.json"
    if preferred.is_file():
        return preferred
    found = sorted(path.glob("*/compare.json"), key=lambda file: file.stat().st_mtime)
    return found[-1] if found else None


def read_step(source: Path, lower: str, upper: str) -> StepFigures | str:
    """The two levels' figures, or why the comparison cannot give them (a sentence)."""
    try:
        result = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ComparisonError(f"{source}: cannot be read as JSON: {error}") from None
    levels = result.get("levels") if isinstance(result, dict) else None
    if not isinstance(levels, dict):
        raise ComparisonError(f"{source}: no 'levels': not a compare.json of make compare")
    missing = [folder for folder in (lower, upper) if folder not in levels]
    if missing:
        return f"{source} has no figures for {' and '.join(missing)}; run {MAKE_ONE} again."
    return StepFigures(
        source=source,
        world=result.get("world") or {},
        lower=level_figures(source, lower, levels[lower]),
        upper=level_figures(source, upper, levels[upper]),
    )


def level_figures(source: Path, folder: str, entry: Any) -> LevelFigures:
    """The production figures of one level's entry, checked for the fields the report shows."""
    production = entry.get("production") if isinstance(entry, dict) else None
    if not isinstance(production, dict) or not isinstance(
        production.get("quality_lost"), int | float
    ):
        raise ComparisonError(f"{source}: levels.{folder}.production.quality_lost is missing")
    manual = entry.get("manual_steps")
    return LevelFigures(
        folder=folder,
        monitors=bool(production.get("monitors")),
        detection_delay_days=production.get("detection_delay_days"),
        time_to_recover_days=production.get("time_to_recover_days"),
        quality_lost=float(production["quality_lost"]),
        last_day_share=production.get("last_day_share"),
        manual_steps=len(manual) if isinstance(manual, list) else None,
    )


def detection(figures: LevelFigures) -> str:
    """Detection delay as the comparison's table says it."""
    if not figures.monitors:
        return "no monitoring"
    delay = figures.detection_delay_days
    return "no alert" if delay is None else f"{delay} d"


def recovery(figures: LevelFigures) -> str:
    """Time to recover: days, or never within the days played."""
    days = figures.time_to_recover_days
    return "never" if days is None else f"{days} d"


def last_day(figures: LevelFigures) -> str:
    """The last day's true quality as a share of the pre-switch mean."""
    share = figures.last_day_share
    return "-" if share is None else f"{share:.0%} of before"


def describe_world(step: StepFigures) -> str:
    """The compared world in a few words: scenario, seed, size, days and the switch."""
    world = step.world
    parts = [
        str(world.get("scenario", "?")),
        f"seed {world.get('seed', '?')}",
        str(world.get("size", "?")),
    ]
    if "first_day" in world and "last_day" in world:
        parts.append(f"days {world['first_day']}-{world['last_day']}")
    if "switch_day" in world:
        parts.append(f"the change from day {world['switch_day']}")
    return ", ".join(parts)
