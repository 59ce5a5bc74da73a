"""The policy's rules, checked by hand: which days a retraining reads, and when it may start."""

from __future__ import annotations

import pytest

from level4_autonomous.config import ConfigError, PolicyConfig, load_config
from level4_autonomous.policy import Window, retraining_blocked, training_window

POLICY = PolicyConfig()  # min_fresh_days 2, cooldown_days 3, max_retrains 3, budget_days 14


@pytest.mark.parametrize("metric", ["request_drift_share", "feed_drift_share", "ctr"])
def test_drift_or_a_quality_drop_trains_on_all_the_data(metric: str) -> None:
    window = training_window([metric], incident_day=97, day=98, policy=POLICY)
    assert (window.from_day, window.last_day) == (0, 98)


def test_a_new_catalogue_trains_on_the_days_since_the_incident() -> None:
    window = training_window(["new_item_share"], incident_day=97, day=99, policy=POLICY)
    assert (window.from_day, window.last_day) == (97, 99)
    assert "new_item_share" in window.reason


def test_recent_only_wins_when_both_kinds_fire_on_one_day() -> None:
    window = training_window(["feed_drift_share", "new_item_share"], 97, 98, POLICY)
    assert window.from_day == 97


def decision(day: int, action: str = "retrain") -> dict:
    return {"day": day, "action": action}


def test_nothing_blocks_a_first_retraining_with_enough_fresh_data() -> None:
    assert retraining_blocked(98, Window(97, 98, ""), [], POLICY, check_running=False) is None


def test_one_day_of_fresh_data_is_not_enough_for_a_recent_window() -> None:
    reason = retraining_blocked(97, Window(97, 97, ""), [], POLICY, check_running=False)
    assert reason == "1 day(s) of data since the incident, 2 needed"


def test_all_the_data_needs_no_fresh_days() -> None:
    assert retraining_blocked(97, Window(0, 97, ""), [], POLICY, check_running=False) is None


def test_a_running_online_check_comes_first() -> None:
    reason = retraining_blocked(99, Window(97, 99, ""), [], POLICY, check_running=True)
    assert reason is not None and "online check" in reason


def test_the_cool_down_counts_simulated_days() -> None:
    window = Window(0, 100, "")
    assert "cool-down" in retraining_blocked(100, window, [decision(98)], POLICY, False)
    assert retraining_blocked(101, window, [decision(98)], POLICY, False) is None


def test_the_budget_caps_retrainings_in_its_period() -> None:
    spent = [decision(80), decision(85), decision(90), decision(91, "promote")]
    assert "budget spent: 3" in retraining_blocked(93, Window(0, 93, ""), spent, POLICY, False)
    # day 94: the retraining of day 80 has left the 14-day budget period
    assert retraining_blocked(94, Window(0, 94, ""), spent, POLICY, False) is None


def test_the_policy_is_validated_like_the_rest_of_the_config(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[data]\npath = "x"\n[policy]\nonline_share = 1.5\n')
    with pytest.raises(ConfigError, match=r"field 'policy.online_share'"):
        load_config(path)
    path.write_text('[data]\npath = "x"\n[policy]\nretrain_on = ["ctr", "latency"]\n')
    with pytest.raises(ConfigError, match=r"field 'policy.retrain_on.1'"):
        load_config(path)


def test_a_second_event_of_the_day_finds_the_retraining_done() -> None:
    reason = retraining_blocked(98, Window(0, 98, ""), [decision(98)], POLICY, False)
    assert reason == "a retraining already ran today (on another of the day's events)"
