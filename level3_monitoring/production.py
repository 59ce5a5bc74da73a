"""Level 3's run: release the champion as level 2 does, then play monitored production days.

    python -m level3_monitoring.production --data state/datasets/taste_shift-small-seed42-switch97 \
        [--days 21] [--http-share 1] [--config …] [--set section.key=value]

1. The CI/CD stages of level 2 (train, gate, register, promote, deploy, smoke) release a champion
   trained on the dataset's history, and the serving API runs it.
2. Each production day after the history, the simulated world's visitors ask the service, their
   clicks come back as feedback, the day's feed lands (``traffic.py``), and the monitoring flow
   measures the day and raises alerts (``monitoring.py``).
3. ``summary.json``, ``timeline.csv`` and ``timeline.png`` in the state folder tell the story;
   the run ends with a table of the days and these paths. The service keeps running (``make
   serve-stop`` stops it), as level 2 leaves its deployment running.

Production state (prediction log, feeds, reports, alerts) describes one run, so each run starts
it afresh; the MLflow registry, with its audit trail, is kept. Nobody reacts to the alerts here:
at level 3 a person reads them and retrains.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from .config import Config, ConfigError, add_config_arguments, load_config, parse_overrides
from .processes import run_interruptibly
from .runtime import unreachable_server, use_local_state
from .state_lock import StateFolderError, lock_state_folder

SUMMARY_FILE, TIMELINE_CSV, TIMELINE_PNG = "summary.json", "timeline.csv", "timeline.png"
REQUEST_TIMEOUT_SECONDS = 10.0
#: What one run's production leaves in the state folder; removed when the next run starts.
PRODUCTION_STATE = (
    "predictions.db",
    "predictions.db-wal",
    "predictions.db-shm",
    "feed",
    "monitoring",
    "evidently",
    "alerts.jsonl",
    SUMMARY_FILE,
    TIMELINE_CSV,
    TIMELINE_PNG,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: the dataset, how many days, which share of visitors goes over HTTP."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    parser.add_argument("--data", help="a simulated dataset folder (overrides data.path)")
    parser.add_argument("--days", type=int, default=21, help="production days to play")
    parser.add_argument(
        "--http-share",
        type=float,
        default=1.0,
        help="share of each day's visitors sent to the service (0 < share <= 1)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Release, then play the days, holding the state folder; exit 2 for bad settings."""
    args = parse_args(argv)
    try:
        overrides = {**({"data.path": args.data} if args.data else {}), **parse_overrides(args.set)}
        config = load_config(args.config, overrides)
        if args.days < 1:
            raise ConfigError(f"--days must be at least 1, got {args.days}")
        if not 0.0 < args.http_share <= 1.0:
            raise ConfigError(f"--http-share must be in (0, 1], got {args.http_share}")
        world = simulated_world(config.data.path)
        lock = lock_state_folder(config.tracking.state_dir)
    except (ConfigError, StateFolderError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    use_local_state(config.tracking.state_dir)
    if (unreachable := unreachable_server()) is not None:
        print(f"error: {unreachable}; nothing was changed.", file=sys.stderr)
        return 2
    with lock:
        return run_interruptibly(
            lambda: run(args, overrides, config, world),
            "production stopped; the days played so far are in the prediction log and "
            "monitoring folder, and the service keeps running (make serve-stop)",
        )


def simulated_world(path: Path) -> Any:
    """The world behind a simulated dataset; production days cannot be played on other data."""
    from data import World

    meta_path = path / "world.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        return World.from_metadata(meta)
    except FileNotFoundError:
        raise ConfigError(
            f"data.path: {meta_path} does not exist; production days need a simulated dataset "
            "(make data, or the level3 target, generates one)"
        ) from None
    except (ValueError, OSError) as error:
        raise ConfigError(f"data.path: {meta_path}: {error}") from None


def run(args: argparse.Namespace, overrides: dict[str, str], config: Config, world: Any) -> int:
    """The whole run; the exit code."""
    from .deployment import running_service, service_url, stop_service
    from .runtime import prefect_api
    from .stages import STAGES, StageContext, run_stages

    started = time.perf_counter()
    state = config.tracking.state_dir
    if running_service(config) is not None:
        print("Stopping the service of the previous run (its log is reset) ...")
        stop_service(config)
    reset_production_state(state)
    with prefect_api(state, "--no-services", "--no-ui"):
        code = run_stages(StageContext(args.config, overrides, config), list(STAGES))
        if code != 0:
            print("The release failed; no production days were played.", file=sys.stderr)
            return code
        rows = play_days(world, config, args, overrides, service_url(config))
    write_outputs(rows, world, config, args, time.perf_counter() - started)
    return 0


def play_days(
    world: Any, config: Config, args: argparse.Namespace, overrides: dict[str, str], url: str
) -> list[dict[str, Any]]:
    """Each day: the traffic against the service, then the day's monitoring flow run."""
    import httpx

    from data import load_dataset

    from .monitoring import MONITORING_FOLDER, REFERENCE_FOLDER, build_reference, monitoring_flow
    from .timeline import day_line, timeline_row
    from .traffic import TrafficPlayer

    state = config.tracking.state_dir
    dataset = load_dataset(config.data.path)
    reference = build_reference(
        dataset, config.monitoring.reference_days, config.split.test_fraction
    )
    reference.save(state / MONITORING_FOLDER / REFERENCE_FOLDER)
    first_day = world.config.history_days
    days = range(first_day, first_day + args.days)
    print(
        f"\n== production: days {days[0]}-{days[-1]}, {world.config.scenario} from day "
        f"{world.switch_day}, {args.http_share:.0%} of visitors over HTTP ==",
        flush=True,
    )
    rows = []
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_SECONDS) as client:
        player = TrafficPlayer(
            world,
            client,
            state,
            dataset.interactions,
            http_share=args.http_share,
            k=config.evaluation.k,
        )
        for day in days:
            traffic = player.play_day(day)
            result = monitoring_flow(day, str(args.config), overrides, last_day=day == days[-1])
            rows.append(timeline_row(traffic, result))
            print(day_line(rows[-1], world.switch_day), flush=True)
    return rows


