"""Production days, simulated: the world's visitors ask the running service, and answer its lists.

Each day (:meth:`TrafficPlayer.play_day`):

1. the day's visitors (``World.requests``) ask the service over HTTP for recommendations, in the
   order they arrive, with their context (device, country, age band, account age) and the
   simulated time in the ``X-Simulated-Time`` header; ``http_share`` of them are sent (a sample,
   drawn the same way for every run with the same seed), the others do not visit the shop that day;
2. the world reacts to the lists it was served (``World.respond``): clicks and purchases, each
   observed 0-3 days later; what is observed on a day is POSTed back to ``/feedback`` that day;
3. the day's upstream interaction feed lands as a file (broken under ``feed_incident``): the data
   the next training would read; so do the upstream's user and item tables as they stand that
   day (``catalog/``), which a retraining needs for the users and items that arrived since;
4. the served lists are judged against the world's true ranking of that day (``true_quality``,
   NDCG@k, 1.0 = the oracle), which no monitoring can see.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from data import World

from .evaluation import evaluate_ranking
from .tracking import save_atomically

FEED_FOLDER = "feed"
#: The upstream's current users.csv and items.csv, replaced every day.
CATALOG_FOLDER = "catalog"
#: Feedback events per POST: the service takes at most 10,000.
FEEDBACK_BATCH = 5000


@dataclass(frozen=True)
class DayTraffic:
    """What happened on one production day, as the simulation saw it."""

    day: int
    visitors: int
    sent: int
    answered: int
    failed: int
    fallback: int
    feedback_events: int
    true_quality: float | None
    feed_path: Path
    seconds: float


class TrafficPlayer:
    """Plays production days against the service that ``client`` talks to.

    ``client`` is an ``httpx.Client`` with the service's base URL (or a Starlette ``TestClient``
    around the app, in tests). ``seen`` holds the (user_id, item_id) pairs of the training data:
    the model never recommends them, so the oracle that judges the served lists leaves them out
    too.
    """

    def __init__(
        self,
        world: World,
        client: httpx.Client,
        state_dir: Path,
        seen: pd.DataFrame,
        *,
        http_share: float = 1.0,
        k: int = 10,
    ) -> None:
        if not 0.0 < http_share <= 1.0:
            raise ValueError(f"http_share must be in (0, 1], got {http_share}")
        self.world = world
        self.state_dir = state_dir
        self.seen = seen[["user_id", "item_id"]]
        self.http_share = http_share
        self.k = k
        self.client = client
        #: Feedback waiting for the day it is observed: observed_day -> frames of events.
        self._pending: dict[int, list[pd.DataFrame]] = defaultdict(list)

    def play_day(self, day: int) -> DayTraffic:
        """Serve the day's visitors, deliver the feedback observed today, land the feed."""
        started = time.perf_counter()
        visitors = day_visitors(self.world, day)
        sent = visitors[sent_share(self.world, day, len(visitors), self.http_share)]
        served, failed, fallback = self._ask(sent)
        if not served.empty:
            self._remember_feedback(day, served)
        delivered = self._deliver(day)
        feed_path = land_feed(self.world, day, self.state_dir)
        land_catalog(self.world, day, self.state_dir)
        return DayTraffic(
            day=day,
            visitors=len(visitors),
            sent=len(sent),
            answered=served["request_id"].nunique() if not served.empty else 0,
            failed=failed,
            fallback=fallback,
            feedback_events=delivered,
            true_quality=self.true_quality(day, served),
            feed_path=feed_path,
            seconds=time.perf_counter() - started,
        )

    def _ask(self, visitors: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
        """Ask the service for each visitor's list, in arrival order; the served items."""
        rows: list[tuple[str, int, int, int, float]] = []
        failed = fallback = 0
        columns = ["timestamp", "user_id", "device", "country", "age_band", "account_age_days"]
        for timestamp, user, device, country, age_band, account_age in visitors[columns].itertuples(
            index=False
        ):
            params = {
                "user_id": int(user),
                "k": self.k,
                "device": device,
                "country": country,
                "age_band": age_band,
                "account_age_days": int(account_age),
            }
            try:
                response = self.client.get(
                    "/recommend", params=params, headers={"X-Simulated-Time": str(int(timestamp))}
                )
            except httpx.HTTPError:
                failed += 1
                continue
            if response.status_code != 200:
                failed += 1
                continue
            answer = response.json()
            fallback += bool(answer["fallback"])
            rows += [
                (answer["request_id"], int(user), item["item_id"], item["rank"], item["score"])
                for item in answer["items"]
            ]
        served = pd.DataFrame(rows, columns=["request_id", "user_id", "item_id", "rank", "score"])
        return served, failed, fallback

    def _remember_feedback(self, day: int, served: pd.DataFrame) -> None:
        """The world's reactions to the day's lists, queued for the day each is observed."""
        reactions = self.world.respond(day, served[["user_id", "item_id", "rank"]])
        requests = served.drop_duplicates("user_id")[["user_id", "request_id"]]
        events = reactions.merge(requests, on="user_id")
        for observed_day, group in events.groupby("observed_day"):
            self._pending[int(observed_day)].append(
                group[["request_id", "item_id", "event", "timestamp"]]
            )

    def _deliver(self, day: int) -> int:
        """POST the feedback observed on ``day``; the number of events delivered."""
        frames = self._pending.pop(day, [])
        if not frames:
            return 0
        events = pd.concat(frames, ignore_index=True).to_dict("records")
        for start in range(0, len(events), FEEDBACK_BATCH):
            batch = [
                {
                    "request_id": event["request_id"],
                    "item_id": int(event["item_id"]),
                    "event": event["event"],
                    "timestamp": int(event["timestamp"]),
                }
                for event in events[start : start + FEEDBACK_BATCH]
            ]
            response = self.client.post("/feedback", json={"events": batch})
            response.raise_for_status()
        return len(events)

    def true_quality(self, day: int, served: pd.DataFrame) -> float | None:
        """NDCG@k of the served lists against the world's best lists that day (1.0 = oracle)."""
        if served.empty:
            return None
        users = served["user_id"].unique()
        best = self.world.oracle(self.seen, day).recommend(users, k=self.k)
        catalogue = len(self.world.available_items(day))
        metrics = evaluate_ranking(served, best[["user_id", "item_id"]], self.k, catalogue)
        return metrics[f"ndcg_at_{self.k}"]


def sent_share(world: World, day: int, n: int, http_share: float) -> np.ndarray:
    """Which of the day's ``n`` visitors are sent: the same for the same seed, day and share."""
    if http_share >= 1.0:
        return np.ones(n, dtype=bool)
    rng = np.random.default_rng([world.config.seed, day, 0x5EED])
    return rng.random(n) < http_share


def day_visitors(world: World, day: int) -> pd.DataFrame:
    """The day's visitors with the context their requests carry."""
    profiles = world.users.set_index("user_id")[["country", "age_band", "signup_day"]]
    requests = world.requests(day).join(profiles, on="user_id")
    requests["account_age_days"] = day - requests.pop("signup_day")
    return requests


def land_feed(world: World, day: int, state_dir: Path) -> Path:
    """Write the day's upstream interactions where the next training would find them."""
    path = state_dir / FEED_FOLDER / feed_file_name(day)
    feed = world.interactions(day)
    return save_atomically(
        path, lambda target: feed.to_csv(target, index=False, float_format="%.10g")
    )


def land_catalog(world: World, day: int, state_dir: Path) -> Path:
    """Replace the upstream's user and item tables with the day's: who signed up, what is out."""
    from data.schema import ITEMS, USERS

    folder = state_dir / CATALOG_FOLDER
    tables = (
        (USERS, world.users[world.users["signup_day"] <= day]),
        (ITEMS, world.items[world.items["release_day"] <= day]),
    )
    for schema, frame in tables:
        save_atomically(
            folder / schema.file_name,
            lambda target, frame=frame: frame.to_csv(target, index=False, float_format="%.10g"),
        )
    return folder


def feed_file_name(day: int) -> str:
    """The file a day's feed lands in; the monitoring reads it from there."""
    return f"interactions-day{day:04d}.csv"
