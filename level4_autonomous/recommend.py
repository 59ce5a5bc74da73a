"""Level 2: inspect any run in MLflow, load its model and print the top items for one user.

    python -m level4_autonomous.recommend --list                 # finished runs, best NDCG first
    python -m level4_autonomous.recommend --run RUN_ID --user 42

At level 2 the gate and the registry decide which model serves (the service loads the champion);
this stays as the by-hand way to look at any run's model, e.g. one the gate refused.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from .config import DEFAULT_CONFIG, ConfigError, load_config
from .runtime import use_local_state


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: ``--list`` the runs, or ``--run`` one for a ``--user``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="configuration file")
    choice = parser.add_mutually_exclusive_group(required=True)
    choice.add_argument("--list", action="store_true", help="list finished runs, best first")
    choice.add_argument("--run", help="the MLflow run id whose model to use")
    parser.add_argument("--user", type=int, help="user id to recommend for (with --run)")
    parser.add_argument("--k", type=int, default=10, help="how many items to list")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """List the runs, or print a run's top items for a user; a bad command line exits with 2."""
    args = parse_args(argv)
    if args.run and args.user is None:
        print("error: --run needs --user", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    use_local_state(config.tracking.state_dir)
    import mlflow

    if args.list:
        return list_runs(mlflow, config.tracking.experiment, config.evaluation.k)
    return print_recommendations(args.run, args.user, args.k)


def print_recommendations(run_id: str, user: int, k: int) -> int:
    """Load the run's model, once its files match their recorded digest; print a user's top k."""
    import pandas as pd
    from mlflow.exceptions import MlflowException

    from .integrity import ModelIntegrityError, load_verified, run_digest, run_model_uri

    no_model = f"error: run {run_id} has no model to load (a failed or unknown run?)"
    try:
        model_uri = run_model_uri(run_id)
    except MlflowException as error:
        print(no_model, file=sys.stderr)
        print(f"MLflow said: {error.message.splitlines()[0]}", file=sys.stderr)
        return 1
    if model_uri is None:
        print(no_model, file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="recommend-") as folder:
        try:
            model = load_verified(model_uri, run_digest(run_id), Path(folder))
        except ModelIntegrityError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        recommendations = model.predict(pd.DataFrame({"user_id": [user]}), params={"k": k})
    print(f"Top {len(recommendations)} for user {user} from run {run_id}:")
    for row in recommendations.itertuples(index=False):
        print(f"{row.rank:>3}. item {row.item_id:<8} score {row.score:.4f}")
    return 0


def list_runs(mlflow: ModuleType, experiment: str, k: int) -> int:
    """The finished runs of the experiment, best first: what a person compares before choosing.

    Runs are ranked by the model's NDCG at the configured ``k``; runs evaluated at another k
    have no such metric and come last.
    """
    metric = f"model/ndcg_at_{k}"
    runs = mlflow.search_runs(
        experiment_names=[experiment],
        filter_string="attributes.status = 'FINISHED'",
        order_by=[f"metrics.`{metric}` DESC"],
        max_results=20,
    )
    if runs.empty:
        print(f"No finished runs in experiment {experiment!r} yet: run `make level4` first.")
        return 1
    print(f"{'run id':<34}{'started':<22}{f'NDCG@{k}':>9}{'l2':>9}  data")
    for row in runs.to_dict("records"):
        print(
            f"{row['run_id']:<34}{row['start_time']:%Y-%m-%d %H:%M:%S}  "
            f"{row.get(f'metrics.{metric}', float('nan')):>9.4f}{row['params.model.l2']:>9}  "
            f"{row['params.data.path']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
