"""Cost of one day of level 3's monitoring, for 10k, 100k and 1M logged requests.

    python -m benchmarks.monitoring_cost [--requests 10000 100000 1000000] [--baseline-cap N]
        [--keep]

For each size a fresh state folder gets a synthetic prediction log: the champion's baseline days
(90-92, as many requests each as the measured day, at most ``--baseline-cap``: 100,000 unless
told, see ``BASELINE_CAP``) and the measured day (100). Each request is served 10 items; about
10 % of the lists get feedback (a click, sometimes a second one, a fifth of them purchases);
0.2 % of the requests are errors without items. Beside the log: the day's feed file (2.5
interactions per request, as in the simulated world), the monitoring reference made by
``build_reference`` from 28 days of a small shop's history (1,000 visits a day), and the
baseline days' lines in ``days.jsonl``. Every sample comes from the same shop as the reference,
so the day raises no alert and every measurement runs in full.

The log is written with the SQL statements of ``prediction_log`` (``INSERT_REQUEST``,
``INSERT_ITEM``, ``UPSERT_FEEDBACK``) in transactions of 10,000 requests, into a file that
``PredictionLog.open`` created: ``record_answer`` commits once per request (about 15,000
requests a second here), which would make the 1M setup take minutes for nothing the monitoring
can tell apart.

Then one day of the real monitoring is timed as ``monitor_day`` runs it (``DayMonitor`` with
every measurement of ``MEASUREMENTS``, reports saved as JSON and into the Evidently workspace,
HTML off), split into: reading the log, preparing the day (reference, item features), each
measurement, and the conclusion; the parts that grow with the traffic are shown apart (reading
the baseline days, the ranking report, the feed summary, saving). Evidently is imported and
warmed up on a few rows first, so no size pays its 11-20 s import. A size whose log would not
fit in memory (``ROW_BYTES`` per served row read) is skipped with a message. Results go to
``state/bench/monitoring.json``; each size's state folder is deleted afterwards unless
``--keep``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.results import write_results
from data.population import AGE_BANDS, CATEGORIES, COUNTRIES, DEVICES
from data.schema import SECONDS_PER_DAY, WORLD_EPOCH

WORK = Path("state/bench/monitoring")
DAY, BASELINE = 100, (90, 91, 92)
VERSION = "1"
ITEMS_PER_LIST = 10
#: Share of the lists that get feedback; of those, the share with a second event; of the
#: events, the share of purchases.
FEEDBACK_SHARE, SECOND_EVENT_SHARE, PURCHASE_SHARE = 0.10, 0.25, 0.2
ERROR_SHARE = 0.002
#: Feed rows per logged request: the simulated world has ~2,300 interactions a day for ~920 visits.
FEED_PER_REQUEST = 2.5
CATALOGUE, USERS = 2_000, 200_000
#: Visits a day of the training history the reference is made from: the simulated "small" world
#: has ~1,000 (and ~2,500 interactions).
REFERENCE_VISITS = 1_000
#: Requests of each baseline day at most, by default. The monitoring reads the baseline days'
#: served items whole: for days of 1M requests 3 x 10M rows, ~90 s and ~21 GB by extrapolation
#: from 100k (8-10 s), more than this machine holds beside the day itself; ``--baseline-cap 0``
#: gives them the day's size.
BASELINE_CAP = 100_000
#: Requests written per transaction.
WRITE_BATCH = 10_000
#: Memory the monitoring takes per served row it reads from the log (tuples, then a frame), with
#: a margin: measured peaks of 2.2 GB for 4M rows read (a day of 100k requests and three baseline
#: days of 100k), 7.1 GB for 13M.
ROW_BYTES = 700
#: Shares of the users' profiles (same order as data.population's tuples).
DEVICE_SHARES = (0.6, 0.3, 0.1)
COUNTRY_SHARES = (0.3, 0.2, 0.15, 0.15, 0.08, 0.07, 0.05)
AGE_SHARES = (0.12, 0.25, 0.23, 0.18, 0.13, 0.09)
EVENT_NAMES, EVENT_SHARES = ("view", "click", "purchase"), (0.62, 0.27, 0.11)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: the day sizes to measure, the baseline days' size, what to keep."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests",
        type=int,
        nargs="+",
        default=[10_000, 100_000, 1_000_000],
        help="logged requests of the measured day, one run per value",
    )
    parser.add_argument(
        "--baseline-cap",
        type=int,
        default=BASELINE_CAP,
        help="at most this many requests per baseline day; 0: as many as the measured day "
        f"(default {BASELINE_CAP:,})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic traffic")
    parser.add_argument(
        "--keep", action="store_true", help=f"keep each size's state folder under {WORK}"
    )
    return parser.parse_args(argv)


# ---- the synthetic shop ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Shop:
    """Users and a catalogue with a popularity skew: every sample, reference or day, comes from it.

    Users sign up at a steady rate from day -1000 on, and a day's visitors are drawn from those
    already signed up, so the account ages a request carries barely move from the reference's
    days to the measured one, as in the simulated world.
    """

    users: pd.DataFrame
    items: pd.DataFrame
    popularity: np.ndarray

    @classmethod
    def make(cls, rng: np.random.Generator) -> Shop:
        """``USERS`` users, ``CATALOGUE`` items with Zipf-like popularity (weight 1 / rank^0.8)."""
        users = pd.DataFrame(
            {
                "user_id": np.arange(USERS),
                "age_band": _draw(rng, AGE_BANDS, AGE_SHARES, USERS),
                "country": _draw(rng, COUNTRIES, COUNTRY_SHARES, USERS),
                "device": _draw(rng, DEVICES, DEVICE_SHARES, USERS),
                "signup_day": np.sort(rng.integers(-1000, DAY + 1, USERS)),
            }
        )
        items = pd.DataFrame(
            {
                "item_id": np.arange(CATALOGUE),
                "category": _draw(
                    rng, CATEGORIES, (1 / len(CATEGORIES),) * len(CATEGORIES), CATALOGUE
                ),
                "price": rng.lognormal(3.5, 0.8, CATALOGUE).round(2),
                "release_day": rng.integers(-700, 0, CATALOGUE),
            }
        )
        weights = 1.0 / np.arange(1, CATALOGUE + 1) ** 0.8
        return cls(users, items, weights[rng.permutation(CATALOGUE)] / weights.sum())

    def visitors(self, rng: np.random.Generator, rows: int, day: int) -> pd.DataFrame:
        """``rows`` visits on ``day``: who, and the context the request carries."""
        signed_up = int(np.searchsorted(self.users["signup_day"].to_numpy(), day, side="right"))
        chosen = self.users.iloc[rng.integers(0, signed_up, rows)]
        return pd.DataFrame(
            {
                "user_id": chosen["user_id"].to_numpy(),
                "device": chosen["device"].to_numpy(),
                "country": chosen["country"].to_numpy(),
                "age_band": chosen["age_band"].to_numpy(),
                "account_age_days": day - chosen["signup_day"].to_numpy(),
            }
        )

    def lists(self, rng: np.random.Generator, rows: int) -> np.ndarray:
        """``rows`` lists of ``ITEMS_PER_LIST`` distinct items, drawn by popularity."""
        lists = rng.choice(CATALOGUE, (rows, ITEMS_PER_LIST), p=self.popularity)
        while True:
            ordered = np.sort(lists, axis=1)
            repeated = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
            if not repeated.any():
                return lists
            lists[repeated] = rng.choice(
                CATALOGUE, (int(repeated.sum()), ITEMS_PER_LIST), p=self.popularity
            )

    def interactions(self, rng: np.random.Generator, visits: int, day: int) -> pd.DataFrame:
        """The interactions of ``visits`` visits on ``day`` (2.5 a visit), as the feed has them."""
        visitors = self.visitors(rng, visits, day)
        per_visit = 1 + rng.poisson(FEED_PER_REQUEST - 1, visits)
        rows = int(per_visit.sum())
        visit = np.repeat(np.arange(visits), per_visit)
        starts = np.sort(_seconds(rng, visits, day))
        items = rng.choice(CATALOGUE, rows, p=self.popularity)
        feed = pd.DataFrame(
            {
                "timestamp": starts[visit] + rng.integers(0, 1800, rows),
                "day": day,
                "user_id": visitors["user_id"].to_numpy()[visit],
                "item_id": items,
                "event": _draw(rng, EVENT_NAMES, EVENT_SHARES, rows),
                "device": visitors["device"].to_numpy()[visit],
                "price": self.items["price"].to_numpy()[items],
            }
        ).sort_values("timestamp", kind="stable")
        # A repeated (timestamp, user, item, event) breaks the data contract, and a broken feed
        # is not compared for drift: at 2.5M rows a few pairs of rows collide.
        return feed.drop_duplicates(["timestamp", "user_id", "item_id", "event"])


def _draw(
    rng: np.random.Generator, values: tuple[str, ...], shares: tuple[float, ...], rows: int
) -> np.ndarray:
    return np.asarray(values, dtype=object)[rng.choice(len(values), rows, p=shares)]


def _seconds(rng: np.random.Generator, rows: int, day: int) -> np.ndarray:
    return WORLD_EPOCH + day * SECONDS_PER_DAY + rng.integers(0, SECONDS_PER_DAY - 3600, rows)


# ---- writing a state folder -----------------------------------------------------------------


@dataclasses.dataclass
class Written:
    """What one day of the log holds."""

    requests: int = 0
    items: int = 0
    feedback: int = 0
    lists_with_feedback: int = 0


def write_day(
    connection: sqlite3.Connection, shop: Shop, rng: np.random.Generator, day: int, requests: int
) -> Written:
    """Log ``requests`` requests of ``day`` with their items and feedback, batch by batch."""
    from level3_monitoring.prediction_log import INSERT_ITEM, INSERT_REQUEST, UPSERT_FEEDBACK

    written = Written()
    times = np.sort(_seconds(rng, requests, day))
    for start in range(0, requests, WRITE_BATCH):
        request_rows, item_rows, feedback_rows = batch(
            shop, rng, day, times[start : start + WRITE_BATCH]
        )
        connection.execute("BEGIN")
        connection.executemany(INSERT_REQUEST, request_rows)
        connection.executemany(INSERT_ITEM, item_rows)
        connection.executemany(UPSERT_FEEDBACK, feedback_rows)
        connection.execute("COMMIT")
        written.requests += len(request_rows)
        written.items += len(item_rows)
        written.feedback += len(feedback_rows)
        written.lists_with_feedback += len({row[0] for row in feedback_rows})
    return written


def batch(
    shop: Shop, rng: np.random.Generator, day: int, stamps: np.ndarray
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Rows of ``requests``, ``recommendations`` and ``feedback`` for requests at ``stamps``.

    In the order of ``prediction_log.REQUEST_COLUMNS`` and of its INSERT statements.
    """
    rows = len(stamps)
    ids = rng.bytes(16 * rows).hex()  # like uuid4().hex, 50 times faster
    request_ids = [ids[index : index + 32] for index in range(0, 32 * rows, 32)]
    failed = rng.random(rows) < ERROR_SHARE
    context = shop.visitors(rng, rows, day)
    columns = zip(
        request_ids,
        stamps.tolist(),
        context["user_id"].tolist(),
        context["device"],
        context["country"],
        context["age_band"],
        context["account_age_days"].tolist(),
        failed.tolist(),
        rng.gamma(4.0, 0.6, rows).tolist(),
        strict=True,
    )
    logged_at = time.time()
    request_rows = [
        (rid, stamp, day, user, ITEMS_PER_LIST, device, country, age, account_age,
         None if bad else VERSION, None if bad else 0, 503 if bad else 200, ms, logged_at)
        for rid, stamp, user, device, country, age, account_age, bad, ms in columns
    ]  # fmt: skip
    answered = np.flatnonzero(~failed)
    lists = shop.lists(rng, len(answered))
    scores = -np.sort(-rng.random((len(answered), ITEMS_PER_LIST)), axis=1)
    item_rows = [
        (request_ids[row], rank + 1, int(lists[position, rank]), float(scores[position, rank]))
        for position, row in enumerate(answered.tolist())
        for rank in range(ITEMS_PER_LIST)
    ]
    # Feedback on ~10 % of the answered lists, on ranks drawn with weight 1 / rank.
    chosen = np.flatnonzero(rng.random(len(answered)) < FEEDBACK_SHARE)
    by_rank = 1.0 / np.arange(1, ITEMS_PER_LIST + 1)
    first = rng.choice(ITEMS_PER_LIST, len(chosen), p=by_rank / by_rank.sum())
    second = (first + rng.integers(1, ITEMS_PER_LIST, len(chosen))) % ITEMS_PER_LIST
    twice = rng.random(len(chosen)) < SECOND_EVENT_SHARE
    positions = np.concatenate([chosen, chosen[twice]])
    ranks = np.concatenate([first, second[twice]])
    end_of_day = WORLD_EPOCH + (day + 1) * SECONDS_PER_DAY - 1
    when = stamps[answered[positions]] + rng.exponential(600, len(positions)).astype(np.int64)
    events = np.where(rng.random(len(positions)) < PURCHASE_SHARE, "purchase", "click")
    feedback_rows = [
        (request_ids[answered[position]], int(lists[position, rank]), str(event),
         min(int(stamp), end_of_day), day, logged_at)
        for position, rank, event, stamp in zip(positions, ranks, events, when, strict=True)
    ]  # fmt: skip
    return request_rows, item_rows, feedback_rows


