"""The prediction log: every answered ``/recommend``, its items, and the feedback on them.

    python -m level3_monitoring.prediction_log explain REQUEST_ID [--config ...] [--set ...]

answers "which model version served request X, trained on which data" in one screen: the request
and its items, the registry version that answered (run, gate verdict, model digest, who promoted
it and when), and that run's training data (its ``data.path`` and the digests of the training and
evaluation periods). It exits 1 when the log or the request is not there, 2 for a bad
configuration.

The log is one SQLite file per state folder, ``<tracking.state_dir>/predictions.db``, written by
the serving API (:class:`PredictionLog`) and read by the monitoring (``read_requests``,
``read_recommendations``, ``read_feedback``). SQLite because it needs no server, survives a crash
and lets the monitoring read while the service writes (WAL journal). With ``synchronous=NORMAL``
a commit is in the journal file before the service answers: it survives ``kill -9`` of the
service, and only an OS crash or power loss could lose the last commits; a full sync per request
would cost more than the request itself.

Tables (a request's ``day`` counts whole days since ``data.schema.WORLD_EPOCH``):

- ``requests``: one row per ``/recommend`` answer: ``request_id`` (uuid4 hex), ``timestamp``
  (Unix seconds: the simulated time the client sent, else wall time), ``day``, ``user_id``,
  ``k``, the context ``device``, ``country``, ``age_band``, ``account_age_days`` (NULL when not
  sent), ``model_version``, ``fallback`` (0/1), ``status`` (HTTP), ``latency_ms``, ``logged_at``
  (wall clock). An error row (status >= 400) has no items, no model version, and only the
  parameters that could be read (plain 64-bit integers, short context values: ``k=0`` is kept,
  so the row shows what was refused);
- ``recommendations``: the items of an answer, ``(request_id, rank)`` → ``item_id``, ``score``;
- ``feedback``: ``(request_id, item_id)`` → ``event`` ('click' or 'purchase'), ``timestamp``,
  ``day`` (of the event), ``received_at``. Feedback is only taken for an item the request was
  served; a repeat keeps the deepest event.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from data.schema import SECONDS_PER_DAY, WORLD_EPOCH

from .config import ConfigError, add_config_arguments, load_config, parse_overrides

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

LOG_FILE = "predictions.db"
#: Written into the file (``PRAGMA user_version``): a file of another layout is refused by name.
SCHEMA_VERSION = 1
#: Events deeper in the funnel win: a purchase after a click on the same item keeps the purchase.
EVENT_DEPTH = {"click": 1, "purchase": 2}
#: Request ids per ``IN (...)`` query: far below SQLite's limit on bound parameters.
CHUNK = 500
#: How often the log's own thread copies the journal into the database (see PredictionLog).
CHECKPOINT_SECONDS = 1.0
#: Lines of the served list ``explain`` prints before it says how many more there are.
EXPLAIN_ITEMS = 10

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY,
    timestamp INTEGER NOT NULL,
    day INTEGER NOT NULL,
    user_id INTEGER,
    k INTEGER,
    device TEXT,
    country TEXT,
    age_band TEXT,
    account_age_days INTEGER,
    model_version TEXT,
    fallback INTEGER,
    status INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    logged_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_by_day ON requests (day);
CREATE TABLE IF NOT EXISTS recommendations (
    request_id TEXT NOT NULL,
    rank INTEGER NOT NULL,
    item_id INTEGER NOT NULL,
    score REAL NOT NULL,
    PRIMARY KEY (request_id, rank)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT NOT NULL,
    item_id INTEGER NOT NULL,
    event TEXT NOT NULL CHECK (event IN ('click', 'purchase')),
    timestamp INTEGER NOT NULL,
    day INTEGER NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (request_id, item_id)
) WITHOUT ROWID;
PRAGMA user_version = {SCHEMA_VERSION};
"""

