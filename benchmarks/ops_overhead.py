"""What operations cost: each level's make target on the same data, and where its time goes.

    python -m benchmarks.ops_overhead [--repeats 3] [--levels level0 level1 ...]

Every level trains the same model on the same world, so what a level takes beyond level 0 is the
price of its operations. Each make target runs ``--repeats`` times in two ways, and the medians
are reported:

- alone, as a reader runs it: a level from 1 up starts its own Prefect server and stops it;
- after one shared start-up, as ``make demo`` runs the levels: one Prefect server, started once
  by this benchmark (with its event services, which level 4 needs), serves every run through
  ``PREFECT_API_URL``.

The server's start-up is timed on its own: from starting it as a level does to its first healthy
``/health``, with and without Prefect's background services. One more run per level, with
``PYTHONPROFILEIMPORTTIME`` set, sums the top-level imports of the level's own processes (those
that write to the terminal; a deployed service logs to its own file and is counted in the level's
steps), and what remains of the shared run is the pipeline's own steps. Levels 3 and 4 play one
production day, whose seconds (from their summary) are reported apart: a day's monitoring is the
level's work, not its overhead. Results go to ``state/bench/ops.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from benchmarks.results import write_results
from compare.runner import SERVING_LEVELS, level_environment, shared_prefect, stop_service

LEVELS = {
    "level0": "level0_manual",
    "level1": "level1_pipeline",
    "level2": "level2_cicd",
    "level3": "level3_monitoring",
    "level4": "level4_autonomous",
}
#: Levels 3 and 4 release, then play production days: one is enough to count what it costs.
MAKE_KNOBS = ("DAYS=1",)
STATE = Path("state")
#: How the levels start a server of their own: a single run needs no background services; level
#: 4's automations (and a schedule) do.
SERVER_KINDS = {
    "without services": ("--no-services", "--no-ui"),
    "with services": ("--no-ui",),
}
#: ``-X importtime`` lines of a module imported at the top (no indentation before its name).
TOP_LEVEL_IMPORT = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \| (\S.*)$")


@dataclass(frozen=True)
class Timing:
    """One run of a make target: its wall time and the production days' share of it."""

    seconds: float
    production_days: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: how many runs per level and mode, and which levels."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per level and mode (median)")
    parser.add_argument("--levels", nargs="+", choices=list(LEVELS), default=list(LEVELS))
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    return args


def environment(**extra: str) -> dict[str, str]:
    """The shell's environment without MLflow's server settings (each level keeps its own store)."""
    return {**level_environment(), **extra}


