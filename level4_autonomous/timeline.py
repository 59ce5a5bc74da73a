"""The run's timeline: one row per production day, a table for the terminal and the figure.

The figure puts what monitoring sees (click-through, drift) beside what it cannot see (the true
quality of the served lists), with the switch day and the alerts marked: how much of the real
damage the monitoring catches, and how late.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from .monitoring import DayResult
    from .traffic import DayTraffic

#: timeline.csv's columns, in order.
COLUMNS = [
    "day",
    "visitors",
    "requests",
    "answered",
    "failed",
    "errors",
    "error_rate",
    "fallback_share",
    "p50_latency_ms",
    "p99_latency_ms",
    "feedback_events",
    "ctr",
    "baseline_ctr",
    "online_ndcg_at_10",
    "coverage",
    "true_quality",
    "request_drift_share",
    "prediction_drift_share",
    "feed_drift_share",
    "new_item_share",
    "feed_problems",
    "alert_kinds",
    "champion_version",
    "ab_test_version",
    "decisions",
]
ALERT_COLOURS = {
    "data_drift": "tab:orange",
    "prediction_drift": "tab:purple",
    "quality": "tab:red",
    "data_quality": "tab:brown",
    "service": "tab:gray",
}


def timeline_row(traffic: DayTraffic, result: DayResult) -> dict[str, Any]:
    """One day of the timeline, from the simulation's side and the monitoring's side."""
    measured = result.measurements
    errors = round((measured.error_rate or 0.0) * measured.requests)
    return {
        "day": traffic.day,
        "visitors": traffic.visitors,
        "requests": traffic.sent,
        "answered": traffic.answered,
        "failed": traffic.failed,
        "errors": errors,
        "error_rate": (traffic.failed + errors) / traffic.sent if traffic.sent else None,
        "fallback_share": traffic.fallback / traffic.answered if traffic.answered else None,
        "p50_latency_ms": result.latency.get("p50_ms"),
        "p99_latency_ms": result.latency.get("p99_ms"),
        "feedback_events": traffic.feedback_events,
        "ctr": measured.ctr,
        "baseline_ctr": measured.baseline_ctr,
        "online_ndcg_at_10": result.online.get("ndcg_at_10"),
        "coverage": result.online.get("coverage"),
        "true_quality": traffic.true_quality,
        **{
            f"{name}_drift_share": _share(measured, name)
            for name in ("request", "prediction", "feed")
        },
        "new_item_share": measured.new_item_share,
        "feed_problems": len(measured.feed_problems),
        "alert_kinds": ";".join(sorted({alert.kind for alert in result.alerts})),
    }


def _share(measured: Any, name: str) -> float | None:
    drift = measured.drift.get(name)
    return None if drift is None else drift.share


def timeline_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as timeline.csv's table."""
    return pd.DataFrame(rows, columns=COLUMNS)


def day_line(row: dict[str, Any], switch_day: int) -> str:
    """The progress line of one day."""
    marker = "*" if row["day"] >= switch_day else " "
    alerts = f"  ALERT: {row['alert_kinds']}" if row["alert_kinds"] else ""
    return (
        f"day {row['day']}{marker} {row['answered']:5d} requests  "
        f"CTR {_number(row['ctr'])}  true quality {_number(row['true_quality'])}  "
        f"drift req/pred/feed {_number(row['request_drift_share'], 2)}/"
        f"{_number(row['prediction_drift_share'], 2)}/{_number(row['feed_drift_share'], 2)}"
        f"{alerts}"
    )


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def print_table(frame: pd.DataFrame, switch_day: int) -> None:
    """The days as a table: before and after the switch, what monitoring saw, what was true."""
    before, after = frame[frame["day"] < switch_day], frame[frame["day"] >= switch_day]
    print("\n                      before the switch   from the switch")
    for label, column in (
        ("requests per day", "answered"),
        ("click-through", "ctr"),
        ("online NDCG@10", "online_ndcg_at_10"),
        ("true quality", "true_quality"),
        ("p99 latency (ms)", "p99_latency_ms"),
    ):
        print(f"  {label:<20}{_mean(before[column]):>17}{_mean(after[column]):>19}")


def _mean(values: pd.Series) -> str:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return "-" if values.empty else f"{values.mean():.3f}"


#: How each decision is marked on the quality panel.
DECISION_MARKS = {
    "retrain": ("D", "tab:blue"),
    "promote": ("^", "tab:green"),
    "reject": ("X", "tab:gray"),
    "rollback": ("v", "tab:red"),
    "quarantine": ("s", "tab:brown"),
}


