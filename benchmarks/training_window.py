"""Which days should a retraining read? Level 4's policy choice, measured on the world itself.

    python -m benchmarks.training_window [--seeds 42 1 2] [--size small] [--through 100]

For each scenario that should lead to retraining and each seed (switch on day 97), three models
serve the visitors of the two days after ``--through``: the stale champion (level 4's first
release: EASE on the first 80 % of the history), EASE on all the data (history and feed through
that day) and EASE on the days since the switch only (``RecentRecommender``: never a user's
earlier items). Each is judged by the world: true quality (NDCG@10 against the world's best
lists) and the feedback events per served list the world answers with (what an online check
sees). Results go to ``state/bench/training_window.json``; level 4's README quotes them.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.results import write_results
from data import World, WorldConfig
from level4_autonomous.evaluation import evaluate_ranking, split_by_time
from level4_autonomous.model import EaseRecommender
from level4_autonomous.window import fit_window

SCENARIOS = ("taste_shift", "catalog_shift", "new_market")
SWITCH_DAY, FIRST_DAY, K = 97, 90, 10


def judged(world: World, model: Any, history: pd.DataFrame, days: range) -> dict[str, float]:
    """Mean true quality and feedback events per list of ``model``'s lists on ``days``."""
    quality, events = [], []
    for day in days:
        users = world.requests(day)["user_id"].unique()
        lists = model.recommend(users, k=K)
        best = world.oracle(history, day).recommend(users, k=K)
        catalogue = len(world.available_items(day))
        quality.append(
            evaluate_ranking(lists, best[["user_id", "item_id"]], K, catalogue)[f"ndcg_at_{K}"]
        )
        answers = world.respond(day, lists[["user_id", "item_id", "rank"]])
        events.append(len(answers) / len(users))
    return {
        "true_quality": round(float(np.mean(quality)), 4),
        "events_per_list": round(float(np.mean(events)), 4),
    }


def measure(scenario: str, seed: int, size: str, through: int) -> dict[str, Any]:
    """The three models of one world, judged on the two days after ``through``."""
    world = World(WorldConfig(seed=seed, size=size, scenario=scenario, switch_day=SWITCH_DAY))
    history = world.history().interactions
    data = pd.concat(
        [history, *(world.interactions(day) for day in range(FIRST_DAY, through + 1))],
        ignore_index=True,
    )
    champion = EaseRecommender(200.0).fit(split_by_time(history, 0.2).train)
    models = {
        "stale champion": champion,
        "all data": fit_window(EaseRecommender(200.0), data, 0),
        "since the switch": fit_window(EaseRecommender(200.0), data, SWITCH_DAY),
    }
    after = range(through + 1, through + 3)
    before = judged(world, champion, history, range(SWITCH_DAY - 7, SWITCH_DAY))
    return {
        "scenario": scenario,
        "seed": seed,
        "before_switch": before,
        "models": {name: judged(world, model, history, after) for name, model in models.items()},
    }


def main(argv: list[str] | None = None) -> int:
    """Measure every scenario and seed, print the table, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--size", default="small")
    parser.add_argument("--through", type=int, default=100, help="last day trained on")
    args = parser.parse_args(argv)
    rows = []
    print(f"{'scenario, seed':<20}{'stale champion':>18}{'all data':>18}{'since the switch':>18}")
    for scenario in SCENARIOS:
        for seed in args.seeds:
            rows.append(measure(scenario, seed, args.size, args.through))
            cells = "".join(
                f"{m['true_quality']:>10.3f} · {m['events_per_list']:.3f}"
                for m in rows[-1]["models"].values()
            )
            print(f"{scenario + ', ' + str(seed):<20}{cells}", flush=True)
    path = write_results("training_window", {"settings": vars(args), "runs": rows})
    days = f"days {args.through + 1}-{args.through + 2}"
    print(f"\ntrue quality · feedback events per list, {days}; {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
