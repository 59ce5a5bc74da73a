"""The levels on real servers: level 2's release and level 4's reactions against the stack.

`python -m stack start`, the two level runs (their flow runs executed by the stack's worker),
then `python -m stack stop`.

What the README claims for "Growing past one machine" is checked where it lands: the runs and
the registry in PostgreSQL, the model files in the server's artifact store, the flow runs in
Prefect with the work pool and the worker that ran them, the service loading its champion from
the tracking server, and nothing left running afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest

from data import World, WorldConfig, write_dataset
from stack.layout import DEFAULT_PORTS, Layout

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS, RUN_SECONDS = 300, 600

pytestmark = pytest.mark.slow


def processes_under(folder: Path) -> list[psutil.Process]:
    """Every process whose command line names ``folder``: what the stack started there."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if str(folder) in command:
            found.append(process)
    return found


@pytest.fixture(scope="module")
def stack(free_port: Callable[[], int]) -> Iterator[Layout]:
    """The whole stack on free ports, in a folder of its own; stopped, and checked gone, after."""
    state = Path(tempfile.mkdtemp(prefix="stack-integration-"))
    state.chmod(0o755)  # PostgreSQL runs as nobody when the tests run as root
    layout = Layout(state, {name: free_port() for name in DEFAULT_PORTS})
    ports = [arg for name, port in layout.ports.items() for arg in (f"--{name}-port", str(port))]
    command = [sys.executable, "-m", "stack"]
    started = subprocess.run(
        [*command, "start", "--state", str(state), *ports],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=START_SECONDS,
        check=False,
    )
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"export MLFLOW_TRACKING_URI={layout.mlflow_url}" in started.stdout
        yield layout
    finally:
        subprocess.run(
            [*command, "stop", "--state", str(state)], cwd=ROOT, timeout=120, check=False
        )
        left = processes_under(state)
        shutil.rmtree(state, ignore_errors=True)
        assert left == [], f"still running after stop: {[p.pid for p in left]}"


def level_environment(layout: Layout) -> dict[str, str]:
    """This environment without the tests' own MLflow and Prefect settings, plus the stack's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREFECT_"))}
    return {**env, **layout.exports()}


def run_level(layout: Layout, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m <module> <args>`` against the stack, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=level_environment(layout),
        timeout=RUN_SECONDS,
        check=False,
    )


def flow_runs_of(layout: Layout, deployment: str) -> list[dict[str, Any]]:
    """The flow runs of the deployment called ``deployment``, from the Prefect server's API."""
    with httpx.Client(base_url=layout.prefect_api, timeout=30) as client:
        deployments = client.post("/deployments/filter", json={}).raise_for_status().json()
        ids = {d["id"] for d in deployments if d["name"] == deployment}
        runs = client.post("/flow_runs/filter", json={"limit": 200}).raise_for_status().json()
    return [run for run in runs if run["deployment_id"] in ids]


def assert_run_by_the_worker(layout: Layout, runs: list[dict[str, Any]]) -> None:
    """Each run completed on the stack's pool, and the worker's log says it submitted it."""
    worker_log = layout.log("worker").read_text(encoding="utf-8")
    assert runs
    for run in runs:
        assert run["state_type"] == "COMPLETED", run["state"]
        assert run["work_pool_name"] == layout.work_pool
        assert f"submitting flow run '{run['id']}'" in worker_log


