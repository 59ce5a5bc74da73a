"""An answer the client received is in the prediction log, even if the service dies right after.

The service commits each answer to the log (SQLite, WAL journal, ``synchronous=NORMAL``) before
it sends it. A commit in WAL mode is in the journal file, which the operating system keeps when
the process is killed outright: only an OS crash or power loss could lose it. This test starts
the real service (``python -m level4_autonomous.serve``) on a free port, sends answers and
feedback from several threads, kills the service with SIGKILL in the middle of that traffic,
then opens the log as the monitoring would (recovering the journal) and looks for every
acknowledged answer and feedback batch.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from data.schema import SECONDS_PER_DAY, WORLD_EPOCH
from level4_autonomous.config import Config
from level4_autonomous.prediction_log import (
    LoggedRequest,
    PredictionLog,
    log_path,
    read_feedback,
    read_recommendations,
    read_requests,
)
from level4_autonomous.runtime import free_port

if TYPE_CHECKING:
    from tests.conftest import ProcessTrace
    from tests.level4_autonomous.conftest import Candidates

#: The simulated day the traffic is logged on.
DAY = 95
#: Most seconds to wait for the service to answer after its start (MLflow's import and the
#: model's load take 10-20 s on 2 busy cores), or for the traffic to reach its volume: limits.
START_SECONDS = 180
TRAFFIC_SECONDS = 60
#: Answers acknowledged before the kill: enough that some were surely still only in the journal.
ANSWERS_BEFORE_KILL = 300

pytestmark = pytest.mark.slow


@dataclass
class Traffic:
    """Client threads asking for recommendations and reporting clicks; what was acknowledged.

    An answer counts as acknowledged once its whole 200 response was read; a feedback batch
    once its 200 receipt was. Failures (the service gone) are counted, not raised.
    """

    url: str
    users: list[int]
    stop: threading.Event = field(default_factory=threading.Event)
    answers: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    feedback: list[tuple[str, int]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, askers: int = 3) -> None:
        """Start ``askers`` threads asking for recommendations and one reporting clicks."""
        self.threads = [threading.Thread(target=self._ask, args=(n,)) for n in range(askers)]
        self.threads.append(threading.Thread(target=self._click))
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        """Stop the threads and wait for them (each request has a 10 s timeout)."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _ask(self, seed: int) -> None:
        generator = random.Random(seed)
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set():
                moment = WORLD_EPOCH + DAY * SECONDS_PER_DAY + generator.randrange(SECONDS_PER_DAY)
                query = {
                    "user_id": generator.choice(self.users),
                    "k": generator.randint(1, 10),
                    "device": generator.choice(["mobile", "desktop"]),
                }
                try:
                    response = client.get(
                        "/recommend", params=query, headers={"X-Simulated-Time": str(moment)}
                    )
                    if response.status_code != 200:
                        self._fail(f"{response.status_code} {response.text[:200]}")
                        continue
                    body = response.json()
                except (httpx.HTTPError, ValueError) as error:
                    self._fail(f"{type(error).__name__}: {error}")
                    continue
                items = [(item["rank"], item["item_id"]) for item in body["items"]]
                with self.lock:
                    self.answers[body["request_id"]] = items

    def _click(self) -> None:
        """Report a click on the first item of answers acknowledged, a few at a time."""
        reported = 0
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set():
                with self.lock:
                    fresh = list(self.answers.items())[reported : reported + 5]
                if not fresh:
                    time.sleep(0.01)
                    continue
                moment = WORLD_EPOCH + (DAY + 1) * SECONDS_PER_DAY
                batch = [(request_id, items[0][1]) for request_id, items in fresh]
                events = [
                    {
                        "request_id": request_id,
                        "item_id": item,
                        "event": "click",
                        "timestamp": moment,
                    }
                    for request_id, item in batch
                ]
                try:
                    response = client.post("/feedback", json={"events": events})
                except httpx.HTTPError as error:
                    self._fail(f"feedback: {type(error).__name__}: {error}")
                    continue
                if response.status_code != 200:
                    self._fail(f"feedback: {response.status_code} {response.text[:200]}")
                    continue
                reported += len(fresh)
                with self.lock:
                    self.feedback.extend(batch)

    def _fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)

    def acknowledged(self) -> int:
        """How many answers were acknowledged so far."""
        with self.lock:
            return len(self.answers)


