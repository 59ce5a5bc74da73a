"""Command line of the data package: generate a simulated dataset folder.

    python -m data generate --size small --seed 42 --scenario stable --out state/datasets/x

It imports only numpy and pandas, so it starts in about a second.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .dataset import write_dataset
from .scenarios import SCENARIOS
from .world import SIZES, World, WorldConfig, target_interactions

#: Sizes from which generation reports its progress while it runs.
PROGRESS_FROM_INTERACTIONS = 1_000_000


def parse_size(text: str) -> str | int:
    """A size name, or a number of history interactions (``250000`` or ``250_000``)."""
    if text in SIZES:
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size must be one of {', '.join(SIZES)} or a number of interactions, got {text!r}"
        ) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: one ``generate`` command with the world's settings and where to write."""
    parser = argparse.ArgumentParser(prog="python -m data", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser(
        "generate", help="simulate the history and write a dataset folder"
    )
    generate.add_argument(
        "--size",
        type=parse_size,
        default="small",
        help=f"{', '.join(f'{name} (~{n:,})' for name, n in SIZES.items())} or a number of "
        "history interactions (default: small)",
    )
    generate.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")
    generate.add_argument(
        "--scenario",
        choices=list(SCENARIOS),
        default="stable",
        help="what changes from the switch day on (default: stable)",
    )
    generate.add_argument(
        "--switch-day",
        type=int,
        help="first day of the scenario's change (default: the first day after the history)",
    )
    generate.add_argument(
        "--history-days", type=int, default=90, help="days of history to write (default: 90)"
    )
    generate.add_argument("--out", type=Path, required=True, help="dataset folder to write")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Simulate the history, write it, and say what was written; a bad setting exits with 2."""
    args = parse_args(argv)
    try:
        config = WorldConfig(
            seed=args.seed,
            size=args.size,
            scenario=args.scenario,
            switch_day=args.switch_day,
            history_days=args.history_days,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    world = World(config)
    big = target_interactions(config.size) >= PROGRESS_FROM_INTERACTIONS
    dataset = world.history(on_day=progress_printer(config.history_days, started) if big else None)
    if big:
        print(f"writing {args.out} ...", flush=True)
    folder = write_dataset(dataset, args.out)
    seconds = time.perf_counter() - started
    print(
        f"{config.scenario} world, seed {config.seed}, {config.history_days} days: "
        f"{len(dataset.users):,} users, {len(dataset.items):,} items, "
        f"{len(dataset.interactions):,} interactions in {folder} ({seconds:.1f} s)"
    )
    if config.scenario != "stable" and config.effective_switch_day >= config.history_days:
        print(
            f"note: {config.scenario} starts on day {config.effective_switch_day}, after the "
            f"history (days 0-{config.history_days - 1}), so this history equals the stable "
            f"world's; give --switch-day {config.history_days * 2 // 3} (SWITCH_DAY=) to see it"
        )
    return 0


def progress_printer(days: int, started: float) -> Callable[[int, int], None]:
    """A progress callback that prints a line about every tenth of the days."""
    step = max(1, round(days / 10))

    def report(days_done: int, rows: int) -> None:
        if days_done % step == 0 or days_done == days:
            elapsed = time.perf_counter() - started
            print(f"day {days_done}/{days}: {rows:,} interactions, {elapsed:.1f} s", flush=True)

    return report


if __name__ == "__main__":
    sys.exit(main())
