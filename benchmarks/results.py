"""Gather the benchmarks' result files into one, with the facts of the machine they ran on.

    python -m benchmarks.results [--against OTHER/results.json]

Each benchmark writes ``state/bench/<name>.json``; this writes ``state/bench/results.json``
holding all of them under their names (with when each was written), plus the cores, load and
versions of Python and of the libraries that matter, so two versions of the project (or two
machines) can be compared file to file. It ends with a short table of the headline figures;
``--against`` puts another results file's figures beside them. ``make bench`` runs it last.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path("state/bench")
RESULTS = BENCH / "results.json"
LIBRARIES = (
    "numpy", "pandas", "scikit-learn", "scipy", "mlflow", "prefect", "evidently", "fastapi",
    "uvicorn", "httpx",
)  # fmt: skip


def write_results(name: str, results: Any) -> Path:
    """Write one benchmark's results to ``state/bench/<name>.json``, where ``main`` finds them."""
    path = BENCH / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


def machine() -> dict[str, Any]:
    """Cores, load, platform and versions: what a figure depends on besides the code."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libraries": versions,
    }


def ops_headlines(results: dict[str, Any]) -> dict[str, float]:
    """Each level's seconds over level 0 after one shared start-up, and alone."""
    levels = results["levels"]
    base = levels["level0"]["shared_seconds"] if "level0" in levels else 0.0
    figures = {}
    for level, row in levels.items():
        ops = row["shared_seconds"] - row["production_day_seconds"]
        figures[f"{level} s over level 0 (shared server)"] = ops - base
        figures[f"{level} s alone"] = row["alone_seconds"] - row["production_day_seconds"]
    return figures


def serve_headlines(results: dict[str, Any]) -> dict[str, float]:
    """p99 at each steady rate and the most requests/s with p99 within target per process count."""
    figures = {f"p99 ms at {row['rate']}/s": row["p99_ms"] for row in results["steady"]}
    for row in results["capacity"]:
        figures[f"max requests/s, {row['processes']} process(es)"] = row["max_rate"]
    return figures


def training_headlines(results: dict[str, Any]) -> dict[str, float]:
    """Fit and evaluation seconds and peak memory of each size."""
    figures = {}
    for size in results["sizes"]:
        name = size["size"]
        figures[f"{name}: fit s"] = sum(size["fit_seconds"].values())
        figures[f"{name}: evaluate s"] = sum(size["evaluation_seconds"].values())
        figures[f"{name}: peak MB"] = max(size["peak_mb"].values())
    return figures


def stack_headlines(results: dict[str, Any]) -> dict[str, float]:
    """Level 2's release each way, alias reads per second, serving from the tracking server."""
    figures = {f"level 2 s, {way}": row["seconds"] for way, row in results["release"].items()}
    for store, row in results["registry"].items():
        figures[f"alias reads/s, {store}"] = row["alias_read_per_s"]
    for row in results["serving"]["capacity"]:
        figures[f"max requests/s, {row['processes']} process(es)"] = row["max_rate"]
    return figures


def tuning_headlines(results: dict[str, Any]) -> dict[str, float]:
    """The chosen l2 and its gain on the test period, per dataset."""
    figures = {}
    for dataset, row in results.items():
        figures[f"{dataset}: chosen l2"] = row["chosen_l2"]
        figures[f"{dataset}: test gain %"] = row["test_gain_percent"]
    return figures


#: The figures worth a line in the table, per benchmark; the others are in the file only.
HEADLINES: dict[str, Callable[[dict[str, Any]], dict[str, float]]] = {
    "ops": ops_headlines,
    "serve": serve_headlines,
    "training": training_headlines,
    "stack": stack_headlines,
    "tuning": tuning_headlines,
}


def headlines(results: dict[str, Any]) -> dict[str, float]:
    """The headline figures of a combined results file, named ``<benchmark>: <figure>``."""
    figures = {}
    for name, entry in results.get("benchmarks", {}).items():
        if name in HEADLINES:
            try:
                found = HEADLINES[name](entry["results"])
            except (KeyError, TypeError, ValueError):
                continue  # written by another version of the benchmark: compare the file instead
            figures.update({f"{name}: {figure}": value for figure, value in found.items()})
    return figures


def figure(value: float) -> str:
    """A count without decimals, anything else to one decimal."""
    return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 100 else f"{value:,.1f}"


def headline_table(ours: dict[str, float], theirs: dict[str, float] | None = None) -> str:
    """The figures one a line; with ``theirs``, the other file's figure beside each."""
    width = max((len(name) for name in ours), default=10) + 2
    lines = [f"{'figure':<{width}}{'this run':>12}" + (f"{'other':>12}" if theirs else "")]
    for name, value in ours.items():
        line = f"{name:<{width}}{figure(value):>12}"
        if theirs is not None:
            other = theirs.get(name)
            line += f"{figure(other) if other is not None else '-':>12}"
        lines.append(line)
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: another results file to put beside this one's figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="another results.json to compare with")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Write the combined file and list what it holds; 1 when no benchmark has run yet."""
    args = parse_args(argv)
    theirs = None
    if args.against is not None:
        try:
            theirs = headlines(json.loads(args.against.read_text(encoding="utf-8")))
        except (OSError, ValueError) as error:
            print(f"error: --against {args.against}: {error}", file=sys.stderr)
            return 2
    files = sorted(path for path in BENCH.glob("*.json") if path != RESULTS)
    if not files:
        print(f"error: no benchmark results in {BENCH}/: run make bench", file=sys.stderr)
        return 1
    results: dict[str, Any] = {"machine": machine(), "benchmarks": {}}
    for path in files:
        try:
            written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            results["benchmarks"][path.stem] = {
                "written_at": written.isoformat(timespec="seconds"),
                "results": json.loads(path.read_text()),
            }
        except ValueError as error:
            print(f"error: {path} is not JSON: {error}", file=sys.stderr)
            return 1
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    facts = results["machine"]
    print(
        f"\n{len(files)} benchmark(s) on {facts['cores']} cores, Python {facts['python']}, "
        f"load {facts['load_average'][0]}: {', '.join(path.stem for path in files)}"
    )
    ours = headlines(results)
    if ours:
        print("\n" + headline_table(ours, theirs))
    print(f"\n  {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