def wait_for(
    condition: Callable[[], bool],
    seconds: float,
    process: subprocess.Popen[str],
    what: str,
    log: Callable[[], str],
) -> None:
    """Return once ``condition`` holds; fail if the service exits or the time limit passes."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the service exited ({process.returncode}):\n{log()}"
        try:
            if condition():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{what} not within {seconds} s; service log:\n{log()}")


def test_every_acknowledged_answer_survives_a_kill_9(
    config: Config,
    config_path: Path,
    model_name: str,
    candidates: Candidates,
    process_trace: ProcessTrace,
) -> None:
    released, promoted = candidates.release(l2=200.0)
    assert promoted == 0, "the test candidate must pass the gate"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = process_trace.start(
        "-m", "level4_autonomous.serve", "--config", str(config_path),
        "--set", f"registry.model_name={model_name}", "--set", f"serving.port={port}",
        name="serve",
    )  # fmt: skip

    def service_log() -> str:
        return process_trace.log("serve")[-3000:]

    traffic = Traffic(url, [*known_users(config), 10**9])  # and one the model does not know
    try:
        wait_for(
            lambda: httpx.get(f"{url}/health", timeout=2).status_code == 200,
            START_SECONDS, process, "the service's first answer", service_log,
        )  # fmt: skip
        traffic.start()
        wait_for(
            lambda: traffic.acknowledged() >= ANSWERS_BEFORE_KILL and len(traffic.feedback) > 0,
            TRAFFIC_SECONDS, process, f"{ANSWERS_BEFORE_KILL} answers", service_log,
        )  # fmt: skip
        os.kill(process.pid, signal.SIGKILL)  # mid-traffic: the clients are still sending
        process.wait(timeout=30)
        time.sleep(0.2)  # let the clients notice
    finally:
        traffic.finish()
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    assert process.returncode == -signal.SIGKILL
    assert traffic.failures, "no request failed: the kill did not happen mid-traffic"
    path = log_path(config.tracking.state_dir)
    assert Path(f"{path}-wal").exists(), "no journal left: nothing to recover"

    requests = read_requests(path, DAY, DAY)  # opens the file as the monitoring does
    items = read_recommendations(path, DAY, DAY)
    logged = {
        request_id: list(zip(group["rank"], group["item_id"], strict=True))
        for request_id, group in items.groupby("request_id", sort=False)
    }
    missing = [request_id for request_id in traffic.answers if request_id not in logged]
    assert missing == [], f"{len(missing)} of {len(traffic.answers)} acknowledged answers lost"
    wrong = [rid for rid, served in traffic.answers.items() if logged[rid] != served]
    assert wrong == [], f"{len(wrong)} answers logged with other items than were sent"
    answered = requests.set_index("request_id")
    assert set(answered.loc[list(traffic.answers), "status"]) == {200}
    assert set(answered.loc[list(traffic.answers), "model_version"]) == {released["version"]}
    clicks = read_feedback(path, DAY, DAY)
    stored = set(zip(clicks["request_id"], clicks["item_id"], strict=True))
    assert set(traffic.feedback) <= stored, "acknowledged feedback lost"

    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    connection.close()
    restarted = LoggedRequest("f" * 32, WORLD_EPOCH + DAY * SECONDS_PER_DAY, 422, 1.0)
    with PredictionLog.open(path) as reopened:  # a restarted service writes on where it stopped
        reopened.record_error(restarted)
    assert len(read_requests(path, DAY, DAY)) == len(requests) + 1
    assert not Path(f"{path}-wal").exists()  # a clean close folds the journal back


def known_users(config: Config) -> list[int]:
    """The first 50 users of the configured dataset: the model was trained on most of them."""
    from data import load_dataset

    interactions = load_dataset(config.data.path).interactions
    return [int(user) for user in interactions["user_id"].drop_duplicates().head(50)]
