"""Evidently reports of the daily monitoring: drift, online ranking quality, the feed's summary.

Pure functions from the frames the monitoring builds out of the prediction log and the day's feed
to small results: the numbers the alerts need, with the Evidently snapshot for the HTML page and
the workspace. Nothing here decides whether to alert; ``save_report`` and ``MonitoringWorkspace``
are the only functions that write.

What Evidently 0.7.23 does by default and this module does not rely on:

- Drift methods depend on the sample size: from 1000 rows up, Jensen-Shannon distance
  (categorical) and normed Wasserstein distance (numerical), drift when the score is *above* the
  threshold; below 1000 rows, chi-square / K-S *p-values*, drift when *below* it. A quiet day
  would flip the meaning of every score, so both methods are pinned here.
- The recsys metrics give values per rank; NDCG and MRR are listed one rank too high (their
  series are 1-based and the new API adds one more: ``metrics/recsys.py``,
  ``LegacyTopKCalculation.calculate_value``), so their true @k sits under rank label k + 1.
  Precision, recall, MAP and hit rate are under k. A test holds both against hand-computed values
  and the project's own ``evaluation.evaluate_ranking``.
- ``Snapshot.save_html`` and ``save_json`` write nothing when given a ``Path`` (only ``str`` is
  handled), so files are written here from the strings.

``import evidently`` takes 11-20 s (its legacy package pulls in nltk, scipy.stats, plotly), so it
is imported inside the functions that need it: importing this module, or the monitoring that
imports it, costs nothing until a report is made.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from evidently.core.report import Snapshot

#: Drift scores, pinned whatever the sample size: both are distances (0 = same distribution).
CATEGORICAL_DRIFT_METHOD = "jensenshannon"
NUMERICAL_DRIFT_METHOD = "wasserstein"  # normed by the reference's standard deviation

#: The columns of the frames the monitoring hands over (one row per request, per served item, per
#: interaction of the day's feed).
REQUEST_CATEGORICAL = ("device", "country", "age_band")
REQUEST_NUMERICAL = ("account_age_days",)
PREDICTION_CATEGORICAL = ("category", "price_band")
PREDICTION_NUMERICAL = ("item_age_days", "popularity_decile", "score")
FEED_CATEGORICAL = ("device", "event", "user_status", "item_status")
FEED_NUMERICAL = ("price",)

#: Snapshot names (and tags) the workspace's dashboard plots; other names are stored all the same.
DRIFT_REPORT_NAMES = ("request_drift", "prediction_drift", "feed_drift")
RANKING_REPORT_NAME = "ranking_quality"
FEED_SUMMARY_NAME = "feed_summary"

#: Where the recsys metrics list their true @k value: rank label k + offset (see the docstring).
_RANK_LABEL_OFFSET = {"NDCG": 1, "MRR": 1}
#: The ranking metrics reported, by the field of RankingQuality that holds them.
_RANKING_METRICS = {
    "ndcg": "NDCG",
    "precision": "PrecisionTopK",
    "recall": "RecallTopK",
    "hit_rate": "HitRate",
    "mrr": "MRR",
    "map": "MAP",
}


# --- drift -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftResult:
    """Drift of each column of a current frame against a reference frame.

    ``scores`` are Jensen-Shannon distances (categorical) or Wasserstein distances normed by the
    reference's standard deviation (numerical), by column; ``drifted`` are the columns whose score
    is at least ``threshold``; ``share`` is their share of the columns compared (Evidently's
    DriftedColumnsCount). ``skipped`` columns have no value at all on one side and are not
    compared: an empty column is a data-quality problem, not a drift.
    """

    scores: dict[str, float]
    methods: dict[str, str]
    threshold: float
    drifted: tuple[str, ...]
    share: float
    skipped: tuple[str, ...]
    current_rows: int
    reference_rows: int
    snapshot: Snapshot


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    categorical: Sequence[str],
    numerical: Sequence[str],
    column_threshold: float,
    *,
    drift_share: float = 0.5,
    name: str = "drift",
    timestamp: datetime | None = None,
) -> DriftResult:
    """Compare ``current`` with ``reference`` column by column, with the methods pinned.

    Other columns of the frames are ignored. ``drift_share`` only sets the dataset verdict that
    Evidently prints on the page; ``name`` names the snapshot and tags it (the workspace's
    dashboard plots the names in DRIFT_REPORT_NAMES); ``timestamp`` dates it (default: now), so a
    simulated day shows at its own date in the workspace.
    """
    categorical, numerical = list(categorical), list(numerical)
    columns = categorical + numerical
    if not columns:
        raise ValueError("drift_report needs at least one categorical or numerical column")
    if len(set(columns)) < len(columns):
        raise ValueError(f"a column is listed twice among {columns}")
    if not column_threshold > 0:
        raise ValueError(f"column_threshold must be positive, got {column_threshold}")
    for label, frame in (("reference", reference), ("current", current)):
        _require_columns(frame, columns, label)
        if frame.empty:
            raise ValueError(f"the {label} frame has no rows: there is nothing to compare")
    reference = _drift_frame(reference, categorical, numerical, "reference")
    current = _drift_frame(current, categorical, numerical, "current")
    skipped = [
        column
        for column in columns
        if reference[column].notna().sum() == 0 or current[column].notna().sum() == 0
    ]
    if len(skipped) == len(columns):
        raise ValueError(f"every column ({', '.join(columns)}) is empty on one side")
    categorical = [column for column in categorical if column not in skipped]
    numerical = [column for column in numerical if column not in skipped]
    judged = categorical + numerical

    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(categorical_columns=categorical, numerical_columns=numerical)
    preset = DataDriftPreset(
        columns=judged,
        cat_method=CATEGORICAL_DRIFT_METHOD,
        num_method=NUMERICAL_DRIFT_METHOD,
        threshold=column_threshold,
        drift_share=drift_share,
    )
    snapshot = Report([preset], tags=[name], include_tests=False).run(
        Dataset.from_pandas(current[judged], data_definition=definition),
        Dataset.from_pandas(reference[judged], data_definition=definition),
        timestamp=timestamp,
        name=name,
    )
    scores: dict[str, float] = {}
    methods: dict[str, str] = {}
    counted = None
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"] == "evidently:metric_v2:ValueDrift":
            scores[config["column"]] = float(metric["value"])
            methods[config["column"]] = config["method"]
        elif config["type"] == "evidently:metric_v2:DriftedColumnsCount":
            counted = metric["value"]
    drifted = tuple(column for column in judged if scores[column] >= column_threshold)
    if counted is None or int(counted["count"]) != len(drifted):
        raise RuntimeError(
            f"Evidently counted {counted} drifted columns but the scores {scores} give "
            f"{len(drifted)} at {column_threshold}: has its drift decision changed?"
        )
    return DriftResult(
        scores={column: scores[column] for column in judged},
        methods={column: methods[column] for column in judged},
        threshold=column_threshold,
        drifted=drifted,
        share=float(counted["share"]),
        skipped=tuple(skipped),
        current_rows=len(current),
        reference_rows=len(reference),
        snapshot=snapshot,
    )


def _drift_frame(
    frame: pd.DataFrame, categorical: list[str], numerical: list[str], label: str
) -> pd.DataFrame:
    """The compared columns only, numerical ones as floats (SQLite's NULLs become NaN)."""
    out = frame[categorical].copy()
    for column in numerical:
        try:
            out[column] = pd.to_numeric(frame[column]).astype("float64")
        except (TypeError, ValueError) as error:
            raise ValueError(f"{label} column {column!r} is not numerical: {error}") from None
    return out


# --- online ranking quality --------------------------------------------------------------------


@dataclass(frozen=True)
class RankingQuality:
    """Ranking metrics at ``k`` of the served lists that got feedback, from Evidently.

    ``lists_served`` lists were served; ``lists_clicked`` of them got at least one click or
    purchase; ``lists_judged`` were judged (all the clicked ones, or a sample of them). The
    metrics are None when no list was judged (and then there is no snapshot).
    """

    k: int
    lists_served: int
    lists_clicked: int
    lists_judged: int
    ndcg: float | None
    precision: float | None
    recall: float | None
    hit_rate: float | None
    mrr: float | None
    map: float | None
    snapshot: Snapshot | None

    def metrics(self) -> dict[str, float | None]:
        """The metrics by the names the project's evaluation uses (``ndcg_at_10``, ...)."""
        return {f"{field}_at_{self.k}": getattr(self, field) for field in _RANKING_METRICS}


def ranking_quality_report(
    served: pd.DataFrame,
    clicked: pd.DataFrame,
    k: int,
    *,
    max_lists: int | None = None,
    seed: int = 0,
    timestamp: datetime | None = None,
) -> RankingQuality:
    """NDCG, precision, recall, hit rate, MRR and MAP at ``k`` of served lists, from feedback.

    ``served`` has request_id, item_id and rank (1-based), one row per served item; ``clicked``
    has request_id and item_id of the items clicked or purchased (a purchase counts once). Only
    lists with at least one click are judged: a list nobody engaged with tells nothing about the
    order of its items, and the offline evaluation likewise only judges users with relevant
    items. Every served row of a judged list counts, also below rank ``k``: a click at rank 15
    is a miss for recall@10 and hit rate@10. Clicks on items the list did not hold are ignored
    (the service refuses such feedback).

    Binary relevance, per list, averaged over judged lists: NDCG, precision, recall and MAP as in
    ``evaluation.evaluate_ranking``, except that Evidently divides precision by min(k, list
    length), not k (the same for full lists), and MAP by the list's clicks, not min(clicks, k)
    (the same while no list has more than k clicks); hit rate is the share of lists with a click
    in the top k, MRR the mean of 1 / rank of the first click in the top k (0 if none).

    Evidently's NDCG costs about 0.7 ms per judged list (34 s for 50,000 lists here), so
    ``max_lists`` caps the lists judged with a uniform sample (``seed``); the default judges all.
    With no clicked list there is no Evidently call: the metrics are None.
    """
    _require_columns(served, ["request_id", "item_id", "rank"], "served")
    _require_columns(clicked, ["request_id", "item_id"], "clicked")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if max_lists is not None and max_lists < 1:
        raise ValueError(f"max_lists must be a positive integer or None, got {max_lists!r}")
    served = served[["request_id", "item_id", "rank"]]
    ranks = pd.to_numeric(served["rank"], errors="coerce")
    if ranks.isna().any() or (ranks < 1).any() or (ranks % 1 != 0).any():
        raise ValueError("served ranks must be whole numbers from 1")

    clicks = clicked[["request_id", "item_id"]].drop_duplicates().assign(target=1)
    # Only lists with a click are judged: the others are left out before the merge (a day of 1M
    # requests serves 10M rows, a tenth of them in clicked lists: 10 s down to 4 s).
    in_clicked = served["request_id"].isin(clicks["request_id"])
    rows = (
        served[in_clicked]
        .assign(rank=ranks[in_clicked].astype("int64"))
        .merge(clicks, on=["request_id", "item_id"], how="left")
    )
    rows["target"] = rows["target"].fillna(0).astype("int64")
    clicked_lists = np.sort(rows.loc[rows["target"] == 1, "request_id"].unique())
    judged_lists = clicked_lists
    if max_lists is not None and len(clicked_lists) > max_lists:
        draw = np.random.default_rng(seed)
        judged_lists = np.sort(draw.choice(clicked_lists, size=max_lists, replace=False))
    found: dict[str, Any] = dict.fromkeys(_RANKING_METRICS)
    snapshot = None
    if len(judged_lists):
        # Sorted by rank within each list: Evidently's MAP takes each cut-off's last row.
        judged = rows[rows["request_id"].isin(judged_lists)].sort_values(
            ["request_id", "rank"], kind="stable"
        )
        # Evidently fails when k exceeds every list's length (KeyError in TopKMetricResult); the
        # values at the longest list's length are the values at k then (precision included, as
        # it divides by min(k, length)).
        k_listed = min(int(k), int(judged["rank"].max()))
        snapshot, found = _evidently_ranking(judged, k_listed, timestamp)
    return RankingQuality(
        k=int(k),
        lists_served=int(served["request_id"].nunique()),
        lists_clicked=len(clicked_lists),
        lists_judged=len(judged_lists),
        snapshot=snapshot,
        **found,
    )


def _evidently_ranking(
    judged: pd.DataFrame, k: int, timestamp: datetime | None
) -> tuple[Snapshot, dict[str, float]]:
    """Run the recsys metrics on the judged rows and read each one's value at ``k``."""
    from evidently import DataDefinition, Dataset, Recsys, Report
    from evidently import metrics as recsys

    definition = DataDefinition(
        ranking=[
            Recsys(
                user_id="request_id",
                item_id="item_id",
                prediction="rank",
                target="target",
                recommendations_type="rank",
            )
        ]
    )
    metrics = [getattr(recsys, kind)(k=k) for kind in _RANKING_METRICS.values()]
    snapshot = Report(metrics, tags=[RANKING_REPORT_NAME], include_tests=False).run(
        Dataset.from_pandas(judged, data_definition=definition),
        None,
        timestamp=timestamp,
        name=RANKING_REPORT_NAME,
    )
    by_type = {metric["config"]["type"]: metric["value"] for metric in snapshot.dict()["metrics"]}
    found = {}
    for field, kind in _RANKING_METRICS.items():
        table = by_type[f"evidently:metric_v2:{kind}"]
        per_rank = {int(table["rank"][row]): float(value) for row, value in table["value"].items()}
        found[field] = per_rank[k + _RANK_LABEL_OFFSET.get(kind, 0)]
    return snapshot, found


# --- the day's feed ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedSummary:
    """Evidently's data summary of a day's feed, and the few figures it is read for.

    ``missing_share`` is the share of missing values per column of the feed; ``absent`` are the
    expected columns the feed lacks, ``unexpected`` the feed's columns nobody expects (a renamed
    column shows as one of each).
    """

    rows: int
    missing_share: dict[str, float]
    absent: tuple[str, ...]
    unexpected: tuple[str, ...]
    snapshot: Snapshot


def feed_summary_report(
    current: pd.DataFrame,
    reference: pd.DataFrame | None = None,
    *,
    categorical: Sequence[str] = FEED_CATEGORICAL,
    numerical: Sequence[str] = FEED_NUMERICAL,
    timestamp: datetime | None = None,
) -> FeedSummary:
    """Summarise a day's feed (DataSummaryPreset), beside ``reference`` when given.

    A report only, with no Evidently tests: the preset's ~70 tests against the reference are
    noisy as alerts, and the project's data contract judges the feed. It must also describe a
    broken feed, so nothing here refuses one: the expected columns a frame lacks are added to it
    as empty (an absent column reads as 100 % missing), other columns are summarised as
    numerical if their values are numbers and as categorical otherwise, and values of a
    numerical column that are not numbers count as missing.
    """
    if current.empty:
        raise ValueError("the feed has no rows: there is nothing to summarise")
    if reference is not None and reference.empty:
        raise ValueError("the reference feed has no rows: give None to summarise without one")
    categorical, numerical = list(categorical), list(numerical)
    expected = categorical + numerical
    frames = [current] if reference is None else [current, reference]
    columns = list(dict.fromkeys([*expected, *(c for frame in frames for c in frame.columns)]))
    unexpected = [column for column in current.columns if column not in expected]
    for column in columns:
        if column not in expected:
            holding = [frame[column] for frame in frames if column in frame]
            numbers = all(_holds_numbers(values) for values in holding)
            (numerical if numbers else categorical).append(column)
    aligned = [_summary_frame(frame, columns, numerical) for frame in frames]

    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataSummaryPreset

    definition = DataDefinition(categorical_columns=categorical, numerical_columns=numerical)
    datasets = [Dataset.from_pandas(frame, data_definition=definition) for frame in aligned]
    snapshot = Report([DataSummaryPreset()], tags=[FEED_SUMMARY_NAME], include_tests=False).run(
        datasets[0],
        datasets[1] if len(datasets) > 1 else None,
        timestamp=timestamp,
        name=FEED_SUMMARY_NAME,
    )
    return FeedSummary(
        rows=len(current),
        missing_share={column: float(aligned[0][column].isna().mean()) for column in current},
        absent=tuple(column for column in expected if column not in current),
        unexpected=tuple(unexpected),
        snapshot=snapshot,
    )


def _holds_numbers(values: pd.Series) -> bool:
    dtype = values.dtype
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _summary_frame(frame: pd.DataFrame, columns: list[str], numerical: list[str]) -> pd.DataFrame:
    """``frame`` with every column in ``columns`` (absent ones empty), numerical ones as floats."""
    out = frame.reindex(columns=columns)
    for column in numerical:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    return out


# --- saving ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedReport:
    """The files of one saved report.

    ``json`` holds the results only (metric values, ~1-6 KB); ``snapshot`` the full snapshot with
    its widgets (~100-200 KB), which :func:`load_report` reads back, to add it to a workspace or
    render its page later; ``html`` the self-contained page (~3.7 MB), when asked for.
    """

    json: Path
    snapshot: Path
    html: Path | None


def save_report(snapshot: Snapshot, folder: Path, name: str, html: bool) -> SavedReport:
    """Write ``<name>.json``, ``<name>.snapshot.json`` and, if ``html``, ``<name>.html``.

    Each file is written to a temporary name and renamed, so a reader (or a run killed half-way)
    never sees half a report. Existing files of the same name are replaced.
    """
    if not name or name in {".", ".."} or "/" in name or "\\" in name:
        raise ValueError(f"report name must be a plain file name, got {name!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    json_path = _write_atomic(folder / f"{name}.json", snapshot.json())
    snapshot_path = _write_atomic(folder / f"{name}.snapshot.json", snapshot.dumps())
    html_path = None
    if html:
        html_path = _write_atomic(folder / f"{name}.html", snapshot.get_html_str(as_iframe=False))
    return SavedReport(json=json_path, snapshot=snapshot_path, html=html_path)


def load_report(path: Path) -> Snapshot:
    """A snapshot saved by :func:`save_report` (its ``.snapshot.json`` file), widgets included.

    The results-only ``.json`` cannot be loaded back: Evidently refuses it.
    """
    from evidently.core.report import Snapshot

    return Snapshot.loads(Path(path).read_text(encoding="utf-8"))


def _write_atomic(path: Path, text: str) -> Path:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


# --- the workspace -----------------------------------------------------------------------------


class MonitoringWorkspace:
    """An Evidently workspace with one project of the monitoring's reports.

    ``MonitoringWorkspace(folder, project_name)`` creates the workspace folder and the project,
    or reopens them; given an Evidently UI's URL instead of a folder, it does the same on that
    server (a remote workspace: the UI stores what it is sent). The project is found by name, so
    a second run adds to the same project instead of making another. A new project gets a
    dashboard: the drifted share of the reports named in DRIFT_REPORT_NAMES and the feed's row
    count, over the snapshots' timestamps.
    ``evidently ui --workspace <folder>`` shows it. One process at a time: two processes opening
    a new workspace at once could both create the project.
    """

    def __init__(
        self, location: Path | str, project_name: str, description: str | None = None
    ) -> None:
        from evidently.ui.workspace import RemoteWorkspace, Workspace

        if not project_name.strip():
            raise ValueError("the Evidently project needs a name")
        self._workspace: Workspace | RemoteWorkspace
        if str(location).startswith(("http://", "https://")):
            self._workspace = RemoteWorkspace(str(location))
        else:
            folder = Path(location)
            folder.mkdir(parents=True, exist_ok=True)
            self._workspace = Workspace.create(str(folder))
        # Project ids are UUID7s, in creation order: the oldest of the name wins, if ever two.
        found = sorted(self._workspace.search_project(project_name), key=lambda p: str(p.id))
        if found:
            self._project = found[0]
        else:
            self._project = self._workspace.create_project(project_name, description)
            self._add_dashboard()

    @property
    def project_id(self) -> str:
        """The project's id (a UUID), as the UI's project page names it."""
        return str(self._project.id)

    @property
    def project_name(self) -> str:
        """The project's name."""
        return self._project.name

    def add(self, snapshot: Snapshot, name: str | None = None) -> str:
        """Add ``snapshot`` to the project (results and widgets, not the data); return its id."""
        added = self._workspace.add_run(self._project.id, snapshot, include_data=False, name=name)
        return str(added.id)

    def runs(self) -> list[str]:
        """The ids of the project's snapshots (a local workspace's: the remote one cannot list)."""
        return [str(run) for run in self._workspace.list_runs(self._project.id)]

    def _add_dashboard(self) -> None:
        from evidently.sdk.models import PanelMetric
        from evidently.sdk.panels import counter_panel, line_plot_panel

        dashboard = self._project.dashboard
        # One panel per report name: the local UI of 0.7.23 matches a panel's series to a metric
        # before it looks at tags, so two series of one metric in a panel show only the first.
        for name in DRIFT_REPORT_NAMES:
            share = PanelMetric(
                legend="share",
                tags=[name],
                metric="evidently:metric_v2:DriftedColumnsCount",
                metric_labels={"value_type": "share"},
            )
            title = f"{name.replace('_', ' ').capitalize()}: share of drifted columns"
            dashboard.add_panel(line_plot_panel(title=title, values=[share], size="half"))
        rows = PanelMetric(
            legend="rows", tags=[FEED_SUMMARY_NAME], metric="evidently:metric_v2:RowCount"
        )
        dashboard.add_panel(counter_panel(title="Feed rows, last day", values=[rows], size="half"))


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], label: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"the {label} frame lacks the column(s) {', '.join(missing)}")
