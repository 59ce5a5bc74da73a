"""Training cost against data size: EASE's fit, evaluation and peak memory, tiny to large.

    python -m benchmarks.training_cost [--sizes tiny small medium large] [--seed 42]
        [--repeats 3] [--regenerate] [--no-figure]

For each size of the simulated world (``data.world.SIZES``: 20k, 200k, 1M and 10M history
interactions) the stable world of ``--seed`` is generated into ``state/datasets/stable-<size>-
seed<seed>`` (the folder ``make data SIZE=<size>`` writes), or reused when it is there; the
generation is timed apart and is not part of the training cost. Then a fresh Python process
does what a level's training run does, with level 2's code and configuration: read the folder,
validate it against the level's expectations, cut the time split (``split.test_fraction``), fit
``EaseRecommender`` with ``model.l2`` and the popularity baseline on the training period, and
evaluate both and the world's oracle at ``evaluation.k`` on the test period. A process per size,
so that no size inherits another's memory: its peak resident size (``ru_maxrss``) is read after
each step, which shows which step sets it. The fit and the evaluation run ``--repeats`` times
(3 unless told) and each part's median is reported: on a shared 2-core machine one run of a small
part can be many times slower than the next (OpenBLAS's two threads wait for each other when
another process holds a core).

The fit is split into its parts: the user-item matrix (indexing the ids and building the sparse
matrix), the gram (the items x items product and the weights' scaling) and the inverse of the
items x items matrix. The evaluation is split into each candidate's ranking (the oracle's with
its building) and the rest (relevant items and the metrics). The report says, between
neighbouring sizes, how each part grows (its exponent against interactions: 1 is linear) and,
for the inverse, its cost per items^3. Results go to ``state/bench/training.json``, a figure
to ``state/bench/training.png``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.results import BENCH, write_results

DATASETS = Path("state/datasets")
FIGURE = BENCH / "training.png"
#: Parts of the fit and of the evaluation, in the order they run.
FIT_PARTS = ("user-item matrix", "gram", "inverse", "popularity baseline")
EVALUATION_PARTS = ("ranking: model", "ranking: popularity", "ranking: oracle", "relevant+metrics")
#: Parts whose cost should follow the interactions alone. Not the inverse (items^3) nor the
#: rankings, which score every item for every evaluated user (users x items).
LINEAR_PARTS = ("user-item matrix", "gram", "popularity baseline", "relevant+metrics")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: which sizes and seed, whether to regenerate, and the child's options."""
    from data.world import SIZES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", nargs="+", choices=list(SIZES), default=list(SIZES), help="sizes to measure"
    )
    parser.add_argument("--seed", type=int, default=42, help="seed of the worlds (default: 42)")
    parser.add_argument(
        "--regenerate",
        action="store_true",
        help=f"generate every world again, even when it is already under {DATASETS}",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of the fit and evaluation per size (median)"
    )
    parser.add_argument("--no-figure", action="store_true", help=f"do not draw {FIGURE}")
    # The child process's side: measure one dataset folder, write the result to a file.
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# ---- one size, in its own process ------------------------------------------------------------


def peak_mb() -> float:
    """This process's largest resident size so far, in MB (Linux reports ``ru_maxrss`` in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Steps:
    """Seconds of each timed step and the peak memory after it, with a progress line per step."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.seconds: dict[str, float] = {}
        self.peak_mb: dict[str, float] = {"imports": peak_mb()}
        self._started = time.perf_counter()

    @contextmanager
    def step(self, name: str, key: str | None = None) -> Iterator[None]:
        """Time the block as ``key`` (``name`` unless given) and read the peak memory after it."""
        key = key or name
        print(f"  {self.label}: {name} ...", flush=True)
        started = time.perf_counter()
        yield
        self.seconds[key] = time.perf_counter() - started
        self.peak_mb[key] = peak_mb()
        print(
            f"  {self.label}: {name} {self.seconds[key]:.2f} s, peak {self.peak_mb[key]:,.0f} "
            f"MB ({time.perf_counter() - self._started:.0f} s so far)",
            flush=True,
        )


