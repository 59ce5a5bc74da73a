"""Continuous training: serve the pipeline on a schedule with Prefect's own scheduler.

Schedules need a real Prefect server (the temporary in-process one refuses them), so unless
``PREFECT_API_URL`` points at one, this starts ``prefect server start`` on 127.0.0.1 with the
level's state (``runtime.prefect_api``), serves the flow until Ctrl-C or SIGTERM, and stops the
server again. With a work pool named (``PREFECT_DEPLOYMENTS_DEFAULT_WORK_POOL_NAME``, as ``make
stack`` exports it), the scheduled deployment goes to that pool instead and this returns: the
pool's worker runs it on the schedule, whether or not this command still runs.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from . import PACKAGE
from .config import Config
from .runtime import prefect_api

DEPLOYMENT = f"{PACKAGE}-scheduled-training"


def serve_on_schedule(config_path: Path, overrides: dict[str, str], config: Config) -> int:
    """Run the training flow every ``schedule.interval_minutes`` until interrupted."""
    with prefect_api(config.tracking.state_dir) as api_url:
        from prefect.deployments.runner import EntrypointType

        from .flow import training_flow
        from .work_pool import configured_pool, deploy_on_schedule

        interval = timedelta(minutes=config.schedule.interval_minutes)
        parameters = {"config_path": str(config_path.resolve()), "overrides": overrides}
        pool = configured_pool()
        if pool is not None:
            deploy_on_schedule(training_flow, pool, DEPLOYMENT, interval, parameters)
            print(f"Deployed {DEPLOYMENT!r} on the work pool {pool!r}, every {interval}: its")
            print(f"worker runs it. Prefect UI: {api_url.removesuffix('/api')} (pause it there).")
            return 0
        print(f"Serving {DEPLOYMENT!r} every {interval}; the first run starts within a minute.")
        print(f"Prefect UI: {api_url.removesuffix('/api')}  (Ctrl-C stops)")
        training_flow.serve(
            name=DEPLOYMENT,
            interval=interval,
            parameters=parameters,
            # Runs load the flow by module name, so its relative imports keep working.
            entrypoint_type=EntrypointType.MODULE_PATH,
            print_starting_message=False,
        )
    return 0
