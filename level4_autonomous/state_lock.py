"""One run at a time per state folder: an operating-system lock, held for the whole run.

A run hands its results over through files in the state folder (``metrics.json``, and at level 2
the stages' ``candidate.json``). Two runs on one folder at once would both "succeed" while one
silently overwrote the other's result, so the second is refused instead, naming the first.

The lock is ``fcntl.flock`` on ``<state folder>/.lock``: the operating system releases it when
the process ends, however it ends (an exception, Ctrl-C, ``kill -9``), so there is never a stale
lock to clean up by hand. The file holds a line about the holder, only to name it in a refusal.
POSIX only (Linux, macOS), as the rest of the tooling (make, process groups).
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO

LOCK_FILE = ".lock"


class StateFolderError(RuntimeError):
    """The state folder cannot be written, or another run holds it; the message says which."""


class StateFolderLock:
    """A held lock on a state folder; release it with ``release()`` or a ``with`` block."""

    def __init__(self, folder: Path, handle: IO[str]) -> None:
        """Wrap the open lock file of ``folder``; made by :func:`lock_state_folder` only."""
        self.folder = folder
        self._handle = handle

    def release(self) -> None:
        """Forget the holder and let the next run in (closing the file releases the lock)."""
        if self._handle.closed:
            return
        self._handle.truncate(0)
        self._handle.close()

    def __enter__(self) -> StateFolderLock:
        """The lock is already held: entering only arranges its release."""
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Release the lock, however the block ended."""
        self.release()


def lock_state_folder(folder: Path, *, wait: bool = False) -> StateFolderLock:
    """Create ``folder`` if needed and hold its lock, or raise :class:`StateFolderError` at once.

    Never waits unless asked: a run that finds the folder busy says so and stops, rather than
    hanging behind a run that may take hours. ``wait`` is for the short reactions of level 4,
    which take turns on their own folder.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = (folder / LOCK_FILE).open("a+", encoding="utf-8")
    except OSError as error:
        raise StateFolderError(
            f"tracking.state_dir: cannot write to {folder}: {error.strerror or error}"
        ) from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "a process that has not yet said who it is"
        handle.close()
        raise StateFolderError(
            f"{folder} is in use by another run ({holder}); wait for it to finish, "
            "or give this run another tracking.state_dir"
        ) from None
    handle.truncate(0)
    handle.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}: {_command()}\n")
    handle.flush()
    return StateFolderLock(folder, handle)


def _command() -> str:
    """The holder's command line, as a person would recognise it in ``ps``."""
    return " ".join([Path(sys.orig_argv[0]).name, *sys.orig_argv[1:]])
