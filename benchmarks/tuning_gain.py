"""What tuning ``l2`` gains: level 1's tuning on each dataset, then both values on the test period.

    python -m benchmarks.tuning_gain [--data FOLDER] [--also FOLDER ...]

For each dataset (the default world, and any ``--also`` folder that exists, e.g. MovieLens
ml-100k imported to the dataset contract): ``python -m level1_pipeline.train --tune`` picks ``l2``
on a validation period carved from the end of the training period, then ``python -m
level1_pipeline.train --l2 <value>`` trains with the configured value and with the chosen one and
reports each on the test period, which the tuning never reads. The gain on the test period is
the figure that matters: a choice that wins on a small validation period can lose there.

Each dataset's runs keep their own state under ``state/bench/tuning/`` (wiped at the start).
Results go to ``state/bench/tuning.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.results import write_results

ROOT = Path(__file__).resolve().parents[1]
WORK = Path("state/bench/tuning")
PACKAGE = "level1_pipeline"
METRIC = "ndcg_at_10"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The default dataset and any others to tune on."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("state/datasets/stable-small-seed42"))
    parser.add_argument("--also", type=Path, nargs="*", default=[], help="more dataset folders")
    return parser.parse_args(argv)


def level1(state: Path, *args: str) -> None:
    """Run level 1's command with its state in ``state``; a failure stops the benchmark."""
    command = [sys.executable, "-m", f"{PACKAGE}.train", *args]
    command += ["--set", f"tracking.state_dir={state.resolve()}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed:\n{done.stdout[-1500:]}{done.stderr[-1500:]}"
        )


def on_test_period(data: Path, l2: float, state: Path) -> float:
    """NDCG@10 on the test period of a model trained with ``l2``."""
    level1(state, "--data", str(data), "--l2", str(l2))
    return json.loads((state / "metrics.json").read_text(encoding="utf-8"))["model"][METRIC]


def tune(data: Path, name: str) -> dict[str, Any]:
    """The tuning's choice on ``data`` and what the configured and chosen values give on test."""
    print(f"{name}: tuning l2 ...", flush=True)
    state = WORK / name
    level1(state, "--tune", "--data", str(data))
    tuning = json.loads((state / "tuning.json").read_text(encoding="utf-8"))
    current, chosen = tuning["current_l2"], tuning["chosen_l2"]
    print(f"{name}: {current:g} configured, {chosen:g} chosen; judging both on test ...")
    on_test = {current: on_test_period(data, current, WORK / f"{name}-l2-{current:g}")}
    if chosen != current:
        on_test[chosen] = on_test_period(data, chosen, WORK / f"{name}-l2-{chosen:g}")
    return {
        "data": str(data),
        "configured_l2": current,
        "chosen_l2": chosen,
        "validation": {str(t["l2"]): t["metrics"][METRIC] for t in tuning["trials"]},
        "validation_gain": tuning["gain_in_ndcg_at_10"],
        "periods": tuning["periods"],
        "test_configured": on_test[current],
        "test_chosen": on_test[chosen],
        "test_gain_percent": 100 * (on_test[chosen] / on_test[current] - 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Tune on every dataset there is, print the gains, write the results."""
    args = parse_args(argv)
    if not args.data.is_dir():
        print(f"No dataset at {args.data}: run `make data` or pass --data.", file=sys.stderr)
        return 1
    shutil.rmtree(WORK, ignore_errors=True)
    datasets = {"default world": args.data}
    for folder in args.also:
        if folder.is_dir():
            datasets[folder.name] = folder
        else:
            print(f"skipped {folder}: no such folder (import it first; see the README)")
    results = {name: tune(folder, name.replace(" ", "-")) for name, folder in datasets.items()}
    print(f"\n{'dataset':<16}{'configured':>11}{'chosen':>8}{'test NDCG@10':>14}{'gain':>8}")
    for name, row in results.items():
        print(
            f"{name:<16}{row['configured_l2']:>11g}{row['chosen_l2']:>8g}"
            f"{row['test_chosen']:>14.4f}{row['test_gain_percent']:>+7.1f}%"
        )
    print(f"\nresults: {write_results('tuning', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
