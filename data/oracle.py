"""The oracle recommender: the best ranking possible, from the world's hidden true scores.

It has the same ``recommend`` interface as the trained models, so the evaluation can report a
model's quality as a fraction of the best achievable on the same users and day.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .population import id_positions

#: Scores computed at once per chunk of users (rows x items), to keep memory bounded.
SCORES_PER_CHUNK = 2_000_000

RECOMMENDATION_COLUMNS = ("user_id", "item_id", "rank", "score")


class OracleRecommender:
    """Ranks ``items`` for a user by true score, leaving out the pairs the user has already seen.

    ``scores(users)`` returns the true scores of those user positions against ``items`` (ids in
    ascending order); ``seen`` has columns ``user_id`` and ``item_id``.
    """

    def __init__(
        self,
        scores: Callable[[np.ndarray], np.ndarray],
        items: np.ndarray,
        n_users: int,
        seen: pd.DataFrame,
    ) -> None:
        self._scores = scores
        self._items = np.asarray(items, dtype=np.int64)
        self._n_users = n_users
        self._seen_start, self._seen_columns = self._index_seen(seen)

    def _index_seen(self, seen: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Seen pairs as a sparse row index, so that masking them costs no dense matrix.

        User ``u``'s seen item columns are ``columns[start[u]:start[u + 1]]``; pairs with unknown
        ids are ignored.
        """
        users, known_users = id_positions(seen["user_id"], self._n_users)
        item_ids = pd.to_numeric(seen["item_id"], errors="coerce").to_numpy(float, na_value=-1)
        columns = np.searchsorted(self._items, item_ids)
        in_range = columns < self._items.size
        known = known_users & in_range
        known[known] = self._items[columns[known]] == item_ids[known]
        order = np.argsort(users[known], kind="stable")
        counts = np.bincount(users[known], minlength=self._n_users)
        start = np.concatenate([[0], np.cumsum(counts)])
        return start, columns[known][order]

    def _mask_seen(self, scores: np.ndarray, users: np.ndarray) -> None:
        first = self._seen_start[users]
        counts = self._seen_start[users + 1] - first
        rows = np.repeat(np.arange(users.size), counts)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        scores[rows, self._seen_columns[np.repeat(first, counts) + within]] = -np.inf

    def recommend(self, user_ids: object, k: int = 10) -> pd.DataFrame:
        """The top ``k`` unseen items per user: columns user_id, item_id, rank (1..k), score.

        Users come out in input order; an unknown user gets no rows.
        """
        positions, known = id_positions(user_ids, self._n_users)
        users = positions[known]
        top_k = min(k, self._items.size)
        if users.size == 0 or top_k <= 0:
            return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in _EMPTY.items()})
        chunk = max(1, SCORES_PER_CHUNK // self._items.size)
        parts = [
            self._top(users[start : start + chunk], top_k) for start in range(0, users.size, chunk)
        ]
        return pd.concat(parts, ignore_index=True)

    def _top(self, users: np.ndarray, k: int) -> pd.DataFrame:
        scores = self._scores(users)
        self._mask_seen(scores, users)
        best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        best_scores = np.take_along_axis(scores, best, axis=1)
        order = np.argsort(-best_scores, axis=1, kind="stable")
        best = np.take_along_axis(best, order, axis=1)
        best_scores = np.take_along_axis(best_scores, order, axis=1)
        keep = np.isfinite(best_scores)
        return pd.DataFrame(
            {
                "user_id": np.repeat(users, k).reshape(-1, k)[keep],
                "item_id": self._items[best[keep]],
                "rank": np.broadcast_to(np.arange(1, k + 1), best.shape)[keep],
                "score": best_scores[keep],
            }
        )


_EMPTY = {"user_id": np.int64, "item_id": np.int64, "rank": np.int64, "score": np.float64}
