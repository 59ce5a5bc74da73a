"""The online check's decision rule against hand-computed cases, and the arms the service splits."""

from __future__ import annotations

import math

import pytest

from level4_autonomous.online_check import Arm, judge, worse_p_value
from level4_autonomous.serve import in_test_arm


def test_the_p_value_is_the_binomial_tail_of_the_new_arms_clicks() -> None:
    # 2 clicks of 4, each in the new arm with probability 1/2 (equal lists): P(X <= 2) = 11/16.
    assert worse_p_value(Arm("2", 100, 2), Arm("1", 100, 2)) == pytest.approx(11 / 16)
    # 0 of 3 clicks, probability 1/4 each (100 of 400 lists): P(X = 0) = (3/4)^3.
    assert worse_p_value(Arm("2", 100, 0), Arm("1", 300, 3)) == pytest.approx(0.75**3)
    assert worse_p_value(Arm("2", 100, 0), Arm("1", 100, 0)) == 1.0


def test_too_few_lists_in_either_arm_waits() -> None:
    verdict = judge(Arm("2", 150, 1), Arm("1", 500, 60), min_lists=200, significance=0.05)
    assert verdict.outcome == "wait"
    assert verdict.p_value is None
    assert "150 and 500 lists" in verdict.reason


def test_a_clearly_worse_new_version_is_worse() -> None:
    # 300 of 1000 lists, 5 of 105 clicks: expected 31.5; P(X <= 5) is tiny.
    verdict = judge(Arm("2", 300, 5), Arm("1", 700, 100), min_lists=200, significance=0.05)
    assert verdict.outcome == "worse"
    expected = sum(math.comb(105, i) * 0.3**i * 0.7 ** (105 - i) for i in range(6))
    assert verdict.p_value == pytest.approx(expected)
    assert verdict.evidence()["new"]["ctr"] == pytest.approx(5 / 300)


def test_an_equal_or_better_new_version_is_not_worse() -> None:
    equal = judge(Arm("2", 300, 30), Arm("1", 700, 70), min_lists=200, significance=0.05)
    better = judge(Arm("2", 300, 60), Arm("1", 700, 70), min_lists=200, significance=0.05)
    assert (equal.outcome, better.outcome) == ("not_worse", "not_worse")
    assert equal.p_value > 0.5 and better.p_value > 0.99


def test_a_slightly_lower_click_through_is_not_significant() -> None:
    # 27 instead of the expected 30 clicks: p = P(X <= 27 | 100, 0.3), about 0.28.
    verdict = judge(Arm("2", 300, 27), Arm("1", 700, 73), min_lists=200, significance=0.05)
    assert verdict.outcome == "not_worse"
    assert 0.2 < verdict.p_value < 0.35


def test_the_test_arm_is_a_stable_share_of_the_users() -> None:
    users = range(10_000)
    chosen = [user for user in users if in_test_arm(user, 0.3)]
    assert 2_900 < len(chosen) < 3_100
    assert chosen == [user for user in users if in_test_arm(user, 0.3)]
    assert not any(in_test_arm(user, 0.0) for user in users)
    # a smaller share picks a subset of a larger one's users
    assert {user for user in users if in_test_arm(user, 0.1)} <= set(chosen)