@contextmanager
def timed_calls(owner: Any, name: str, seconds: dict[str, float], part: str) -> Iterator[None]:
    """While the block runs, add the time of every call of ``owner.name`` to ``seconds[part]``."""
    original = getattr(owner, name)

    def call(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds[part] = seconds.get(part, 0.0) + time.perf_counter() - started

    setattr(owner, name, call)
    try:
        yield
    finally:
        setattr(owner, name, original)


def fit_in_parts(interactions: Any, l2: float, seconds: dict[str, float]) -> Any:
    """Fit ``EaseRecommender`` as the levels do, timing its parts into ``seconds``.

    The model is not changed: its scorer (``_fit_scorer``: gram, inverse, weights) and numpy's
    ``linalg.inv`` are timed while it fits, and the user-item matrix is the rest of ``fit``.
    """
    import numpy as np

    from level2_cicd.model import EaseRecommender

    parts: dict[str, float] = {}
    started = time.perf_counter()
    with (
        timed_calls(EaseRecommender, "_fit_scorer", parts, "scorer"),
        timed_calls(np.linalg, "inv", parts, "inverse"),
    ):
        model = EaseRecommender(l2=l2).fit(interactions)
    total = time.perf_counter() - started
    seconds["user-item matrix"] = total - parts["scorer"]
    seconds["gram"] = parts["scorer"] - parts["inverse"]
    seconds["inverse"] = parts["inverse"]
    return model


class TimedRanking:
    """A candidate whose ``recommend`` calls add their time to ``seconds[part]``."""

    def __init__(self, model: Any, seconds: dict[str, float], part: str) -> None:
        self.model, self.seconds, self.part = model, seconds, part
        self.users = 0

    def recommend(self, user_ids: Any, k: int = 10) -> Any:
        """The candidate's own lists."""
        self.users += len(user_ids)
        started = time.perf_counter()
        try:
            return self.model.recommend(user_ids, k=k)
        finally:
            self.seconds[self.part] = (
                self.seconds.get(self.part, 0.0) + time.perf_counter() - started
            )


def median_parts(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    """Each part's median over repeated runs, part by part."""
    return {part: statistics.median(run[part] for run in runs) for part in runs[0]}


def measure_folder(folder: Path, repeats: int) -> dict[str, Any]:
    """A level's training run on ``folder``, step by step: what the child process reports.

    The fit and the evaluation run ``repeats`` times; each part's median is reported.
    """
    from data import oracle_for, read_dataset, typed_dataset
    from level2_cicd.config import load_config
    from level2_cicd.evaluation import evaluate_models, split_by_time
    from level2_cicd.model import PopularityRecommender
    from level2_cicd.validation import validate

    config = load_config()
    load_before = os.getloadavg()[0]
    steps = Steps(folder.name)
    with steps.step("read"):
        dataset = read_dataset(folder)
    with steps.step("validate"):
        report = validate(dataset, config.expectations)
        if not report.passed:
            raise ValueError(f"{folder} breaks level 2's expectations: {report.problems}")
        dataset = typed_dataset(dataset)
    with steps.step("split"):
        split = split_by_time(dataset.interactions, config.split.test_fraction)
    fits: list[dict[str, float]] = []
    with steps.step(f"fit ({repeats} times)", "fit"):
        for _ in range(repeats):
            fit: dict[str, float] = {}
            started = time.perf_counter()
            model = fit_in_parts(split.train, config.model.l2, fit)
            baseline_started = time.perf_counter()
            popularity = PopularityRecommender().fit(split.train)
            fit["popularity baseline"] = time.perf_counter() - baseline_started
            fit["total"] = time.perf_counter() - started
            fits.append(fit)
    evaluations: list[dict[str, float]] = []
    with steps.step(f"evaluate ({repeats} times)", "evaluate"):
        for _ in range(repeats):
            evaluation: dict[str, float] = {}
            started = time.perf_counter()
            oracle = oracle_for(dataset, seen=split.train, day=split.cutoff_day)
            evaluation["ranking: oracle"] = time.perf_counter() - started  # building it counts
            candidates = {
                "model": TimedRanking(model, evaluation, "ranking: model"),
                "popularity": TimedRanking(popularity, evaluation, "ranking: popularity"),
                "oracle": TimedRanking(oracle, evaluation, "ranking: oracle"),
            }
            metrics = evaluate_models(candidates, split, k=config.evaluation.k)
            total = time.perf_counter() - started
            evaluation["relevant+metrics"] = total - sum(evaluation.values())
            evaluation["total"] = total
            evaluations.append(evaluation)
    fit, evaluation = median_parts(fits), median_parts(evaluations)
    return {
        "interactions": len(dataset.interactions),
        "train_interactions": len(split.train),
        "users": int(split.train["user_id"].nunique()),
        "items": len(model.item_ids_),
        "catalogue": len(dataset.items),
        "evaluated_users": candidates["model"].users,
        "l2": config.model.l2,
        "k": config.evaluation.k,
        "repeats": repeats,
        "seconds": {
            **{name: steps.seconds[name] for name in ("read", "validate", "split")},
            "fit": fit["total"],
            "evaluate": evaluation["total"],
        },
        "fit_seconds": {part: fit[part] for part in FIT_PARTS},
        "evaluation_seconds": {part: evaluation[part] for part in EVALUATION_PARTS},
        "fit_runs": fits,
        "evaluation_runs": evaluations,
        "peak_mb": steps.peak_mb,
        "load_1min": [load_before, os.getloadavg()[0]],
        "ndcg": {
            name: scores[f"ndcg_at_{config.evaluation.k}"] for name, scores in metrics.items()
        },
    }


# ---- the sizes, from the parent process -------------------------------------------------------


def dataset_folder(size: str, seed: int) -> Path:
    """The stable world's folder, named as ``make data SIZE=<size> SEED=<seed>`` names it."""
    return DATASETS / f"stable-{size}-seed{seed}"


def ensure_dataset(size: str, seed: int, regenerate: bool) -> float | None:
    """Generate the world of ``size`` unless it is there; the seconds it took, None if reused."""
    folder = dataset_folder(size, seed)
    if (folder / "world.json").exists() and not regenerate:
        print(f"{size}: reusing {folder}", flush=True)
        return None
    print(f"{size}: generating {folder} ...", flush=True)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "data", "generate", "--size", size, "--seed", str(seed),
         "--out", str(folder)],
        check=True,
    )  # fmt: skip
    return time.perf_counter() - started


