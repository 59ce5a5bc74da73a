"""Load test of level 2's serving API: latency at fixed rates, the most it serves, a model swap.

    python -m benchmarks.serve_load [--data FOLDER] [--rates 50 100 200] [--seconds 10]
                                    [--processes 1 2 4] [--target-p99 50]

Open-loop load (``open_loop.py``): requests start on a fixed schedule whatever the answers' speed,
so a slow service shows up as latency instead of being hidden by a client that waits. Phases:

1. steady: each of ``--rates`` for ``--seconds`` on one service process;
2. capacity: for each of ``--processes``, the highest rate the service answers with p99 at most
   ``--target-p99`` ms, no error and the generator on schedule (its p99 lag within the target
   too). The rate doubles from the highest steady rate until a rate fails twice in a row (once
   may be a pause of the shared machine), then the gap is halved three times the same way; each
   run lasts ``--search-seconds``. N
   processes are N services following the same champion alias, on ports of their own; the
   generator sends to them in turn, as a balancer in front of them would;
3. swap: the middle rate on every process while the champion alias moves to a new version and
   back; each process's move is timed by its ``/health``;
4. hostile: the middle rate on one process while three clients send queries of 10,000 parameters
   (49 KB) back to back.

Every run records the generator's own CPU time per request and share of a core, and the services'
CPU time per request: the generator runs on the same machine, and on 2 cores it takes from what
the services could use. It is self-contained: it trains level 2's model on ``--data``, registers
it as champion in an MLflow store of its own and starts the services (``python -m
level2_cicd.serve``) on free ports of 127.0.0.1, all under ``state/bench/serve/`` (wiped at the
start); each is stopped by its pid at the end, whatever happens. Results go to
``state/bench/serve.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.open_loop import load, read_response
from benchmarks.results import write_results
from benchmarks.services import Service, measured_load, register_champion
from level2_cicd.config import DEFAULT_CONFIG, load_config

PACKAGE = "level2_cicd"
WORK = Path("state/bench/serve")
MODEL_NAME = "recommender-bench"
#: Like the query that once took 14 s to answer and stalled the service (11,000 parameters, 62 KB).
HOSTILE_QUERY = "user_id=1&" + "&".join(f"{index}=" for index in range(10_000))
#: Unmeasured load sent to each service first: the first requests pay one-off costs.
WARM_UP_RATE, WARM_UP_SECONDS = 50, 2.0
#: The capacity search never asks for more than this (requests/s).
MAX_RATE = 10_000
#: How long the swap phase waits for every process to follow one move of the alias.
FOLLOW_SECONDS = 30.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: the dataset, the rates, the process counts, how long runs last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, help="dataset folder to train on (default: the level's config)"
    )
    parser.add_argument("--rates", type=int, nargs="+", default=[50, 100, 200], help="requests/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each steady rate")
    parser.add_argument(
        "--processes", type=int, nargs="+", default=[1, 2, 4], help="service processes to try"
    )
    parser.add_argument("--target-p99", type=float, default=50.0, help="capacity's p99 bound, ms")
    parser.add_argument(
        "--search-seconds", type=float, default=5.0, help="duration of each capacity run"
    )
    parser.add_argument(
        "--users", type=int, default=8000, help="user ids drawn from 0..users-1 (unknown: fallback)"
    )
    return parser.parse_args(argv)


# ---- the phases ------------------------------------------------------------------------------


def meets(row: dict[str, Any], target_p99: float) -> bool:
    """Whether a run was served within the target: no error, p99, the generator's own lag.

    Every request of a run is answered or counted as an error (after the generator's timeout),
    so a run with no error and a p99 within the target answered the rate it was sent.
    """
    return row["errors"] == 0 and row["p99_ms"] <= target_p99 and row["lag_p99_ms"] <= target_p99


def capacity(
    services: list[Service], start: int, seconds: float, users: int, target_p99: float
) -> dict[str, Any]:
    """The highest rate ``services`` answer within ``target_p99``, and every run that found it."""
    runs: list[dict[str, Any]] = []

    def run(rate: int) -> bool:
        for attempt in (1, 2):  # a pause of the shared machine alone must not end the search
            print(f"  {len(services)} process(es), {rate} requests/s ...", flush=True)
            row = measured_load(services, rate, seconds, users)
            row.update(met=meets(row, target_p99), attempt=attempt)
            runs.append(row)
            if row["met"]:
                return True
        return False

    good, bad, rate = 0, None, start
    while bad is None and good < MAX_RATE:
        if run(rate):
            good, rate = rate, min(rate * 2, MAX_RATE)
        else:
            bad = rate
    for _ in range(3):
        if bad is None or bad - good <= 10:
            break
        middle = (good + bad) // 2
        good, bad = (middle, bad) if run(middle) else (good, middle)
    best = max((row for row in runs if row["met"]), key=lambda row: row["rate"], default=None)
    return {
        "processes": len(services),
        "target_p99_ms": target_p99,
        "max_rate": good,
        "first_failed_rate": bad,
        "at_max": best,
        "runs": runs,
    }


def swap(services: list[Service], rate: int, users: int) -> dict[str, Any]:
    """Load on every process while the alias moves to a copy of the champion and back.

    A thread moves the alias and waits, each time, until every process's ``/health`` names the
    new version; the load lasts until both moves are followed.
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    champion = client.get_model_version_by_alias(MODEL_NAME, "champion")
    # From the logged model, as the release registers one: the new version keeps its training
    # run, whose digest the services check (a copy of a registry version would have neither).
    original, copy = champion.version, mlflow.register_model(champion.source, MODEL_NAME).version
    followed: list[float | None] = []
    done = threading.Event()

    def move_twice() -> None:
        time.sleep(1)
        for version in (str(copy), str(original)):
            client.set_registered_model_alias(MODEL_NAME, "champion", version)
            moved = time.monotonic()
            while time.monotonic() - moved < FOLLOW_SECONDS:
                if all(service.model_version() == version for service in services):
                    followed.append(time.monotonic() - moved)
                    break
                time.sleep(0.2)
            else:
                followed.append(None)
        done.set()

    mover = threading.Thread(target=move_twice, daemon=True)
    mover.start()
    rows = []
    while not done.is_set():
        rows.append(measured_load(services, rate, 5.0, users))
    mover.join()
    return {
        "phase": "swap",
        "processes": len(services),
        "rate": rate,
        "sent": sum(row["sent"] for row in rows),
        "errors": sum(row["errors"] for row in rows),
        "p99_ms": max(row["p99_ms"] for row in rows),
        "max_ms": max(row["max_ms"] for row in rows),
        "followed_in_s": followed,
        "runs": rows,
    }


async def load_under_attack(url: str, rate: int, seconds: float, users: int) -> dict[str, Any]:
    """``load`` while three clients send ``HOSTILE_QUERY`` back to back; adds their figures.

    The attackers write prepared bytes on their own connections: building a 49 KB URL per
    request would cost the client more than the service takes to refuse it.
    """
    host, port = url.removeprefix("http://").split(":")
    request = f"GET /recommend?{HOSTILE_QUERY} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    hostile: list[float] = []
    stop = asyncio.Event()

    async def attacker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while not stop.is_set():
                started = time.perf_counter()
                writer.write(request)
                await read_response(reader)
                hostile.append((time.perf_counter() - started) * 1000)
        finally:
            writer.close()

    attackers = [asyncio.create_task(attacker()) for _ in range(3)]
    result = await load(url, rate, seconds, users)
    stop.set()
    await asyncio.gather(*attackers)
    return {
        "phase": "hostile",
        **result,
        "hostile_answered": len(hostile),
        "hostile_p50_ms": statistics.median(hostile),
    }


# ---- the command -----------------------------------------------------------------------------


def print_summary(results: dict[str, Any]) -> None:
    """The steady rates, the capacity per process count, the swap and the attack, as a table."""
    header = ("phase", "procs", "rate", "errors", "req/s", "p50 ms", "p99 ms", "lag ms")
    print("\n" + f"{header[0]:<10}" + "".join(f"{name:>9}" for name in header[1:]), end="")
    print("   gen ms/req  gen core  srv ms/req")
    rows = [*results["steady"]]
    rows += [found["at_max"] for found in results["capacity"] if found["at_max"]]
    rows += [results["hostile"]]
    for row in rows:
        phase = row.get("phase", "max")
        print(
            f"{phase:<10}{row['processes']:>9}{row['rate']:>9}{row['errors']:>9}"
            f"{row['throughput']:>9.1f}{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}"
            f"{row['lag_p99_ms']:>9.1f}{row['generator_cpu_ms']:>13.3f}"
            f"{row['generator_cpu_share']:>10.0%}{row.get('server_cpu_ms_per_request', 0):>12.2f}"
        )
    for found in results["capacity"]:
        print(
            f"{found['processes']} process(es): at most {found['max_rate']} requests/s with p99 "
            f"<= {found['target_p99_ms']:.0f} ms (first rate that failed: "
            f"{found['first_failed_rate'] or f'none up to {MAX_RATE}'})"
        )
    moved = results["swap"]
    print(
        f"swap at {moved['rate']}/s on {moved['processes']} processes: {moved['errors']} errors, "
        f"p99 {moved['p99_ms']:.1f} ms, every process followed each move in "
        + ", ".join("never" if s is None else f"{s:.1f} s" for s in moved["followed_in_s"])
    )
    print(
        f"hostile queries answered: {results['hostile']['hostile_answered']}, "
        f"median {results['hostile']['hostile_p50_ms']:.1f} ms each"
    )
    setup = results["setup"]
    print(
        f"load average (1 min) before {setup['load_average_before']:.2f}, "
        f"after {setup['load_average_after']:.2f}, on {setup['cpus']} cores"
    )


def main(argv: list[str] | None = None) -> int:
    """Set up, run every phase, print a table, write the results file."""
    args = parse_args(argv)
    config = load_config(DEFAULT_CONFIG)
    data = args.data or config.data.path
    if not data.is_dir():
        print(f"No dataset at {data}: run `make data` or pass --data.", file=sys.stderr)
        return 1
    load_before = os.getloadavg()
    version = register_champion(
        PACKAGE, WORK, data, l2=config.model.l2, k=config.evaluation.k, model_name=MODEL_NAME
    )
    overrides = {"registry.model_name": MODEL_NAME}
    services = [
        Service(PACKAGE, WORK / f"service-{index}", overrides)
        for index in range(max(args.processes))
    ]
    middle = sorted(args.rates)[len(args.rates) // 2]
    results: dict[str, Any] = {}
    try:
        for service in services:
            service.start()
        for service in services:
            service.wait_until_ready()
            measured_load([service], WARM_UP_RATE, WARM_UP_SECONDS, args.users)
        results["steady"] = []
        for rate in args.rates:
            print(f"steady load at {rate} requests/s for {args.seconds:.0f} s ...", flush=True)
            row = measured_load(services[:1], rate, args.seconds, args.users)
            results["steady"].append({"phase": "steady", **row})
        print(f"capacity: the most requests/s with p99 <= {args.target_p99:.0f} ms", flush=True)
        results["capacity"] = [
            capacity(
                services[:count], max(args.rates), args.search_seconds, args.users, args.target_p99
            )
            for count in args.processes
        ]
        print(f"load at {middle} requests/s while the champion alias moves twice ...", flush=True)
        results["swap"] = swap(services, middle, args.users)
        print(f"load at {middle} requests/s while 3 clients send hostile queries ...", flush=True)
        results["hostile"] = asyncio.run(
            load_under_attack(services[0].url, middle, args.seconds, args.users)
        )
    finally:
        for service in services:
            service.stop()
    results["setup"] = {
        "data": str(data),
        "model_version": version,
        "cpus": os.cpu_count(),
        "load_average_before": load_before[0],
        "load_average_after": os.getloadavg()[0],
    }
    print_summary(results)
    print(f"\nresults: {write_results('serve', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
