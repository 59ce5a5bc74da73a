"""Level 3's detection, measured: every scenario on several seeds, against the acceptance rules.

    python -m benchmarks.detection [--seeds 42 1 2] [--size small] [--http-share 1]
        [--switch-day 97] [--stable-days 30] [--scenarios stable new_market ...]

For each seed, EASE is trained on the world's history (as the pipeline trains it) and each
scenario's production days are monitored by the level's own monitoring, fed with what the
service would have logged (``tests/level3_monitoring/simulation.py``: no HTTP, so the whole
matrix takes minutes; ``make level3`` plays the same days over HTTP). Production starts on day
90; the world switches a week later. The rules a level-3 monitoring must meet:

- ``stable`` raises no alert in ``--stable-days`` days;
- ``new_market`` and ``catalog_shift`` raise a data_drift alert by the day after the switch;
- ``taste_shift`` raises a quality or prediction_drift alert within two days of the switch, or
  a drift alert on the feed: where the users' new tastes leave click-through as it was (seed 1:
  0.11 before and after, while the true quality falls by a fifth) nothing else can see the
  change, and the category mix of what they do is the change itself;
- ``feed_incident`` raises a data_quality alert on the switch day and no drift alert;
- and no scenario raises anything before its switch.

Results go to ``state/bench/detection.json`` (each run's alerts, detection delay and verdict);
the exit code is 1 when a rule fails, so the run can gate a threshold change.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.results import write_results

SCENARIOS = ("stable", "new_market", "catalog_shift", "taste_shift", "feed_incident")
FIRST_DAY = 90
#: Days watched after the switch: the latest rule allows two days.
DAYS_AFTER_SWITCH = 3
#: The alerts (kind, or kind/metric) that count as catching each scenario, and by how many days
#: after the switch.
EXPECTED = {
    "new_market": ({"data_drift"}, 1),
    "catalog_shift": ({"data_drift"}, 1),
    "taste_shift": ({"quality", "prediction_drift", "data_drift/feed_drift_share"}, 2),
    "feed_incident": ({"data_quality"}, 0),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: seeds, world size, share of visitors served, switch day, scenarios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--size", default="small", help="world size (the level's default: small)")
    parser.add_argument("--http-share", type=float, default=1.0, help="share of visitors served")
    parser.add_argument("--switch-day", type=int, default=97, help="day the scenario starts")
    parser.add_argument("--stable-days", type=int, default=30, help="days of the stable world")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    return parser.parse_args(argv)


def verdict(scenario: str, alerts: list[dict[str, Any]], switch_day: int) -> tuple[bool, str]:
    """Whether the run meets its scenario's rule, and the detection delay or what went wrong."""
    early = [alert for alert in alerts if alert["day"] < switch_day]
    if scenario == "stable" or early:
        found = alerts if scenario == "stable" else early
        if not found:
            return True, "no alert"
        first = found[0]
        return False, f"false alarm on day {first['day']}: {first['kind']} ({first['metric']})"
    kinds, allowed = EXPECTED[scenario]
    caught = [a for a in alerts if a["kind"] in kinds or f"{a['kind']}/{a['metric']}" in kinds]
    if scenario == "feed_incident" and any(a["kind"].endswith("drift") for a in alerts):
        return False, "the broken feed was also reported as drift"
    if not caught:
        return False, f"not caught (alerts: {[a['kind'] for a in alerts] or 'none'})"
    delay = caught[0]["day"] - switch_day
    described = f"{caught[0]['kind']} ({caught[0]['metric']}) after {delay} day(s)"
    return delay <= allowed, described


def run_seed(args: argparse.Namespace, seed: int, folder: Path) -> list[dict[str, Any]]:
    """Every scenario of one seed; a row per scenario."""
    from tests.level3_monitoring.simulation import Champion, OfflineProduction

    started = time.perf_counter()
    champion = Champion.trained(folder / f"champion-{seed}", seed, args.size, args.switch_day)
    print(f"seed {seed}: champion trained in {time.perf_counter() - started:.0f} s", flush=True)
    rows = []
    for scenario in args.scenarios:
        started = time.perf_counter()
        run = OfflineProduction.start(champion, folder / str(seed), scenario, args.http_share)
        last = (
            FIRST_DAY + args.stable_days - 1
            if scenario == "stable"
            else args.switch_day + DAYS_AFTER_SWITCH - 1
        )
        requests = []
        for day in range(FIRST_DAY, last + 1):
            result = run.monitor(day)
            requests.append(result.measurements.requests)
        alerts = run.alerts()
        passed, described = verdict(scenario, alerts, args.switch_day)
        seconds = time.perf_counter() - started
        rows.append(
            {
                "seed": seed,
                "scenario": scenario,
                "days": [FIRST_DAY, last],
                "requests_per_day": round(sum(requests) / len(requests)),
                "alerts": [
                    {key: alert[key] for key in ("day", "kind", "metric", "value", "threshold")}
                    for alert in alerts
                ],
                "passed": passed,
                "result": described,
                "seconds": round(seconds, 1),
            }
        )
        mark = "ok  " if passed else "FAIL"
        print(f"  {mark} {scenario:<14} {described}  ({seconds:.0f} s)", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the matrix, write the results, print the verdicts; 1 if any rule failed."""
    args = parse_args(argv)
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="detection-") as folder:
        for seed in args.seeds:
            rows.extend(run_seed(args, seed, Path(folder)))
    failed = [row for row in rows if not row["passed"]]
    results = {
        "size": args.size,
        "http_share": args.http_share,
        "switch_day": args.switch_day,
        "first_day": FIRST_DAY,
        "stable_days": args.stable_days,
        "runs": rows,
        "passed": not failed,
        "seconds": round(time.perf_counter() - started, 1),
    }
    path = write_results("detection", results)
    print(
        f"\n{len(rows) - len(failed)} of {len(rows)} runs meet their rule "
        f"({results['seconds']:.0f} s). Results: {path}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
