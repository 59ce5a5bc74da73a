"""The recommender: EASE, a closed-form item-to-item model, and the popularity baseline.

EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019) learns one
item-to-item weight matrix ``B`` by ridge regression of each item's column of the user-item matrix
on all other columns, with a zero diagonal so an item cannot explain itself. Its solution is
closed-form (one matrix inverse), it has a single hyper-parameter, and on implicit-feedback top-k
benchmarks such as MovieLens it matches or beats matrix factorisation and many deep models. It is
chosen here for that quality and because a reader can check every line of it.

Both models follow one interface: ``fit(interactions)`` on a frame with ``user_id`` and
``item_id`` columns, then ``recommend(user_ids, k)`` returning ranked items per user, never items
the user already interacted with. A user the model has never seen gets the most popular items.
``recommend_one(user_id, k)`` gives one user's answer as numpy arrays, for a serving API.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator

RECOMMENDATION_COLUMNS = ["user_id", "item_id", "rank", "score"]
_USERS_PER_CHUNK = 2_048  # bounds the dense users x items score block held in memory


class Recommender(BaseEstimator, ABC):
    """What both models share: id indexing, excluding seen items, top-k and the cold-user fallback.

    A subclass only says how to score the items for a block of known users (``_score_users``).
    """

    def fit(self, interactions: pd.DataFrame) -> Recommender:
        """Index users and items and build the binary user-item matrix the scores come from."""
        missing = {"user_id", "item_id"} - set(interactions.columns)
        if missing:
            raise ValueError(
                f"interactions need columns user_id and item_id; missing {sorted(missing)}"
            )
        if interactions.empty:
            raise ValueError("cannot fit a recommender on zero interactions")
        self.user_ids_, user_rows = np.unique(
            interactions["user_id"].to_numpy(), return_inverse=True
        )
        self.item_ids_, item_cols = np.unique(
            interactions["item_id"].to_numpy(), return_inverse=True
        )
        seen = sp.csr_matrix(
            (np.ones(len(user_rows), dtype=np.float32), (user_rows, item_cols)),
            shape=(len(self.user_ids_), len(self.item_ids_)),
        )
        seen.sum_duplicates()
        seen.data[:] = 1.0  # repeated events on one item count once: the signal is "interacted"
        self.seen_ = seen
        # Distinct users per item: the baseline's score and the fallback for unknown users.
        self.popularity_ = np.asarray(seen.sum(axis=0)).ravel()
        self._fit_scorer(seen)
        return self

    def recommend(self, user_ids: Iterable[int], k: int = 10) -> pd.DataFrame:
        """Top-``k`` unseen items for each user, in input order, as user_id/item_id/rank/score."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        users = np.asarray(list(user_ids) if not isinstance(user_ids, np.ndarray) else user_ids)
        positions = np.searchsorted(self.user_ids_, users)
        positions = np.minimum(positions, len(self.user_ids_) - 1)
        known = self.user_ids_[positions] == users if len(users) else np.zeros(0, dtype=bool)
        k = min(k, len(self.item_ids_))

        item_cols = np.empty((len(users), k), dtype=np.int64)
        scores = np.empty((len(users), k), dtype=np.float64)
        popular_cols = self._most_popular(k)
        item_cols[~known] = popular_cols
        scores[~known] = self.popularity_[popular_cols]

        known_at = np.flatnonzero(known)
        for start in range(0, len(known_at), _USERS_PER_CHUNK):
            block_at = known_at[start : start + _USERS_PER_CHUNK]
            rows = positions[block_at]
            block = np.asarray(self._score_users(rows), dtype=np.float64)
            seen = self.seen_[rows]
            block[seen.nonzero()] = -np.inf
            cols = _top_k(block, k)
            item_cols[block_at] = cols
            scores[block_at] = np.take_along_axis(block, cols, axis=1)

        columns = (  # in the order of RECOMMENDATION_COLUMNS
            np.repeat(users, k),
            self.item_ids_[item_cols.ravel()],
            np.tile(np.arange(1, k + 1), len(users)),
            scores.ravel(),
        )
        frame = pd.DataFrame(dict(zip(RECOMMENDATION_COLUMNS, columns, strict=True)))
        # A user who has seen nearly everything gets fewer than k items, never a seen one.
        return frame[np.isfinite(frame["score"].to_numpy())].reset_index(drop=True)

    def recommend_one(self, user_id: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """One user's top-``k`` unseen items and their scores, best first, as two numpy arrays.

        The same items, order and scores as ``recommend([user_id], k)``, without what a batch
        needs: a serving API answers one user per request, and building a DataFrame and a sparse
        row slice for one user cost more than ranking the items. Ranks are the positions.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        k = min(k, len(self.item_ids_))
        row = int(np.searchsorted(self.user_ids_, user_id))
        if row == len(self.user_ids_) or self.user_ids_[row] != user_id:
            cols = self._most_popular(k)
            return self.item_ids_[cols], self.popularity_[cols].astype(np.float64)
        seen_cols = self.seen_.indices[self.seen_.indptr[row] : self.seen_.indptr[row + 1]]
        scores = np.array(self._score_seen(seen_cols), dtype=np.float64)  # a copy to write in
        scores[seen_cols] = -np.inf
        cols = _top_k(scores[np.newaxis, :], k)[0]
        cols = cols[np.isfinite(scores[cols])]  # fewer than k when nearly everything is seen
        return self.item_ids_[cols], scores[cols]

    def _most_popular(self, k: int) -> np.ndarray:
        """Columns of the ``k`` items most users interacted with: what an unknown user gets."""
        return _top_k(self.popularity_[np.newaxis, :].astype(np.float64), k)[0]

    @abstractmethod
    def _fit_scorer(self, seen: sp.csr_matrix) -> None:
        """Learn whatever the scores need from the binary user-item matrix."""

    @abstractmethod
    def _score_users(self, rows: np.ndarray) -> np.ndarray:
        """Scores of every item for the users at matrix rows ``rows`` (higher is better)."""

    @abstractmethod
    def _score_seen(self, seen_cols: np.ndarray) -> np.ndarray:
        """Scores of every item for one user who has seen the items at columns ``seen_cols``.

        It must equal ``_score_users`` of that user's row, bit for bit: both paths rank alike.
        """


class PopularityRecommender(Recommender):
    """The baseline: the items most users interacted with, the same list for everyone."""

    def _fit_scorer(self, _seen: sp.csr_matrix) -> None:
        self.scores_ = self.popularity_.astype(np.float64)

    def _score_users(self, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.scores_, (len(rows), len(self.scores_))).copy()

    def _score_seen(self, _seen_cols: np.ndarray) -> np.ndarray:
        return self.scores_


class EaseRecommender(Recommender):
    """EASE: item-to-item ridge regression with a zero diagonal, solved in closed form.

    ``l2`` is the ridge strength; larger values shrink the weights towards popularity-free
    co-occurrence and help on sparse data. Cost: one inverse of an items x items matrix, so the
    model suits catalogues of up to a few tens of thousands of items.
    """

    def __init__(self, l2: float = 200.0) -> None:
        self.l2 = l2

    def _fit_scorer(self, seen: sp.csr_matrix) -> None:
        if not (np.isfinite(self.l2) and self.l2 > 0):
            raise ValueError(f"l2 must be a positive finite number, got {self.l2}")
        gram = (seen.T @ seen).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.l2
        try:
            precision = np.linalg.inv(gram)
        except np.linalg.LinAlgError:
            raise ValueError(
                f"the item-item matrix cannot be inverted with l2={self.l2:g}: use a larger l2"
            ) from None
        weights = (precision / -np.diag(precision)).astype(np.float32)
        np.fill_diagonal(weights, 0.0)
        # A model whose weights are NaN or infinite ranks nothing, yet would evaluate and save
        # without an error: refuse it here, so no level can hand one over.
        if not np.isfinite(weights).all():
            raise ValueError(f"EASE weights are not finite with l2={self.l2:g}; nothing was fit")
        self.weights_ = weights

    def _score_users(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.seen_[rows] @ self.weights_)

    def _score_seen(self, seen_cols: np.ndarray) -> np.ndarray:
        # The user's row of the binary matrix times the weights is the sum of the weight rows of
        # the items seen, added in the same order as the sparse product, so the same float32s.
        return self.weights_[seen_cols].sum(axis=0)


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` best scores in each row, best first, ties in a fixed order."""
    if k < scores.shape[1]:
        candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        candidates = np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
    candidate_scores = np.take_along_axis(scores, candidates, axis=1)
    order = np.lexsort((candidates, -candidate_scores), axis=1)
    return np.take_along_axis(candidates, order, axis=1)
