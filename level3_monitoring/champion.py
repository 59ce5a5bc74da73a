"""The model the service answers with: the registry's ``champion``, followed without a restart.

The service asks the registry which version carries the ``champion`` alias, downloads exactly
that version (``models:/<name>/<version>``, so an alias that moves during the download cannot mix
two versions), checks its files against the digest recorded when it was logged
(``integrity.py``), loads it, checks that it answers, and only then makes it current. "Current"
is a single reference: a request reads it once and finishes on that model even if the next poll
swaps it, so a swap never fails a request in flight and needs no lock on the request path.

A poll that fails (registry down, alias deleted, a new version that does not load) changes
nothing: the service keeps answering with the model it has, logs the problem once, keeps it in
``problem`` for ``/health``, and tries again at the next poll. A version that failed to load is
retried with a back-off that starts at the poll interval and doubles up to a minute: a repaired
artifact is picked up within a minute, without a restart, however long it was broken.

This module imports MLflow: import it after ``runtime.use_local_state`` has set the environment.
"""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import mlflow
import numpy as np
from mlflow.entities import Run
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from .integrity import DIGEST_TAG, ModelIntegrityError, load_verified
from .model import Recommender
from .registry import CHAMPION

log = logging.getLogger(__name__)

#: A version that failed to load is retried after the poll interval, doubling up to this: the
#: most a repaired artifact waits, and at most one download of a broken model a minute.
MAX_RETRY_SECONDS = 60.0


class RegistryClient(Protocol):
    """The two registry calls the holder makes; an ``MlflowClient`` (or a test double)."""

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version ``alias`` names; an ``MlflowException`` when there is none."""

    def get_run(self, run_id: str) -> Run:
        """The run that made a version: when it was trained, the digest of its model's files."""


class ChampionUnavailableError(RuntimeError):
    """No champion can be served; the message says why, in one line, for an operator."""


class RegistryUnreachableError(ChampionUnavailableError):
    """The registry did not answer (down, wrong URI, refused the request)."""


class NoChampionError(ChampionUnavailableError):
    """The registry answered: there is no such model, or no version carries the alias."""


class ChampionLoadError(ChampionUnavailableError):
    """The champion version exists but cannot be loaded, or fails a test prediction."""


