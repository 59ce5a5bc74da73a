"""Run each level's own make target on one world, one after the other, and keep what it left.

Every level runs exactly as a reader would run it (``make level0`` … ``make level4`` with the same
SCENARIO, SEED, SIZE, DAYS and SWITCH_DAY), against one Prefect server started once for all of
them (``PREFECT_API_URL``), so no level pays for its own start-up. Each level keeps its own
MLflow database and state folder. What a level left that the comparison reads or links to is
kept under the comparison's folder (hard links where the file system allows, so nothing is
copied twice and a later run of the level cannot change a finished comparison).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .ladder import ROOT, Level

STATE = ROOT / "state"
#: The files a level leaves in its state folder that the comparison reads or links to.
KEPT_FILES = (
    "metrics.json",
    "gate.md",
    "gate.json",
    "stage_seconds.json",
    "summary.json",
    "timeline.csv",
    "timeline.png",
    "alerts.jsonl",
    "decisions.jsonl",
    "pages.jsonl",
)
#: Output lines of a level worth showing while it runs (its days and reactions).
PROGRESS_PREFIXES = ("day ", "  reaction", "== production")
#: Levels whose make target leaves a service running, stopped right after their run.
SERVING_LEVELS = ("level2_cicd", "level3_monitoring", "level4_autonomous")


@dataclass(frozen=True)
class WorldSpec:
    """The world and days every level plays: the knobs of ``make level3``."""

    scenario: str
    seed: int = 42
    size: str = "small"
    days: int = 21
    switch_day: int = 97

    def make_args(self) -> list[str]:
        """The make variables that select this world and these days."""
        return [
            f"SCENARIO={self.scenario}",
            f"SEED={self.seed}",
            f"SIZE={self.size}",
            f"DAYS={self.days}",
            f"SWITCH_DAY={self.switch_day}",
        ]

    @property
    def dataset(self) -> Path:
        """The dataset folder ``make data`` writes for this world (mk/common.mk's SIM_DATA)."""
        name = f"{self.scenario}-{self.size}-seed{self.seed}-switch{self.switch_day}"
        return STATE / "datasets" / name


@dataclass(frozen=True)
class LevelRun:
    """How one level's make target went: exit code, wall time and its log."""

    level: str
    command: list[str]
    exit_code: int
    seconds: float
    log: Path
    started: float = 0.0  # time.time() at the start, to tell this run's files from older ones


def run_level(level: Level, spec: WorldSpec, logs: Path) -> LevelRun:
    """``make <target>`` for the level, its output to a log, its days echoed as progress."""
    command = ["make", "--no-print-directory", level.target, *spec.make_args()]
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{level.name}.log"
    print(f"{level.name:<18} {' '.join(command[2:4])} ...", flush=True)
    began = time.time()
    started = time.perf_counter()
    try:
        code = stream(command, log)
        seconds = time.perf_counter() - started
    finally:  # stopped or not, the service the level deployed goes with it
        if level.name in SERVING_LEVELS:
            stop_service(level.name)
    verdict = "ok" if code == 0 else f"FAILED (exit {code}, see {log})"
    print(f"{level.name:<18} {verdict} in {seconds:.1f} s", flush=True)
    return LevelRun(level.name, command, code, round(seconds, 1), log, began)


def stream(command: list[str], log: Path) -> int:
    """Run ``command`` from the repository root, its output to ``log``; its exit code.

    The lines that tell a level's days and reactions are echoed as they come: a level's
    production days take minutes.
    """
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=level_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            if line.startswith(PROGRESS_PREFIXES):
                print(f"    {line.rstrip()}", flush=True)
        return process.wait()


def level_environment() -> dict[str, str]:
    """This environment without MLflow's server settings: each level keeps its own store.

    Levels 2-4 all register a model called ``recommender``; on one shared tracking server they
    would move each other's champion. The shared Prefect API stays (``PREFECT_API_URL``).
    """
    return {
        name: value
        for name, value in os.environ.items()
        if name not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    }


def stop_service(level: str) -> None:
    """Stop the service the level's run left running: the next level should have the cores."""
    subprocess.run(
        [sys.executable, "-m", f"{level}.stages", "stop"],
        cwd=ROOT,
        env=level_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


def generate_dataset(spec: WorldSpec) -> Path:
    """The world's dataset folder, generated by ``make data`` unless it is there already."""
    if not (spec.dataset / "world.json").exists():
        subprocess.run(
            ["make", "--no-print-directory", "data", *spec.make_args()],
            cwd=ROOT,
            check=True,
            stdin=subprocess.DEVNULL,
        )
    return spec.dataset


@contextmanager
def shared_prefect(state: Path) -> Iterator[str]:
    """One Prefect server (with its event services, which level 4's automations need).

    An API already configured (``PREFECT_API_URL``) is used as it is. Otherwise the server runs
    with its database under ``state`` and stops when the comparison ends, whatever happens.
    Only Prefect's settings are set here: each level keeps its own MLflow database.
    """
    prefect_home = (state / "prefect").resolve()
    prefect_home.mkdir(parents=True, exist_ok=True)
    defaults = {
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{prefect_home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "DO_NOT_TRACK": "1",
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    # The server a level starts for itself when it runs alone, started once here for all.
    from level4_autonomous.runtime import prefect_api

    started = time.perf_counter()
    with prefect_api(state, "--no-ui") as url:
        print(
            f"One Prefect server for every level: {url} "
            f"(ready in {time.perf_counter() - started:.0f} s)",
            flush=True,
        )
        yield url


def keep(run: LevelRun, into: Path) -> Path:
    """Keep what the level's run left that the page links to; the folder it went into.

    Its result files, its Evidently reports, and the MLflow artefacts of the runs it tracked
    (configuration, metrics, validation, gate report, model card; not the models themselves).
    """
    source = STATE / run.level
    into.mkdir(parents=True, exist_ok=True)
    for name in KEPT_FILES:
        if (source / name).is_file():
            link_or_copy(source / name, into / name)
    reports = source / "monitoring" / "reports"
    for path in sorted(reports.glob("day-*/*.html")):
        link_or_copy(path, into / "reports" / path.parent.name / path.name)
    for path in sorted((source / "artifacts").glob("*/artifacts/**/*")):
        if path.is_file() and path.stat().st_mtime >= run.started:
            link_or_copy(path, into / "mlflow" / path.relative_to(source / "artifacts"))
    return into


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link to ``source`` at ``target`` (replacing it), or a copy across file systems."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
