"""``python -m stack start|stop|status``: the servers a team would run, on 127.0.0.1.

Usage: ``python -m stack start [--state DIR] [--postgres-port P] [--mlflow-port P] ...``, then
``python -m stack status`` or ``python -m stack stop`` with the same ``--state``.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from .control import describe, start_stack, status, stop_stack
from .layout import DEFAULT_PORTS, Layout
from .processes import StackError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command, the state folder and each server's port."""
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--state", type=Path, default=Path("state/stack"), help="state folder")
    for name, port in DEFAULT_PORTS.items():
        parser.add_argument(f"--{name}-port", type=int, default=port, help=f"default {port}")
    parser.add_argument(
        "--without-evidently", action="store_true", help="do not start the Evidently UI"
    )
    return parser.parse_args(argv)


def interrupt(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM and SIGHUP stop a start like Ctrl-C does: what it started is stopped again."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    """Run the command; 0 when done (or, for status, when every server is ready)."""
    args = parse_args(argv)
    ports = {name: getattr(args, f"{name}_port") for name in DEFAULT_PORTS}
    bad = [f"--{name}-port {port}" for name, port in ports.items() if not 0 < port < 65536]
    if bad:
        print(f"error: {bad[0]} is not a port number", file=sys.stderr)
        return 2
    layout = Layout(args.state, ports)
    try:
        return COMMANDS[args.command](layout, args)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted: the servers it had started are stopped again.", file=sys.stderr)
        return 130


def start(layout: Layout, args: argparse.Namespace) -> int:
    """Start the stack (or find it running) and say what runs where."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)
    running, seconds = start_stack(layout, with_evidently=not args.without_evidently)
    print(describe(layout, running, seconds))
    return 0


def stop(layout: Layout, _args: argparse.Namespace) -> int:
    """Stop every server the stack recorded."""
    if not layout.record.exists():
        print(f"No stack is running here ({layout.record} does not exist).")
        return 0
    print("Stopping the stack:")
    stop_stack(layout)
    return 0


def report(layout: Layout, _args: argparse.Namespace) -> int:
    """Each server's state; 1 unless every one is ready."""
    found = status(layout)
    if not found:
        print(f"No stack is running here ({layout.record} does not exist).")
        return 1
    for name, state in found.items():
        print(f"  {name:<10} {state}")
    return 0 if set(found.values()) == {"ready"} else 1


COMMANDS: dict[str, Callable[[Layout, argparse.Namespace], int]] = {
    "start": start,
    "stop": stop,
    "status": report,
}

if __name__ == "__main__":
    sys.exit(main())
