"""What the servers cost and give: level 2 on the stack against embedded, registry calls, serving.

    python -m benchmarks.stack_cost [--data FOLDER] [--repeats 3] [--processes 1 2]

1. start-up: ``stack.control.start_stack`` on a new folder (PostgreSQL's initdb, both servers'
   migrations), stopped, then started again on the same folder;
2. level 2's release (``python -m level2_cicd.stages all``), median of ``--repeats``, three ways:
   embedded (SQLite, a Prefect server of its own: what a reader runs), against the servers with
   the flow in the level's process, and against the servers with the flow run by the worker;
3. registry calls per second: reading the champion alias, searching versions, moving an alias,
   on level 2's embedded SQLite store and through the tracking server (PostgreSQL behind it);
4. serving: the most requests/s with p99 <= 50 ms for N service processes following one champion
   alias on the tracking server (``serve_load.capacity``), and how long they take to follow a
   move of the alias under load (``serve_load.swap``).

Everything runs under ``state/bench/stack/`` (wiped at the start) on free ports; the stack and
every service are stopped at the end, whatever happens. Results go to ``state/bench/stack.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.results import write_results
from benchmarks.services import Service, measured_load
from level2_cicd.runtime import free_port
from stack.control import start_stack, stop_stack
from stack.layout import DEFAULT_PORTS, Layout

ROOT = Path(__file__).resolve().parents[1]
WORK = Path("state/bench/stack")
PACKAGE = "level2_cicd"
#: serve_load's model name: its capacity and swap phases follow this registered model.
MODEL_NAME = "recommender-bench"
REGISTRY_CALLS = 200
VARIANTS = ("embedded", "servers", "servers + worker")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The dataset, the repeats of each release, the process counts to serve with."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("state/datasets/stable-small-seed42"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--search-seconds", type=float, default=5.0)
    return parser.parse_args(argv)


def clean_environment() -> dict[str, str]:
    """This environment without MLflow or Prefect settings: each variant sets its own."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREFECT_"))}


def variant_environment(variant: str, layout: Layout) -> dict[str, str]:
    """The variables of one way to run the levels."""
    env = clean_environment()
    if variant == "embedded":
        return env
    exports = layout.exports()
    if variant == "servers":
        exports.pop("PREFECT_DEPLOYMENTS_DEFAULT_WORK_POOL_NAME")
    return {**env, **exports}


def release(variant: str, layout: Layout, data: Path, state: Path) -> dict[str, float]:
    """One ``stages all`` of level 2; its wall time and stage times. Its service is stopped."""
    settings = ["--set", f"tracking.state_dir={state}", "--set", f"serving.port={free_port()}"]
    settings += ["--set", f"registry.model_name={MODEL_NAME}"]
    env = variant_environment(variant, layout)
    command = [sys.executable, "-m", f"{PACKAGE}.stages"]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "all", "--data", str(data), *settings],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    subprocess.run(
        [*command, "stop", *settings], cwd=ROOT, env=env, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"level 2 ({variant}) failed:\n{done.stdout[-1500:]}{done.stderr[-1500:]}"
        )
    stages = json.loads((state / "stage_seconds.json").read_text(encoding="utf-8"))
    return {"seconds": seconds, **stages}


def median_release(variant: str, layout: Layout, data: Path, repeats: int) -> dict[str, Any]:
    """The median of ``repeats`` releases, stage by stage, and every run."""
    state = (WORK / f"level2-{variant.replace(' + ', '-')}").resolve()
    runs = []
    for index in range(repeats):
        print(f"  level 2, {variant}, run {index + 1} of {repeats} ...", flush=True)
        runs.append(release(variant, layout, data, state))
    keys = runs[0].keys()
    return {**{key: statistics.median(run[key] for run in runs) for key in keys}, "runs": runs}


def calls_per_second(call: Callable[[], object], count: int) -> float:
    """How many times a second ``call`` runs, over ``count`` calls."""
    started = time.perf_counter()
    for _ in range(count):
        call()
    return count / (time.perf_counter() - started)


