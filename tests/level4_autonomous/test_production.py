"""The level's run end to end: a Prefect automation starts the retraining, on a real server.

A tiny world whose catalogue shifts on day 92, two days into production. The test starts its own
Prefect server (``prefect server start`` on 127.0.0.1, with its services: events, triggers and
actions, which automations need) and stops it by its process id. The run releases a champion,
plays the days over real HTTP, and the monitoring finds the new items on day 92: an event per
finding. The policy waits for a second day of fresh data, so on day 93 the automation on the
retraining deployment starts a flow run, which retrains on days 92-93 and records its decision.
The run's summary, timeline and decision log must say so, the flow run must have been created by
the automation, and nothing may be left running.
"""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from data import World, WorldConfig, write_dataset
from level4_autonomous import PACKAGE, stages
from level4_autonomous.config import DEFAULT_CONFIG, load_config
from level4_autonomous.processes import stop_tree
from level4_autonomous.runtime import free_port, wait_until_healthy
from level4_autonomous.timeline import COLUMNS

pytestmark = pytest.mark.slow

SWITCH_DAY, DAYS = 92, 4
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def catalog_shift_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny world whose catalogue grows by half on day 92, new items taking the traffic."""
    folder = tmp_path_factory.mktemp("world") / "catalog-shift-tiny-switch92"
    world = World(WorldConfig(seed=7, size="tiny", scenario="catalog_shift", switch_day=92))
    return write_dataset(world.history(), folder)


@pytest.fixture
def prefect_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Prefect server of this test's own, with its services, stopped by its process id."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    home = tmp_path / "prefect"
    home.mkdir()
    monkeypatch.setenv("PREFECT_HOME", str(home))
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", f"sqlite+aiosqlite:///{home}/p.db")
    port = free_port()
    command = [sys.executable, "-m", "prefect", "server", "start", "--no-ui"]
    with (tmp_path / "prefect-server.log").open("wb") as log:
        server = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        wait_until_healthy(url, server)
        monkeypatch.setenv("PREFECT_API_URL", url)
        with temporary_settings({PREFECT_API_URL: url}):
            yield url
    finally:
        if server.poll() is None:
            stop_tree(psutil.Process(server.pid))
        server.wait()


def created_by_automation(flow_run_name: str) -> list[str]:
    """The creators (type and name) of the retraining flow runs called ``flow_run_name``."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterName,
    )

    async def read() -> list[str]:
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[f"{PACKAGE}-retraining"])),
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[flow_run_name])),
            )
            return [f"{run.created_by.type}:{run.created_by.display_value}" for run in runs]

    return asyncio.run(read())


def test_an_automation_starts_the_retraining_the_new_catalogue_calls_for(
    catalog_shift_world, test_config, prefect_server, process_trace
):
    config_path = test_config(DEFAULT_CONFIG, "level4-production-tests")
    model_name = f"recommender-{uuid.uuid4().hex[:8]}"
    settings = {"registry.model_name": model_name, "serving.port": free_port()}
    args = ["--config", str(config_path)]
    args += [item for key, value in settings.items() for item in ("--set", f"{key}={value}")]
    state = load_config(config_path).tracking.state_dir
    # A process of its own, as `make level4` runs it: Prefect's events client is one per
    # process, and this test process may have sent events to another test's server before.
    command = [sys.executable, "-m", "level4_autonomous.production", *args]
    command += ["--data", str(catalog_shift_world), "--days", str(DAYS)]
    environment = {**process_trace.environment(), "PREFECT_API_URL": prefect_server}
    try:
        run = subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=900, check=False
        )
        assert run.returncode == 0, run.stdout + run.stderr
        out = run.stdout
    finally:
        assert stages.main(["stop", *args]) == 0

    summary = json.loads((state / "summary.json").read_text())
    assert (summary["scenario"], summary["switch_day"], summary["days"]) == (
        "catalog_shift",
        SWITCH_DAY,
        DAYS,
    )
    assert [(a["day"], a["metric"]) for a in summary["alerts"]] == [(SWITCH_DAY, "new_item_share")]
    retrains = [d for d in summary["decisions"] if d["action"] == "retrain"]
    assert [(d["day"], d["model_version"]) for d in retrains] == [(SWITCH_DAY + 1, "2")]
    assert retrains[0]["evidence"]["window"] == {"from_day": SWITCH_DAY, "last_day": SWITCH_DAY + 1}
    assert summary["failed_requests"] == 0
    logged = [json.loads(line) for line in (state / "decisions.jsonl").read_text().splitlines()]
    assert logged == summary["decisions"]

    # the chain: the monitoring's events, the automation, the retraining deployment's runs
    assert "reaction: retraining run day-93 (completed)" in out
    creators = created_by_automation(f"day-{SWITCH_DAY + 1}")
    assert creators and all(c.startswith("AUTOMATION:") for c in creators), creators
    # the training data of the retraining: the history and the feed days through day 93
    meta = json.loads((state / "retraining" / "day-0093" / "world.json").read_text())
    assert meta["feed_days"] == [90, 91, 92, 93]

    with (state / "timeline.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == list(COLUMNS)
    assert [row["champion_version"] for row in rows] == ["1"] * DAYS
    assert rows[SWITCH_DAY + 1 - 90]["decisions"].startswith("retrain:2")
    assert (state / "timeline.png").read_bytes().startswith(PNG_SIGNATURE)
    assert process_trace.running() == []
