"""Level 0: load the handed-over joblib file and print the top items for one user.

    python -m level0_manual.recommend --model state/level0_manual/model.joblib --user 42

This is the whole "deployment" at level 0: whoever received the file loads it by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import joblib

from .model import Recommender
from .train import list_length, whole_number

#: Ids are int64 in every table (see data/schema.py); a larger number cannot name a user.
ID_RANGE = range(-(2**63), 2**63)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: the model file, the user, and how many items to list."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="the joblib file train.py wrote")
    parser.add_argument("--user", type=user_id, required=True, help="user id to recommend for")
    parser.add_argument("--k", type=list_length, default=10, help="how many items to list")
    return parser.parse_args(argv)


def user_id(text: str) -> int:
    """A whole number that fits in 64 bits, as every id in the data does."""
    number = whole_number(text)
    if number not in ID_RANGE:
        raise argparse.ArgumentTypeError(f"{text} is outside the 64-bit id range")
    return number


def main(argv: list[str] | None = None) -> int:
    """Load the handed-over file and print the user's top items.

    A missing file, or one that train.py did not write, exits with 2 and one line on stderr.
    """
    args = parse_args(argv)
    if not args.model.is_file():
        print(
            f"error: no model file at {args.model}; run level0_manual.train first", file=sys.stderr
        )
        return 2
    try:
        model = joblib.load(args.model)
    except Exception as error:  # unpickling fails in many ways; each means "not our file"
        reason = f"{type(error).__name__}: {error}".splitlines()[0]
        print(f"error: {args.model} is not a model file train.py wrote ({reason})", file=sys.stderr)
        return 2
    if not isinstance(model, Recommender):
        reason = f"it holds a {type(model).__name__}"
        print(f"error: {args.model} is not a model file train.py wrote ({reason})", file=sys.stderr)
        return 2
    recommendations = model.recommend([args.user], k=args.k)
    known = args.user in model.user_ids_
    source = "personal" if known else "unknown user: most popular items"
    print(f"Top {len(recommendations)} for user {args.user} ({source}):")
    for row in recommendations.itertuples(index=False):
        print(f"{row.rank:>3}. item {row.item_id:<8} score {row.score:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
