"""Deployment: the serving API runs, on this machine, and serves the current champion.

The service loads ``models:/<name>@champion`` and follows the alias by itself, so deploying a
new champion means: start the service if it is not running, then wait until it reports the
champion's version. ``serve.pid`` in the state folder records the process deploy started (its
pid, start time and command line), so ``stop`` ends exactly that process, and never one that
merely got its pid after a reboot or a crash.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from . import PACKAGE
from .config import Config
from .processes import ProcessRecord, stop_tree
from .registry import CHAMPION, version_with_alias

PID_FILE, LOG_FILE = "serve.pid", "serve.log"
STARTUP_SECONDS = 120
#: A local /health answers in milliseconds: polling often saves most of a second per deploy.
HEALTH_POLL_SECONDS = 0.2


def service_url(config: Config) -> str:
    """Where the configured service answers."""
    return f"http://{config.serving.host}:{config.serving.port}"


def deploy_champion(config_path: Path, overrides: dict[str, str], config: Config) -> int:
    """Start the service if needed and wait until it serves the champion version.

    Fails as soon as the service reports that it cannot load that version, with its reason (its
    ``/health``), rather than when the time limit runs out. The service gets the same
    configuration file and overrides as this stage, so it serves the model name, host and port
    the stages were told about.
    """
    champion = version_with_alias(config.registry.model_name, CHAMPION)
    if champion is None:
        print("Nothing to deploy: the registry has no champion yet (run the promote stage).")
        return 1
    url = service_url(config)
    started = None if running_service(config) else start_service(config_path, overrides, config)
    deadline = time.monotonic() + STARTUP_SECONDS + 3 * config.serving.refresh_seconds
    served = None
    earlier_failure = failed_load(service_health(url), champion.version)
    while time.monotonic() < deadline:
        health = service_health(url)
        served = health.get("model_version") if health else None
        if served == champion.version:
            print(f"{url} serves {champion.name} version {served} (the champion).")
            return 0
        failure = failed_load(health, champion.version)
        if health and failure and failure != earlier_failure:
            print(
                f"{url} cannot serve the champion (version {champion.version}): "
                f"{health['problem']}; it still serves version {served}.",
                file=sys.stderr,
            )
            return 1
        if started is not None and started.poll() is not None:
            log = config.tracking.state_dir / LOG_FILE
            print(f"The service exited; its log is {log}:\n{tail(log)}", file=sys.stderr)
            return 1
        time.sleep(HEALTH_POLL_SECONDS)
    print(f"{url} still serves version {served}, not the champion {champion.version}.")
    return 1


def start_service(
    config_path: Path, overrides: dict[str, str], config: Config
) -> subprocess.Popen[bytes]:
    """Start the service in its own session, logging to a file; record it in ``serve.pid``."""
    state = config.tracking.state_dir
    state.mkdir(parents=True, exist_ok=True)
    with (state / LOG_FILE).open("ab") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", f"{PACKAGE}.serve", "--config", str(config_path)),
                *(f"--set={key}={value}" for key, value in overrides.items()),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ProcessRecord.of(process.pid).save(state / PID_FILE)
    print(f"Started the service (pid {process.pid}, log {state / LOG_FILE}).", flush=True)
    return process


def service_health(url: str) -> dict[str, Any] | None:
    """The service's ``/health`` answer, or None while it does not answer."""
    try:
        response = httpx.get(f"{url}/health", timeout=2)
        return response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def failed_load(health: dict[str, Any] | None, version: str) -> str | None:
    """When the service last failed to load ``version`` as the champion, if it is failing.

    Deploy fails as soon as the service reports a failure newer than the one it reported when
    deploy began: a failure from before (say, before the artifact was repaired) is retried by the
    service within a minute, and deploy waits for that retry.
    """
    if not health or health.get("champion_version") != version or not health.get("problem"):
        return None
    return health.get("load_failed_at")


def running_service(config: Config) -> psutil.Process | None:
    """The service deploy started, if it still runs; a record that fits no more is removed.

    The recorded start time and command line must match as well as the pid: after a reboot, or
    once the service has ended, the same pid may belong to any process on the machine.
    """
    pid_file = config.tracking.state_dir / PID_FILE
    if not pid_file.exists():
        return None
    record = ProcessRecord.read(pid_file)
    process = record.running() if record else None
    if process is None:
        print(f"{stale_record_reason(pid_file, record)}; removed the stale {pid_file}.")
        pid_file.unlink(missing_ok=True)
    return process


def stale_record_reason(pid_file: Path, record: ProcessRecord | None) -> str:
    """Why ``serve.pid`` no longer names the service, in a sentence for whoever runs deploy."""
    if record is None:
        return f"{pid_file} is not a record of the service"
    holder = record.now_held_by()
    if holder is None:
        return f"The service deploy started (pid {record.pid}) is no longer running"
    proof = "" if record.started else f" ({pid_file.name} holds a bare pid, which proves nothing)"
    return (
        f"pid {record.pid} is not the service deploy started{proof}: it runs `{holder[:200]}`, "
        "and was not signalled"
    )


def smoke_test(config: Config, user_id: int = 0, k: int = 10) -> int:
    """One real request against the running service; print it, fail unless it looks right."""
    url = f"{service_url(config)}/recommend"
    try:
        response = httpx.get(url, params={"user_id": user_id, "k": k}, timeout=10)
    except httpx.HTTPError as error:
        print(f"Smoke test: no answer from {url}: {error}", file=sys.stderr)
        return 1
    print(f"GET {response.request.url} -> {response.status_code}")
    print(json.dumps(response.json()))
    ok = response.status_code == 200 and len(response.json().get("items", [])) == k
    print(
        "Smoke test passed." if ok else "Smoke test FAILED.", file=sys.stdout if ok else sys.stderr
    )
    return 0 if ok else 1


def stop_service(config: Config) -> int:
    """Stop the service deploy started, and any process it started; nothing else."""
    process = running_service(config)
    if process is None:
        print("The service is not running.")
        return 0
    survivors = stop_tree(process)
    if survivors:
        pids = ", ".join(str(survivor.pid) for survivor in survivors)
        print(f"The service (pid {process.pid}) did not stop: pids {pids} survive SIGKILL.")
        return 1
    (config.tracking.state_dir / PID_FILE).unlink(missing_ok=True)
    print(f"Stopped the service (pid {process.pid}).")
    return 0


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, to show why a process exited; empty if there is no log."""
    return (
        "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
    )
