"""Training on a recent window: what is trained on, and that earlier items are never offered."""

from __future__ import annotations

import pandas as pd
import pytest

from level4_autonomous.model import EaseRecommender, PopularityRecommender
from level4_autonomous.window import (
    RecentRecommender,
    earlier_interactions,
    excluding_earlier,
    fit_window,
    recent_interactions,
    window_split,
)

#: Users 1-3 on items 10-14; day 5 is the window.
INTERACTIONS = pd.DataFrame(
    {
        "day": [1, 1, 2, 5, 5, 5, 5, 5, 5],
        "user_id": [1, 1, 2, 1, 2, 2, 3, 3, 3],
        "item_id": [10, 11, 12, 12, 10, 13, 10, 12, 14],
    }
)


def test_the_window_is_the_days_from_its_first() -> None:
    assert list(recent_interactions(INTERACTIONS, 5)["day"].unique()) == [5]
    assert recent_interactions(INTERACTIONS, 0) is INTERACTIONS
    assert len(earlier_interactions(INTERACTIONS, 5)) == 3
    with pytest.raises(ValueError, match="train_from_day 9: no interactions"):
        recent_interactions(INTERACTIONS, 9)


def test_earlier_items_are_never_offered_and_the_ranks_close_up() -> None:
    model = PopularityRecommender().fit(recent_interactions(INTERACTIONS, 5))
    # popularity in the window: 10 and 12 (2 users each), then 13 and 14
    wrapped = excluding_earlier(model, earlier_interactions(INTERACTIONS, 5))
    assert isinstance(wrapped, RecentRecommender)
    lists = wrapped.recommend([1, 2, 4], k=2)
    by_user = {user: list(group["item_id"]) for user, group in lists.groupby("user_id")}
    # user 1 had 10 and 11 earlier and 12 in the window; user 2 had 12 earlier
    assert by_user[1] == [13, 14]
    assert 12 not in by_user[2] and 10 not in by_user[2]
    assert by_user[4] == [10, 12]  # unknown to the window and to the past: the popular items
    assert list(lists[lists["user_id"] == 1]["rank"]) == [1, 2]


def test_without_earlier_interactions_the_model_is_not_wrapped() -> None:
    model = EaseRecommender(l2=1.0).fit(INTERACTIONS)
    assert excluding_earlier(model, earlier_interactions(INTERACTIONS, 0)) is model


def test_the_wrapper_answers_like_the_model() -> None:
    model = EaseRecommender(l2=1.0).fit(recent_interactions(INTERACTIONS, 5))
    wrapped = RecentRecommender(model, earlier_interactions(INTERACTIONS, 5))
    assert list(wrapped.user_ids_) == [1, 2, 3]
    assert list(wrapped.item_ids_) == [10, 12, 13, 14]
    assert list(wrapped.recommend([3], k=5).columns) == ["user_id", "item_id", "rank", "score"]


def test_the_window_split_holds_out_the_windows_last_interactions() -> None:
    frame = INTERACTIONS.assign(timestamp=INTERACTIONS["day"] * 86_400 + range(len(INTERACTIONS)))
    split = window_split(frame, test_fraction=0.5, from_day=5)
    # the window's 6 interactions: the last 3 are held out; all 6 before them are the past
    assert len(split.test) == 3 and set(split.test["day"]) == {5}
    assert len(split.train) == 6 and split.train["timestamp"].max() < split.cutoff_timestamp
    assert split.cutoff_day == 5


def test_a_window_model_is_fitted_on_the_window_and_excludes_the_past() -> None:
    model = fit_window(PopularityRecommender(), INTERACTIONS, from_day=5)
    assert list(model.item_ids_) == [10, 12, 13, 14]  # item 11 appears only before the window
    assert set(model.recommend([1], k=4)["item_id"]) == {13, 14}


@pytest.mark.parametrize("model_class", [EaseRecommender, PopularityRecommender])
@pytest.mark.parametrize("k", [1, 2, 3, 10])
def test_the_services_one_user_path_answers_as_recommend(model_class, k) -> None:
    model = model_class().fit(recent_interactions(INTERACTIONS, 5))
    wrapped = RecentRecommender(model, earlier_interactions(INTERACTIONS, 5))
    for user in [1, 2, 3, 4]:  # 4 is unknown
        items, scores = wrapped.recommend_one(user, k)
        expected = wrapped.recommend([user], k=k)
        assert items.tolist() == expected["item_id"].tolist()
        assert scores.tolist() == expected["score"].tolist()
    # user 1 had 10 and 11 before the window and 12 in it: only 13 and 14 are left
    assert set(wrapped.recommend_one(1, 10)[0].tolist()) == {13, 14}
