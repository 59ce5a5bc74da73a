"""Events and automations: the monitoring says what it found, Prefect starts the reaction.

The daily monitoring flow emits one Prefect event per finding of the day (drift, a quality drop,
a data-quality incident), named ``<package>.<kind>.<metric>``, e.g.
``level4_autonomous.data_drift.feed_drift_share``. Two deployments, served by a process of their
own (``python -m level4_autonomous.triggers``), carry deployment triggers, which Prefect keeps as
automations:

- ``retraining``: on the events of the metrics in ``policy.retrain_on``;
- ``quarantine``: on every ``data_quality`` event.

So the chain alert → event → automation → flow run is Prefect's, visible in its UI (Events,
Automations, and each run's "created by"), not an ``if`` in the production loop. The production
loop only waits, after each day, for the runs the day's events started (found by the event id
they carry), so the simulated clock never runs ahead of a reaction and a run is reproducible.

Automations need a Prefect server with its services (the temporary server of a single flow run
has none); ``make level4`` starts one, or uses ``PREFECT_API_URL``. With a work pool named
(``PREFECT_DEPLOYMENTS_DEFAULT_WORK_POOL_NAME``, as ``make stack`` exports), the deployments go to
that pool instead and its worker runs the reactions; they stay there after the run, as a
production deployment would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import PACKAGE
from .config import Config, add_config_arguments, load_config, parse_overrides

RESOURCE_ID = f"{PACKAGE}.monitoring"
RETRAINING, QUARANTINE = "retraining", "quarantine"
#: The names of the two deployments' triggers, as the Automations page lists them.
AUTOMATIONS = (f"{PACKAGE}: retrain on drift or quality", f"{PACKAGE}: quarantine a broken feed")
#: How long the production loop waits for an automation to start a run, and for it to finish.
START_SECONDS, FINISH_SECONDS, READY_SECONDS = 90.0, 900.0, 120.0
FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def event_name(kind: str, metric: str) -> str:
    """The event of a finding: ``<package>.<kind>.<metric>``."""
    return f"{PACKAGE}.{kind}.{metric}"


@dataclass(frozen=True)
class Emitted:
    """An event the monitoring sent, and the deployments its automations start."""

    event_id: str
    name: str
    deployments: tuple[str, ...]


def reacting_deployments(kind: str, metric: str, config: Config) -> tuple[str, ...]:
    """Which deployments an event starts, as the triggers of :func:`deployments` say."""
    found = []
    if metric in config.policy.retrain_on:
        found.append(RETRAINING)
    if kind == "data_quality":
        found.append(QUARANTINE)
    return tuple(found)


def emit_findings(
    day: int, findings: Sequence[Any], incident_days: dict[str, int], config: Config
) -> list[Emitted]:
    """One event per finding of ``day``; each carries all of the day's findings and the day.

    Every event of the day carries the same findings (with the day each one's incident began),
    so whichever run starts first trains on the same window (``policy.training_window``).
    """
    from prefect.events import emit_event

    summary = json.dumps(
        [
            {
                "kind": f.kind,
                "metric": f.metric,
                "value": f.value,
                "incident_day": incident_days.get(f.metric, day),
            }
            for f in findings
        ]
    )
    emitted = []
    for finding in findings:
        name = event_name(finding.kind, finding.metric)
        event_id = uuid.uuid4()  # in the payload too: templates cannot render the id's UUID
        event = emit_event(
            id=event_id,
            event=name,
            resource={"prefect.resource.id": RESOURCE_ID, "prefect.resource.name": "monitoring"},
            payload={
                "day": day,
                "message": finding.message,
                "findings": summary,
                "event_id": str(event_id),
            },
        )
        if event is None:
            raise RuntimeError(f"event {name} was not sent: no Prefect API is configured")
        emitted.append(
            Emitted(str(event.id), name, reacting_deployments(finding.kind, finding.metric, config))
        )
    return emitted


# ---- the served deployments ------------------------------------------------------------------


def deployments(
    config_path: str, overrides: dict[str, str], config: Config, pool: str | None = None
) -> list[Any]:
    """The two deployments with their triggers (Prefect stores each trigger as an automation).

    With ``pool``, they are deployments of that work pool, which its worker runs (see
    work_pool.py); without, ``serve`` runs them in the process that serves them.
    """
    from prefect.deployments.runner import EntrypointType
    from prefect.events import DeploymentEventTrigger

    from .retraining import quarantine_flow, retraining_flow
    from .work_pool import job_variables

    on_pool: dict[str, Any] = (
        {"work_pool_name": pool, "job_variables": job_variables()} if pool else {}
    )

    common = {
        "day": "{{ event.payload.day }}",
        "config_path": config_path,
        "overrides_json": json.dumps(overrides),
        "event_id": "{{ event.payload.event_id }}",
    }
    kinds = {metric: kind for kind, metric in KNOWN_FINDINGS}
    retrain_on = sorted(event_name(kinds[metric], metric) for metric in config.policy.retrain_on)
    retraining = retraining_flow.to_deployment(
        name=RETRAINING,
        entrypoint_type=EntrypointType.MODULE_PATH,
        **on_pool,
        description="Retrain, gate and start the online check when the monitoring finds drift "
        "or a quality drop the policy retrains on.",
        triggers=[
            DeploymentEventTrigger(
                name=AUTOMATIONS[0],
                expect=set(retrain_on),
                match={"prefect.resource.id": RESOURCE_ID},
                parameters={
                    **common,
                    "findings_json": "{{ event.payload.findings }}",
                },
            )
        ],
    )
    quarantine = quarantine_flow.to_deployment(
        name=QUARANTINE,
        entrypoint_type=EntrypointType.MODULE_PATH,
        **on_pool,
        description="Quarantine a broken feed day and page a person.",
        triggers=[
            DeploymentEventTrigger(
                name=AUTOMATIONS[1],
                expect={f"{PACKAGE}.data_quality.*"},
                match={"prefect.resource.id": RESOURCE_ID},
                parameters=common,
            )
        ],
    )
    return [retraining, quarantine]


#: (kind, metric) of every finding alerts.py makes, for the retraining trigger's event names.
KNOWN_FINDINGS = (
    ("data_drift", "request_drift_share"),
    ("data_drift", "feed_drift_share"),
    ("prediction_drift", "prediction_drift_share"),
    ("data_drift", "new_item_share"),
    ("quality", "ctr"),
)


def main(argv: list[str] | None = None) -> int:
    """Serve the reaction deployments until SIGTERM (the production run starts and stops this)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    overrides = parse_overrides(args.set)
    config = load_config(args.config, overrides)
    from prefect import serve

    serve(*deployments(str(args.config), overrides, config), print_starting_message=False)
    return 0


# ---- the production loop's side --------------------------------------------------------------


@contextmanager
def reactions_served(
    config_path: Path, overrides: dict[str, str], log_path: Path
) -> Iterator[subprocess.Popen[bytes] | None]:
    """Run the deployments' server process for the block; stop it (and its runs) afterwards.

    With a work pool named, the deployments go to the pool instead (its worker runs them), and
    there is no process to stop.
    """
    import psutil

    from .processes import stop_tree
    from .work_pool import configured_pool

    pool = configured_pool()
    if pool is not None:
        config = load_config(config_path, overrides)
        found = deployments(str(config_path.resolve()), overrides, config, pool)
        asyncio.run(apply_on_pool(found, pool))
        print(f"The reactions run on the work pool {pool!r}.", flush=True)
        yield None
        return

    command = [sys.executable, "-m", f"{PACKAGE}.triggers", "--config", str(config_path)]
    command += [arg for key, value in overrides.items() for arg in ("--set", f"{key}={value}")]
    from prefect.settings import PREFECT_API_URL

    # The server this process talks to, whether the environment or a setting named it.
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        asyncio.run(wait_until_ready(process))
        yield process
    finally:
        if process.poll() is None:
            with suppress(psutil.NoSuchProcess):
                stop_tree(psutil.Process(process.pid))
        process.wait()


async def apply_on_pool(found: list[Any], pool: str) -> None:
    """Create (or update) the deployments and their automations on the work pool."""
    from prefect import get_client

    from .work_pool import require_online_worker

    async with get_client() as client:
        await require_online_worker(client, pool)
    for deployment in found:
        await deployment.aapply(work_pool_name=pool)
    await wait_until_ready(None)


async def wait_until_ready(process: subprocess.Popen[bytes] | None) -> None:
    """Return once both deployments and their automations exist on the server."""
    from prefect import get_client

    deadline = time.monotonic() + READY_SECONDS
    async with get_client() as client:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"the reactions process exited with code {process.returncode}")
            names = {a.name for a in await client.read_automations()}
            wanted = {
                f"{PACKAGE}: retrain on drift or quality",
                f"{PACKAGE}: quarantine a broken feed",
            }
            if wanted <= names:
                return
            await asyncio.sleep(0.5)
    raise RuntimeError(f"the reaction deployments were not ready in {READY_SECONDS:.0f} s")