def registry_calls(tracking_uri: str) -> dict[str, float]:
    """Calls per second of three registry operations on the champion of ``MODEL_NAME``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = client.get_model_version_by_alias(MODEL_NAME, "champion").version
    return {
        "alias_read_per_s": calls_per_second(
            lambda: client.get_model_version_by_alias(MODEL_NAME, "champion"), REGISTRY_CALLS
        ),
        "search_versions_per_s": calls_per_second(
            lambda: client.search_model_versions(f"name = '{MODEL_NAME}'"), REGISTRY_CALLS // 4
        ),
        "alias_move_per_s": calls_per_second(
            lambda: client.set_registered_model_alias(MODEL_NAME, "bench", version),
            REGISTRY_CALLS // 4,
        ),
    }


def serving(layout: Layout, processes: list[int], search_seconds: float) -> dict[str, Any]:
    """Capacity of N services following the champion on the tracking server, and a swap."""
    os.environ.update(variant_environment("servers", layout))  # the services and MLflow here
    from benchmarks import serve_load

    services = [
        Service(PACKAGE, WORK / f"service-{index}", {"registry.model_name": MODEL_NAME})
        for index in range(max(processes))
    ]
    try:
        for service in services:
            service.start()
        for service in services:
            service.wait_until_ready()
            measured_load([service], serve_load.WARM_UP_RATE, serve_load.WARM_UP_SECONDS, 500)
        found = {
            "capacity": [
                serve_load.capacity(services[:count], 200, search_seconds, 500, 50.0)
                for count in processes
            ]
        }
        print("  load while the champion alias moves twice on the tracking server ...", flush=True)
        found["swap"] = serve_load.swap(services, 100, 500)
        return found
    finally:
        for service in services:
            service.stop()


def print_summary(results: dict[str, Any]) -> None:
    """The figures, one short table each."""
    start = results["startup"]
    print(
        f"\nstack start: {start['first_s']:.1f} s on a new folder, {start['again_s']:.1f} s again"
    )
    print(f"\n{'level 2 release':<20}{'wall':>8}{'train':>8}{'deploy':>8}")
    for variant, row in results["release"].items():
        print(f"{variant:<20}{row['seconds']:>7.1f}s{row['train']:>7.1f}s{row['deploy']:>7.1f}s")
    print(f"\n{'registry calls/s':<20}{'alias read':>12}{'search':>10}{'alias move':>12}")
    for store, row in results["registry"].items():
        print(
            f"{store:<20}{row['alias_read_per_s']:>12.0f}{row['search_versions_per_s']:>10.0f}"
            f"{row['alias_move_per_s']:>12.0f}"
        )
    for row in results["serving"]["capacity"]:
        print(
            f"serving, {row['processes']} process(es) on the tracking server: "
            f"{row['max_rate']} requests/s with p99 <= 50 ms"
        )
    followed = results["serving"]["swap"]["followed_in_s"]
    print(f"alias moves followed by every process in: {followed} s")


def main(argv: list[str] | None = None) -> int:
    """Start the stack, measure, stop it, write the results."""
    args = parse_args(argv)
    if not args.data.is_dir():
        print(f"No dataset at {args.data}: run `make data` or pass --data.", file=sys.stderr)
        return 1
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    WORK.resolve().chmod(0o755)  # PostgreSQL runs as nobody under root
    layout = Layout(WORK.resolve() / "servers", {name: free_port() for name in DEFAULT_PORTS})
    load_before = os.getloadavg()[0]
    results: dict[str, Any] = {}
    try:
        print("starting the stack on a new folder ...", flush=True)
        _, first = start_stack(layout, with_evidently=False)
        stop_stack(layout, quiet=True)
        _, again = start_stack(layout, with_evidently=False)
        results["startup"] = {"first_s": first, "again_s": again}
        print("level 2's release, three ways:", flush=True)
        results["release"] = {
            variant: median_release(variant, layout, args.data.resolve(), args.repeats)
            for variant in VARIANTS
        }
        embedded_store = WORK.resolve() / "level2-embedded" / "mlflow.db"
        print("registry calls ...", flush=True)
        results["registry"] = {
            "SQLite (embedded)": registry_calls(f"sqlite:///{embedded_store}"),
            "tracking server": registry_calls(layout.mlflow_url),
        }
        print("serving from the tracking server's champion ...", flush=True)
        results["serving"] = serving(layout, args.processes, args.search_seconds)
    finally:
        stop_stack(layout, quiet=True)
    results["setup"] = {
        "data": str(args.data),
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
    }
    print_summary(results)
    print(f"\nresults: {write_results('stack', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
