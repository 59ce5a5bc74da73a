"""Training on recent days only, without offering users what they had before those days.

After a concept drift (users want other things) or a catalogue shift, old interactions teach the
model the wrong co-occurrences, so the retraining fits on the days since the incident began
(``data.train_from_day``), and :func:`window_split` holds out the window's last interactions.
EASE excludes only the pairs it was fitted on, so a model fitted on recent days would offer users
items they bought months ago: :class:`RecentRecommender` wraps the fitted model and drops those,
which the world (and a user) counts as a miss. The model file itself stays the same at every
level.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from .evaluation import Split, split_by_time
from .model import RECOMMENDATION_COLUMNS, Recommender


def recent_interactions(interactions: pd.DataFrame, from_day: int) -> pd.DataFrame:
    """The interactions a model trains on: those from ``from_day`` on (all of them for 0)."""
    if from_day <= 0:
        return interactions
    recent = interactions[interactions["day"] >= from_day]
    if recent.empty:
        raise ValueError(f"data.train_from_day {from_day}: no interactions from that day on")
    return recent.reset_index(drop=True)


class RecentRecommender:
    """A recommender fitted on recent days that also leaves out each user's earlier items.

    It answers like the model it wraps (``recommend``, ``recommend_one``, ``user_ids_``,
    ``item_ids_``, ``popularity_``), so the gate, the service and the evaluation use it unchanged.
    """

    def __init__(self, model: Recommender, earlier: pd.DataFrame) -> None:
        self.model = model
        pairs = earlier[["user_id", "item_id"]].drop_duplicates()
        self.earlier_ = pairs.groupby("user_id")["item_id"].agg(set).to_dict()

    @property
    def user_ids_(self) -> np.ndarray:
        """The users the wrapped model knows."""
        return self.model.user_ids_

    @property
    def item_ids_(self) -> np.ndarray:
        """The items the wrapped model can recommend."""
        return self.model.item_ids_

    @property
    def popularity_(self) -> np.ndarray:
        """The wrapped model's item popularity (its fallback for unknown users)."""
        return self.model.popularity_

    def recommend(self, user_ids: Iterable[int], k: int = 10) -> pd.DataFrame:
        """The wrapped model's top-``k`` after dropping each user's earlier items, re-ranked."""
        users = np.asarray(list(user_ids) if not isinstance(user_ids, np.ndarray) else user_ids)
        most_earlier = max((len(self.earlier_.get(int(user), ())) for user in users), default=0)
        ranked = self.model.recommend(users, k=k + most_earlier)
        if most_earlier == 0 or ranked.empty:
            return ranked[ranked["rank"] <= k].reset_index(drop=True)
        had = np.fromiter(
            (
                item in self.earlier_.get(user, ())
                for user, item in zip(
                    ranked["user_id"].tolist(), ranked["item_id"].tolist(), strict=True
                )
            ),
            dtype=bool,
            count=len(ranked),
        )
        kept = ranked[~had].copy()
        kept["rank"] = kept.groupby("user_id", sort=False).cumcount() + 1
        return kept[kept["rank"] <= k][RECOMMENDATION_COLUMNS].reset_index(drop=True)

    def recommend_one(self, user_id: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """One user's ``recommend``, as the wrapped model's item ids and scores (the service's)."""
        earlier = self.earlier_.get(int(user_id), set())
        items, scores = self.model.recommend_one(user_id, k + len(earlier))
        if earlier:
            kept = ~np.isin(items, list(earlier))
            items, scores = items[kept], scores[kept]
        return items[:k], scores[:k]


def window_split(interactions: pd.DataFrame, test_fraction: float, from_day: int) -> Split:
    """Hold out the latest ``test_fraction`` of the window; everything before the cut-off trains.

    The training side keeps the interactions before the window: the model is fitted on the
    window's part only (:func:`fit_window`), but a user's earlier items are not "new" test items
    it should have found, and the baseline knows them, as in the levels before.
    """
    held = split_by_time(recent_interactions(interactions, from_day), test_fraction)
    if from_day <= 0:
        return held
    past = interactions[interactions["timestamp"] < held.cutoff_timestamp]
    return Split(past.reset_index(drop=True), held.test, held.cutoff_timestamp, held.cutoff_day)


def fit_window(model: Recommender, train: pd.DataFrame, from_day: int) -> Any:
    """Fit ``model`` on the days from ``from_day`` on; it never offers what came before them."""
    model.fit(recent_interactions(train, from_day))
    return excluding_earlier(model, earlier_interactions(train, from_day))


def earlier_interactions(interactions: pd.DataFrame, from_day: int) -> pd.DataFrame:
    """The interactions before ``from_day``: not trained on, but never offered again."""
    return interactions[interactions["day"] < from_day]


def excluding_earlier(model: Recommender, earlier: pd.DataFrame) -> Recommender | RecentRecommender:
    """``model`` as it is when nothing came before its window, else wrapped."""
    return RecentRecommender(model, earlier) if len(earlier) else model
