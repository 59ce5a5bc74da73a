"""Level 0: load the handed-over joblib file and print the top items for one user.

    python -m level0_manual.recommend --model state/level0_manual/model.joblib --user 42

This is the whole "deployment" at level 0: whoever received the file loads it by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import joblib


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="the joblib file train.py wrote")
    parser.add_argument("--user", type=int, required=True, help="user id to recommend for")
    parser.add_argument("--k", type=int, default=10, help="how many items to list")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.model.is_file():
        print(
            f"error: no model file at {args.model}; run level0_manual.train first", file=sys.stderr
        )
        return 2
    model = joblib.load(args.model)
    recommendations = model.recommend([args.user], k=args.k)
    known = args.user in model.user_ids_
    source = "personal" if known else "unknown user: most popular items"
    print(f"Top {len(recommendations)} for user {args.user} ({source}):")
    for row in recommendations.itertuples(index=False):
        print(f"{row.rank:>3}. item {row.item_id:<8} score {row.score:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