def measure_in_child(folder: Path, repeats: int) -> dict[str, Any]:
    """``measure_folder`` in a fresh Python process; its result, and its exit code on failure."""
    with tempfile.TemporaryDirectory() as scratch:
        result = Path(scratch) / "result.json"
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "benchmarks.training_cost", "--measure", str(folder),
             "--repeats", str(repeats), "--result", str(result)],
            check=True,
        )  # fmt: skip
        measured = json.loads(result.read_text())
        measured["process_seconds"] = time.perf_counter() - started
        return measured


# ---- growth: pure arithmetic on the measurements ----------------------------------------------


def exponent(x0: float, y0: float, x1: float, y1: float) -> float | None:
    """The power ``p`` with ``y ~ x^p`` between two points; None when a value is not positive."""
    if min(x0, y0, x1, y1) <= 0 or x0 == x1:
        return None
    return math.log(y1 / y0) / math.log(x1 / x0)


def per_million(seconds: float, interactions: int) -> float:
    """Seconds per million interactions."""
    return seconds / (interactions / 1e6)


def inverse_gflops(seconds: float, items: int) -> float | None:
    """The inverse's rate in GFLOP/s, counting ``2 n^3`` operations for an ``n x n`` inverse.

    LU factorisation takes ``2/3 n^3`` and turning it into the inverse ``4/3 n^3``.
    """
    return 2 * items**3 / seconds / 1e9 if seconds > 0 else None


def parts_of(result: dict[str, Any]) -> dict[str, float]:
    """Every timed part of the fit and the evaluation of one size, by name."""
    return {**result["fit_seconds"], **result["evaluation_seconds"]}


def memory_above_imports(result: dict[str, Any]) -> float:
    """MB of the run's peak beyond what the process held after its imports."""
    return result["peak_mb"]["evaluate"] - result["peak_mb"]["imports"]


