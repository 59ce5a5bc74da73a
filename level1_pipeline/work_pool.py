"""Flow runs on a work pool: a worker, not this process, runs the flow when a pool is named.

Prefect's own setting ``PREFECT_DEPLOYMENTS_DEFAULT_WORK_POOL_NAME`` (the pool ``prefect deploy``
uses too) names it; ``make stack`` exports it with the servers' URLs. The flow then becomes a
deployment on that pool, and this process asks for a run of it and waits: a worker polling the
pool runs it as a process of its own (or, with a Docker or Kubernetes worker, in a container),
so the training's CPU and memory are the worker machine's, and its logs and state are in the
Prefect UI like any scheduled run's. Unset, the flow runs in this process, as before.

The worker starts the run in this process's working directory, with this run's MLflow and
Prefect settings, and imports the flow by module name. One machine needs nothing more; workers
on other machines need the code (an image or a ``pull`` step) and the data at the same paths.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from . import PACKAGE

T = TypeVar("T")
#: Settings a flow run on a worker must share with this process (the rest are the worker's).
FORWARDED_PREFIXES = ("MLFLOW_", "PREFECT_HOME", "PREFECT_LOGGING_LEVEL", "DO_NOT_TRACK")


class WorkPoolError(RuntimeError):
    """The named work pool cannot run the flow; the message says what to start."""


def configured_pool() -> str | None:
    """The work pool named by Prefect's setting, or None to run flows in this process."""
    from prefect.settings import PREFECT_DEPLOYMENTS_DEFAULT_WORK_POOL_NAME

    return PREFECT_DEPLOYMENTS_DEFAULT_WORK_POOL_NAME.value() or None


def job_variables() -> dict[str, Any]:
    """Where and with what settings the worker runs the flow: here, with this run's settings.

    Results are persisted, under this run's ``PREFECT_HOME``, so this process can read what the
    flow returned once the worker's process has ended.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if name.startswith(FORWARDED_PREFIXES) and value
    }
    env["PREFECT_RESULTS_PERSIST_BY_DEFAULT"] = "true"
    return {"working_dir": str(Path.cwd()), "env": env}


def run_on_work_pool(flow: Callable[..., T], pool: str, parameters: dict[str, Any]) -> T:
    """Deploy ``flow`` to ``pool``, run it there with ``parameters``, and return its result.

    A failed run raises what the flow raised, as a run in this process would.
    """
    return asyncio.run(_run_on_work_pool(flow, pool, parameters))


async def _run_on_work_pool(flow: Any, pool: str, parameters: dict[str, Any]) -> Any:
    from prefect import get_client
    from prefect.deployments import arun_deployment
    from prefect.deployments.runner import EntrypointType

    async with get_client() as client:
        worker = await require_online_worker(client, pool)
        deployment = await flow.ato_deployment(
            name=PACKAGE,
            entrypoint_type=EntrypointType.MODULE_PATH,
            work_pool_name=pool,
            job_variables=job_variables(),
        )
        await deployment.aapply(work_pool_name=pool)
        print(f"The flow runs on the work pool {pool!r} (worker {worker}); waiting ...", flush=True)
        run = await arun_deployment(
            f"{flow.name}/{PACKAGE}", parameters=parameters, timeout=None, poll_interval=1
        )
        print(f"Flow run {run.name!r} ended {run.state.name if run.state else 'unknown'}.")
        if run.state is None:
            raise WorkPoolError(f"the flow run {run.name!r} has no state")
        return await run.state.aresult(raise_on_failure=True)


def deploy_on_schedule(
    flow: Any, pool: str, name: str, interval: timedelta, parameters: dict[str, Any]
) -> None:
    """Deploy ``flow`` to ``pool`` to run every ``interval``: the pool's worker runs it."""
    asyncio.run(_deploy_on_schedule(flow, pool, name, interval, parameters))


async def _deploy_on_schedule(
    flow: Any, pool: str, name: str, interval: timedelta, parameters: dict[str, Any]
) -> None:
    from prefect import get_client
    from prefect.deployments.runner import EntrypointType

    async with get_client() as client:
        await require_online_worker(client, pool)
    deployment = await flow.ato_deployment(
        name=name,
        interval=interval,
        parameters=parameters,
        entrypoint_type=EntrypointType.MODULE_PATH,
        work_pool_name=pool,
        job_variables=job_variables(),
    )
    await deployment.aapply(work_pool_name=pool)


async def require_online_worker(client: Any, pool: str) -> str:
    """The name of a worker polling ``pool`` now, or a WorkPoolError saying what to start."""
    from prefect.client.schemas.filters import WorkerFilter, WorkerFilterStatus
    from prefect.exceptions import ObjectNotFound

    try:
        await client.read_work_pool(pool)
    except ObjectNotFound:
        raise WorkPoolError(
            f"the work pool {pool!r} (PREFECT_DEPLOYMENTS_DEFAULT_WORK_POOL_NAME) does not exist "
            "on the Prefect server: start its worker (make stack), or unset the variable"
        ) from None
    online = await client.read_workers_for_work_pool(
        pool, worker_filter=WorkerFilter(status=WorkerFilterStatus(any_=["ONLINE"]))
    )
    if not online:
        raise WorkPoolError(
            f"no worker polls the work pool {pool!r}: start one (make stack, or "
            f"`prefect worker start --pool {pool}`), or unset "
            "PREFECT_DEPLOYMENTS_DEFAULT_WORK_POOL_NAME"
        )
    return online[0].name