REQUEST_COLUMNS = (
    "request_id", "timestamp", "day", "user_id", "k", "device", "country", "age_band",
    "account_age_days", "model_version", "fallback", "status", "latency_ms", "logged_at",
)  # fmt: skip
INSERT_REQUEST = (
    f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(REQUEST_COLUMNS))})"
)
#: A request that was logged as answered and then failed on the way out gets the error status.
INSERT_ERROR = (
    f"{INSERT_REQUEST} ON CONFLICT (request_id) DO UPDATE SET "
    "status = excluded.status, latency_ms = excluded.latency_ms"
)
INSERT_ITEM = "INSERT INTO recommendations (request_id, rank, item_id, score) VALUES (?, ?, ?, ?)"
UPSERT_FEEDBACK = (
    "INSERT INTO feedback (request_id, item_id, event, timestamp, day, received_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (request_id, item_id) DO UPDATE SET "
    "event = excluded.event, timestamp = excluded.timestamp, day = excluded.day, "
    "received_at = excluded.received_at"
)

#: Column types of the frames the reading functions return. Nullable integers are pandas'
#: ``Int64`` (ids stay exact); ``account_age_days`` is a float, NaN when not sent, because the
#: monitoring compares it as a number.
REQUEST_DTYPES = {
    "request_id": "object", "timestamp": "int64", "day": "int64", "user_id": "Int64",
    "k": "Int64", "device": "object", "country": "object", "age_band": "object",
    "account_age_days": "float64", "model_version": "object", "fallback": "boolean",
    "status": "int64", "latency_ms": "float64", "logged_at": "float64",
}  # fmt: skip
RECOMMENDATION_DTYPES = {
    "request_id": "object", "rank": "int64", "item_id": "int64", "score": "float64",
    "day": "int64", "user_id": "Int64",
}  # fmt: skip
FEEDBACK_DTYPES = {
    "request_id": "object", "item_id": "int64", "event": "object", "timestamp": "int64",
    "day": "int64", "received_at": "float64", "request_day": "int64",
}  # fmt: skip


