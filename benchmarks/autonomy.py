"""Level 4's reactions, measured: each scenario played by ``make level4``, against its acceptance.

    python -m benchmarks.autonomy [--seeds 42 1 2] [--size small] [--scenarios taste_shift ...]
        [--switch-day 97] [--days 13] [--stable-days 30]

Each run is the level's own production run over HTTP, with its local Prefect server, the
automations and the service (so a run takes minutes: 13 days about 5 on 2 cores). For each run:
the decisions, the failed requests, the true quality's mean over the week before the switch and
on each day after it, and the first day it is back to 90 % of that mean (``recovered_day``).
The rules of the level's acceptance:

- ``new_market``, ``catalog_shift``, ``taste_shift``: retrained and promoted, true quality back to
  90 % within 5 days of the switch;
- ``feed_incident``: the broken days quarantined, a page, no retraining or promotion;
- ``stable``: no retraining, no promotion;
- and no failed request anywhere.

Level 3's true quality on the same days (its stale champion serving every visitor: what
``make level3`` would measure) is computed from the world for each run, and ``above_level3``
says whether level 4's is at least as high on every day after its first promotion.

Results go to ``state/bench/autonomy.json``; the exit code is 1 when a rule fails.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.results import write_results

SCENARIOS = ("stable", "new_market", "catalog_shift", "taste_shift", "feed_incident")
REAL_SHIFTS = ("new_market", "catalog_shift", "taste_shift")
STATE = Path("state/level4_autonomous")
RECOVERY_SHARE, RECOVERY_DAYS = 0.9, 5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: seeds, world size, scenarios, switch day and days to play."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--size", default="small")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--switch-day", type=int, default=97)
    parser.add_argument("--days", type=int, default=13, help="days played from day 90")
    parser.add_argument("--stable-days", type=int, default=30)
    return parser.parse_args(argv)


def play(scenario: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """One ``make level4`` run; its summary and timeline, with the measured figures."""
    days = args.stable_days if scenario == "stable" else args.days
    command = [
        "make", "--no-print-directory", "level4", f"SCENARIO={scenario}", f"SEED={seed}",
        f"SIZE={args.size}", f"SWITCH_DAY={args.switch_day}", f"DAYS={days}",
    ]  # fmt: skip
    started = time.perf_counter()
    log = Path(f"state/bench/autonomy-{scenario}-seed{seed}.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        code = subprocess.call(command, stdout=out, stderr=subprocess.STDOUT)
    subprocess.call(["make", "--no-print-directory", "serve-stop"], stdout=subprocess.DEVNULL)
    if code != 0:
        return {"scenario": scenario, "seed": seed, "exit": code, "log": str(log), "passed": False}
    summary = json.loads((STATE / "summary.json").read_text())
    timeline = pd.read_csv(STATE / "timeline.csv")
    return {
        "scenario": scenario,
        "seed": seed,
        "seconds": round(time.perf_counter() - started, 1),
        **measure(summary, timeline),
        "log": str(log),
    }


def measure(summary: dict[str, Any], timeline: pd.DataFrame) -> dict[str, Any]:
    """Recovery, decisions and failures of one run, and whether it meets its scenario's rule."""
    switch = summary["switch_day"]
    quality = timeline.set_index("day")["true_quality"]
    before = float(quality[(quality.index >= switch - 7) & (quality.index < switch)].mean())
    after = quality[quality.index >= switch]
    back = after[after >= RECOVERY_SHARE * before]
    actions = [d["action"] for d in summary["decisions"]]
    result = {
        "pre_switch_quality": round(before, 4),
        "quality_after": {int(day): round(float(value), 4) for day, value in after.items()},
        "recovered_day": int(back.index[0]) if len(back) else None,
        "decisions": [
            {key: d[key] for key in ("day", "action", "model_version", "reason")}
            for d in summary["decisions"]
        ],
        "failed_requests": summary["failed_requests"],
        "pages": count_lines(STATE / "pages.jsonl"),
    }
    scenario = summary["scenario"]
    if scenario in REAL_SHIFTS:
        passed = (
            "promote" in actions
            and result["recovered_day"] is not None
            and result["recovered_day"] - switch <= RECOVERY_DAYS
        )
    elif scenario == "feed_incident":
        passed = (
            "quarantine" in actions
            and result["pages"] > 0
            and not ({"retrain", "promote"} & set(actions))
        )
    else:
        passed = not ({"retrain", "promote"} & set(actions))
    result["level3_quality"] = level3_quality(summary, list(result["quality_after"]))
    promoted = [d["day"] for d in summary["decisions"] if d["action"] == "promote"]
    result["above_level3"] = bool(promoted) and all(
        result["quality_after"][day] >= result["level3_quality"][day] - 1e-9
        for day in result["quality_after"]
        if day > promoted[0]
    )
    result["passed"] = passed and result["failed_requests"] == 0
    return result


def level3_quality(summary: dict[str, Any], days: list[int]) -> dict[int, float]:
    """Level 3's true quality on ``days``: its champion, never replaced, serving every visitor."""
    from data import World, WorldConfig
    from level4_autonomous.evaluation import evaluate_ranking, split_by_time
    from level4_autonomous.model import EaseRecommender

    world = World(
        WorldConfig(
            seed=summary["seed"],
            size=summary["size"],
            scenario=summary["scenario"],
            switch_day=summary["switch_day"],
        )
    )
    history = world.history().interactions
    champion = EaseRecommender(200.0).fit(split_by_time(history, 0.2).train)
    quality = {}
    for day in days:
        users = world.requests(day)["user_id"].unique()
        best = world.oracle(history, day).recommend(users, k=10)[["user_id", "item_id"]]
        lists = champion.recommend(users, k=10)
        ndcg = evaluate_ranking(lists, best, 10, len(world.available_items(day)))["ndcg_at_10"]
        quality[day] = round(ndcg, 4)
    return quality


def count_lines(path: Path) -> int:
    """Lines of a JSON-lines file; 0 when there is none."""
    return len(path.read_text().splitlines()) if path.exists() else 0


def main(argv: list[str] | None = None) -> int:
    """Play every scenario and seed, print a table, write the results; 1 if a rule fails."""
    args = parse_args(argv)
    runs = []
    for seed in args.seeds:
        for scenario in args.scenarios:
            print(f"{scenario}, seed {seed} ...", flush=True)
            runs.append(play(scenario, seed, args))
            run = runs[-1]
            decided = ", ".join(f"{d['day']} {d['action']}" for d in run.get("decisions", []))
            print(
                f"  {'ok ' if run['passed'] else 'FAIL'} pre-switch {run.get('pre_switch_quality')}"
                f" above level 3 {run.get('above_level3')}"
                f" recovered {run.get('recovered_day')} failed {run.get('failed_requests')}"
                f" decisions: {decided or '-'}",
                flush=True,
            )
    path = write_results("autonomy", {"settings": vars(args), "runs": runs})
    print(f"\n{sum(run['passed'] for run in runs)}/{len(runs)} runs meet their rule; {path}")
    return 0 if all(run["passed"] for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
