"""Gather the benchmarks' result files into one, with the facts of the machine they ran on.

    python -m benchmarks.results

Each benchmark writes ``state/bench/<name>.json``; this writes ``state/bench/results.json``
holding all of them under their names (with when each was written), plus the cores, load and
versions of Python and of the libraries that matter, so two versions of the project (or two
machines) can be compared file to file. ``make bench`` runs it last.
"""

from __future__ import annotations

import json
import os
import platform
import sys
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


def main() -> int:
    """Write the combined file and list what it holds; 1 when no benchmark has run yet."""
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
    print(f"  {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
