"""Alerts: what the daily monitoring found, turned into one message per incident.

The rules (:func:`findings`) are pure: a day's measurements and the thresholds in, the breaches
out, so tests can hit them directly. An *incident* is a (kind, metric) that breaches its threshold
on consecutive monitored days: it is announced once, on its first day, and stays quiet while it
lasts; a day without the breach closes it, and a later breach opens a new one. Announced alerts
are appended to a JSON-lines log, printed, and POSTed to a webhook when one is configured.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from .config import MonitoringConfig

log = logging.getLogger(__name__)

AlertKind = Literal["data_drift", "prediction_drift", "quality", "data_quality", "service"]
ALERT_LOG = "alerts.jsonl"
WEBHOOK_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Finding:
    """One threshold breached on one day: what was measured, against what, and where to look."""

    kind: AlertKind
    metric: str
    value: float
    threshold: float
    message: str
    report: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """What makes two days' findings the same incident."""
        return (self.kind, self.metric)


@dataclass(frozen=True)
class Alert:
    """An incident's announcement, as the alert log, the terminal and the webhook receive it."""

    day: int
    kind: AlertKind
    metric: str
    value: float
    threshold: float
    message: str
    report: str | None

    @classmethod
    def first_day_of(cls, finding: Finding, day: int) -> Alert:
        """The alert that announces ``finding``'s incident on ``day``."""
        return cls(
            day,
            finding.kind,
            finding.metric,
            finding.value,
            finding.threshold,
            finding.message,
            finding.report,
        )

    def as_dict(self) -> dict[str, Any]:
        """The alert as JSON-able data."""
        return asdict(self)

    def line(self) -> str:
        """One line for a terminal or a log."""
        return f"ALERT day {self.day} [{self.kind}] {self.message}"


@dataclass(frozen=True)
class DriftSummary:
    """One drift comparison of a day: the share of compared columns that drifted, and which."""

    share: float
    columns: tuple[str, ...]


#: The drift comparisons: their alert kind, and what they compare, for messages.
DRIFT_CHECKS: dict[str, tuple[AlertKind, str]] = {
    "request": ("data_drift", "request features"),
    "feed": ("data_drift", "the interaction feed"),
    "prediction": ("prediction_drift", "recommended items"),
}


@dataclass(frozen=True)
class DayMeasurements:
    """What the monitoring measured on one day; None (or absent) where it could not measure.

    ``drift`` is keyed like DRIFT_CHECKS. ``ctr_p_value`` is the one-sided p-value that the
    day's click-through is not below the tolerated floor (small: it surely is below).
    """

    day: int
    requests: int
    error_rate: float | None = None
    p99_latency_ms: float | None = None
    drift: dict[str, DriftSummary] = field(default_factory=dict)
    feed_problems: tuple[str, ...] = ()
    new_item_share: float | None = None
    ctr: float | None = None
    baseline_ctr: float | None = None
    ctr_p_value: float | None = None


