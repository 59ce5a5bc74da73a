"""Level 0: train the recommender by hand, print its metrics and hand over a joblib file.

Run it from the repository root::

    python -m level0_manual.train --data state/datasets/stable-small-seed42 \
        --out state/level0_manual

It reads top to bottom as the whole process: load → split → train → evaluate → print → save.
Nothing is tracked, versioned or scheduled: that is what makes it level 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import joblib

from data import DataError, load_dataset, oracle_for

from .evaluation import evaluate_models, split_by_time
from .model import EaseRecommender, PopularityRecommender

MODEL_FILE = "model.joblib"
METRICS_FILE = "metrics.json"
T = TypeVar("T")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, required=True, help="dataset folder (simulated or MovieLens)"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for model.joblib and metrics.json"
    )
    parser.add_argument("--k", type=int, default=10, help="length of each recommendation list")
    parser.add_argument(
        "--l2", type=float, default=EaseRecommender().l2, help="EASE ridge strength"
    )
    parser.add_argument(
        "--test-fraction", type=float, default=0.2, help="share of the latest interactions held out"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        dataset = step("Load data", lambda: load_dataset(args.data))
    except DataError as error:
        print(f"error: {args.data} cannot be used:\n{error}", file=sys.stderr)
        return 2
    interactions = dataset.interactions
    split = step("Split by time", lambda: split_by_time(interactions, args.test_fraction))
    model = step("Train EASE", lambda: EaseRecommender(l2=args.l2).fit(split.train))
    baseline = step("Train popularity", lambda: PopularityRecommender().fit(split.train))
    candidates: dict[str, Any] = {"model": model, "popularity": baseline}
    oracle = oracle_for(dataset, seen=split.train, day=split.cutoff_day)
    if oracle is not None:
        candidates["oracle"] = oracle
    metrics = step("Evaluate", lambda: evaluate_models(candidates, split, k=args.k))

    report = {
        **metrics,
        "evaluation": {
            "k": args.k,
            "test_fraction": args.test_fraction,
            "cutoff_day": split.cutoff_day,
            "train_interactions": len(split.train),
            "test_interactions": len(split.test),
        },
        "params": {"l2": args.l2},
        "dataset": {"path": str(args.data), **dataset.meta},
    }
    report_text = json.dumps(report, indent=2) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    model_path = save_atomically(args.out / MODEL_FILE, lambda path: joblib.dump(model, path))
    metrics_path = save_atomically(
        args.out / METRICS_FILE, lambda path: path.write_text(report_text)
    )
    print_summary(metrics, args.k)
    print(
        f"\n{report['evaluation']['train_interactions']:,} interactions trained on, "
        f"{report['evaluation']['test_interactions']:,} held out from day {split.cutoff_day}."
    )
    print(f"\nmetrics: {metrics_path}\nmodel:   {model_path}")
    print("Hand the model file over to whoever deploys it; nothing else records this run.")
    return 0


def step(title: str, work: Callable[[], T]) -> T:
    """Run one step of the process, saying what it does and how long it took."""
    print(f"{title} ...", end=" ", flush=True)
    started = time.perf_counter()
    result = work()
    print(f"{time.perf_counter() - started:.1f} s", flush=True)
    return result


def save_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """Write via a temporary file in the same folder, so a crash never leaves half a file."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def print_summary(metrics: dict[str, dict[str, float]], k: int) -> None:
    """The models side by side, one metric per row, and how close each gets to the oracle."""
    names = list(metrics)
    print(f"\n{'metric':<16}" + "".join(f"{name:>12}" for name in names))
    for metric in metrics[names[0]]:
        print(f"{metric:<16}" + "".join(f"{metrics[name][metric]:>12.4f}" for name in names))
    if "oracle" in metrics:
        ndcg = f"ndcg_at_{k}"
        best = metrics["oracle"][ndcg]
        shares = ", ".join(f"{name} {metrics[name][ndcg] / best:.0%}" for name in names[:-1])
        print(f"Share of the oracle's NDCG@{k} (the best achievable): {shares}")


if __name__ == "__main__":
    sys.exit(main())