def make_state(
    state: Path, shop: Shop, rng: np.random.Generator, requests: int, baseline_requests: int
) -> dict[str, Any]:
    """The state folder one monitored day needs; what it holds and how long each part took.

    The reference is made by the monitoring's own ``build_reference``, from a synthetic training
    history of the shop, so that it has whatever columns the monitoring compares.
    """
    from data import Dataset
    from level3_monitoring.config import DEFAULT_CONFIG, load_config
    from level3_monitoring.monitoring import (
        MONITORING_FOLDER,
        REFERENCE_FOLDER,
        DayHistory,
        build_reference,
    )
    from level3_monitoring.prediction_log import PredictionLog, log_path
    from level3_monitoring.traffic import FEED_FOLDER, feed_file_name

    started = time.perf_counter()
    days = load_config(DEFAULT_CONFIG, {"data.path": str(state)}).monitoring.reference_days
    history = pd.concat(
        [
            shop.interactions(rng, REFERENCE_VISITS, day)
            for day in range(BASELINE[0] - days, BASELINE[0])
        ],
        ignore_index=True,
    )
    training = Dataset(users=shop.users, items=shop.items, interactions=history)
    folder = state / MONITORING_FOLDER
    build_reference(training, days, test_fraction=0.2).save(folder / REFERENCE_FOLDER)

    path = log_path(state)
    PredictionLog.open(path).close()  # the file, its schema and its WAL journal, as served
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    days_file = DayHistory(folder)
    for day in BASELINE:
        done = write_day(connection, shop, rng, day, baseline_requests)
        answered = done.items // ITEMS_PER_LIST
        days_file.append(
            {"day": day, "model_version": VERSION, "requests": done.requests,
             "ctr": done.feedback / answered, "open_incidents": []}
        )  # fmt: skip
    written = write_day(connection, shop, rng, DAY, requests)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    logged = time.perf_counter()

    feed = shop.interactions(rng, requests, DAY)
    feed_path = state / FEED_FOLDER / feed_file_name(DAY)
    feed_path.parent.mkdir(parents=True, exist_ok=True)
    feed.to_csv(feed_path, index=False, float_format="%.10g")
    return {
        "written": dataclasses.asdict(written),
        "baseline_requests_per_day": baseline_requests,
        "feed_rows": len(feed),
        "log_bytes": path.stat().st_size,
        "feed_bytes": feed_path.stat().st_size,
        "setup_seconds": {
            "log": logged - started,
            "feed": time.perf_counter() - logged,
        },
    }


