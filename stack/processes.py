"""The stack's server processes: started detached, recorded, and stopped by their records only.

``make stack`` returns while its servers go on running, so each server runs in a session of its
own (a Ctrl-C in the terminal does not reach it) and is recorded in ``stack.json`` with its pid,
start time and command line. ``make stack-stop`` signals a recorded process only while all three
still match: after a reboot the same pid may belong to anything on the machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

#: How long a server may take to stop after its stop signal before it is killed.
STOP_SECONDS = 20.0
#: How often a starting server is asked whether it is ready.
POLL_SECONDS = 0.2


class StackError(RuntimeError):
    """The stack cannot start or stop; the message says which server and why, in one line."""


@dataclass(frozen=True)
class Running:
    """A server the stack started: enough to find exactly that process again."""

    name: str
    pid: int
    started: float
    command: tuple[str, ...]
    log: str
    #: SIGINT for PostgreSQL (its "fast" shutdown; SIGTERM waits for every client to leave).
    stop_signal: int = signal.SIGTERM

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Running:
        """A record :meth:`to_dict` wrote."""
        return cls(
            name=str(values["name"]),
            pid=int(values["pid"]),
            started=float(values["started"]),
            command=tuple(str(word) for word in values["command"]),
            log=str(values["log"]),
            stop_signal=int(values.get("stop_signal", signal.SIGTERM)),
        )

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready values."""
        return {
            "name": self.name,
            "pid": self.pid,
            "started": self.started,
            "command": list(self.command),
            "log": self.log,
            "stop_signal": self.stop_signal,
        }

    def process(self) -> psutil.Process | None:
        """The live process this record names, or None once it has ended or the pid was reused."""
        try:
            process = psutil.Process(self.pid)
            same = abs(process.create_time() - self.started) < 1.0
            alive = process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return None
        return process if same and alive else None


def start(
    name: str,
    command: Sequence[str],
    env: Mapping[str, str],
    log_path: Path,
    *,
    user: str | None = None,
    stop_signal: int = signal.SIGTERM,
) -> Running:
    """Start ``command`` in a session of its own, its output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        try:
            process = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env),
                start_new_session=True,
                user=user,
            )
        except OSError as error:
            raise StackError(f"{name}: cannot run {command[0]}: {error}") from None
    started = psutil.Process(process.pid).create_time()
    return Running(name, process.pid, started, tuple(command), str(log_path), stop_signal)


def wait_until(running: Running, ready: Callable[[], bool], timeout: float, what: str) -> None:
    """Return once ``ready()``; raise a StackError if the server exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.process() is None:
            raise StackError(
                f"{running.name} exited while starting; the end of its log ({running.log}):\n"
                + log_tail(Path(running.log))
            )
        if ready():
            return
        time.sleep(POLL_SECONDS)
    raise StackError(f"{running.name} did not {what} in {timeout:.0f} s (log: {running.log})")


def stop(running: Running) -> bool:
    """Stop the recorded process and its children; False if it had already gone."""
    process = running.process()
    if process is None:
        return False
    with suppress(psutil.Error):
        children = process.children(recursive=True)
    with suppress(psutil.Error):
        process.send_signal(running.stop_signal)
    _, alive = psutil.wait_procs([process], timeout=STOP_SECONDS)
    if alive:
        with suppress(psutil.Error):
            process.kill()
    # Children that outlive their parent (a worker's flow run, say) are stopped the same way.
    survivors = [child for child in children if child.is_running()]
    for child in survivors:
        with suppress(psutil.Error):
            child.terminate()
    _, still = psutil.wait_procs(survivors, timeout=STOP_SECONDS)
    for child in still:
        with suppress(psutil.Error):
            child.kill()
    return True


def log_tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, indented, for an error message."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "    (no log)"
    return "\n".join(f"    {line}" for line in text.splitlines()[-lines:])


def port_in_use(port: int) -> bool:
    """Whether something already listens on 127.0.0.1:``port``."""
    import socket

    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def environment(**settings: str) -> dict[str, str]:
    """This process's environment with ``settings`` on top, for a server's command."""
    return {**os.environ, **settings}
