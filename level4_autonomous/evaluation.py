"""Offline evaluation: a time-based split and top-k ranking metrics.

The split is global and by time: everything before a cut-off trains, everything after tests, as in
production where a model only ever knows the past. A user's relevant items are those they
interacted with after the cut-off and not before (models never recommend seen items, so those
could not be hit). Only users with history before and after the cut-off are evaluated; cold users
get the popularity fallback from every model alike and would only blur the comparison.

Metrics at k, averaged over evaluated users (binary relevance):

- precision@k = hits in the top k / k
- recall@k    = hits in the top k / number of relevant items
- NDCG@k      = sum of 1/log2(rank + 1) over hits / the same sum for a perfect list
- MAP@k       = mean over hits of precision at that hit's rank, divided by min(relevant, k)
- coverage    = distinct items recommended to anyone / distinct items in the training data
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd


class Recommends(Protocol):
    """Anything that ranks items for users: the trained models, the baseline, the oracle."""

    def recommend(self, user_ids: np.ndarray, k: int = 10) -> pd.DataFrame:
        """The top ``k`` items per user, as rows of user_id, item_id, rank and score."""


@dataclass(frozen=True)
class Split:
    """Training and test interactions, cut at ``cutoff_timestamp`` (``cutoff_day`` in days)."""

    train: pd.DataFrame
    test: pd.DataFrame
    cutoff_timestamp: int
    cutoff_day: int


def split_by_time(interactions: pd.DataFrame, test_fraction: float = 0.2) -> Split:
    """Cut at the timestamp that leaves the last ``test_fraction`` of interactions for testing.

    All interactions sharing the cut-off timestamp go to the test side, so no moment is split.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    timestamps = np.sort(interactions["timestamp"].to_numpy())
    if len(timestamps) < 2:
        raise ValueError(f"need at least 2 interactions to split, got {len(timestamps)}")
    cutoff = int(timestamps[int(len(timestamps) * (1.0 - test_fraction))])
    is_train = interactions["timestamp"].to_numpy() < cutoff
    train, test = interactions[is_train], interactions[~is_train]
    if train.empty or test.empty:
        raise ValueError(
            f"the time split at timestamp {cutoff} leaves {len(train)} training and {len(test)} "
            "test interactions; the data needs interactions at more than one moment"
        )
    cutoff_day = int(interactions.loc[~is_train, "day"].min())
    return Split(train=train, test=test, cutoff_timestamp=cutoff, cutoff_day=cutoff_day)


def relevant_items(split: Split) -> pd.DataFrame:
    """The (user_id, item_id) pairs a good model should find: new after the cut-off, known users."""
    test_pairs = split.test[["user_id", "item_id"]].drop_duplicates()
    train_pairs = split.train[["user_id", "item_id"]].drop_duplicates()
    known_users = test_pairs["user_id"].isin(train_pairs["user_id"].unique())
    merged = test_pairs[known_users].merge(train_pairs, how="left", indicator=True)
    new_pairs = merged[merged["_merge"] == "left_only"]
    return new_pairs[["user_id", "item_id"]].reset_index(drop=True)


def evaluate_ranking(
    recommendations: pd.DataFrame, relevant: pd.DataFrame, k: int, catalogue_size: int
) -> dict[str, float]:
    """Mean precision, recall, NDCG and MAP at ``k`` over the users in ``relevant``, and coverage.

    ``recommendations`` has user_id, item_id and a 1-based rank; users of ``relevant`` with no
    recommendations count as all misses. Only ranks up to ``k`` are considered.
    """
    users = np.sort(relevant["user_id"].unique())
    if len(users) == 0:
        raise ValueError("no user has relevant test items: nothing to evaluate")
    top = recommendations[recommendations["rank"] <= k]
    top = top[top["user_id"].isin(users)]
    hits = top.merge(relevant, on=["user_id", "item_id"], how="left", indicator=True)
    hits["hit"] = hits["_merge"] == "both"
    hits = hits.sort_values(["user_id", "rank"], kind="stable")

    n_relevant = relevant.groupby("user_id").size().reindex(users).to_numpy(dtype=np.float64)
    hit_rank = hits.loc[hits["hit"], ["user_id", "rank"]]
    hit_rank = hit_rank.assign(hits_so_far=hit_rank.groupby("user_id").cumcount() + 1)
    per_user = pd.DataFrame(index=pd.Index(users, name="user_id"))
    per_user["hits"] = hit_rank.groupby("user_id").size()
    per_user["dcg"] = (1.0 / np.log2(hit_rank["rank"] + 1.0)).groupby(hit_rank["user_id"]).sum()
    per_user["precision_sum"] = (
        (hit_rank["hits_so_far"] / hit_rank["rank"]).groupby(hit_rank["user_id"]).sum()
    )
    per_user = per_user.fillna(0.0)

    ideal_hits = np.minimum(n_relevant, k).astype(int)
    discounts = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))
    ideal_dcg = discounts[ideal_hits - 1]
    return {
        f"precision_at_{k}": float(np.mean(per_user["hits"] / k)),
        f"recall_at_{k}": float(np.mean(per_user["hits"] / n_relevant)),
        f"ndcg_at_{k}": float(np.mean(per_user["dcg"] / ideal_dcg)),
        f"map_at_{k}": float(np.mean(per_user["precision_sum"] / ideal_hits)),
        "coverage": float(top["item_id"].nunique() / catalogue_size),
    }


def evaluate_models(
    models: Mapping[str, Recommends], split: Split, k: int = 10
) -> dict[str, dict[str, float]]:
    """Evaluate each named model on the same split, users and catalogue."""
    relevant = relevant_items(split)
    users = np.sort(relevant["user_id"].unique())
    catalogue_size = split.train["item_id"].nunique()
    return {
        name: evaluate_ranking(model.recommend(users, k=k), relevant, k, catalogue_size)
        for name, model in models.items()
    }
