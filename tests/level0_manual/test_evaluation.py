"""Ranking metrics and the time split, checked against cases worked out by hand."""

import math

import pandas as pd
import pytest

from level0_manual.evaluation import evaluate_ranking, relevant_items, split_by_time


def ranked(user_id: int, items: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"user_id": user_id, "item_id": items, "rank": range(1, len(items) + 1)})


def pairs(rows: list[tuple[int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


def test_metrics_match_a_hand_computed_case():
    # User 1 wants {1, 2, 3} and gets [1, 10, 2, 11]: hits at ranks 1 and 3.
    # User 2 wants {20} and gets four misses. User 3 wants {1} and gets no list at all.
    recommendations = pd.concat([ranked(1, [1, 10, 2, 11]), ranked(2, [10, 11, 12, 13])])
    relevant = pairs([(1, 1), (1, 2), (1, 3), (2, 20), (3, 1)])

    metrics = evaluate_ranking(recommendations, relevant, k=4, catalogue_size=10)

    dcg_user1 = 1 / math.log2(2) + 1 / math.log2(4)
    ideal_user1 = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert metrics["precision_at_4"] == pytest.approx((2 / 4) / 3)
    assert metrics["recall_at_4"] == pytest.approx((2 / 3) / 3)
    assert metrics["ndcg_at_4"] == pytest.approx((dcg_user1 / ideal_user1) / 3)
    assert metrics["map_at_4"] == pytest.approx(((1 / 1 + 2 / 3) / 3) / 3)
    # Items 1, 2, 10, 11, 12, 13 were recommended to someone: 6 of 10.
    assert metrics["coverage"] == pytest.approx(0.6)


def test_only_the_first_k_ranks_count():
    recommendations = ranked(1, [10, 11, 1])
    relevant = pairs([(1, 1)])

    at_2 = evaluate_ranking(recommendations, relevant, k=2, catalogue_size=5)
    at_3 = evaluate_ranking(recommendations, relevant, k=3, catalogue_size=5)

    assert at_2["ndcg_at_2"] == 0.0
    assert at_3["ndcg_at_3"] == pytest.approx(1 / math.log2(4))
    assert at_3["map_at_3"] == pytest.approx(1 / 3)


def test_a_perfect_list_scores_one():
    metrics = evaluate_ranking(ranked(1, [5, 6]), pairs([(1, 5), (1, 6)]), k=2, catalogue_size=2)

    for name in ("precision_at_2", "recall_at_2", "ndcg_at_2", "map_at_2", "coverage"):
        assert metrics[name] == pytest.approx(1.0), name


def test_evaluating_nobody_is_refused():
    with pytest.raises(ValueError, match="no user has relevant test items"):
        evaluate_ranking(ranked(1, [1]), pairs([]), k=1, catalogue_size=1)


def interactions(rows: list[tuple[int, int, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["timestamp", "user_id", "item_id"])
    return frame.assign(day=frame["timestamp"] // 100)


def test_split_holds_out_the_latest_interactions_without_cutting_a_moment():
    data = interactions([(0, 1, 1), (100, 1, 2), (200, 2, 1), (300, 1, 3), (300, 2, 4)])

    split = split_by_time(data, test_fraction=0.2)

    # The cut falls on timestamp 300; both events at 300 are tested, none trained on.
    assert split.cutoff_timestamp == 300
    assert split.cutoff_day == 3
    assert split.train["timestamp"].max() < 300
    assert len(split.test) == 2


def test_relevant_items_are_new_items_of_known_users():
    data = interactions([(0, 1, 1), (10, 2, 2), (500, 1, 1), (500, 1, 3), (500, 9, 4)])
    split = split_by_time(data, test_fraction=0.5)

    relevant = relevant_items(split)

    # User 1 re-visiting item 1 is not a discovery; user 9 is cold and not evaluated.
    assert relevant.to_dict("records") == [{"user_id": 1, "item_id": 3}]


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_split_refuses_a_fraction_outside_zero_one(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        split_by_time(interactions([(0, 1, 1), (1, 1, 2)]), test_fraction=fraction)
