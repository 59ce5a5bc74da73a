"""Compare the five levels on one world: ``make compare SCENARIO=catalog_shift``.

    python -m compare --scenario catalog_shift [--seed 42] [--size small] [--days 21]
        [--switch-day 97] [--out state/compare]
    python -m compare --scenario all ...     # every scenario, then the scenario x level matrix

For each scenario: the world's dataset (generated once), then every level's own make target on
it, one after the other, against one Prefect server; levels 0-2's released model replayed on
the production days; then ``state/compare/<scenario>/`` gets compare.json, compare.png and
compare.html (with each level's kept outputs, diffs and logs beside them), and the terminal the
table. ``all`` adds ``matrix.md`` and ``matrix.json`` with detection delay, time to recover and
quality lost per scenario and level. Exit code: 0, 1 when a level's run failed, 2 for bad
arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from data.scenarios import SCENARIOS

from .ladder import LEVELS, ROOT
from .runner import WorldSpec

DEFAULT_OUT = ROOT / "state" / "compare"
ALL = "all"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: the world (as ``make level3`` takes it) and the output folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", required=True, choices=[*SCENARIOS, ALL])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--size", default="small")
    parser.add_argument("--days", type=int, default=21, help="production days from day 90")
    parser.add_argument("--switch-day", type=int, default=97)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.days < 2:
        parser.error(
            f"--days must be at least 2 (a day before the switch and one after), got {args.days}"
        )
    return args


def compare_world(spec: WorldSpec, out: Path) -> dict[str, Any]:
    """Run every level on the world and write the comparison into ``out``; the result."""
    from . import replay, runner
    from .results import build_result, write_outputs
    from .tables import level_table

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    print(f"\n== compare: {spec.scenario}, seed {spec.seed}, size {spec.size}, {spec.days} days, "
          f"switch on day {spec.switch_day} ==", flush=True)  # fmt: skip
    dataset = runner.generate_dataset(spec)
    runs = {level.name: runner.run_level(level, spec, out / "logs") for level in LEVELS}
    failed = [name for name, run in runs.items() if run.exit_code != 0]
    if failed:
        raise LevelFailedError(failed, runs)
    kept = {name: runner.keep(run, out / "levels" / name) for name, run in runs.items()}
    meta = json.loads((dataset / "world.json").read_text(encoding="utf-8"))
    first_day, switch_day = int(meta["history_days"]), int(meta["effective_switch_day"])
    days = range(first_day, first_day + spec.days)
    print("Replaying the model levels 0-2 released on the same days ...", flush=True)
    replayed = replay.true_quality(replay.released_models(replay.RELEASED_MODEL), dataset, days)
    world = {
        "scenario": spec.scenario,
        "seed": spec.seed,
        "size": spec.size,
        "first_day": days[0],
        "last_day": days[-1],
        "switch_day": switch_day,
        "dataset": str(dataset.relative_to(ROOT)),
    }
    result = build_result(world, runs, kept, replayed)
    html_path = write_outputs(result, out)
    print(f"\n{level_table(result)}\n")
    print(f"Compared in {time.perf_counter() - started:.0f} s:")
    for name in ("compare.html", "compare.png", "compare.json"):
        print(f"  {out / name}")
    print(f"  (open {html_path.as_uri()} in a browser)")
    return result


class LevelFailedError(RuntimeError):
    """A level's make target failed: the comparison would compare nothing."""

    def __init__(self, failed: list[str], runs: dict[str, Any]) -> None:
        logs = ", ".join(str(runs[name].log) for name in failed)
        super().__init__(f"{', '.join(failed)} failed; see {logs}")


def main(argv: list[str] | None = None) -> int:
    """Compare on one scenario or all of them; 1 when a level's run failed."""
    args = parse_args(argv)
    scenarios = list(SCENARIOS) if args.scenario == ALL else [args.scenario]
    from . import runner
    from .tables import markdown, matrix_rows

    results = {}
    try:
        for scenario in scenarios:
            spec = WorldSpec(scenario, args.seed, args.size, args.days, args.switch_day)
            # One Prefect server per world, so one world's automations never see another's events.
            with runner.shared_prefect(args.out):
                results[scenario] = compare_world(spec, args.out / scenario)
    except LevelFailedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ncomparison interrupted; the servers it started are stopped", file=sys.stderr)
        return 130
    if len(results) > 1:
        headers, rows = matrix_rows(results)
        table = markdown(headers, rows)
        (args.out / "matrix.md").write_text(table, encoding="utf-8")
        matrix = {
            scenario: {name: level["production"] for name, level in result["levels"].items()}
            for scenario, result in results.items()
        }
        (args.out / "matrix.json").write_text(json.dumps(matrix, indent=2) + "\n", encoding="utf-8")
        print("\nDetection delay / time to recover / quality lost, per scenario and level:\n")
        print(table)
        print(f"  {args.out / 'matrix.md'}\n  {args.out / 'matrix.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
