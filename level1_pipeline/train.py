"""Level 1: run the training pipeline once, serve it on a schedule (``--schedule``), or tune it.

Run it from the repository root::

    python -m level1_pipeline.train                       # config.toml as it is
    python -m level1_pipeline.train --data path/to/ml-100k --set model.l2=500
    python -m level1_pipeline.train --tune                # pick l2 on a validation period

Each run is a Prefect flow run and an MLflow run: parameters, data, metrics, the model and the
code version are recorded, so any run can be found, compared and rebuilt later. Ctrl-C, SIGTERM
or SIGHUP stop it cleanly: the MLflow run is closed as KILLED, the local Prefect server is
stopped, and the exit code is 128 + the signal's number.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .config import Config, ConfigError, add_config_arguments, load_config, parse_overrides
from .processes import run_interruptibly
from .runtime import prefect_api, unreachable_server, use_local_state
from .state_lock import StateFolderError, lock_state_folder

T = TypeVar("T")
FAILED = "The pipeline failed; its MLflow run is marked FAILED, with no model."


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: the configuration, shortcuts for its common keys, and what to run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    parser.add_argument("--data", help="dataset folder (overrides data.path)")
    parser.add_argument("--k", help="length of each recommendation list (evaluation.k)")
    parser.add_argument("--l2", help="EASE ridge strength (model.l2)")
    instead = parser.add_mutually_exclusive_group()
    instead.add_argument(
        "--schedule", action="store_true", help="serve the flow on its schedule instead"
    )
    instead.add_argument(
        "--tune",
        action="store_true",
        help="try the l2 values of [tuning] on a validation period and report the best, instead",
    )
    return parser.parse_args(argv)


def overrides_from(args: argparse.Namespace) -> dict[str, str]:
    """The configuration overrides asked for; ``--set`` wins over a shortcut for the same key."""
    shortcuts = {"data.path": args.data, "evaluation.k": args.k, "model.l2": args.l2}
    return {
        **{key: value for key, value in shortcuts.items() if value is not None},
        **parse_overrides(args.set),
    }


def main(argv: list[str] | None = None) -> int:
    """Read the configuration and take the state folder, then run; if either fails, exit with 2."""
    args = parse_args(argv)
    try:
        overrides = overrides_from(args)
        config = load_config(args.config, overrides)
        lock = lock_state_folder(config.tracking.state_dir)
    except (ConfigError, StateFolderError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with lock:
        return run_holding_the_state_folder(args, overrides, config)


def run_holding_the_state_folder(
    args: argparse.Namespace, overrides: dict[str, str], config: Config
) -> int:
    """One run, the tuning or the schedule, while no other run can write to the state folder."""
    use_local_state(config.tracking.state_dir)
    if (unreachable := unreachable_server()) is not None:
        print(f"error: {unreachable}; nothing was changed.", file=sys.stderr)
        return 2
    return run_interruptibly(
        lambda: run(args, overrides, config),
        "the pipeline stopped; its MLflow run, if it had started, is marked KILLED, with no model.",
    )


def run(args: argparse.Namespace, overrides: dict[str, str], config: Config) -> int:
    """One run of the flow, the tuning, or the schedule; the exit code."""
    if args.schedule:
        from .schedule import serve_on_schedule

        return serve_on_schedule(args.config, overrides, config)
    if args.tune:
        from .tune import tune

        return tune(args.config, overrides, config)

    print("Starting the pipeline (Prefect and MLflow start up first) ...", flush=True)
    started = time.perf_counter()
    from .flow import training_flow

    result = run_flow(training_flow, args.config, overrides, config)
    if result is None:
        return 1
    print_summary(result.metrics, config.evaluation.k)
    print(f"\nrun id:  {result.run_id}   ({time.perf_counter() - started:.0f} s in all)")
    print(f"model:   {result.model_uri}")
    print(f"metrics: {result.metrics_path}")
    print("Browse every run, its model and its data with `make ui-mlflow`;")
    print("choosing which run becomes the model is still a person's call (see the README).")
    return 0


def run_flow(
    flow: Callable[[str, dict[str, str]], T],
    config_path: Path,
    overrides: dict[str, str],
    config: Config,
) -> T | None:
    """Run ``flow`` once on the level's Prefect API; None if it failed (the reason said once)."""
    from data import DataError

    from .tracking import TrackingStoreError
    from .validation import DataValidationError
    from .work_pool import WorkPoolError, configured_pool, run_on_work_pool

    # Failures are reported once, below, instead of by every Prefect run logger on the way up.
    for logger in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(logger).setLevel(logging.CRITICAL)
    try:
        # The API only: a single run needs no scheduler or other background services.
        with prefect_api(config.tracking.state_dir, "--no-services", "--no-ui"):
            pool = configured_pool()
            if pool is not None:  # a worker runs it (make stack exports the pool's name)
                parameters = {"config_path": str(config_path.resolve()), "overrides": overrides}
                return run_on_work_pool(flow, pool, parameters)
            return flow(str(config_path), overrides)
    except (DataValidationError, DataError) as error:
        print(f"\nThe data was refused; nothing was trained.\n{error}", file=sys.stderr)
    except (TrackingStoreError, WorkPoolError) as error:  # before the run could be recorded
        print(f"\nerror: {error}", file=sys.stderr)
    except ValueError as error:  # data or settings a step cannot work with
        print(f"\nerror: {error}\n{FAILED}", file=sys.stderr)
    except Exception:
        traceback.print_exc()
        print(f"\n{FAILED}", file=sys.stderr)
    return None


def print_summary(metrics: dict[str, dict[str, float]], k: int) -> None:
    """The models side by side, one metric per row, and how close each gets to the oracle."""
    names = list(metrics)
    print(f"\n{'metric':<16}" + "".join(f"{name:>12}" for name in names))
    for metric in metrics[names[0]]:
        print(f"{metric:<16}" + "".join(f"{metrics[name][metric]:>12.4f}" for name in names))
    if "oracle" in metrics:
        ndcg = f"ndcg_at_{k}"
        best = metrics["oracle"][ndcg]
        if best == 0:  # too few test users or items for even the oracle to find one
            print(f"No share of the oracle: the oracle's NDCG@{k} is 0 here.")
            return
        shares = ", ".join(f"{name} {metrics[name][ndcg] / best:.0%}" for name in names[:-1])
        print(f"Share of the oracle's NDCG@{k} (the best achievable): {shares}")


if __name__ == "__main__":
    sys.exit(main())