@dataclass(frozen=True)
class Champion:
    """One loaded model version and where it came from; immutable, so safe to share."""

    name: str
    version: str
    run_id: str | None
    source: str
    trained_at: datetime | None
    registered_at: datetime | None
    loaded_at: datetime
    recommender: Recommender

    @property
    def alias(self) -> str:
        """The alias the service follows, as ``/model`` reports it."""
        return CHAMPION

    @property
    def model_uri(self) -> str:
        """The URI of exactly this version, whatever the alias names later."""
        return f"models:/{self.name}/{self.version}"

    @property
    def n_users(self) -> int:
        """How many users the model knows; any other user gets the popular items."""
        return len(self.recommender.user_ids_)

    @property
    def n_items(self) -> int:
        """How many items the model can recommend."""
        return len(self.recommender.item_ids_)

    def knows(self, user_id: int) -> bool:
        """Whether the user was in the training data (else they get the popularity fallback)."""
        users = self.recommender.user_ids_
        position = int(np.searchsorted(users, user_id))
        return bool(position < len(users) and users[position] == user_id)

    def recommend(self, user_id: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The user's top-``k`` item ids and scores, best first (fewer if the catalogue is small).

        Calls the recommender's one-user path directly, on the arrays loaded with the model: the
        pyfunc ``predict`` would validate a one-row frame against the signature, and the batch
        ``recommend`` build a DataFrame, on every request, for nothing.
        """
        return self.recommender.recommend_one(user_id, k)


class ChampionHolder:
    """Holds the current champion and swaps in a new one when the registry's alias moves.

    ``name`` is the registered model; ``client`` defaults to an ``MlflowClient``, and
    ``registry_uri`` (by default MLflow's) only names the registry in messages.
    """

    def __init__(
        self, name: str, client: RegistryClient | None = None, registry_uri: str | None = None
    ) -> None:
        self.name = name
        self.client: RegistryClient = client or MlflowClient()
        #: Where the registry is, for messages (credentials in the URI are hidden).
        self.registry_uri = redact(registry_uri or mlflow.get_registry_uri())
        self.registry_reachable = True
        self.last_checked_at: datetime | None = None
        #: The version the alias named at the last registry answer (None: no champion there).
        self.champion_version: str | None = None
        #: Why the service does not serve the registry's champion right now, in one line.
        self.problem: str | None = None
        self._champion: Champion | None = None
        self._refresh_lock = threading.Lock()
        self._stopping = threading.Event()
        self._problem_key: tuple[str, str] | None = None
        self._failure: _LoadFailure | None = None

    @property
    def current(self) -> Champion:
        """The model to answer with. Read it once per request and use that object throughout."""
        champion = self._champion
        if champion is None:
            raise RuntimeError("no champion loaded yet: call load() first")
        return champion

    @property
    def load_failed_at(self) -> datetime | None:
        """When loading the champion the registry names last failed; None unless it is failing."""
        failure = self._failure
        return failure.failed_at if failure and failure.version == self.champion_version else None

    def load(self) -> Champion:
        """Load the champion for the first time; ``ChampionUnavailableError`` says why not."""
        champion = self._load(self._find())
        self._champion = champion
        return champion

    def refresh(self, retry_after: float = 0.0) -> bool:
        """One poll: follow the alias if it moved. True if a new version now serves.

        Never raises for a registry or model problem: the current model keeps serving and the
        problem is logged once (until it changes or goes away). A version that failed to load is
        retried after ``retry_after`` seconds, doubling per failure up to ``MAX_RETRY_SECONDS``.
        """
        with self._refresh_lock:
            try:
                found = self._find()
            except ChampionUnavailableError as problem:
                self.registry_reachable = not isinstance(problem, RegistryUnreachableError)
                if isinstance(problem, NoChampionError):
                    self.champion_version = None
                self._report(type(problem).__name__, "", str(problem))
                return False
            version = str(found.version)
            if self._champion is not None and version == self._champion.version:
                self._report(None, "", "")
                return False
            if self._failure and not self._failure.due(version):
                return False
            return self._swap_to(found, retry_after)

    @contextlib.contextmanager
    def polling(self, interval: float) -> Iterator[None]:
        """Refresh every ``interval`` seconds in a background thread while the block runs."""
        self._stopping.clear()
        thread = threading.Thread(
            target=self._poll, args=(interval,), name="champion-poller", daemon=True
        )
        thread.start()
        try:
            yield
        finally:
            self._stopping.set()
            thread.join(timeout=10)

    def _poll(self, interval: float) -> None:
        while not self._stopping.wait(interval):
            try:
                self.refresh(retry_after=interval)
            except Exception as error:  # a bug must not stop the polling, nor flood the log
                self._report("unexpected", "", f"refresh failed: {summarize(error)}")

    def _find(self) -> ModelVersion:
        """The version the alias points at, with registry problems sorted into the two kinds."""
        try:
            found = self.client.get_model_version_by_alias(self.name, CHAMPION)
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise NoChampionError(
                    f"the MLflow registry at {self.registry_uri} has no model named "
                    f"'{self.name}'; register and promote one first"
                ) from error
            if error.error_code == "INVALID_PARAMETER_VALUE":
                raise NoChampionError(
                    f"model '{self.name}' has no '{CHAMPION}' alias in the MLflow registry at "
                    f"{self.registry_uri}; promote a version first"
                ) from error
            raise self._unreachable(error) from error
        except Exception as error:  # database or network errors MLflow did not wrap
            raise self._unreachable(error) from error
        self.registry_reachable = True
        self.last_checked_at = datetime.now(UTC)
        self.champion_version = str(found.version)
        return found

    def _unreachable(self, error: BaseException) -> RegistryUnreachableError:
        return RegistryUnreachableError(
            f"cannot reach the MLflow registry at {self.registry_uri}: {summarize(error)}"
        )

    def _load(self, found: ModelVersion) -> Champion:
        """Load one version with :func:`load_usable`; nothing is served until this succeeds."""
        recommender = load_usable(self.name, found, self.client, self.registry_uri)
        return Champion(
            name=self.name,
            version=str(found.version),
            run_id=found.run_id or None,
            source=str(found.source),
            trained_at=self._run_start(found.run_id),
            registered_at=from_millis(found.creation_timestamp),
            loaded_at=datetime.now(UTC),
            recommender=recommender,
        )

    def _swap_to(self, found: ModelVersion, retry_after: float) -> bool:
        version = str(found.version)
        log.info("champion moved to version %s; loading it (%s)", version, self._serving())
        try:
            champion = self._load(found)
        except ChampionLoadError as problem:
            self._failure = _LoadFailure.after(self._failure, version, retry_after)
            self._report("load", version, str(problem))
            return False
        previous, self._champion = self._champion, champion  # the swap: one reference
        self._failure = None
        self._report(None, "", "")
        log.info("now serving version %s (was %s)", version, previous and previous.version)
        return True

    def _run_start(self, run_id: str | None) -> datetime | None:
        """When the version's training run started; None if it has no run or the run is gone."""
        if not run_id:
            return None
        try:
            return from_millis(self.client.get_run(run_id).info.start_time)
        except Exception as error:
            log.warning("cannot read run %s: %s", run_id, summarize(error))
            return None

    def _serving(self) -> str:
        champion = self._champion
        return f"still serving version {champion.version}" if champion else "nothing loaded yet"

    def _report(self, kind: str | None, version: str, problem: str) -> None:
        """Keep the current problem for ``/health``; log it when it starts, changes or ends.

        A problem that lasts is logged once, not once per poll.
        """
        key = (kind, version) if kind else None
        self.problem = problem or None
        if key == self._problem_key:
            return
        if key is None:
            log.info("registry checks are healthy again")
        else:
            log.warning("%s; %s", problem, self._serving())
        self._problem_key = key


@dataclass(frozen=True)
class _LoadFailure:
    """A version that would not load, and when to try it again."""

    version: str
    attempts: int
    retry_at: float
    failed_at: datetime

    @classmethod
    def after(cls, previous: _LoadFailure | None, version: str, delay: float) -> _LoadFailure:
        attempts = previous.attempts + 1 if previous and previous.version == version else 1
        wait = min(delay * 2 ** (attempts - 1), MAX_RETRY_SECONDS)
        return cls(version, attempts, time.monotonic() + wait, datetime.now(UTC))

    def due(self, version: str) -> bool:
        return version != self.version or time.monotonic() >= self.retry_at


def load_usable(
    name: str, found: ModelVersion, client: RegistryClient, registry_uri: str
) -> Recommender:
    """Download one registered version, check its files, load it and test-predict it.

    The files must match the digest recorded for the version (its ``model.sha256`` tag, else its
    run's) before MLflow reads any of them. They are deleted once loaded: the model lives in
    memory, and a process that is killed leaves nothing behind but a download it was in the
    middle of. ``ChampionLoadError`` says in one line why the version cannot serve.
    """
    version = str(found.version)
    uri = f"models:/{name}/{version}"
    try:
        expected = (found.tags or {}).get(DIGEST_TAG) or run_digest(client, found.run_id)
        with tempfile.TemporaryDirectory(prefix=f"champion-v{version}-") as folder:
            model = load_verified(uri, expected, Path(folder))
            recommender = model.unwrap_python_model().recommender
        check_answers(recommender)
    except Exception as error:
        reason = str(error) if isinstance(error, ModelIntegrityError) else summarize(error)
        raise ChampionLoadError(
            f"cannot use version {version} of '{name}' ({uri}) from the MLflow registry at "
            f"{registry_uri}: {reason}"
        ) from error
    return recommender


def run_digest(client: RegistryClient, run_id: str | None) -> str | None:
    """The digest recorded with a run's model (versions registered by hand lack their own)."""
    return client.get_run(run_id).data.tags.get(DIGEST_TAG) if run_id else None


def check_answers(recommender: Any) -> None:
    """Fail unless the model recommends for a known and an unknown user, as the API will ask."""
    users = recommender.user_ids_
    # A known user may have seen every item; an unknown one always gets the most popular.
    for user_id, least in ((int(users[0]), 0), (int(users[-1]) + 1, 1)):
        items, scores = recommender.recommend_one(user_id, 1)
        if not least <= len(items) == len(scores) <= 1:
            raise ValueError(
                f"a test prediction for user {user_id} returned {len(items)} items and "
                f"{len(scores)} scores"
            )


def from_millis(millis: int | None) -> datetime | None:
    """An MLflow timestamp (milliseconds since the epoch) as an aware UTC datetime."""
    return datetime.fromtimestamp(millis / 1000, tz=UTC) if millis else None


def summarize(error: BaseException) -> str:
    """One short line for a log or an error message, stable across retries of the same failure.

    Connection errors are reduced to their OS reason ("[Errno 111] Connection refused"), with
    the file when the reason names one; other messages to their first line, without object
    addresses that differ on every attempt.
    """
    text = str(error).strip()
    reason = re.search(r"\[Errno -?\d+\] [^'\")]+(?:(?<=: )'[^']*')?", text)
    if reason:
        return reason.group(0).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return re.sub(r" at 0x[0-9a-fA-F]+", "", first)[:300]


def redact(uri: str) -> str:
    """The URI without a password (``https://user:secret@host`` → ``https://user:***@host``)."""
    return re.sub(r"(//[^/:@]*):[^/@]*@", r"\1:***@", uri)