# ---- measuring one day ----------------------------------------------------------------------


class PeakMemory:
    """The process's largest resident size while it is running, sampled every 50 ms."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        """Start sampling."""
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        """Stop sampling; ``peak`` holds the largest size seen."""
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self._process.memory_info().rss)


@contextmanager
def timed(seconds: dict[str, float], name: str) -> Iterator[None]:
    """Add the time the block takes to ``seconds[name]``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started


def timing(
    function: Callable[..., Any], seconds: dict[str, float], name: str
) -> Callable[..., Any]:
    """``function``, with the time of every call added to ``seconds[name]``."""

    def call(*args: Any, **kwargs: Any) -> Any:
        with timed(seconds, name):
            return function(*args, **kwargs)

    return call


#: The parts of a step shown apart, under the step they belong to.
PARTS = {
    "measure_prediction_drift": ["  of which: read baseline days"],
    "measure_quality": ["  of which: ranking report"],
    "measure_feed_quality": ["  of which: feed summary"],
    "conclude": ["  of which: save reports"],
}


def monitor_one_day(state: Path) -> dict[str, Any]:
    """One day of the monitoring on ``state``, step by step, as ``monitor_day`` runs it.

    The parts shown apart are timed by wrapping the functions the steps call: the baseline
    days' reader of ``DayData``, two report functions of ``reports`` (put back afterwards) and
    ``DayMonitor.save_reports``.
    """
    from level3_monitoring import reports
    from level3_monitoring.config import DEFAULT_CONFIG, load_config
    from level3_monitoring.monitoring import MEASUREMENTS, MONITORING_FOLDER, DayData, DayMonitor
    from level3_monitoring.prediction_log import log_path

    config = load_config(
        DEFAULT_CONFIG,
        {
            "data.path": str(state),
            "tracking.state_dir": str(state),
            "monitoring.html_reports": "none",
        },
    )
    seconds: dict[str, float] = {}
    judged: list[int] = []
    ranking, summary = reports.ranking_quality_report, reports.feed_summary_report

    def ranking_report(*args: Any, **kwargs: Any) -> reports.RankingQuality:
        with timed(seconds, PARTS["measure_quality"][0]):
            quality = ranking(*args, **kwargs)
        judged.append(quality.lists_judged)
        return quality

    reports.ranking_quality_report = ranking_report
    reports.feed_summary_report = timing(summary, seconds, PARTS["measure_feed_quality"][0])
    try:
        with timed(seconds, "total"):
            with timed(seconds, "read log"):
                data = DayData.from_log(log_path(state), DAY)
            data = dataclasses.replace(
                data, served=timing(data.served, seconds, PARTS["measure_prediction_drift"][0])
            )
            with timed(seconds, "prepare day"):
                monitor = DayMonitor(DAY, config, state, data)
            for name in MEASUREMENTS:
                with timed(seconds, name):
                    getattr(monitor, name)()
            monitor.save_reports = timing(monitor.save_reports, seconds, PARTS["conclude"][0])
            with timed(seconds, "conclude"):
                result = monitor.conclude()
    finally:
        reports.ranking_quality_report, reports.feed_summary_report = ranking, summary
    order = [
        part
        for step in ["read log", "prepare day", *MEASUREMENTS, "conclude", "total"]
        for part in [step, *PARTS.get(step, [])]
    ]
    folder = state / MONITORING_FOLDER / "reports" / f"day-{DAY:04d}"
    return {
        "seconds": {step: seconds[step] for step in order if step in seconds},
        "lists_served": len(monitor.answered),
        "lists_with_feedback": int(monitor.feedback["request_id"].nunique()),
        "lists_judged": judged[0] if judged else 0,
        "served_rows_read": len(data.served_today),
        "alerts": [alert.as_dict() for alert in result.alerts],
        "drift_shares": {name: drift.share for name, drift in monitor.drift.items()},
        "online": result.online,
        "report_bytes": {path.name: path.stat().st_size for path in sorted(folder.iterdir())},
    }