def run_target(target: str, env: dict[str, str]) -> tuple[float, str]:
    """Run ``make <target>``; its wall time and standard error. A failed run stops the benchmark."""
    started = time.perf_counter()
    done = subprocess.run(
        ["make", "--no-print-directory", target, *MAKE_KNOBS],
        check=False,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"make {target} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stderr


def production_days(level: str) -> float:
    """Seconds of the production days in a level's last run (0 for levels without any)."""
    state = STATE / LEVELS[level]
    summary, stages = state / "summary.json", state / "stage_seconds.json"
    if not summary.exists():
        return 0.0
    total = json.loads(summary.read_text(encoding="utf-8"))["seconds"]
    return max(0.0, total - sum(json.loads(stages.read_text(encoding="utf-8")).values()))


def stop_services(target: str) -> None:
    """Stop what a serving level deployed, so every run starts its service the same way."""
    if LEVELS[target] in SERVING_LEVELS:
        stop_service(LEVELS[target])


def timed(target: str, env: dict[str, str]) -> Timing:
    """One run of a level's make target, its service stopped after it."""
    try:
        seconds, _ = run_target(target, env)
        return Timing(seconds, production_days(target))
    finally:
        stop_services(target)


def import_seconds(stderr: str) -> float:
    """The sum of the top-level imports that ``-X importtime`` reported in ``stderr``."""
    microseconds = sum(
        int(match.group(1))
        for line in stderr.splitlines()
        if (match := TOP_LEVEL_IMPORT.match(line))
    )
    return microseconds / 1e6


def median(timings: list[Timing]) -> Timing:
    """The median wall time, and the median of the production days beside it."""
    return Timing(
        statistics.median(t.seconds for t in timings),
        statistics.median(t.production_days for t in timings),
    )


@contextmanager
def shared_server() -> Iterator[str]:
    """One Prefect server for every shared run, as ``make demo`` starts it."""
    with shared_prefect(STATE / "bench" / "ops") as url:
        yield url


def server_startup(options: tuple[str, ...], home: Path) -> float:
    """Seconds from starting a Prefect server, as a level does, to its first healthy answer.

    Its database is under ``home`` (never the user's own Prefect home): a new one is created
    (migrated) at the first start, which a level pays once per state folder.
    """
    from level2_cicd.processes import stop_tree
    from level2_cicd.runtime import PREFECT_SERVER, free_port, wait_until_healthy

    port = free_port()
    started = time.perf_counter()
    database = f"sqlite+aiosqlite:///{(home / 'prefect.db').resolve()}"
    server = subprocess.Popen(
        [*PREFECT_SERVER, "--host", "127.0.0.1", "--port", str(port), *options],
        env={
            **os.environ,
            "PREFECT_HOME": str(home.resolve()),
            "PREFECT_API_DATABASE_CONNECTION_URL": database,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/api", server)
        return time.perf_counter() - started
    finally:
        stop_tree(psutil.Process(server.pid))
        server.wait()


def measure(level: str, repeats: int, api_url: str) -> dict[str, float]:
    """One level's figures: alone, shared, imports and its own steps."""
    alone = median([timed(level, environment()) for _ in range(repeats)])
    shared_env = environment(PREFECT_API_URL=api_url)
    shared = median([timed(level, shared_env) for _ in range(repeats)])
    try:
        _, stderr = run_target(level, {**shared_env, "PYTHONPROFILEIMPORTTIME": "1"})
    finally:
        stop_services(level)
    imports = import_seconds(stderr)
    return {
        "alone_seconds": round(alone.seconds, 2),
        "shared_seconds": round(shared.seconds, 2),
        "production_day_seconds": round(shared.production_days, 2),
        "import_seconds": round(imports, 2),
        "step_seconds": round(shared.seconds - shared.production_days - imports, 2),
    }


def table(results: dict[str, dict[str, float]]) -> str:
    """The figures, one level a row, with the cost over level 0 after one shared start-up."""
    base = results.get("level0", {})
    base_ops = base.get("shared_seconds")
    header = (
        f"{'level':<8}{'alone':>8}{'shared':>8}{'imports':>9}{'steps':>8}{'1 day':>8}{'over L0':>9}"
    )
    lines = [header]
    for level, row in results.items():
        ops = row["shared_seconds"] - row["production_day_seconds"]
        over = f"{ops - base_ops:+.1f}" if base_ops is not None else "-"
        day = f"{row['production_day_seconds']:.1f}" if row["production_day_seconds"] else "-"
        lines.append(
            f"{level:<8}{row['alone_seconds']:>8.1f}{row['shared_seconds']:>8.1f}"
            f"{row['import_seconds']:>9.1f}{row['step_seconds']:>8.1f}{day:>8}{over:>9}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure every level asked for, print the table and write ``state/bench/ops.json``."""
    args = parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    home = STATE / "bench" / "ops" / "startup"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    startup = {
        "first start, new database": round(
            server_startup(SERVER_KINDS["without services"], home), 2
        )
    }
    for kind, options in SERVER_KINDS.items():
        runs = [server_startup(options, home) for _ in range(args.repeats)]
        startup[kind] = round(statistics.median(runs), 2)
    for kind, seconds in startup.items():
        print(f"A Prefect server ({kind}) answers {seconds} s after it is started", flush=True)
    with shared_server() as url:
        for level in args.levels:
            print(
                f"{level}: {args.repeats} runs alone, {args.repeats} shared, 1 for imports",
                flush=True,
            )
            results[level] = measure(level, args.repeats, url)
            print(f"  {results[level]}", flush=True)
    print(
        "\nSeconds per make target (median; 'shared' after one Prefect start-up; levels 3 and"
        " 4 play 1 day,\nwhose seconds are apart; 'over L0' = shared minus the day, minus"
        " level 0's):"
    )
    print(table(results))
    figures = {"server_startup_seconds": startup, "levels": results}
    path = write_results("ops", {"repeats": args.repeats, "knobs": MAKE_KNOBS, **figures})
    print(f"\n  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
