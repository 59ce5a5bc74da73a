"""The processes a level starts and must stop again, and how a stop request reaches a run.

A pid alone names a process only while that process lives: after it ends, or after a reboot, the
number in a pid file may belong to anything on the machine. A :class:`ProcessRecord` keeps the
pid with the process's start time and command line, so a level signals a process only while all
three still match, and forgets a record that no longer does.

SIGTERM (a CI cancel, ``kill``, a container stop) and SIGHUP (a closed terminal) end Python at
once by default, skipping every ``finally`` and exit handler: the MLflow run stays RUNNING and
Prefect's temporary server outlives the run. :func:`signals_interrupt` turns them, like Ctrl-C,
into an :class:`Interrupted` exception, so the run is closed and every server stopped on the way
out. SIGKILL cannot be caught: what such a run leaves behind is cleaned up by the next run
(:func:`stop_left_behind`, and ``tracking.close_abandoned_runs``).
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

#: Signals that ask a run to stop: inside :func:`signals_interrupt`, each raises Interrupted.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: How long a process may take to stop after SIGTERM before it gets SIGKILL.
STOP_SECONDS = 15.0
#: How often to look again for the command line of a process that is still starting (10 ms each).
EXEC_POLLS = 500


@dataclass(frozen=True)
class ProcessRecord:
    """Which process a pid meant when it was recorded: its start time and command line too.

    A record read from a bare pid (an older pid file, or one written by hand) has neither, and so
    matches no process: it cannot show that the pid still names the process it once did.
    """

    pid: int
    started: float | None = None
    command: tuple[str, ...] = ()

    @classmethod
    def of(cls, pid: int) -> ProcessRecord:
        """The record of a running process.

        A process started a moment ago may still be inside ``exec``, where its command line reads
        empty: the record waits for the real one (a little while at most).
        """
        process = psutil.Process(pid)
        command = process.cmdline()
        for _ in range(EXEC_POLLS):
            if command:
                break
            time.sleep(0.01)
            command = process.cmdline()
        return cls(pid, process.create_time(), tuple(command))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ProcessRecord:
        """The record :meth:`to_dict` wrote; without ``started`` it matches no process."""
        started = values.get("started")
        return cls(
            int(values["pid"]),
            None if started is None else float(started),
            tuple(str(word) for word in values.get("command", ())),
        )

    def to_dict(self) -> dict[str, object]:
        """The record as JSON data, for a file that a later run reads back."""
        return {"pid": self.pid, "started": self.started, "command": list(self.command)}

    @classmethod
    def read(cls, path: Path) -> ProcessRecord | None:
        """The record saved at ``path``; a bare pid gives a record that matches nothing.

        None when the file is missing or says nothing readable.
        """
        try:
            text = path.read_text()
        except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
            return None
        if text.strip().isdigit():
            return cls(int(text.strip()))
        try:
            return cls.from_dict(json.loads(text))
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def save(self, path: Path) -> None:
        """Write the record to ``path``, for :meth:`read` in this run or a later one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict()) + "\n")

    def running(self) -> psutil.Process | None:
        """The process this record describes if it still runs; None once its pid means another."""
        if self.started is None:
            return None
        try:
            process = psutil.Process(self.pid)
            same = math.isclose(process.create_time(), self.started, abs_tol=0.01)
            if not same or tuple(process.cmdline()) != self.command:
                return None
            return process if process.status() != psutil.STATUS_ZOMBIE else None
        except psutil.Error:
            return None

    def now_held_by(self) -> str | None:
        """The command line of another process that now holds the recorded pid, if one does."""
        if self.running() is not None:
            return None
        try:
            return " ".join(psutil.Process(self.pid).cmdline()) or "(no command line)"
        except psutil.Error:
            return None


def stop_tree(process: psutil.Process, timeout: float = STOP_SECONDS) -> list[psutil.Process]:
    """SIGTERM a process and every process it started; SIGKILL what still runs after ``timeout``.

    The tree is listed before anything is signalled, so children orphaned by their parent's exit
    are still found. Returns the processes that survived even SIGKILL (normally none).
    """
    try:
        tree = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    for member in tree:
        with suppress(psutil.NoSuchProcess):
            member.terminate()
    _, alive = psutil.wait_procs(tree, timeout=timeout)
    for member in alive:
        with suppress(psutil.NoSuchProcess):
            member.kill()
    return psutil.wait_procs(alive, timeout=timeout)[1]


# ---- servers owned by a run ---------------------------------------------------------------------


def remember_server(path: Path, server_pid: int) -> None:
    """Record a server this process started and will stop, with this process as its owner."""
    records = {"owner": ProcessRecord.of(os.getpid()), "server": ProcessRecord.of(server_pid)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({name: r.to_dict() for name, r in records.items()}) + "\n")


def stop_left_behind(path: Path, what: str) -> None:
    """Stop the server recorded at ``path`` if the run that owned it is gone (e.g. SIGKILLed).

    A server whose owner still runs is left alone: another run of the level is using it.
    """
    try:
        records = {
            name: ProcessRecord.from_dict(values)
            for name, values in json.loads(path.read_text()).items()
        }
    except FileNotFoundError:
        return
    except (ValueError, TypeError, KeyError, AttributeError):
        path.unlink(missing_ok=True)
        return
    owner, server = records.get("owner"), records.get("server")
    if owner is not None and owner.running() is not None:
        return
    process = server.running() if server is not None else None
    if process is not None:
        print(f"Stopping the {what} (pid {process.pid}) left behind by a run killed outright.")
        stop_tree(process)
    path.unlink(missing_ok=True)


# ---- stop requests --------------------------------------------------------------------------


class Interrupted(KeyboardInterrupt):
    """A signal asked the process to stop; raised where the process was, like Ctrl-C.

    A subclass of KeyboardInterrupt, so libraries that clean up on Ctrl-C (Prefect marks its
    flow run crashed) do the same for SIGTERM and SIGHUP.
    """

    def __init__(self, signum: int) -> None:
        self.signal = signal.Signals(signum)
        super().__init__(f"interrupted by {self.signal.name}")


def raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    """The handler :func:`signals_interrupt` installs for each of ``STOP_SIGNALS``."""
    raise Interrupted(signum)


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """While inside, SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` in the main thread.

    The handlers in force before are restored on the way out. Outside the main thread, where
    Python cannot set handlers, this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, raise_interrupted) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def run_interruptibly(body: Callable[[], int], aftermath: str) -> int:
    """Run ``body`` with :func:`signals_interrupt`; return its exit code.

    An interruption ends it with one line on stderr, "Interrupted by <signal>: <aftermath>", and
    the shell's exit code for a process ended by that signal (128 + its number).
    """
    with signals_interrupt():
        try:
            return body()
        except BaseException as error:
            stopped_by = interrupting_signal(error)
            if stopped_by is None:
                raise
            print(f"\nInterrupted by {stopped_by.name}: {aftermath}", file=sys.stderr)
            return 128 + stopped_by.value


def interrupting_signal(error: BaseException) -> signal.Signals | None:
    """The signal behind ``error`` if it is how a stop request arrived, else None.

    Ctrl-C arrives as KeyboardInterrupt, the others as :class:`Interrupted`; inside a flow run,
    Prefect raises its own ``TerminationSignal`` for SIGTERM, which carries the number as
    ``signal``.
    """
    if isinstance(error, Interrupted):
        return error.signal
    if isinstance(error, KeyboardInterrupt):
        return signal.SIGINT
    number = getattr(error, "signal", None)
    if not isinstance(error, Exception) and isinstance(number, int):
        return signal.Signals(number)
    return None