def warm_up() -> float:
    """Import Evidently and make each kind of report once on a few rows; the seconds it took."""
    started = time.perf_counter()
    from level3_monitoring import reports

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.choice(["x", "y"], 50), "b": rng.normal(size=50)})
    drift = reports.drift_report(frame, frame, ["a"], ["b"], 0.1)
    served = pd.DataFrame({"request_id": ["r"] * 3, "item_id": [1, 2, 3], "rank": [1, 2, 3]})
    reports.ranking_quality_report(served, served.iloc[:1], 10)
    reports.feed_summary_report(frame, categorical=["a"], numerical=["b"])
    with tempfile.TemporaryDirectory() as folder:
        reports.save_report(drift.snapshot, Path(folder), "drift", html=False)
        reports.MonitoringWorkspace(Path(folder) / "workspace", "warm-up").add(drift.snapshot)
    return time.perf_counter() - started


def measure(size: int, baseline: int, seed: int, keep: bool) -> dict[str, Any]:
    """Write one size's state folder, monitor its day, and (unless ``keep``) delete it."""
    state = WORK / f"requests-{size}"
    shutil.rmtree(state, ignore_errors=True)
    rng = np.random.default_rng([seed, size])
    print(f"{size:,} requests: writing the log ({baseline:,} per baseline day) ...", flush=True)
    setup = make_state(state, Shop.make(np.random.default_rng(seed)), rng, size, baseline)
    load_before = os.getloadavg()[0]
    print(f"{size:,} requests: monitoring the day ...", flush=True)
    with PeakMemory() as memory:
        day = monitor_one_day(state)
    if not keep:
        shutil.rmtree(state)
    return {
        "requests": size,
        **setup,
        **day,
        "peak_rss_mb": memory.peak / 2**20,
        "load_1min": [load_before, os.getloadavg()[0]],
    }


