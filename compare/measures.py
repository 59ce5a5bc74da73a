"""What a level's production days cost when the world changes: pure functions of one timeline.

The definitions the comparison uses for every level alike (``true_quality`` is NDCG@10 of the
served lists against the world's best lists that day, which no monitoring can see):

- pre-switch quality: the mean true quality over the days played before the switch;
- detection delay: days from the switch to the first alert on or after it (alerts before the
  switch are false alarms and do not count); None when the level raised none;
- time to recover: days from the switch to the first day from which true quality stays at or
  above ``RECOVERY_SHARE`` of the pre-switch mean until the last day played. 0 when it never fell
  below; None ("never") when it is still below on the last day;
- quality lost: the sum over the days from the switch on of (pre-switch mean - true quality),
  in NDCG-days: 1.0 is one whole day of the best possible lists lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

RECOVERY_SHARE = 0.9


def pre_switch_quality(quality: Mapping[int, float], switch_day: int) -> float:
    """Mean true quality of the days before ``switch_day``; a ValueError when none was played."""
    before = [value for day, value in quality.items() if day < switch_day]
    if not before:
        raise ValueError(f"no day before the switch (day {switch_day}) was played")
    return sum(before) / len(before)


def detection_delay(alert_days: Iterable[int], switch_day: int) -> int | None:
    """Days from the switch to the first alert on or after it; None without one."""
    after = [day for day in alert_days if day >= switch_day]
    return min(after) - switch_day if after else None


def time_to_recover(quality: Mapping[int, float], switch_day: int) -> int | None:
    """Days from the switch until true quality is back for good; None if not by the last day."""
    floor = RECOVERY_SHARE * pre_switch_quality(quality, switch_day)
    after = sorted((day, value) for day, value in quality.items() if day >= switch_day)
    if not after:
        raise ValueError(f"no day from the switch (day {switch_day}) on was played")
    recovered: int | None = None
    for day, value in reversed(after):
        if value < floor:
            break
        recovered = day
    if recovered is None:
        return None
    return recovered - switch_day


def quality_lost(quality: Mapping[int, float], switch_day: int) -> float:
    """Sum over the days from the switch on of (pre-switch mean - true quality)."""
    before = pre_switch_quality(quality, switch_day)
    return sum(before - value for day, value in quality.items() if day >= switch_day)


def last_share(quality: Mapping[int, float], switch_day: int) -> float:
    """True quality on the last day played, as a share of the pre-switch mean."""
    return quality[max(quality)] / pre_switch_quality(quality, switch_day)
