"""Production days without the service: the monitoring's inputs made straight from the world.

The monitoring reads what the service logged: requests with their context, the served lists, the
feedback that arrived the same day. Here the champion's model answers in-process and the rows
are made in those shapes directly, so the detection of every scenario can be checked in seconds
per day (the end-to-end test and ``make level4`` run the same monitoring over real HTTP). Used by
the detection tests and by ``benchmarks/detection.py``, which runs the whole acceptance matrix.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from data import World, WorldConfig, load_dataset, write_dataset
from level4_autonomous.alerts import AlertLog
from level4_autonomous.config import DEFAULT_CONFIG, Config, load_config
from level4_autonomous.evaluation import split_by_time
from level4_autonomous.model import EaseRecommender, Recommender
from level4_autonomous.monitoring import (
    MEASUREMENTS,
    MONITORING_FOLDER,
    REFERENCE_FOLDER,
    DayData,
    DayMonitor,
    DayResult,
    Reference,
    build_reference,
)
from level4_autonomous.traffic import day_visitors, land_feed, sent_share

VERSION = "1"


@dataclass
class Champion:
    """The model every scenario of one seed serves, and the reference built from its data.

    The history before the switch is the same in every scenario, so one training serves all.
    """

    config: Config
    model: Recommender
    reference: Reference
    interactions: pd.DataFrame

    @classmethod
    def trained(cls, folder: Path, seed: int, size: str | int, switch_day: int) -> Champion:
        """Train on the stable world's history, as the pipeline does (without MLflow)."""
        world = World(WorldConfig(seed=seed, size=size, switch_day=switch_day))
        data = write_dataset(world.history(), folder / "data")
        config = load_config(
            DEFAULT_CONFIG,
            {"data.path": str(data), "monitoring.html_reports": "none"},
        )
        dataset = load_dataset(data)
        split = split_by_time(dataset.interactions, config.split.test_fraction)
        model = EaseRecommender(l2=config.model.l2).fit(split.train)
        reference = build_reference(
            dataset, config.monitoring.reference_days, config.split.test_fraction
        )
        return cls(config, model, reference, dataset.interactions)


@dataclass
class OfflineProduction:
    """One scenario's production days, monitored day by day with the level's own monitoring."""

    world: World
    champion: Champion
    state_dir: Path
    http_share: float = 1.0
    served: dict[int, pd.DataFrame] = field(default_factory=dict)

    @classmethod
    def start(
        cls, champion: Champion, folder: Path, scenario: str, http_share: float = 1.0
    ) -> OfflineProduction:
        """A fresh state folder with the champion's reference, for ``scenario``'s world.

        ``http_share`` of each day's visitors are served, the same ones ``make level4`` sends.
        """
        meta = json.loads((champion.config.data.path / "world.json").read_text())
        world = World.from_metadata({**meta, "scenario": scenario})
        state = folder / scenario
        shutil.rmtree(state, ignore_errors=True)
        champion.reference.save(state / MONITORING_FOLDER / REFERENCE_FOLDER)
        return cls(world, champion, state, http_share)

    @property
    def config(self) -> Config:
        """The champion's configuration with this scenario's state folder."""
        return self.champion.config.model_copy(
            update={
                "tracking": self.champion.config.tracking.model_copy(
                    update={"state_dir": self.state_dir}
                )
            }
        )

    def day_data(self, day: int) -> DayData:
        """What the service would have logged on ``day``, and its feed file landed."""
        visitors = day_visitors(self.world, day)
        visitors = visitors[sent_share(self.world, day, len(visitors), self.http_share)]
        lists = self.champion.model.recommend(visitors["user_id"].to_numpy(), k=10)
        lists["request_id"] = [f"{day}-{user}" for user in lists["user_id"]]
        lists["day"] = day
        self.served[day] = lists
        known = visitors["user_id"].isin(self.champion.model.user_ids_)
        requests = visitors.assign(
            request_id=[f"{day}-{user}" for user in visitors["user_id"]],
            model_version=VERSION,
            fallback=~known,
            status=200,
            latency_ms=2.0,
        )
        reactions = self.world.respond(day, lists[["user_id", "item_id", "rank"]])
        same_day = reactions[reactions["observed_day"] == day]
        feedback = same_day.assign(request_id=[f"{day}-{user}" for user in same_day["user_id"]])
        land_feed(self.world, day, self.state_dir)
        return DayData(
            requests=requests,
            served_today=lists,
            feedback=feedback,
            served=lambda first, last: pd.concat(
                [self.served[d] for d in range(first, last + 1) if d in self.served]
            ),
        )

    def monitor(self, day: int, measurements: tuple[str, ...] = MEASUREMENTS) -> DayResult:
        """Monitor ``day`` with the given measurements (all by default)."""
        monitor = DayMonitor(day, self.config, self.state_dir, self.day_data(day))
        for name in measurements:
            getattr(monitor, name)()
        return monitor.conclude()

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert raised so far."""
        return AlertLog(self.state_dir).read()
