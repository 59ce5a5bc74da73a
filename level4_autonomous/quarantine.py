"""Quarantine: a broken feed day is moved aside with the reason, and no training reads it.

The retraining reads the feed folder only; a quarantined day sits in ``quarantine/`` beside a
``.reason.json`` that says when and why, so a person can inspect it, repair it upstream and put
it back (move the file into ``feed/``). Quarantining is idempotent: the same day twice is one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .traffic import FEED_FOLDER, feed_file_name

QUARANTINE_FOLDER = "quarantine"
_DAY = re.compile(r"interactions-day(\d+)\.csv$")


def quarantine_feed(state_dir: Path, day: int, reasons: list[str]) -> Path | None:
    """Move the day's feed file aside with ``reasons``; its new path (None if it never landed)."""
    source = state_dir / FEED_FOLDER / feed_file_name(day)
    target = state_dir / QUARANTINE_FOLDER / feed_file_name(day)
    if target.exists():
        return target
    if not source.exists():
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    reason = {"day": day, "reasons": reasons, "from": str(source)}
    reason_path = target.with_suffix(".reason.json")
    reason_path.write_text(json.dumps(reason, indent=2) + "\n", encoding="utf-8")
    source.replace(target)  # one step: the file is in the feed or in quarantine, never both
    return target


def quarantined_days(state_dir: Path) -> list[int]:
    """The days whose feed is in quarantine, in order."""
    folder = state_dir / QUARANTINE_FOLDER
    found = (_DAY.search(path.name) for path in folder.glob("interactions-day*.csv"))
    return sorted(int(match.group(1)) for match in found if match)


def feed_days(state_dir: Path) -> list[int]:
    """The days whose feed is in the feed folder (not quarantined), in order."""
    found = (_DAY.search(path.name) for path in (state_dir / FEED_FOLDER).glob("*.csv"))
    return sorted(int(match.group(1)) for match in found if match)
