"""The daily monitoring: a Prefect flow that measures one production day and raises alerts.

For one day it reads the prediction log (requests, served items, feedback so far) and the day's
feed file, and measures:

- service health: requests, error rate, p50/p99 latency;
- data drift of the request features against the training data's visits (the reference);
- prediction drift of what was recommended against the champion's first production days;
- online quality: click-through of the day's lists (feedback so far) against the champion's
  first days, and Evidently's ranking metrics of the lists that got clicks;
- data quality of the day's feed (the data contract and the level's price expectation), an
  Evidently data summary, and, only for a feed that passed, the share of its interactions on
  items the champion was not trained on and the drift of the others against the training data:
  a broken feed is a data-quality incident, not drift.

Each comparison is an Evidently report saved under ``monitoring/reports/`` and added to the
Evidently workspace. The thresholds of ``[monitoring]`` turn measurements into alerts
(``alerts.py``). What every day measured is appended to ``monitoring/days.jsonl``: the
champion's baseline and the open incidents come from there, so each day's flow run stands on
its own.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from data import Dataset
from data.schema import INTERACTIONS, SECONDS_PER_DAY, WORLD_EPOCH
from data.validation import validate_table

from . import PACKAGE
from .alerts import (
    Alert,
    AlertLog,
    DayMeasurements,
    DriftSummary,
    Finding,
    Incidents,
    ctr_drop_p_value,
    findings,
)
from .config import Config, Expectations, load_config
from .evaluation import split_by_time
from .traffic import FEED_FOLDER, feed_file_name
from .window import recent_interactions

MONITORING_FOLDER, DAYS_FILE, REFERENCE_FOLDER = "monitoring", "days.jsonl", "reference"
WORKSPACE_FOLDER = "evidently"
#: The most rows of either side a drift comparison reads (see :func:`at_most`).
DRIFT_ROWS = 10_000
#: The most clicked lists the ranking metrics judge, a uniform sample seeded by the day: Evidently
#: takes 0.5-0.9 ms a list (55-88 s for the 100,000 clicked lists of a 1M-request day); with
#: 5,000 lists the standard error of the mean NDCG is about 0.004 (per-list values spread ~0.3).
RANKING_LISTS = 5_000
#: Compared columns, (categorical, numerical). The request context, against the training data's
#: visits; what was recommended, against the champion's first production days; the day's feed,
#: against the training data's interactions.
REQUEST_COLUMNS = (["device", "country", "age_band", "account_age"], [])
#: Upper edges of the account-age bands, in days. In bands, not as a number: the normed
#: Wasserstein distance of the long-tailed day counts crossed the drift threshold by chance on
#: days of 475 requests (stable world, half the visitors), the Jensen-Shannon distance of bands
#: does not; and a band is what a person reads.
ACCOUNT_AGE_BANDS = (30, 182, 365, 730)
ACCOUNT_AGE_BAND_NAMES = ("<1 month", "1-6 months", "6-12 months", "1-2 years", "2+ years")
PREDICTION_COLUMNS = (["category", "price_band"], ["item_age_days", "popularity_decile", "score"])
FEED_COLUMNS = (["device", "event", "category"], ["price"])
#: Upper edges of the price bands, in euros.
PRICE_BANDS = (10, 25, 50, 100, 250)
PRICE_BAND_NAMES = ("<10", "10-25", "25-50", "50-100", "100-250", "250+")


@dataclass(frozen=True)
class Reference:
    """What production is compared with, from the champion's training data.

    ``requests``: one row per visit (a user on a day) of the last ``reference_days`` of the
    training data, with the context a request carries; ``feed``: that period's interactions;
    ``items``: every item of the catalogue with the features of a recommended item.
    """

    requests: pd.DataFrame
    feed: pd.DataFrame
    items: pd.DataFrame

    def save(self, folder: Path) -> Path:
        """Write the three tables (parquet), so each day's flow run reads them in milliseconds."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("requests", "feed", "items"):
            getattr(self, name).to_parquet(folder / f"{name}.parquet", index=False)
        return folder

    @classmethod
    def load(cls, folder: Path) -> Reference:
        """Read what :meth:`save` wrote; a missing folder says how to make it."""
        if not (folder / "items.parquet").exists():
            raise FileNotFoundError(
                f"no monitoring reference in {folder}: `make level4` builds it from the "
                "champion's training data before the first production day"
            )
        return cls(
            *(pd.read_parquet(folder / f"{name}.parquet") for name in ("requests", "feed", "items"))
        )


