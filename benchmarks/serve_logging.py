"""Benchmark: what the prediction log costs level 3's serving API, at fixed request rates.

    python -m benchmarks.serve_logging [--data FOLDER] [--rates 100 200] [--seconds 10]

Level 3 writes every ``/recommend`` answer to the prediction log before sending it. This measures
what that costs a client: ``/recommend`` latency (p50, p95, p99) under open-loop load (requests
start on a fixed schedule whatever the answers' speed, so a slow service shows up as latency
instead of being hidden by a client that waits) with ``serving.log_predictions`` on and off, and
the log write alone (``PredictionLog.record_answer``, ten items, p50 and p99).

It is self-contained: it trains the level's model on ``--data`` (default: the level's configured
dataset), registers it as champion in an MLflow store of its own and starts two real services
(``python -m level3_monitoring.serve``, one with the log and one without) on free ports of
127.0.0.1, all under ``state/bench/serve_logging/`` (wiped at the start). The level's own
registry and prediction log are never touched. Both services run for the whole benchmark and the
rates alternate between them, so a change in the machine's load hits both alike; each is stopped
by its pid at the end, whatever happens. The CPU seconds of each service and of the load
generator itself are recorded too: on a small machine the generator competes with the service.
For the logging service, the latency it logged itself (from the request reaching the application
to the answer being logged) is read back from its log: when the client saw a slow run but the
application did not, the time went to the event loop, the network or the generator. Results go
to ``state/bench/serve_logging.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.open_loop import load
from benchmarks.results import write_results
from benchmarks.services import Service, measured_load, register_champion
from level3_monitoring.config import DEFAULT_CONFIG, load_config
from level3_monitoring.prediction_log import LoggedRequest, PredictionLog, log_path

PACKAGE = "level3_monitoring"
WORK = Path("state/bench/serve_logging")
MODEL_NAME = "recommender-bench"
#: Unmeasured load sent to each service first: the first requests pay one-off costs.
WARM_UP_RATE, WARM_UP_SECONDS = 50, 2.0
#: A run whose generator sent its requests later than this behind schedule (p99) is marked: the
#: generator was short of CPU, so the run measured the machine's load as much as the service.
LATE_MS = 10.0
#: The context every request carries, so that a logged row is as wide as the service's are.
CONTEXT = {"device": "mobile", "country": "DE", "age_band": "25-34", "account_age_days": 300}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: the dataset, the rates, how long each lasts, the users to ask for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, help="dataset folder to train on (default: the level's config)"
    )
    parser.add_argument("--rates", type=int, nargs="+", default=[100, 200], help="requests/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each rate")
    parser.add_argument(
        "--users", type=int, default=8000, help="user ids drawn from 0..users-1 (unknown: fallback)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="times every rate runs against each service (the order of the two alternates)",
    )
    parser.add_argument(
        "--writes", type=int, default=5000, help="record_answer calls timed on their own"
    )
    return parser.parse_args(argv)


# ---- two services of the benchmark's own ------------------------------------------------------


class LoggingService(Service):
    """Level 3's service with the prediction log on or off, in a state folder of its own."""

    def __init__(self, log_predictions: bool) -> None:
        super().__init__(
            PACKAGE,
            WORK / f"service-log-{'on' if log_predictions else 'off'}",
            {
                "registry.model_name": MODEL_NAME,
                "serving.log_predictions": str(log_predictions).lower(),
            },
        )
        self.log_predictions = log_predictions

    def in_app_latencies(self, started_at: float, ended_at: float) -> dict[str, float]:
        """p50 and p99 of the latency the service logged for the requests of one run.

        The service measures it from the moment the request reaches the application to the
        moment the answer is logged: unlike the client's, it leaves out the time a request waits
        for the event loop and the network, so the two together say where a slow run lost time.
        """
        with sqlite3.connect(log_path(self.folder)) as connection:
            latencies = [
                latency
                for (latency,) in connection.execute(
                    "SELECT latency_ms FROM requests WHERE logged_at BETWEEN ? AND ?",
                    (started_at, ended_at),
                )
            ]
        connection.close()
        quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
        return {"in_app_p50_ms": quantiles[49], "in_app_p99_ms": quantiles[98]}

    def logged_requests(self) -> int | None:
        """Rows in the service's prediction log (None when it logs nothing)."""
        path = log_path(self.folder)
        if not path.exists():
            return None
        with sqlite3.connect(path) as connection:
            count = connection.execute("SELECT count(*) FROM requests").fetchone()[0]
        connection.close()
        return count


# ---- the load --------------------------------------------------------------------------------


def logging_load(service: LoggingService, rate: int, seconds: float, users: int) -> dict[str, Any]:
    """``measured_load`` on one service, marked with whether it logs and when the run was."""
    started_at = time.time()
    result = measured_load([service], rate, seconds, users, CONTEXT)
    return {
        "phase": "steady",
        "log_predictions": service.log_predictions,
        "started_at": started_at,
        "ended_at": time.time(),
        **result,
    }