# ---- output ---------------------------------------------------------------------------------


def print_tables(results: list[dict[str, Any]]) -> None:
    """Seconds per step, then the sizes of the day's report files, one column per size."""
    width = print_keyed_rows("seconds", results, "seconds", lambda value: f"{value:>12.2f}")
    print(
        "peak RSS (MB)".ljust(width)
        + "".join(f"{result['peak_rss_mb']:>12,.0f}" for result in results)
    )
    for label, key in (
        ("lists with feedback", "lists_with_feedback"),
        ("lists judged", "lists_judged"),
    ):
        print(label.ljust(width) + "".join(f"{result[key]:>12,}" for result in results))
    width = print_keyed_rows(
        "report file (KB)", results, "report_bytes", lambda value: f"{value / 1024:>12.1f}"
    )
    print(
        "prediction log (MB)".ljust(width)
        + "".join(f"{result['log_bytes'] / 2**20:>12,.0f}" for result in results)
    )


def print_keyed_rows(
    title: str, results: list[dict[str, Any]], field: str, cell: Callable[[float], str]
) -> int:
    """A row per key of each result's ``field`` (a dict), a column per size; the label width."""
    keys = list(dict.fromkeys(key for result in results for key in result[field]))
    width = max(len(key) for key in keys) + 2
    sizes = "".join(f"{result['requests']:>12,}" for result in results)
    print("\n" + title.ljust(width) + sizes)
    for key in keys:
        values = [result[field].get(key) for result in results]
        cells = (cell(value) if value is not None else f"{'-':>12}" for value in values)
        print(key.ljust(width) + "".join(cells))
    return width