def build_reference(
    dataset: Dataset, reference_days: int, test_fraction: float, from_day: int = 0
) -> Reference:
    """The reference tables from a (typed) dataset: its last ``reference_days`` days.

    Production is compared with what users did just before it, the held-out evaluation period
    included; what the champion knows of the items (trained or not, their popularity, their age
    at its training cut-off) comes from its training period only: ``test_fraction`` splits the
    data as the pipeline did. A champion trained from ``from_day`` on is compared with its
    window only.
    """
    interactions = recent_interactions(dataset.interactions, from_day)
    first_day = int(interactions["day"].max()) - reference_days + 1
    recent = interactions[interactions["day"] >= first_day]
    profiles = dataset.users.set_index("user_id")[["country", "age_band", "signup_day"]]
    visits = recent.drop_duplicates(["day", "user_id"]).join(profiles, on="user_id")
    requests = visits.assign(account_age_days=visits["day"] - visits["signup_day"])
    items = item_features(dataset.items, split_by_time(interactions, test_fraction).train)
    return Reference(
        requests=request_features(requests),
        feed=trained_items_only(feed_features(recent, items)),
        items=items,
    )


def request_features(requests: pd.DataFrame) -> pd.DataFrame:
    """The request drift's columns: the context, with the account age in bands ("unknown")."""
    days = pd.to_numeric(requests["account_age_days"], errors="coerce")
    features = requests.assign(
        account_age=named_bands(days, ACCOUNT_AGE_BANDS, ACCOUNT_AGE_BAND_NAMES)
    )
    return features[[*REQUEST_COLUMNS[0], *REQUEST_COLUMNS[1]]].reset_index(drop=True)


def item_features(items: pd.DataFrame, interactions: pd.DataFrame) -> pd.DataFrame:
    """Category, price band, age, popularity decile (1-10) of every catalogue item.

    ``interactions`` are the champion's training data. ``item_age_days`` is the item's age on
    their last day: a fixed property
    of the item, so the items a model keeps recommending do not drift by growing older (the age
    on the day served would: 25 days into production the stable world's lists drifted on it).
    ``trained`` says whether the training data has interactions with it: the champion cannot
    recommend any other item.
    """
    last_day = int(interactions["day"].max())
    users_per_item = interactions.groupby("item_id")["user_id"].nunique()
    popularity = users_per_item.reindex(items["item_id"], fill_value=0).to_numpy()
    ranks = pd.Series(popularity).rank(method="first", pct=True).to_numpy()
    return pd.DataFrame(
        {
            "item_id": items["item_id"].to_numpy(),
            "category": items["category"].to_numpy(),
            "price_band": named_bands(items["price"], PRICE_BANDS, PRICE_BAND_NAMES),
            "item_age_days": (last_day - items["release_day"]).to_numpy(float, na_value=np.nan),
            "popularity_decile": np.ceil(ranks * 10).astype(int),
            "trained": popularity > 0,
        }
    )


