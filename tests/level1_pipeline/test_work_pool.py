"""Flow runs on a work pool: which pool, with what settings, and a refusal without a worker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prefect import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.settings import PREFECT_DEPLOYMENTS_DEFAULT_WORK_POOL_NAME, temporary_settings

from level1_pipeline.work_pool import (
    WorkPoolError,
    configured_pool,
    job_variables,
    require_online_worker,
)


def test_no_pool_named_means_the_flow_runs_in_this_process():
    with temporary_settings(restore_defaults={PREFECT_DEPLOYMENTS_DEFAULT_WORK_POOL_NAME}):
        assert configured_pool() is None
    with temporary_settings({PREFECT_DEPLOYMENTS_DEFAULT_WORK_POOL_NAME: "team-pool"}):
        assert configured_pool() == "team-pool"


def test_the_worker_runs_the_flow_here_with_this_runs_tracking_settings(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    monkeypatch.setenv("PREFECT_HOME", "/tmp/level-home")
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "sqlite+aiosqlite:///x.db")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not for the worker")

    variables = job_variables()

    assert variables["working_dir"] == str(Path.cwd())
    env = variables["env"]
    assert env["MLFLOW_TRACKING_URI"] == "http://tracking.example:5000"
    assert env["PREFECT_HOME"] == "/tmp/level-home"  # where the flow's result is read back from
    assert env["PREFECT_RESULTS_PERSIST_BY_DEFAULT"] == "true"
    # The worker's own server settings and unrelated secrets are not this run's to pass on.
    assert "PREFECT_API_DATABASE_CONNECTION_URL" not in env
    assert "AWS_SECRET_ACCESS_KEY" not in env


@pytest.mark.usefixtures("prefect_harness")
def test_a_missing_pool_or_one_without_a_worker_is_refused_naming_the_pool():
    async def check(pool: str) -> str:
        async with get_client() as client:
            with pytest.raises(WorkPoolError) as refused:
                await require_online_worker(client, pool)
        return str(refused.value)

    async def create(pool: str) -> None:
        async with get_client() as client:
            await client.create_work_pool(WorkPoolCreate(name=pool, type="process"))

    missing = asyncio.run(check("level1_pipeline-no-such-pool"))
    assert "'level1_pipeline-no-such-pool'" in missing
    assert "does not exist" in missing

    asyncio.run(create("level1_pipeline-idle-pool"))
    idle = asyncio.run(check("level1_pipeline-idle-pool"))
    assert "no worker polls the work pool 'level1_pipeline-idle-pool'" in idle
    assert "prefect worker start --pool level1_pipeline-idle-pool" in idle
