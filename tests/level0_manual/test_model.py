"""The recommender and the popularity baseline on worlds small enough to reason about."""

import numpy as np
import pandas as pd
import pytest

from level0_manual.model import EaseRecommender, PopularityRecommender


def pairs(rows: list[tuple[int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


# Items 1 and 2 always go together, and so do 3 and 4; item 5 is the most popular overall.
CO_OCCURRING = pairs(
    [(u, 1) for u in range(10, 16)]
    + [(u, 2) for u in range(10, 16)]
    + [(u, 3) for u in range(20, 24)]
    + [(u, 4) for u in range(20, 24)]
    + [(u, 5) for u in range(10, 30)]
    + [(1, 1), (2, 3)]
)


def test_ease_recommends_what_goes_with_the_users_history():
    model = EaseRecommender(l2=1.0).fit(CO_OCCURRING)

    top = model.recommend([1, 2], k=1)

    assert top["item_id"].tolist() == [2, 4]
    assert top["rank"].tolist() == [1, 1]


def test_popularity_ranks_by_distinct_users_and_skips_seen_items():
    model = PopularityRecommender().fit(CO_OCCURRING)

    top = model.recommend([1], k=3)

    # Item 5 (20 users) first; item 1 is seen by user 1; then item 2 (6 users), item 3 (5 users).
    assert top["item_id"].tolist() == [5, 2, 3]


@pytest.mark.parametrize("model_class", [EaseRecommender, PopularityRecommender])
def test_never_recommends_an_item_the_user_has_seen(model_class):
    model = model_class().fit(CO_OCCURRING)
    users = CO_OCCURRING["user_id"].unique()

    recommended = model.recommend(users, k=5)

    overlap = recommended.merge(CO_OCCURRING, on=["user_id", "item_id"])
    assert overlap.empty


def test_unknown_users_get_the_most_popular_items():
    model = EaseRecommender().fit(CO_OCCURRING)

    top = model.recommend([999], k=2)

    assert top["user_id"].tolist() == [999, 999]
    assert top["item_id"].tolist() == [5, 1]


def test_a_user_who_has_seen_almost_everything_gets_a_shorter_list():
    data = pd.concat([CO_OCCURRING, pairs([(1, 2), (1, 3), (1, 5)])])
    model = EaseRecommender().fit(data)

    top = model.recommend([1], k=10)

    assert top["item_id"].tolist() == [4]


def test_recommendations_are_ranked_by_score_and_repeatable():
    model = EaseRecommender().fit(CO_OCCURRING)
    users = np.array([1, 2, 10, 20, 999])

    first = model.recommend(users, k=3)
    second = model.recommend(users, k=3)

    pd.testing.assert_frame_equal(first, second)
    for _, group in first.groupby("user_id"):
        assert group["score"].is_monotonic_decreasing
        assert group["rank"].tolist() == list(range(1, len(group) + 1))


def test_fit_refuses_data_without_the_id_columns():
    with pytest.raises(ValueError, match="user_id and item_id"):
        EaseRecommender().fit(pd.DataFrame({"user": [1], "item_id": [1]}))


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="k must be at least 1"):
        EaseRecommender().fit(CO_OCCURRING).recommend([1], k=0)


@pytest.mark.parametrize("l2", [0.0, -5.0, float("nan"), float("inf")])
def test_an_l2_that_is_not_a_positive_finite_number_is_refused(l2):
    with pytest.raises(ValueError, match=f"l2 must be a positive finite number, got {l2}"):
        EaseRecommender(l2=l2).fit(CO_OCCURRING)


def test_an_l2_too_small_to_invert_the_item_matrix_is_refused_naming_l2():
    twins = pairs([(u, 1) for u in range(5)] + [(u, 2) for u in range(5)] + [(9, 3)])

    with pytest.raises(ValueError, match=r"cannot be inverted with l2=1e-300"):
        EaseRecommender(l2=1e-300).fit(twins)


def test_weights_that_are_not_finite_are_never_kept(monkeypatch):
    # A numerical failure of the solver, simulated: every model would score NaN.
    monkeypatch.setattr(np.linalg, "inv", lambda matrix: np.full_like(matrix, np.nan))

    with pytest.raises(ValueError, match="weights are not finite"):
        EaseRecommender(l2=200.0).fit(CO_OCCURRING)


# ---- recommend_one: the serving path gives the batch path's answer --------------------------

# User 1 has seen every item but 6; user 2 every item; items 7 and 8 tie on popularity.
NEARLY_ALL = pd.concat(
    [
        CO_OCCURRING,
        pairs([(1, item) for item in (2, 3, 4, 5, 7, 8)]),
        pairs([(2, item) for item in range(1, 9)]),
        pairs([(30, 6), (31, 7), (32, 8), (33, 7), (33, 8), (34, 6), (30, 1)]),
    ]
)
ALL_USERS = [1, 2, 10, 20, 30, 33, 999, 0, 2**62]  # 999, 0 and 2**62 are unknown


@pytest.mark.parametrize("model_class", [EaseRecommender, PopularityRecommender])
@pytest.mark.parametrize("k", [1, 2, 3, 8, 50])  # 8 is the whole catalogue, 50 more than it
def test_recommend_one_answers_exactly_as_the_batch_path(model_class, k):
    model = model_class(l2=3.0) if model_class is EaseRecommender else model_class()
    model.fit(NEARLY_ALL)
    batch = model.recommend(ALL_USERS, k=k)

    for user in ALL_USERS:
        items, scores = model.recommend_one(user, k)

        expected = batch[batch["user_id"] == user]
        np.testing.assert_array_equal(items, expected["item_id"].to_numpy())
        np.testing.assert_array_equal(scores, expected["score"].to_numpy())
        assert items.dtype == expected["item_id"].dtype
        assert scores.dtype == np.float64


def test_recommend_one_skips_seen_items_and_shortens_the_list_when_few_are_left():
    model = EaseRecommender().fit(NEARLY_ALL)

    items, scores = model.recommend_one(1, k=50)
    nothing_left, no_scores = model.recommend_one(2, k=5)

    assert items.tolist() == [6]
    assert np.isfinite(scores).all()
    assert nothing_left.size == 0 and no_scores.size == 0


def test_recommend_one_gives_an_unknown_user_the_popular_items_with_their_counts():
    model = EaseRecommender().fit(NEARLY_ALL)

    items, scores = model.recommend_one(999, k=50)

    assert items.tolist()[:2] == [5, 1]
    assert len(items) == 8  # k beyond the catalogue: every item once
    assert scores.tolist() == sorted(scores.tolist(), reverse=True)
    assert scores[0] == NEARLY_ALL.drop_duplicates().query("item_id == 5")["user_id"].nunique()


def test_recommend_one_ranks_like_a_sum_of_the_seen_items_weight_rows():
    model = EaseRecommender(l2=1.0).fit(CO_OCCURRING)

    items, scores = model.recommend_one(1, k=1)  # user 1 saw item 1 only

    assert items.tolist() == [2]
    column = np.searchsorted(model.item_ids_, 2)
    assert scores[0] == model.weights_[np.searchsorted(model.item_ids_, 1), column]


def test_recommend_one_refuses_k_below_one():
    with pytest.raises(ValueError, match="k must be at least 1"):
        EaseRecommender().fit(CO_OCCURRING).recommend_one(1, k=0)