def wait_for_reactions(emitted: Sequence[Emitted]) -> list[dict[str, Any]]:
    """Wait for the run each event's automations started; their names, states and results."""
    expected = [(e, deployment) for e in emitted for deployment in e.deployments]
    if not expected:
        return []
    return asyncio.run(_wait(expected))


async def _wait(expected: list[tuple[Emitted, str]]) -> list[dict[str, Any]]:
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    finished: dict[tuple[str, str], dict[str, Any]] = {}
    started = time.monotonic()
    async with get_client() as client:
        while len(finished) < len(expected):
            for event, deployment in expected:
                if (event.event_id, deployment) in finished:
                    continue
                runs = await client.read_flow_runs(
                    deployment_filter=DeploymentFilter(
                        name=DeploymentFilterName(any_=[deployment])
                    ),
                    sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                    limit=20,
                )
                run = next(
                    (r for r in runs if r.parameters.get("event_id") == event.event_id), None
                )
                elapsed = time.monotonic() - started
                if run is None and elapsed > START_SECONDS:
                    raise RuntimeError(
                        f"no {deployment} run started for event {event.name} ({event.event_id}) "
                        f"in {START_SECONDS:.0f} s: is its automation there (Prefect UI)?"
                    )
                if run is not None and run.state_type and run.state_type.value in FINAL_STATES:
                    finished[(event.event_id, deployment)] = {
                        "event": event.name,
                        "deployment": deployment,
                        "flow_run": run.name,
                        "state": run.state_type.value,
                        "message": run.state.message if run.state else None,
                    }
                elif elapsed > FINISH_SECONDS:
                    raise RuntimeError(f"the {deployment} run for {event.name} did not finish")
            if len(finished) < len(expected):
                await asyncio.sleep(0.5)
    return list(finished.values())


if __name__ == "__main__":
    sys.exit(main())