def main(argv: list[str] | None = None) -> int:
    """Measure every size, print the tables, write the results file."""
    args = parse_args(argv)
    import psutil

    from level3_monitoring.runtime import use_local_state

    use_local_state(WORK / "tools")  # Prefect, imported by the monitoring, keeps its home here
    print("importing Evidently and warming up ...", flush=True)
    warm = warm_up()
    results = []
    for size in args.requests:
        baseline = min(size, args.baseline_cap) if args.baseline_cap > 0 else size
        needed = ROW_BYTES * ITEMS_PER_LIST * (size + len(BASELINE) * baseline)
        available = psutil.virtual_memory().available
        if needed > 0.8 * available:
            print(
                f"skipped {size:,} requests: reading its log would take about "
                f"{needed / 2**30:.1f} GB, and {available / 2**30:.1f} GB are free; "
                "--baseline-cap lowers it",
                file=sys.stderr,
            )
            continue
        results.append(measure(size, baseline, args.seed, args.keep))
        print(f"  {results[-1]['seconds']['total']:.1f} s", flush=True)
    if not results:
        return 1
    print_tables(results)
    print(f"\nEvidently import and warm-up: {warm:.1f} s (once per process, not counted above)")
    path = write_results("monitoring", {"warm_up_seconds": warm, "days": results})
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