def feed_features(feed: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """The feed with each item's ``category`` and ``new_item``: not in the champion's training.

    The champion cannot recommend a new item, and the stable world releases some every day, so
    their share grows by itself; it is measured on its own (``new_item_share``), and the feed's
    drift compares the interactions on trained items only (:meth:`DayMonitor.measure_feed_drift`).
    """
    trained = items.loc[items["trained"], "item_id"]
    categories = items.set_index("item_id")["category"]
    return feed.assign(
        category=feed["item_id"].map(categories).fillna("new item"),
        new_item=~feed["item_id"].isin(trained),
    ).reset_index(drop=True)


def trained_items_only(features: pd.DataFrame) -> pd.DataFrame:
    """The feed drift's columns of the interactions on items the champion was trained on."""
    kept = features[~features["new_item"]]
    return kept[[*FEED_COLUMNS[0], *FEED_COLUMNS[1]]].reset_index(drop=True)


def prediction_features(served: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Served items with their category, price band, age and popularity decile (item_features)."""
    features = served.merge(items, on="item_id", how="left")
    features["category"] = features["category"].fillna("unknown")
    features["price_band"] = features["price_band"].fillna("unknown")
    return features


def named_bands(values: pd.Series, edges: tuple[int, ...], names: tuple[str, ...]) -> np.ndarray:
    """Each value's band: ``names[i]`` below ``edges[i]``, the last name beyond; NaN "unknown"."""
    bands = np.asarray(names, dtype=object)[
        np.searchsorted(edges, values.fillna(0).to_numpy(), side="right")
    ]
    bands[values.isna().to_numpy()] = "unknown"
    return bands


# ---- one day --------------------------------------------------------------------------------


@dataclass
class DayResult:
    """One monitored day: its measurements, alerts, Evidently values and report files."""

    measurements: DayMeasurements
    alerts: list[Alert]
    online: dict[str, float | None] = field(default_factory=dict)
    latency: dict[str, float | None] = field(default_factory=dict)
    reports: dict[str, str] = field(default_factory=dict)
    incidents: list[list[str]] = field(default_factory=list)
    #: Every threshold the day breached (announced or part of an open incident).
    findings: list[Finding] = field(default_factory=list)
    #: The first day of each open incident, by metric.
    incident_days: dict[str, int] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The line of ``days.jsonl``."""
        measured = dataclasses.asdict(self.measurements)
        return {
            **measured,
            "online": self.online,
            "latency": self.latency,
            "alerts": [alert.as_dict() for alert in self.alerts],
            "open_incidents": self.incidents,
            "reports": self.reports,
        }


class DayHistory:
    """``days.jsonl``: what each monitored day measured, for baselines and open incidents."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / DAYS_FILE

    def read(self) -> list[dict[str, Any]]:
        """Every recorded day, oldest first."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def append(self, record: dict[str, Any]) -> None:
        """Add one day's record."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")


def feed_problems(path: Path, expectations: Expectations) -> tuple[pd.DataFrame | None, list[str]]:
    """The feed's rows and every way it breaks the data contract or the price expectation."""
    try:
        feed = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as error:
        return None, [f"{path.name}: cannot be read: {error}"]
    problems = [
        str(dataclasses.replace(problem, file=path.name))
        for problem in validate_table(feed, INTERACTIONS)
    ]
    if "price" in feed.columns:
        prices = pd.to_numeric(feed["price"], errors="coerce")
        over = int((prices > expectations.max_price).sum())
        if over:
            problems.append(
                f"{path.name}, column 'price': {over} of {len(feed)} rows over "
                f"{expectations.max_price:g} (euros expected; a unit change?)"
            )
    return feed, problems


@dataclass(frozen=True)
class DayData:
    """One day of the prediction log, in the shapes of ``prediction_log``'s reading functions.

    ``served(first_day, last_day)`` gives the served items of other days (the champion's
    baseline). The monitoring reads it from the log (:meth:`from_log`); tests may build it from
    the world directly.
    """

    requests: pd.DataFrame
    served_today: pd.DataFrame
    feedback: pd.DataFrame
    served: Callable[[int, int], pd.DataFrame]

    @classmethod
    def from_log(cls, path: Path, day: int) -> DayData:
        """The day's requests, served items and feedback so far, from the prediction log."""
        from .prediction_log import read_feedback, read_recommendations, read_requests

        return cls(
            requests=read_requests(path, day, day),
            served_today=read_recommendations(path, day, day),
            feedback=read_feedback(path, day, day),
            # Only the prediction drift reads other days, and it compares a sample of their rows.
            served=lambda first, last: read_recommendations(
                path, first, last, at_most_requests=DRIFT_ROWS
            ),
        )


class DayMonitor:
    """Measures one day of production, and keeps its reports.

    Each ``measure_*`` method adds to ``measured`` (the fields of :class:`DayMeasurements`) and
    keeps the Evidently snapshot it made in ``snapshots``, by report name. ``data`` is read from
    the state folder's prediction log unless given.
    """

    def __init__(
        self, day: int, config: Config, state_dir: Path, data: DayData | None = None
    ) -> None:
        from .prediction_log import log_path

        self.day, self.config, self.state_dir = day, config, state_dir
        self.settings = config.monitoring
        self.folder = state_dir / MONITORING_FOLDER
        self.reference = Reference.load(self.folder / REFERENCE_FOLDER)
        self.history = DayHistory(self.folder)
        self.data = data or DayData.from_log(log_path(state_dir), day)
        self.requests = self.data.requests
        self.answered = self.requests[self.requests["status"] == 200]
        self.predictions = prediction_features(self.data.served_today, self.reference.items)
        self.feedback = self.data.feedback
        versions = self.answered["model_version"]
        self.version = str(versions.mode().iat[0]) if len(versions) else None
        records = self.history.read()
        #: The days recorded before this one, oldest first.
        self.records = records
        self.baseline = [r for r in records if r.get("model_version") == self.version][
            : self.settings.baseline_days
        ]
        self.open_incidents = [
            tuple(key) for key in (records[-1]["open_incidents"] if records else [])
        ]
        self.measured: dict[str, Any] = {"day": day, "requests": len(self.requests)}
        self.drift: dict[str, DriftSummary] = {}
        self.online: dict[str, float | None] = {}
        self.latency: dict[str, float | None] = {}
        self.snapshots: dict[str, Any] = {}
        self.feed: pd.DataFrame | None = None

    @property
    def timestamp(self) -> datetime:
        """Noon of the monitored day, in simulated time: the reports' date in the workspace."""
        seconds = WORLD_EPOCH + self.day * SECONDS_PER_DAY + SECONDS_PER_DAY // 2
        return datetime.fromtimestamp(seconds, tz=UTC)

    @property
    def judged(self) -> bool:
        """Enough answered requests to judge drift and quality on."""
        return len(self.answered) >= self.settings.min_rows

    @property
    def after_baseline(self) -> bool:
        """The champion's baseline days are complete, and this day comes after them."""
        complete = len(self.baseline) == self.settings.baseline_days
        return complete and self.day > self.baseline[-1]["day"]

    def measure_service(self) -> None:
        """Requests, error rate and latency of the day's /recommend answers."""
        latency = self.requests["latency_ms"]
        self.latency = {"p50_ms": _quantile(latency, 0.5), "p99_ms": _quantile(latency, 0.99)}
        if len(self.requests):
            self.measured["error_rate"] = float((self.requests["status"] >= 400).mean())
            self.measured["p99_latency_ms"] = self.latency["p99_ms"]

    def measure_request_drift(self) -> None:
        """The request context against the training data's visits."""
        if self.judged:
            current = request_features(self.answered)
            self._drift("request", self.reference.requests, current, REQUEST_COLUMNS)

    def measure_prediction_drift(self) -> None:
        """What was recommended against what the champion recommended in its first days."""
        if self.judged and self.after_baseline:
            first, last = self.baseline[0]["day"], self.baseline[-1]["day"]
            past = prediction_features(self.data.served(first, last), self.reference.items)
            self._drift("prediction", past, self.predictions, PREDICTION_COLUMNS)

    def measure_quality(self) -> None:
        """Click-through of the day's lists, its drop against the baseline, ranking metrics.

        Also the catalogue coverage of the day's lists: distinct items served over the items
        the champion was trained on.
        """
        from . import reports

        lists = len(self.answered)
        if not lists:
            return
        clicks = len(self.feedback)
        self.measured["ctr"] = clicks / lists
        quality = reports.ranking_quality_report(
            self.predictions[["request_id", "item_id", "rank"]],
            self.feedback[["request_id", "item_id"]],
            self.config.evaluation.k,
            max_lists=RANKING_LISTS,
            seed=self.day,
            timestamp=self.timestamp,
        )
        trained = int(self.reference.items["trained"].sum())
        coverage = self.predictions["item_id"].nunique() / trained if trained else None
        self.online = {**quality.metrics(), "coverage": coverage}  # as evaluation.py defines it
        if quality.snapshot is not None:
            self.snapshots["quality"] = quality.snapshot
        if self.judged and self.after_baseline:
            baseline_ctr = float(np.mean([record["ctr"] for record in self.baseline]))
            self.measured["baseline_ctr"] = baseline_ctr
            self.measured["ctr_p_value"] = ctr_drop_p_value(
                clicks, lists, baseline_ctr, self.settings.min_ctr_ratio
            )

    def measure_feed_quality(self) -> None:
        """The day's feed against the data contract and expectations, and its data summary."""
        from . import reports

        path = self.state_dir / FEED_FOLDER / feed_file_name(self.day)
        self.feed, problems = feed_problems(path, self.config.expectations)
        self.measured["feed_problems"] = tuple(problems)
        if self.feed is not None and len(self.feed):
            summary = reports.feed_summary_report(
                self.feed,
                categorical=["device", "event"],
                numerical=["price"],
                timestamp=self.timestamp,
            )
            self.snapshots["feed_quality"] = summary.snapshot

    def measure_feed_drift(self) -> None:
        """The day's feed against the training data, only if it passed: broken is not drift.

        The share of interactions on new items is measured first; the drift of the rest (their
        device, event, category and price) is the change in what users do with the catalogue the
        champion knows, such as a change of taste.
        """
        if self.feed is None:
            path = self.state_dir / FEED_FOLDER / feed_file_name(self.day)
            self.feed, problems = feed_problems(path, self.config.expectations)
            self.measured["feed_problems"] = tuple(problems)
        if self.feed is not None and len(self.feed) and not self.measured["feed_problems"]:
            current = feed_features(self.feed, self.reference.items)
            self.measured["new_item_share"] = float(current["new_item"].mean())
            trained = trained_items_only(current)
            if len(trained) >= self.settings.min_rows:
                self._drift("feed", self.reference.feed, trained, FEED_COLUMNS)

    def _drift(
        self,
        name: str,
        reference: pd.DataFrame,
        current: pd.DataFrame,
        columns: tuple[list[str], list[str]],
    ) -> None:
        from . import reports

        categorical, numerical = columns
        result = reports.drift_report(
            at_most(reference[categorical + numerical], DRIFT_ROWS),
            at_most(current[categorical + numerical], DRIFT_ROWS),
            categorical,
            numerical,
            self.settings.column_drift_score,
            drift_share=self.settings.drift_share,
            name=f"{name}_drift",
            timestamp=self.timestamp,
        )
        self.drift[name] = DriftSummary(result.share, tuple(result.drifted))
        self.snapshots[f"{name}_drift"] = result.snapshot

    def conclude(self, last_day: bool = False) -> DayResult:
        """Save the reports, find the day's new incidents, record the day, announce alerts."""
        measurements = DayMeasurements(drift=self.drift, **self.measured)
        found = findings(measurements, self.settings)
        html = self.settings.html_reports == "all" or (
            self.settings.html_reports == "alerts" and (bool(found) or last_day)
        )
        saved = self.save_reports(html)
        found = findings(measurements, self.settings, saved)
        incidents = Incidents(self.open_incidents)
        alerts = incidents.announce(self.day, found)
        result = DayResult(
            measurements,
            alerts,
            online=self.online,
            latency=self.latency,
            reports=saved,
            incidents=[list(key) for key in sorted(incidents.open)],
            findings=found,
            incident_days=self.incident_days(found, alerts),
        )
        self.history.append({**result.record(), "model_version": self.version})
        AlertLog(self.state_dir, self.settings.webhook_url).append(alerts)
        return result

    def incident_days(self, found: list[Finding], alerts: list[Alert]) -> dict[str, int]:
        """The day each of today's findings began: its incident's announcement."""
        announced = [
            (alert["day"], alert["metric"]) for record in self.records for alert in record["alerts"]
        ] + [(alert.day, alert.metric) for alert in alerts]
        first = {}
        for day, metric in announced:  # oldest first: the latest announcement wins
            first[metric] = day
        return {f.metric: first.get(f.metric, self.day) for f in found}

    def save_reports(self, html: bool) -> dict[str, str]:
        """Each snapshot as JSON (and HTML when asked), and into the Evidently workspace."""
        from . import reports

        folder = self.folder / "reports" / f"day-{self.day:04d}"
        where = self.settings.workspace_url or self.state_dir / WORKSPACE_FOLDER
        workspace = reports.MonitoringWorkspace(where, PACKAGE)
        saved = {}
        for name, snapshot in self.snapshots.items():
            files = reports.save_report(snapshot, folder, name, html=html)
            saved[name] = str(files.html or files.json)
            workspace.add(snapshot)
        return saved


def at_most(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """``frame``, or a fixed random sample of ``rows`` of it: a drift score needs no more.

    The sampling error of a Jensen-Shannon or normed Wasserstein distance at 10,000 rows is
    around 0.01, a tenth of the drift threshold, and Evidently's time grows with the rows.
    """
    return frame if len(frame) <= rows else frame.sample(rows, random_state=0)


def _quantile(values: pd.Series, q: float) -> float | None:
    return float(values.quantile(q)) if len(values) else None


def monitor_day(
    day: int, config: Config, last_day: bool = False, data: DayData | None = None
) -> DayResult:
    """Monitor one day, without Prefect (the flow below runs the same steps as tasks)."""
    monitor = DayMonitor(day, config, config.tracking.state_dir, data)
    for measure in MEASUREMENTS:
        getattr(monitor, measure)()
    return monitor.conclude(last_day)


MEASUREMENTS = (
    "measure_service",
    "measure_request_drift",
    "measure_prediction_drift",
    "measure_quality",
    "measure_feed_quality",
    "measure_feed_drift",
)


@task(name="measure", task_run_name="{name}", cache_policy=NO_CACHE)
def measure(monitor: DayMonitor, name: str) -> None:
    """One measurement of the day, as a task of its own in the Prefect UI."""
    getattr(monitor, name)()


@task(name="conclude", cache_policy=NO_CACHE)
def conclude(monitor: DayMonitor, last_day: bool) -> DayResult:
    """Reports saved, incidents found, alerts announced."""
    return monitor.conclude(last_day)


@task(name="review online check", cache_policy=NO_CACHE)
def review_online_check(day: int, config: Config) -> list[Any]:
    """Judge the test arm, if a version is on it: promote, reject, roll back (promotion.py)."""
    from .promotion import review_online_check as review

    return review(day, config)


@task(name="emit events", cache_policy=NO_CACHE)
def emit_events(day: int, result: DayResult, config: Config) -> list[Any]:
    """One Prefect event per finding; automations start the reactions (triggers.py)."""
    from .triggers import emit_findings

    return emit_findings(day, result.findings, result.incident_days, config)


@dataclass
class MonitoredDay:
    """What the day's flow run hands back: the monitoring, decisions taken, events emitted."""

    result: DayResult
    decisions: list[Any]
    events: list[Any]


@flow(name=f"{PACKAGE}-monitoring", flow_run_name="day-{day}", validate_parameters=False)
def monitoring_flow(
    day: int, config_path: str, overrides: dict[str, str] | None = None, last_day: bool = False
) -> MonitoredDay:
    """One day's monitoring and its reactions as a Prefect flow run.

    Measures the day (as level 3), judges the online check if one runs, then emits an event per
    finding: the automations of ``triggers.py`` start what the policy asks for.
    """
    config = load_config(Path(config_path), overrides)
    monitor = DayMonitor(day, config, config.tracking.state_dir)
    for name in MEASUREMENTS:
        measure(monitor, name)
    result = conclude(monitor, last_day)
    decisions = review_online_check(day, config)
    return MonitoredDay(result, decisions, emit_events(day, result, config))