def time_log_writes(folder: Path, calls: int) -> dict[str, Any]:
    """``record_answer`` alone, on a fresh log, as the service calls it (ten items each)."""
    items = [(rank, 1000 + rank, 1.0 / rank) for rank in range(1, 11)]
    durations = []
    with PredictionLog.open(log_path(folder)) as prediction_log:
        for index in range(calls):
            request = LoggedRequest(
                request_id=uuid.uuid4().hex,
                timestamp=int(time.time()),
                status=200,
                latency_ms=1.0,
                user_id=index,
                k=10,
                model_version="1",
                fallback=False,
                **CONTEXT,  # type: ignore[arg-type]
            )
            started = time.perf_counter()
            prediction_log.record_answer(request, items)
            durations.append((time.perf_counter() - started) * 1000)
    quantiles = statistics.quantiles(durations, n=100)
    return {
        "phase": "record_answer",
        "calls": calls,
        "p50_ms": quantiles[49],
        "p99_ms": quantiles[98],
        "max_ms": max(durations),
    }


# ---- the command -----------------------------------------------------------------------------


def print_table(results: list[dict[str, Any]]) -> None:
    """The steady-load rows side by side, then the log write alone."""
    header = ("log", "rate", "round", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "srv ms/req")
    print("\n" + f"{header[0]:<5}" + "".join(f"{name:>11}" for name in header[1:]) + "  lag ms")
    steady = [row for row in results if row["phase"] == "steady"]
    steady.sort(key=lambda row: (row["rate"], not row["log_predictions"], row["round"]))
    for row in steady:
        print(
            f"{'on' if row['log_predictions'] else 'off':<5}{row['rate']:>11}{row['round']:>11}"
            f"{row['errors']:>11}{row['throughput']:>11.1f}{row['p50_ms']:>11.2f}"
            f"{row['p95_ms']:>11.2f}{row['p99_ms']:>11.2f}{row['server_cpu_ms_per_request']:>11.2f}"
            f"{row['lag_p99_ms']:>8.1f}{' *' if row['lag_p99_ms'] > LATE_MS else ''}"
        )
    if any(row["lag_p99_ms"] > LATE_MS for row in steady):
        print(
            f"* the generator sent at least 1 % of its requests over {LATE_MS:.0f} ms late "
            "(lag ms, its p99): it was short of CPU, so that run also measured the machine's load"
        )
    for row in steady:
        if "in_app_p99_ms" in row:
            print(
                f"log on, {row['rate']}/s, round {row['round']}: in the application (as logged) "
                f"p50 {row['in_app_p50_ms']:.2f} ms, p99 {row['in_app_p99_ms']:.2f} ms"
            )
    for rate in sorted({row["rate"] for row in steady}):
        rows = [row for row in steady if row["rate"] == rate]
        print(
            f"load generator at {rate}/s: {max(row['generator_cpu_share'] for row in rows):.0%} "
            f"of a core at most; sent up to {max(row['lag_p99_ms'] for row in rows):.1f} ms "
            "behind schedule (p99)"
        )
    for row in results:
        if row["phase"] == "record_answer":
            print(
                f"record_answer alone ({row['calls']} calls, 10 items): "
                f"p50 {row['p50_ms']:.3f} ms, p99 {row['p99_ms']:.3f} ms, "
                f"max {row['max_ms']:.1f} ms"
            )


def main(argv: list[str] | None = None) -> int:
    """Set up, run every rate against both services, print a table, write the results file."""
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
    services = [LoggingService(log_predictions=True), LoggingService(log_predictions=False)]
    results: list[dict[str, Any]] = []
    try:
        for service in services:
            service.start()
        for service in services:
            service.wait_until_ready()
            asyncio.run(load(service.url, WARM_UP_RATE, WARM_UP_SECONDS, args.users))
        for round_ in range(1, args.rounds + 1):
            for rate in args.rates:
                # Alternate which service goes first, so that neither always follows the other.
                for service in services if round_ % 2 else services[::-1]:
                    state = "on" if service.log_predictions else "off"
                    print(
                        f"round {round_}: {rate} requests/s for {args.seconds:.0f} s, log {state}",
                        flush=True,
                    )
                    row = logging_load(service, rate, args.seconds, args.users)
                    results.append({"round": round_, **row})
    finally:
        for service in services:
            service.stop()
    logged = services[0].logged_requests()
    for row in results:
        if row["log_predictions"]:
            row.update(services[0].in_app_latencies(row["started_at"], row["ended_at"]))
    print(f"timing {args.writes} log writes alone ...", flush=True)
    results.append(time_log_writes(WORK / "writes-alone", args.writes))
    results.append(
        {
            "phase": "setup",
            "data": str(data),
            "model_version": version,
            "cpus": os.cpu_count(),
            "load_average_before": load_before[0],
            "load_average_after": os.getloadavg()[0],
            "logged_requests": logged,
        }
    )
    print_table(results)
    sent = sum(row["sent"] for row in results if row.get("log_predictions") is True)
    warm_up = int(WARM_UP_RATE * WARM_UP_SECONDS)
    print(f"rows in the logging service's log: {logged} (sent to it: {sent} + {warm_up} warm-up)")
    print(f"load average (1 min) before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    print(f"\nresults: {write_results('serve_logging', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
