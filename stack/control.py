"""Start, stop and report on the whole stack, in the order its servers depend on each other.

PostgreSQL comes first; MLflow, Prefect and Evidently start side by side once it accepts
clients; the worker starts once Prefect answers. Each server is recorded in ``stack.json`` the
moment it starts, so a start that fails half-way (or is interrupted) stops exactly what it
started, and ``stop`` after a crash still finds every server.
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

from . import postgres, servers
from .layout import Layout
from .processes import Running, StackError, port_in_use, stop

ORDER = ("postgres", "mlflow", "prefect", "evidently", "worker")


def read_record(layout: Layout) -> list[Running]:
    """The servers ``stack.json`` records, in the order they started."""
    try:
        values = json.loads(layout.record.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as error:
        raise StackError(
            f"{layout.record} cannot be read ({error}): stop its servers by hand"
        ) from None
    return [Running.from_dict(entry) for entry in values.get("servers", [])]


def write_record(layout: Layout, running: list[Running], extra: dict[str, object]) -> None:
    """Record the servers started so far (replacing the file in one step)."""
    layout.state.mkdir(parents=True, exist_ok=True)
    text = json.dumps(
        {"ports": layout.ports, **extra, "servers": [r.to_dict() for r in running]}, indent=2
    )
    partial = layout.record.with_suffix(".json.tmp")
    partial.write_text(text + "\n", encoding="utf-8")
    partial.replace(layout.record)


def start_stack(layout: Layout, with_evidently: bool = True) -> tuple[list[Running], float]:
    """Start every server and wait until each is ready; the records and the seconds it took.

    A stack already running in ``layout.state`` is left as it is. Whatever fails, nothing this
    call started is left running.
    """
    existing = read_record(layout)
    if existing and all(r.process() is not None for r in existing):
        return existing, 0.0
    if existing:  # half of one (a server crashed, or the machine rebooted): start afresh
        stop_stack(layout, quiet=True)
    wanted = [name for name in ORDER if with_evidently or name != "evidently"]
    for name in wanted:
        if name != "worker" and port_in_use(layout.ports[name]):
            raise StackError(
                f"port {layout.ports[name]} ({name}) is in use on 127.0.0.1: stop what listens "
                f"there, or give the stack another (--{name}-port)"
            )
    began = time.perf_counter()
    running: list[Running] = []
    binaries = postgres.find_binaries()
    extra = {"postgres_binaries": f"{binaries.source}: {binaries.folder}"}
    try:
        layout.artifacts.mkdir(parents=True, exist_ok=True)
        layout.evidently_workspace.mkdir(parents=True, exist_ok=True)
        postgres.initialise(binaries, layout.postgres_data, layout.log("postgres"))
        print(f"Starting PostgreSQL ({binaries.source}) on port {layout.ports['postgres']} ...")
        running.append(
            postgres.start_server(
                binaries, layout.postgres_data, layout.ports["postgres"], layout.log("postgres")
            )
        )
        write_record(layout, running, extra)
        postgres.create_databases(layout.ports["postgres"])
        side_by_side = [servers.mlflow(layout), servers.prefect(layout)]
        if with_evidently:
            side_by_side.append(servers.evidently(layout))
        names = ", ".join(server.name for server in side_by_side)
        print(f"Starting {names} (logs in {layout.log('x').parent}) ...")
        started = []
        for server in side_by_side:
            started.append((server.start(layout), server))
            running.append(started[-1][0])
            write_record(layout, running, extra)
        for process, server in started:
            servers.wait_ready(process, server, layout)
        worker = servers.worker(layout)
        print(f"Starting a worker on the work pool {layout.work_pool!r} ...")
        running.append(worker.start(layout))
        write_record(layout, running, extra)
        servers.wait_ready(running[-1], worker, layout)
    except BaseException:
        for process in reversed(running):
            stop(process)
        layout.record.unlink(missing_ok=True)
        raise
    write_env_file(layout)
    return running, time.perf_counter() - began


def stop_stack(layout: Layout, quiet: bool = False) -> list[tuple[str, bool]]:
    """Stop every recorded server, last started first; which were running."""
    stopped = []
    for process in reversed(read_record(layout)):
        was_running = stop(process)
        stopped.append((process.name, was_running))
        if not quiet:
            state = f"stopped (pid {process.pid})" if was_running else "had already stopped"
            print(f"  {process.name:<10} {state}")
    layout.record.unlink(missing_ok=True)
    layout.env_file.unlink(missing_ok=True)
    return stopped


def status(layout: Layout) -> dict[str, str]:
    """Each recorded server's state: ready, starting/unhealthy, or stopped."""
    found = {}
    for process in read_record(layout):
        if process.process() is None:
            found[process.name] = "stopped"
        elif servers.is_ready(process.name, layout):
            found[process.name] = "ready"
        else:
            found[process.name] = "running, not answering"
    return found


def write_env_file(layout: Layout) -> Path:
    """``env.sh``: the exports a shell sources to point the levels at the stack."""
    lines = [f"export {name}={shlex.quote(value)}" for name, value in layout.exports().items()]
    layout.env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return layout.env_file


def describe(layout: Layout, running: list[Running], seconds: float) -> str:
    """What runs where, what to export, and how to stop it."""
    names = {r.name for r in running}
    record = json.loads(layout.record.read_text(encoding="utf-8"))
    when = "was already running" if seconds == 0 else f"is running (started in {seconds:.0f} s)"
    lines = [
        f"The stack {when}; state in {layout.state}, logs in {layout.state / 'logs'}:",
        f"  PostgreSQL  postgresql://{postgres.SUPERUSER}@127.0.0.1:{layout.ports['postgres']}"
        f"  databases {', '.join(postgres.DATABASES)} ({record.get('postgres_binaries')})",
        f"  MLflow      {layout.mlflow_url}  artifacts proxied to {layout.artifacts}",
        f"  Prefect     {layout.prefect_url}  work pool {layout.work_pool!r}, one process worker",
    ]
    if "evidently" in names:
        workspace = layout.evidently_workspace
        lines.append(f"  Evidently   {layout.evidently_url}  workspace {workspace}")
    lines += [
        "",
        "Point the levels at it, in the shell that runs them:",
        *(f"  export {name}={value}" for name, value in layout.exports().items()),
        f"or: source {layout.env_file}",
        "then e.g. `make level2`. `make stack-stop` stops everything above.",
    ]
    if "evidently" in names:
        lines.append(
            "Levels 3 and 4 send their monitoring reports to the Evidently UI with "
            f'SET="monitoring.workspace_url={layout.evidently_url}".'
        )
    return "\n".join(lines)