def growth(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How each part grows from one size to the next, and what it costs per unit of its driver.

    Per size: seconds per million training interactions for each part, peak MB above the
    imports per million, and for the inverse seconds per 10^9 items^3 and GFLOP/s. Per pair of
    neighbouring sizes: the growth exponent of each part, of fit, evaluation and peak memory
    against training interactions, and of the inverse against items (3 for a dense inverse).
    """
    per_size = []
    for result in results:
        rows, items = result["train_interactions"], result["items"]
        inverse = result["fit_seconds"]["inverse"]
        per_size.append(
            {
                "size": result["size"],
                "seconds_per_million": {
                    part: per_million(seconds, rows) for part, seconds in parts_of(result).items()
                },
                "mb_per_million": memory_above_imports(result) / (rows / 1e6),
                "inverse_seconds_per_giga_items3": inverse / (items**3 / 1e9),
                "inverse_gflops": inverse_gflops(inverse, items),
            }
        )
    steps = []
    for before, after in itertools.pairwise(results):
        rows = before["train_interactions"], after["train_interactions"]

        def against_rows(y0: float, y1: float, rows: tuple[int, int] = rows) -> float | None:
            return exponent(rows[0], y0, rows[1], y1)

        steps.append(
            {
                "from": before["size"],
                "to": after["size"],
                "interactions_ratio": rows[1] / rows[0],
                "items_ratio": after["items"] / before["items"],
                "exponent": {
                    part: against_rows(parts_of(before)[part], parts_of(after)[part])
                    for part in parts_of(before)
                }
                | {
                    "fit": against_rows(before["seconds"]["fit"], after["seconds"]["fit"]),
                    "evaluate": against_rows(
                        before["seconds"]["evaluate"], after["seconds"]["evaluate"]
                    ),
                    "peak memory": against_rows(
                        before["peak_mb"]["evaluate"], after["peak_mb"]["evaluate"]
                    ),
                    "peak memory above imports": against_rows(
                        memory_above_imports(before), memory_above_imports(after)
                    ),
                },
                "inverse_exponent_against_items": exponent(
                    before["items"],
                    before["fit_seconds"]["inverse"],
                    after["items"],
                    after["fit_seconds"]["inverse"],
                ),
            }
        )
    return {"per_size": per_size, "steps": steps}


# ---- output -----------------------------------------------------------------------------------


def print_tables(results: Sequence[dict[str, Any]], summary: dict[str, Any]) -> None:
    """The measurements, a column per size, then the growth between neighbouring sizes."""
    width = 30

    def row(label: str, cells: Sequence[str]) -> None:
        print(label.ljust(width) + "".join(f"{cell:>15}" for cell in cells))

    def number(value: float | None, digits: int = 3) -> str:
        return "-" if value is None else f"{value:,.{digits}f}"

    print()
    row("size", [result["size"] for result in results])
    row("interactions", [f"{result['interactions']:,}" for result in results])
    row("  training", [f"{result['train_interactions']:,}" for result in results])
    row("users (training)", [f"{result['users']:,}" for result in results])
    row("catalogue (items.csv)", [f"{result['catalogue']:,}" for result in results])
    row("items (training)", [f"{result['items']:,}" for result in results])
    row("users evaluated", [f"{result['evaluated_users']:,}" for result in results])
    row("generate s", [number(result["generate_seconds"], 1) for result in results])
    row("read+validate s", [
        number(result["seconds"]["read"] + result["seconds"]["validate"]) for result in results
    ])  # fmt: skip
    row("fit s (model + baseline)", [number(result["seconds"]["fit"]) for result in results])
    for part in FIT_PARTS:
        row(f"  {part}", [number(result["fit_seconds"][part]) for result in results])
    row("evaluate s", [number(result["seconds"]["evaluate"]) for result in results])
    for part in EVALUATION_PARTS:
        row(f"  {part}", [number(result["evaluation_seconds"][part]) for result in results])
    row("peak RSS MB", [number(result["peak_mb"]["evaluate"], 0) for result in results])
    row("  after imports", [number(result["peak_mb"]["imports"], 0) for result in results])
    row("  after read+validate", [number(result["peak_mb"]["validate"], 0) for result in results])
    row("  after fit", [number(result["peak_mb"]["fit"], 0) for result in results])
    row("NDCG@k model", [number(result["ndcg"]["model"], 4) for result in results])
    row("load (1 min) before", [number(result["load_1min"][0]) for result in results])

    print("\nper million training interactions")
    for part in LINEAR_PARTS:
        row(f"  {part} s", [
            number(size["seconds_per_million"][part]) for size in summary["per_size"]
        ])  # fmt: skip
    row("  peak MB above imports", [
        number(size["mb_per_million"], 0) for size in summary["per_size"]
    ])  # fmt: skip
    row("inverse s per 10^9 items^3", [
        number(size["inverse_seconds_per_giga_items3"]) for size in summary["per_size"]
    ])  # fmt: skip
    row("inverse GFLOP/s", [number(size["inverse_gflops"], 1) for size in summary["per_size"]])

    print("\ngrowth exponent against training interactions (1 = linear)")
    steps = summary["steps"]
    row("", [f"{step['from']}->{step['to']}" for step in steps])
    row("  interactions x", [number(step["interactions_ratio"], 1) for step in steps])
    row("  items x", [number(step["items_ratio"], 2) for step in steps])
    for name in steps[0]["exponent"] if steps else ():
        row(f"  {name}", [number(step["exponent"][name], 2) for step in steps])
    row("  inverse against items", [
        number(step["inverse_exponent_against_items"], 2) for step in steps
    ])  # fmt: skip


def draw(results: Sequence[dict[str, Any]], path: Path) -> Path:
    """Seconds of the fit's and the evaluation's parts, and peak memory, against interactions.

    Log-log, with a line of slope 1 (linear growth) through the largest size's biggest part.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    rows = [result["train_interactions"] for result in results]
    ticks = [
        f"{result['size']}\n{rows / 1e6:.2g}M\n{result['items']:,} items"
        for result, rows in zip(results, rows, strict=True)
    ]
    figure, panels = plt.subplots(1, 3, figsize=(15, 4.8))
    for panel, title, parts in (
        (panels[0], "fit (median of runs)", FIT_PARTS),
        (panels[1], f"evaluation at k={results[0]['k']} (median of runs)", EVALUATION_PARTS),
    ):
        for part in parts:
            panel.plot(rows, [parts_of(result)[part] for result in results], marker="o", label=part)
        top = max(parts_of(results[-1])[part] for part in parts)
        panel.plot(
            rows, [top * x / rows[-1] for x in rows], ":", color="grey", label="slope 1 (linear)"
        )
        panel.set(yscale="log", ylabel="seconds", title=title)
    memory = panels[2]
    for label, step in (
        ("peak of the run", "evaluate"),
        ("after read + validate", "validate"),
        ("after imports", "imports"),
    ):
        memory.plot(rows, [result["peak_mb"][step] for result in results], marker="o", label=label)
    memory.set(yscale="log", ylabel="MB", title="peak resident memory (one process per size)")
    memory.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    memory.yaxis.set_major_formatter(ticker.StrMethodFormatter("{x:,.0f}"))
    for panel in panels:
        panel.set_xscale("log")
        panel.set_xticks(rows, ticks, fontsize=7)
        panel.minorticks_off()
        panel.set_xlabel("training interactions")
        panel.grid(True, which="major", alpha=0.3)
        panel.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> int:
    """Measure every size in a process of its own, print the tables, write the results."""
    args = parse_args(argv)
    if args.measure is not None:
        args.result.write_text(json.dumps(measure_folder(args.measure, args.repeats)))
        return 0
    results = []
    for size in args.sizes:
        generate_seconds = ensure_dataset(size, args.seed, args.regenerate)
        print(f"{size}: training and evaluating in a fresh process ...", flush=True)
        measured = measure_in_child(dataset_folder(size, args.seed), args.repeats)
        results.append({"size": size, "generate_seconds": generate_seconds, **measured})
        print(
            f"{size}: fit {measured['seconds']['fit']:.1f} s, evaluate "
            f"{measured['seconds']['evaluate']:.1f} s, peak {measured['peak_mb']['evaluate']:,.0f}"
            " MB",
            flush=True,
        )
    summary = growth(results)
    print_tables(results, summary)
    written = write_results("training", {"sizes": results, "growth": summary})
    print(f"\nresults: {written}")
    if not args.no_figure:
        print(f"figure:  {draw(results, FIGURE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
