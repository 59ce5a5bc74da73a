"""Level 0: train the recommender by hand, print its metrics and hand over a joblib file.

Run it from the repository root::

    python -m level0_manual.train --data state/datasets/stable-small-seed42 \
        --out state/level0_manual

It reads top to bottom as the whole process: load → split → train → evaluate → print → save.
Nothing is tracked, versioned or scheduled: that is what makes it level 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import joblib

from data import DataError, Dataset, load_dataset, oracle_for

from .evaluation import Split, evaluate_models, split_by_time
from .model import EaseRecommender, PopularityRecommender

MODEL_FILE = "model.joblib"
METRICS_FILE = "metrics.json"
MAX_K = 100
T = TypeVar("T")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The arguments, each checked here: a bad one stops the run before any data is read."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, required=True, help="dataset folder (simulated or MovieLens)"
    )
    parser.add_argument(
        "--out", type=output_folder, required=True, help="folder for model.joblib and metrics.json"
    )
    parser.add_argument(
        "--k", type=list_length, default=10, help=f"length of each recommendation list (1-{MAX_K})"
    )
    parser.add_argument(
        "--l2", type=positive_number, default=EaseRecommender().l2, help="EASE ridge strength"
    )
    parser.add_argument(
        "--test-fraction",
        type=fraction,
        default=0.2,
        help="share of the latest interactions held out (between 0 and 1)",
    )
    return parser.parse_args(argv)


def list_length(text: str) -> int:
    """A whole number from 1 to MAX_K (the metrics need a list; longer ones mean little)."""
    number = whole_number(text)
    if not 1 <= number <= MAX_K:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_K}, got {number}")
    return number


def positive_number(text: str) -> float:
    """A finite number above 0: NaN or infinity would train a model that ranks nothing."""
    number = _number(text)
    if not (math.isfinite(number) and number > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return number


def fraction(text: str) -> float:
    """A number strictly between 0 and 1 (NaN is not)."""
    number = _number(text)
    if not 0.0 < number < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return number


def whole_number(text: str) -> int:
    """``text`` as an int, or the argument error argparse reports in one line."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def output_folder(text: str) -> Path:
    """A folder that is there or can be made, checked before the work, created only at the end."""
    folder = Path(text)
    if folder.exists() and not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{folder} is a file, not a folder")
    nearest = next(path for path in (folder, *folder.parents) if path.exists())
    if not nearest.is_dir():
        raise argparse.ArgumentTypeError(f"cannot create {folder}: {nearest} is a file")
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write to {folder}: {nearest} is not writable")
    return folder


def main(argv: list[str] | None = None) -> int:
    """The whole manual process, top to bottom: load, split, train, evaluate, print, save.

    Unusable data exits with 2, files that cannot be written with 1; nothing is half-written.
    """
    args = parse_args(argv)
    try:
        dataset = step("Load data", lambda: load_dataset(args.data))
    except DataError as error:
        print(f"error: {args.data} cannot be used:\n{error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: {args.data} cannot be read: {error}", file=sys.stderr)
        return 2
    try:
        split, model, metrics = train_and_evaluate(dataset, args)
    except ValueError as error:  # the data or parameters give nothing to fit or to evaluate
        print(f"\nerror: {args.data} cannot be trained on: {error}", file=sys.stderr)
        return 2

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
    print_summary(metrics, args.k)
    print(
        f"\n{report['evaluation']['train_interactions']:,} interactions trained on, "
        f"{report['evaluation']['test_interactions']:,} held out from day {split.cutoff_day}."
    )
    writers: dict[str, Callable[[Path], object]] = {
        MODEL_FILE: lambda path: joblib.dump(model, path),
        METRICS_FILE: lambda path: path.write_text(report_text),
    }
    try:
        save_together(args.out, writers)
    except OSError as error:
        print(f"error: cannot write to {args.out}: {error.strerror or error}", file=sys.stderr)
        return 1
    print(f"\nmetrics: {args.out / METRICS_FILE}\nmodel:   {args.out / MODEL_FILE}")
    print("Hand the model file over to whoever deploys it; nothing else records this run.")
    return 0


def train_and_evaluate(
    dataset: Dataset, args: argparse.Namespace
) -> tuple[Split, EaseRecommender, dict[str, dict[str, float]]]:
    """Split, train both models and evaluate them (and the oracle, on simulated data)."""
    interactions = dataset.interactions
    split = step("Split by time", lambda: split_by_time(interactions, args.test_fraction))
    model = step("Train EASE", lambda: EaseRecommender(l2=args.l2).fit(split.train))
    baseline = step("Train popularity", lambda: PopularityRecommender().fit(split.train))
    candidates: dict[str, Any] = {"model": model, "popularity": baseline}
    oracle = oracle_for(dataset, seen=split.train, day=split.cutoff_day)
    if oracle is not None:
        candidates["oracle"] = oracle
    metrics = step("Evaluate", lambda: evaluate_models(candidates, split, k=args.k))
    return split, model, metrics


def step(title: str, work: Callable[[], T]) -> T:
    """Run one step of the process, saying what it does and how long it took."""
    print(f"{title} ...", end=" ", flush=True)
    started = time.perf_counter()
    result = work()
    print(f"{time.perf_counter() - started:.1f} s", flush=True)
    return result


def save_together(folder: Path, writers: Mapping[str, Callable[[Path], object]]) -> None:
    """Write every file or none: each to a temporary file first, all renamed into place at the end.

    A failure (a full disk) removes the temporary files and any folder this call created, so a
    failed run leaves ``folder`` as it was.
    """
    created = [path for path in (folder, *folder.parents) if not path.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    temporary: dict[str, Path] = {}
    try:
        for name, write in writers.items():
            handle, path = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
            os.close(handle)
            temporary[name] = Path(path)
            write(temporary[name])
        for name, path in temporary.items():
            path.replace(folder / name)
    except BaseException:
        for path in temporary.values():
            path.unlink(missing_ok=True)
        for path in created:  # the deepest first
            with contextlib.suppress(OSError):
                path.rmdir()
        raise


def print_summary(metrics: dict[str, dict[str, float]], k: int) -> None:
    """The models side by side, one metric per row, and how close each gets to the oracle."""
    names = list(metrics)
    print(f"\n{'metric':<16}" + "".join(f"{name:>12}" for name in names))
    for metric in metrics[names[0]]:
        print(f"{metric:<16}" + "".join(f"{metrics[name][metric]:>12.4f}" for name in names))
    if "oracle" in metrics:
        ndcg = f"ndcg_at_{k}"
        best = metrics["oracle"][ndcg]
        if best == 0:  # too few test users or items for even the oracle to find one
            print(f"No share of the oracle: the oracle's NDCG@{k} is 0 here.")
            return
        shares = ", ".join(f"{name} {metrics[name][ndcg] / best:.0%}" for name in names[:-1])
        print(f"Share of the oracle's NDCG@{k} (the best achievable): {shares}")


if __name__ == "__main__":
    sys.exit(main())