@dataclass(frozen=True)
class Panel:
    """One level's run as the figure shows it."""

    frame: pd.DataFrame
    alerts: list[dict[str, Any]]
    title: str
    decisions: list[dict[str, Any]] = field(default_factory=list)


def draw_timeline(
    panel: Panel,
    switch_day: int,
    path: Path,
    *,
    drift_share: float | None = None,
    beside: Panel | None = None,
) -> Path:
    """Quality (true and seen) and drift over the days, the switch, alerts and decisions marked.

    Each alert is a band on its day in the drift panel, coloured by kind (several on one day
    share it); ``drift_share``, when given, is drawn as the line a drift alert crosses. With
    ``beside`` (level 3's run of the same world and days), both are drawn side by side on the
    same axes.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [panel] if beside is None else [panel, beside]
    figure, axes = plt.subplots(
        2,
        len(panels),
        figsize=(11 * len(panels) * 0.8 if beside else 11, 7),
        sharex=True,
        sharey="row",
        height_ratios=(3, 2),
        layout="constrained",
        squeeze=False,
    )
    for column, shown in enumerate(panels):
        _draw_panel(axes[0][column], axes[1][column], shown, switch_day, drift_share)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _draw_panel(
    quality: Any, drift: Any, panel: Panel, switch_day: int, drift_share: float | None
) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    frame, alerts = panel.frame, panel.alerts
    days = frame["day"]
    quality.plot(
        days,
        frame["true_quality"],
        "-o",
        color="black",
        label="true quality (NDCG@10 vs the world's best)",
    )
    quality.plot(
        days,
        frame["online_ndcg_at_10"],
        "-s",
        color="tab:blue",
        label="online NDCG@10 (clicked lists)",
    )
    quality.set_ylabel("NDCG@10")
    quality.set_ylim(0, 1.05)
    clicks = quality.twinx()
    clicks.plot(
        days, frame["ctr"], "--", color="tab:green", label="click-through (same-day feedback)"
    )
    clicks.set_ylabel("clicks per list")
    clicks.set_ylim(0, max(0.05, float(pd.to_numeric(frame["ctr"]).max() or 0) * 1.4))
    for name, colour in (
        ("request", "tab:orange"),
        ("feed", "tab:brown"),
        ("prediction", "tab:purple"),
    ):
        drift.plot(
            days, frame[f"{name}_drift_share"], "-o", color=colour, label=f"{name} drift share"
        )
    if drift_share is not None:
        drift.axhline(drift_share, color="gray", linestyle="--", linewidth=1, label="drift alert")
    drift.set_ylabel("share of columns drifted")
    drift.set_ylim(-0.02, 1.02)
    drift.set_xlabel("day")
    drift.set_xlim(days.min() - 0.5, days.max() + 0.5)
    drift.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axis in (quality, drift):
        axis.axvline(switch_day - 0.5, color="red", linestyle=":", linewidth=1.5)
        axis.grid(alpha=0.3)
    quality.annotate(
        f"switch (day {switch_day})",
        (switch_day - 0.5, 1.0),
        xytext=(3, 0),
        textcoords="offset points",
        color="red",
        fontsize=9,
    )
    kinds_by_day: dict[int, list[str]] = {}
    for alert in alerts:
        kinds_by_day.setdefault(int(alert["day"]), []).append(alert["kind"])
    for day, kinds in kinds_by_day.items():
        width = 0.8 / len(kinds)
        for index, kind in enumerate(kinds):
            left = day - 0.4 + index * width
            colour = ALERT_COLOURS.get(kind, "black")
            drift.axvspan(left, left + width, color=colour, alpha=0.3, linewidth=0)
    marks = []
    for action in sorted({d["action"] for d in panel.decisions}):
        marker, colour = DECISION_MARKS.get(action, ("o", "black"))
        acted = [d["day"] for d in panel.decisions if d["action"] == action]
        quality.scatter(acted, [0.95] * len(acted), marker=marker, color=colour, s=60, zorder=5)
        marks.append(Line2D([], [], marker=marker, color=colour, linestyle="", label=action))
    lines = quality.get_legend_handles_labels()
    more = clicks.get_legend_handles_labels()
    quality.legend(
        lines[0] + more[0] + marks,
        lines[1] + more[1] + [mark.get_label() for mark in marks],
        loc="lower left",
        fontsize=8,
    )
    raised = sorted({alert["kind"] for alert in alerts})
    bands = [
        Patch(color=ALERT_COLOURS.get(kind, "black"), alpha=0.3, label=f"alert: {kind}")
        for kind in raised
    ]
    handles, labels = drift.get_legend_handles_labels()
    drift.legend(
        handles + bands, labels + [band.get_label() for band in bands], loc="upper left", fontsize=8
    )
    quality.set_title(panel.title)