def reset_production_state(state: Path) -> None:
    """Remove the previous run's production files: a run's days and alerts are its own."""
    for name in PRODUCTION_STATE:
        path = state / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def write_outputs(
    rows: list[dict[str, Any]],
    world: Any,
    config: Config,
    args: argparse.Namespace,
    seconds: float,
) -> None:
    """summary.json, timeline.csv and timeline.png, then the table and the paths."""
    from .alerts import AlertLog
    from .timeline import draw_timeline, print_table, timeline_frame

    state = config.tracking.state_dir
    alerts = AlertLog(state).read()
    frame = timeline_frame(rows)
    frame.to_csv(state / TIMELINE_CSV, index=False)
    meta = world.metadata()
    summary = {
        "scenario": meta["scenario"],
        "seed": meta["seed"],
        "size": meta["size"],
        "first_day": int(frame["day"].min()),
        "switch_day": meta["effective_switch_day"],
        "days": len(frame),
        "http_share": args.http_share,
        "alerts": alerts,
        "seconds": round(seconds, 1),
    }
    (state / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    title = (
        f"Level 3 on {meta['scenario']} (seed {meta['seed']}, "
        f"switch on day {summary['switch_day']})"
    )
    draw_timeline(
        frame,
        summary["switch_day"],
        alerts,
        state / TIMELINE_PNG,
        title,
        drift_share=config.monitoring.drift_share,
    )
    print_table(frame, summary["switch_day"])
    print(
        f"\n{len(alerts)} alert(s) in {seconds:.0f} s. "
        "Nobody reacts at level 3: a person reads them and retrains."
    )
    for name in (SUMMARY_FILE, TIMELINE_CSV, TIMELINE_PNG, "alerts.jsonl"):
        print(f"  {state / name}")
    print(f"  {state / 'monitoring' / 'reports'}  (make ui-evidently to browse them)")


if __name__ == "__main__":
    sys.exit(main())
