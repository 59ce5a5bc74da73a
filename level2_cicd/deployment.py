"""Deployment: the serving API runs, on this machine, and serves the current champion.

The service loads ``models:/<name>@champion`` and follows the alias by itself, so deploying a
new champion means: start the service if it is not running, then wait until it reports the
champion's version. The process id is kept in the state folder, so ``stop`` ends exactly the
process ``deploy`` started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from . import PACKAGE
from .config import Config
from .registry import CHAMPION, version_with_alias

PID_FILE, LOG_FILE = "serve.pid", "serve.log"
STARTUP_SECONDS = 120


def service_url(config: Config) -> str:
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
    started = start_service(config_path, overrides, config) if running_pid(config) is None else None
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
        time.sleep(1)
    print(f"{url} still serves version {served}, not the champion {champion.version}.")
    return 1


def start_service(
    config_path: Path, overrides: dict[str, str], config: Config
) -> subprocess.Popen[bytes]:
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
    (state / PID_FILE).write_text(f"{process.pid}\n")
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


def running_pid(config: Config) -> int | None:
    """The pid of the service deploy started, if that process is still alive."""
    pid_file = config.tracking.state_dir / PID_FILE
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return None
    return pid


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
    pid = running_pid(config)
    if pid is None:
        print("The service is not running.")
        return 0
    os.killpg(pid, signal.SIGTERM)
    for _ in range(100):
        if running_pid(config) is None:
            break
        time.sleep(0.1)
    (config.tracking.state_dir / PID_FILE).unlink(missing_ok=True)
    print(f"Stopped the service (pid {pid}).")
    return 0


def tail(path: Path, lines: int = 15) -> str:
    return (
        "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
    )