class PredictionLogError(RuntimeError):
    """The log cannot be opened, read or written; the message names the file and why."""


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One ``/recommend`` answer as the log keeps it (``None``: not sent, or not readable)."""

    request_id: str
    timestamp: int
    status: int
    latency_ms: float
    user_id: int | None = None
    k: int | None = None
    device: str | None = None
    country: str | None = None
    age_band: str | None = None
    account_age_days: int | None = None
    model_version: str | None = None
    fallback: bool | None = None

    def row(self) -> tuple[Any, ...]:
        """The values of ``requests``' columns, in ``REQUEST_COLUMNS`` order."""
        return (
            self.request_id, self.timestamp, day_of(self.timestamp), self.user_id, self.k,
            self.device, self.country, self.age_band, self.account_age_days, self.model_version,
            None if self.fallback is None else int(self.fallback), self.status, self.latency_ms,
            time.time(),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class FeedbackEvent:
    """A click or purchase on an item of an answered request, as the client reports it."""

    request_id: str
    item_id: int
    event: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class FeedbackProblem:
    """Why one event of a batch cannot be stored: where it is (``events.3.item_id``) and what."""

    location: str
    message: str
    value: str


class FeedbackRefusedError(PredictionLogError):
    """A feedback batch names requests or items the log does not have: none of it was stored."""

    def __init__(self, problems: list[FeedbackProblem], events: int) -> None:
        self.problems = problems
        first = "; ".join(f"{problem.location}: {problem.message}" for problem in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(
            f"{len(problems)} of the {events} events name a request or item this service did not "
            f"serve, so none was stored: {first}{more}"
        )


@dataclass(frozen=True)
class FeedbackResult:
    """What a batch did: events stored as new, and repeats of an item's feedback already there.

    A repeat changes the stored event only when it is deeper (a purchase after a click).
    """

    accepted: int
    duplicates: int


def day_of(timestamp: int) -> int:
    """The simulated day of a Unix time: whole days since ``WORLD_EPOCH`` (negative before)."""
    return (timestamp - WORLD_EPOCH) // SECONDS_PER_DAY


def log_path(state_dir: Path) -> Path:
    """Where the state folder's prediction log is."""
    return state_dir / LOG_FILE


# ---- writing: the serving API --------------------------------------------------------------


class PredictionLog:
    """The service's writer: one connection, one lock, one transaction per call.

    The service writes from a pool of worker threads. A lock around one shared connection hands
    the file from one request to the next at once, where separate connections would wait for
    each other in SQLite's busy handler, which sleeps in steps of milliseconds. Each call is one
    transaction, committed before it returns: once the caller answers, the row is in the log.

    A commit only appends to the journal; copying the journal into the database (a checkpoint)
    syncs the disk and takes milliseconds. SQLite would do it on whichever request crossed a
    thousand journal pages, so a thread of the log's own does it every ``checkpoint_seconds``
    instead (measured: p99 of a logged answer 3.4 ms with SQLite's checkpoints, 0.35 ms so).
    """

    def __init__(
        self, path: Path, connection: sqlite3.Connection, checkpoint_seconds: float
    ) -> None:
        self.path = path
        self._connection = connection
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._checkpoints = threading.Thread(
            target=self._checkpoint_every,
            args=(checkpoint_seconds,),
            name="prediction-log-checkpoints",
            daemon=True,
        )
        self._checkpoints.start()

    @classmethod
    def open(cls, path: Path, checkpoint_seconds: float = CHECKPOINT_SECONDS) -> PredictionLog:
        """Open the log at ``path``, creating it (and its folder) if needed."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA busy_timeout = 10000")  # another process writing
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise sqlite3.OperationalError(f"cannot use a WAL journal (got {mode})")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA wal_autocheckpoint = 0")  # see the class's docstring
            check_schema(connection, path)
            connection.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise PredictionLogError(f"cannot open the prediction log {path}: {error}") from None
        return cls(path, connection, checkpoint_seconds)

    def record_answer(
        self, request: LoggedRequest, items: Iterable[tuple[int, int, float]]
    ) -> None:
        """Store an answered request and its ``(rank, item_id, score)`` items, all or nothing."""
        rows = [(request.request_id, rank, item, score) for rank, item, score in items]
        with self._transaction("record request", "BEGIN") as connection:
            connection.execute(INSERT_REQUEST, request.row())
            connection.executemany(INSERT_ITEM, rows)

    def record_error(self, request: LoggedRequest) -> None:
        """Store a request answered with an error status (it has no items)."""
        with self._transaction("record error", "BEGIN") as connection:
            connection.execute(INSERT_ERROR, request.row())

    def record_feedback(self, events: Sequence[FeedbackEvent]) -> FeedbackResult:
        """Store a batch of feedback, all of it or, when any event is refused, none of it.

        An event is refused when its request is not in the log, or the request was not served
        its item: ``FeedbackRefusedError`` lists each one. The checks and the writes are one
        transaction, so two batches about the same item count their repeats right.
        """
        with self._transaction("record feedback", "BEGIN IMMEDIATE") as connection:
            served = served_items(connection, {event.request_id for event in events})
            problems = feedback_problems(events, served)
            if problems:
                raise FeedbackRefusedError(problems, len(events))
            stored = stored_events(connection, {event.request_id for event in events})
            rows, duplicates, received = [], 0, time.time()
            for event in events:
                key = (event.request_id, event.item_id)
                before = stored.get(key)
                if before is not None:
                    duplicates += 1
                    if EVENT_DEPTH[event.event] <= EVENT_DEPTH[before]:
                        continue
                stored[key] = event.event
                rows.append((*key, event.event, event.timestamp, day_of(event.timestamp), received))
            connection.executemany(UPSERT_FEEDBACK, rows)
        return FeedbackResult(accepted=len(events) - duplicates, duplicates=duplicates)

    def close(self) -> None:
        """Stop the checkpoints and close the file; SQLite folds the journal back into it."""
        self._closing.set()
        self._checkpoints.join()
        with self._lock:
            self._connection.close()

    def __enter__(self) -> PredictionLog:
        """The log itself: ``with PredictionLog.open(path) as log`` closes it at the end."""
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the log, whatever ended the block."""
        self.close()

    def _checkpoint_every(self, seconds: float) -> None:
        """Copy the journal into the database every ``seconds``, on a connection of its own.

        A passive checkpoint never waits for the writer or a reader; what a reader still needs
        is copied at a later one. A failure is logged when it starts or changes, not each time.
        """
        connection = sqlite3.connect(self.path, isolation_level=None)
        problem = None
        try:
            connection.execute("PRAGMA synchronous = NORMAL")
            while not self._closing.wait(seconds):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    problem = None
                except sqlite3.Error as error:
                    if str(error) != problem:
                        log.warning("cannot checkpoint the prediction log %s: %s", self.path, error)
                    problem = str(error)
        finally:
            connection.close()

    @contextmanager
    def _transaction(self, what: str, begin: str) -> Iterator[sqlite3.Connection]:
        """Hold the lock for one transaction; commit it, or roll it back and raise."""
        with self._lock:
            connection = self._connection
            try:
                connection.execute(begin)
                yield connection
                connection.execute("COMMIT")
            except BaseException as error:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                if isinstance(error, sqlite3.Error):
                    raise PredictionLogError(f"{self.path}: cannot {what}: {error}") from error
                raise


def check_schema(connection: sqlite3.Connection, path: Path) -> None:
    """Refuse a file written with another layout, rather than mixing two in one log."""
    found = connection.execute("PRAGMA user_version").fetchone()[0]
    tables = connection.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
    if tables and found != SCHEMA_VERSION:
        raise PredictionLogError(
            f"{path} is not a prediction log of this version (schema {found}, this code writes "
            f"{SCHEMA_VERSION}): move it away to start a new one"
        )


def served_items(connection: sqlite3.Connection, request_ids: set[str]) -> dict[str, set[int]]:
    """The logged requests among ``request_ids``, each with the items it was served."""
    served: dict[str, set[int]] = {}
    for chunk in chunks(sorted(request_ids)):
        marks = ", ".join("?" * len(chunk))
        for (request_id,) in connection.execute(
            f"SELECT request_id FROM requests WHERE request_id IN ({marks})", chunk
        ):
            served[request_id] = set()
        for request_id, item_id in connection.execute(
            f"SELECT request_id, item_id FROM recommendations WHERE request_id IN ({marks})", chunk
        ):
            served[request_id].add(item_id)
    return served


def feedback_problems(
    events: Sequence[FeedbackEvent], served: dict[str, set[int]]
) -> list[FeedbackProblem]:
    """Each event about a request not in the log, or about an item the request was not served."""
    problems = []
    for index, event in enumerate(events):
        items = served.get(event.request_id)
        if items is None:
            problems.append(
                FeedbackProblem(
                    f"events.{index}.request_id",
                    f"request {event.request_id} is not in the prediction log",
                    event.request_id,
                )
            )
        elif event.item_id not in items:
            problems.append(
                FeedbackProblem(
                    f"events.{index}.item_id",
                    f"item {event.item_id} was not served in request {event.request_id}",
                    str(event.item_id),
                )
            )
    return problems


def stored_events(
    connection: sqlite3.Connection, request_ids: set[str]
) -> dict[tuple[str, int], str]:
    """The feedback already stored for ``request_ids``: (request, item) → event."""
    stored = {}
    for chunk in chunks(sorted(request_ids)):
        marks = ", ".join("?" * len(chunk))
        query = f"SELECT request_id, item_id, event FROM feedback WHERE request_id IN ({marks})"
        for request_id, item_id, event in connection.execute(query, chunk):
            stored[(request_id, item_id)] = event
    return stored


def chunks(values: list[str]) -> Iterator[list[str]]:
    """``values`` in pieces of at most ``CHUNK``."""
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


# ---- reading: the monitoring and ``explain`` ---------------------------------------------


@contextmanager
def reading(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection to an existing log (never creates one), closed afterwards."""
    if not path.is_file():
        raise PredictionLogError(
            f"no prediction log at {path}: the serving API writes it while "
            "serving.log_predictions is on"
        )
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True)
    except sqlite3.Error as error:
        raise PredictionLogError(f"cannot open the prediction log {path}: {error}") from None
    try:
        connection.execute("PRAGMA busy_timeout = 10000")
        check_schema(connection, path)
        yield connection
    except sqlite3.Error as error:
        raise PredictionLogError(f"cannot read the prediction log {path}: {error}") from None
    finally:
        connection.close()


def read_requests(path: Path, first_day: int, last_day: int) -> pd.DataFrame:
    """Every logged request of days ``first_day`` to ``last_day`` (inclusive), errors too."""
    query = (
        f"SELECT {', '.join(REQUEST_COLUMNS)} FROM requests "
        "WHERE day BETWEEN ? AND ? ORDER BY day, rowid"
    )
    return read_frame(path, query, (first_day, last_day), REQUEST_DTYPES)


def read_recommendations(
    path: Path, first_day: int, last_day: int, at_most_requests: int | None = None
) -> pd.DataFrame:
    """The items served on those days (by the day of their request), with its day and user.

    ``at_most_requests`` reads the items of one request in every n, in the order they were
    logged, so that at most that many are read: a sample spread evenly over the days, the same
    at every read, whose cost does not grow with the traffic.
    """
    every = 1
    if at_most_requests is not None:
        with reading(path) as connection:
            (logged,) = connection.execute(
                "SELECT count(*) FROM requests WHERE day BETWEEN ? AND ?", (first_day, last_day)
            ).fetchone()
        every = max(1, -(-logged // at_most_requests))
    query = (
        "SELECT i.request_id, i.rank, i.item_id, i.score, r.day, r.user_id "
        "FROM requests AS r JOIN recommendations AS i ON i.request_id = r.request_id "
        "WHERE r.day BETWEEN ? AND ? AND r.rowid % ? = 0 ORDER BY r.day, r.rowid, i.rank"
    )
    return read_frame(path, query, (first_day, last_day, every), RECOMMENDATION_DTYPES)


def read_feedback(path: Path, first_day: int, last_day: int) -> pd.DataFrame:
    """The feedback on the requests of those days, whenever it came; ``request_day`` is theirs."""
    query = (
        "SELECT f.request_id, f.item_id, f.event, f.timestamp, f.day, f.received_at, "
        "r.day AS request_day "
        "FROM requests AS r JOIN feedback AS f ON f.request_id = r.request_id "
        "WHERE r.day BETWEEN ? AND ? ORDER BY r.day, r.rowid, f.item_id"
    )
    return read_frame(path, query, (first_day, last_day), FEEDBACK_DTYPES)


def read_frame(
    path: Path, query: str, parameters: tuple[Any, ...], dtypes: dict[str, str]
) -> pd.DataFrame:
    """The rows of ``query`` as a frame with the given column types (also when empty)."""
    import pandas as pd

    with reading(path) as connection:
        rows = connection.execute(query, parameters).fetchall()
    # Column by column from the Python values: through a float64 frame (from_records with a
    # missing value in an integer column), ids above 2**53 would be rounded or refused.
    columns = zip(*rows, strict=True) if rows else ([] for _ in dtypes)
    return pd.DataFrame(
        {
            name: pd.Series(list(values), dtype=dtype)
            for (name, dtype), values in zip(dtypes.items(), columns, strict=True)
        }
    )


# ---- explain: which model served a request, trained on which data --------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: ``explain REQUEST_ID`` with the level's configuration options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    explain_command = commands.add_parser(
        "explain", help="which model version served a request, trained on which data"
    )
    explain_command.add_argument("request_id", help="the request_id the service answered with")
    add_config_arguments(explain_command)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the command; the module docstring lists the exit codes."""
    args = parse_args(argv)
    try:
        config = load_config(args.config, parse_overrides(args.set))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        return explain(args.request_id, config.tracking.state_dir, config.registry.model_name)
    except PredictionLogError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def explain(request_id: str, state_dir: Path, model_name: str) -> int:
    """Print the request, the version that answered it and that version's training data."""
    path = log_path(state_dir)
    with reading(path) as connection:
        connection.row_factory = sqlite3.Row
        request = connection.execute(
            "SELECT * FROM requests WHERE request_id = ?", (request_id,)
        ).fetchone()
        if request is None:
            print(
                f"error: request {request_id} is not in the prediction log {path}", file=sys.stderr
            )
            return 1
        items = connection.execute(
            "SELECT rank, item_id, score FROM recommendations WHERE request_id = ? ORDER BY rank",
            (request_id,),
        ).fetchall()
        feedback = connection.execute(
            "SELECT item_id, event, day FROM feedback WHERE request_id = ? ORDER BY timestamp",
            (request_id,),
        ).fetchall()
    print_request(request, items, feedback, path)
    if request["model_version"] is None:
        print(f"\nNo model answered it: the service refused it with status {request['status']}.")
        return 0
    return print_lineage(model_name, request["model_version"], state_dir)


def print_request(
    request: sqlite3.Row, items: list[sqlite3.Row], feedback: list[sqlite3.Row], path: Path
) -> None:
    """The request's row, its served list (the first lines) and the feedback on it."""
    context = ", ".join(
        f"{name.replace('_', ' ')} {request[name]}"
        for name in ("device", "country", "age_band", "account_age_days")
        if request[name] is not None
    )
    print(f"Request {request['request_id']} (from {path})")
    print(
        f"  at        {when(request['timestamp'])} (day {request['day']}); "
        f"logged {when(request['logged_at'])}"
    )
    print(
        f"  asked     user {request['user_id']}, k {request['k']}"
        f"{'; ' + context if context else '; no context sent'}"
    )
    answer = f"  answered  status {request['status']} in {request['latency_ms']:.1f} ms"
    if request["model_version"] is not None:
        how = "popularity fallback (unknown user)" if request["fallback"] else "personalised"
        answer += f" by version {request['model_version']}, {how}"
    print(answer)
    if items:
        print(
            "  served    "
            + ", ".join(f"{row['item_id']} ({row['score']:.4g})" for row in items[:EXPLAIN_ITEMS])
        )
        if len(items) > EXPLAIN_ITEMS:
            print(f"            and {len(items) - EXPLAIN_ITEMS} more")
    if request["model_version"] is not None:
        events = ", ".join(
            f"{row['event']} on {row['item_id']} (day {row['day']})" for row in feedback
        )
        print(f"  feedback  {events or 'none yet'}")


def print_lineage(model_name: str, version: str, state_dir: Path) -> int:
    """The registry version (its audit tags) and its run (start, data, dataset digests)."""
    from .runtime import use_local_state

    use_local_state(state_dir)
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    client = MlflowClient()
    registry = mlflow.get_registry_uri()
    try:
        found = client.get_model_version(model_name, version)
    except MlflowException as error:
        print(
            f"error: version {version} of '{model_name}' is not in the MLflow registry at "
            f"{registry}: {str(error).splitlines()[0]}",
            file=sys.stderr,
        )
        return 1
    tags = found.tags or {}
    aliases = f", aliases: {', '.join(found.aliases)}" if found.aliases else ""
    print(f"\nModel     {model_name} version {version} (models:/{model_name}/{version}{aliases})")
    print(f"  registered {when(found.creation_timestamp / 1000)} from run {found.run_id}")
    print(f"  gate      {tags.get('gate.verdict', 'not recorded')}")
    print(f"  sha256    {tags.get('model.sha256', 'not recorded')}")
    print(f"  card      {tags.get('model_card', 'none written')}")
    if "promoted_at" in tags:
        print(
            f"  promoted  {tags['promoted_at']} by {tags.get('promoted_by', '?')} "
            f"(replaced version {tags.get('replaced_version', '?')})"
        )
    else:
        print("  promoted  no record (not promoted by the release stages)")
    if not found.run_id:
        print("  run       none recorded: the version was registered by hand")
        return 0
    try:
        run = client.get_run(found.run_id)
    except MlflowException as error:
        print(
            f"error: run {found.run_id} is not in the tracking store {mlflow.get_tracking_uri()}: "
            f"{str(error).splitlines()[0]}",
            file=sys.stderr,
        )
        return 1
    started = when(run.info.start_time / 1000)
    print(f"Run       {run.info.run_id}, started {started}, {run.info.status}")
    print(f"  data      {run.data.tags.get('data.path', 'not recorded')}")
    for dataset_input in run.inputs.dataset_inputs:
        context = next(
            (tag.value for tag in dataset_input.tags if tag.key == MLFLOW_DATASET_CONTEXT), "input"
        )
        dataset = dataset_input.dataset
        print(f"  {context:<9} {dataset.name}, digest {dataset.digest}{rows_of(dataset.profile)}")
    return 0


def rows_of(profile: str | None) -> str:
    """The row count of an MLflow dataset profile (JSON) as ", N rows"; "" if it has none."""
    import json

    try:
        return f", {json.loads(profile or '{}')['num_rows']:,} rows"
    except (ValueError, KeyError, TypeError):
        return ""


def when(seconds: float) -> str:
    """A Unix time as UTC, to the second."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


if __name__ == "__main__":
    sys.exit(main())