def query(layout: Layout, database: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows straight from the stack's PostgreSQL."""
    with psycopg.connect(
        host="127.0.0.1", port=layout.ports["postgres"], user="postgres", dbname=database
    ) as connection:
        return connection.execute(sql, params).fetchall()


def test_level2_releases_on_the_stack(stack, tiny_world, tmp_path, free_port):
    state = tmp_path / "level2"
    settings = ["--set", f"tracking.state_dir={state}", "--set", f"serving.port={free_port()}"]
    try:
        result = run_level(stack, "level2_cicd.stages", "all", "--data", str(tiny_world), *settings)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert f"The flow runs on the work pool '{stack.work_pool}'" in result.stdout
        candidate = json.loads((state / "candidate.json").read_text())

        # The run and the registry are in the server's PostgreSQL.
        runs = query(
            stack, "mlflow", "SELECT status FROM runs WHERE run_uuid = %s", candidate["run_id"]
        )
        assert runs == [("FINISHED",)]
        aliases = query(
            stack,
            "mlflow",
            "SELECT alias, version FROM registered_model_aliases WHERE name = 'recommender'",
        )
        assert ("champion", int(candidate["version"])) in aliases

        # The model's files are in the server's artifact store, uploaded through the server.
        model_id = candidate["model_uri"].removeprefix("models:/")
        stored = [str(path) for path in stack.artifacts.rglob("MLmodel")]
        assert any(model_id in path for path in stored), stored

        # A worker, not the level's process, ran the training flow.
        assert_run_by_the_worker(stack, flow_runs_of(stack, "level2_cicd"))

        # The service loaded its champion from the tracking server.
        serve_log = (state / "serve.log").read_text(encoding="utf-8")
        assert f"loading models:/recommender@champion from {stack.mlflow_url}" in serve_log
    finally:
        run_level(stack, "level2_cicd.stages", "stop", *settings)


def test_level4_retrains_by_itself_on_the_stack(stack, tmp_path, free_port):
    world = World(WorldConfig(seed=7, size="tiny", scenario="catalog_shift", switch_day=92))
    data = write_dataset(world.history(), tmp_path / "catalog-shift-tiny")
    state = tmp_path / "level4"
    settings = ["--set", f"tracking.state_dir={state}", "--set", f"serving.port={free_port()}"]
    # Level 2's champion is on the same server: level 4 keeps a registered model of its own.
    settings += ["--set", "registry.model_name=recommender-level4"]
    settings += ["--set", f"monitoring.workspace_url={stack.evidently_url}"]
    try:
        result = run_level(
            stack, "level4_autonomous.production", "--data", str(data), "--days", "4", *settings
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert f"The reactions run on the work pool '{stack.work_pool}'" in result.stdout
        decisions = [
            json.loads(line) for line in (state / "decisions.jsonl").read_text().splitlines()
        ]
        retrained = [d for d in decisions if d["action"] == "retrain"]
        assert retrained, decisions

        # The automation's runs were executed by the worker, and the retrained version is in
        # the registry on PostgreSQL.
        assert_run_by_the_worker(stack, flow_runs_of(stack, "retraining"))
        versions = query(
            stack,
            "mlflow",
            "SELECT version FROM model_versions WHERE name = 'recommender-level4'",
        )
        assert (int(retrained[0]["model_version"]),) in versions

        # The monitoring's snapshots went to the stack's Evidently UI, a project of the level's.
        with httpx.Client(base_url=f"{stack.evidently_url}/api", timeout=30) as client:
            projects = client.get("/projects").raise_for_status().json()
            (project,) = [p for p in projects if p["name"] == "level4_autonomous"]
            snapshots = client.get(f"/projects/{project['id']}/snapshots").raise_for_status()
        assert len(snapshots.json()) >= 4  # at least one report a day
    finally:
        run_level(stack, "level4_autonomous.stages", "stop", *settings)


def test_a_schedule_becomes_a_deployment_the_worker_runs(stack, tiny_world, tmp_path):
    settings = ["--set", f"tracking.state_dir={tmp_path / 'level1'}"]
    settings += ["--set", "schedule.interval_minutes=720"]
    result = run_level(
        stack, "level1_pipeline.train", "--schedule", "--data", str(tiny_world), *settings
    )

    # It returns at once: the pool's worker, not this command, runs the schedule.
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"on the work pool '{stack.work_pool}', every 12:00:00" in result.stdout
    with httpx.Client(base_url=stack.prefect_api, timeout=30) as client:
        deployments = client.post("/deployments/filter", json={}).raise_for_status().json()
    (deployment,) = [d for d in deployments if d["name"] == "level1_pipeline-scheduled-training"]
    assert deployment["work_pool_name"] == stack.work_pool
    assert [s["schedule"]["interval"] for s in deployment["schedules"]] == [43200.0]