def findings(
    day: DayMeasurements, config: MonitoringConfig, reports: dict[str, str] | None = None
) -> list[Finding]:
    """Every threshold the day breaches; ``reports`` maps a report's name to its file."""
    reports = reports or {}
    found: list[Finding] = []
    if day.feed_problems:
        more = len(day.feed_problems) - 1
        found.append(
            Finding(
                "data_quality",
                "feed_contract_problems",
                len(day.feed_problems),
                0,
                f"the day's interaction feed breaks the data contract: {day.feed_problems[0]}"
                + (f" (and {more} more)" if more else ""),
                reports.get("feed_quality"),
            )
        )
    for name, (kind, what) in DRIFT_CHECKS.items():
        drift = day.drift.get(name)
        if drift is not None and drift.share >= config.drift_share:
            found.append(
                Finding(
                    kind,
                    f"{name}_drift_share",
                    drift.share,
                    config.drift_share,
                    f"{drift.share:.0%} of the columns of {what} drifted "
                    f"({', '.join(drift.columns)})",
                    reports.get(f"{name}_drift"),
                )
            )
    if day.new_item_share is not None and day.new_item_share > config.max_new_item_share:
        found.append(
            Finding(
                "data_drift",
                "new_item_share",
                day.new_item_share,
                config.max_new_item_share,
                f"{day.new_item_share:.0%} of the feed's interactions are on items the champion "
                f"was not trained on (more than {config.max_new_item_share:.0%})",
                reports.get("feed_drift"),
            )
        )
    if (
        day.ctr is not None
        and day.baseline_ctr
        and day.ctr_p_value is not None
        and day.ctr_p_value < config.ctr_significance
    ):
        floor = config.min_ctr_ratio * day.baseline_ctr
        found.append(
            Finding(
                "quality",
                "ctr",
                day.ctr,
                floor,
                f"click-through {day.ctr:.4f} is below {config.min_ctr_ratio:.0%} of the "
                f"champion's baseline {day.baseline_ctr:.4f} (p = {day.ctr_p_value:.1g})",
                reports.get("quality"),
            )
        )
    if day.error_rate is not None and day.error_rate > config.max_error_rate:
        found.append(
            Finding(
                "service",
                "error_rate",
                day.error_rate,
                config.max_error_rate,
                f"{day.error_rate:.1%} of /recommend requests failed",
            )
        )
    if day.p99_latency_ms is not None and day.p99_latency_ms > config.max_p99_ms:
        found.append(
            Finding(
                "service",
                "p99_latency_ms",
                day.p99_latency_ms,
                config.max_p99_ms,
                f"p99 latency {day.p99_latency_ms:.0f} ms is over {config.max_p99_ms:.0f} ms",
            )
        )
    return found


def ctr_drop_p_value(clicks: int, lists: int, baseline_ctr: float, min_ratio: float) -> float:
    """One-sided p-value that ``clicks`` on ``lists`` is not below ``min_ratio`` x the baseline.

    Clicks on a day's lists are close to Poisson: many lists, each with a small chance per item.
    Under the null hypothesis the expected count is ``min_ratio * baseline_ctr * lists``; a
    small p-value says the day is surely below the tolerated floor, not merely unlucky. The
    normal approximation of the Poisson is fine at the hundreds of clicks a monitored day has.
    """
    expected = min_ratio * baseline_ctr * lists
    if expected <= 0:
        return 1.0
    z = (clicks - expected) / math.sqrt(expected)
    return 0.5 * math.erfc(-z / math.sqrt(2))


class Incidents:
    """The incidents open after the last monitored day, so each is announced once."""

    def __init__(self, open_keys: Iterable[tuple[str, str]] = ()) -> None:
        self.open: set[tuple[str, str]] = set(open_keys)

    def announce(self, day: int, found: Sequence[Finding]) -> list[Alert]:
        """The alerts of the incidents that start on ``day``; incidents not seen again close."""
        keys = {finding.key for finding in found}
        new = [Alert.first_day_of(f, day) for f in found if f.key not in self.open]
        self.open = keys
        return new


class AlertLog:
    """The JSON-lines alert log of a state folder, plus the optional webhook.

    A webhook that cannot be reached does not stop the monitoring: the alert is in the log and
    on the terminal, and the failed delivery is logged.
    """

    def __init__(self, folder: Path, webhook_url: str | None = None) -> None:
        self.path = folder / ALERT_LOG
        self.webhook_url = webhook_url

    def append(self, alerts: Sequence[Alert]) -> None:
        """Record, print and send ``alerts``."""
        if not alerts:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            for alert in alerts:
                out.write(json.dumps(alert.as_dict()) + "\n")
        for alert in alerts:
            print(alert.line(), flush=True)
            if self.webhook_url:
                post_json(self.webhook_url, alert.as_dict(), "alert")

    def read(self) -> list[dict[str, Any]]:
        """Every alert recorded so far, oldest first."""
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


def post_json(url: str, body: dict[str, Any], what: str) -> None:
    """POST ``body`` to a webhook; a failure is logged, never raised (the record is kept)."""
    import httpx

    try:
        response = httpx.post(url, json=body, timeout=WEBHOOK_TIMEOUT_SECONDS)
        response.raise_for_status()
    except httpx.HTTPError as error:
        log.warning("%s not delivered to the webhook %s: %s", what, url, error)
