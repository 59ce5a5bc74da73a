"""The comparison's definitions, against values computed by hand."""

from __future__ import annotations

import pytest

from compare import measures

# Days 90-93 before a switch on day 94: mean (0.30 + 0.32 + 0.28 + 0.30) / 4 = 0.30, floor 0.27.
BEFORE = {90: 0.30, 91: 0.32, 92: 0.28, 93: 0.30}


def test_pre_switch_quality_is_the_mean_of_the_days_before():
    assert measures.pre_switch_quality({**BEFORE, 94: 0.0}, 94) == pytest.approx(0.30)


def test_a_run_without_a_day_before_the_switch_is_refused():
    with pytest.raises(ValueError, match="no day before the switch"):
        measures.pre_switch_quality({94: 0.1, 95: 0.2}, 94)


def test_detection_delay_counts_from_the_switch_and_ignores_false_alarms():
    assert measures.detection_delay([91, 96, 95], 94) == 1
    assert measures.detection_delay([94], 94) == 0
    assert measures.detection_delay([91], 94) is None
    assert measures.detection_delay([], 94) is None


def test_recovery_is_the_first_day_from_which_quality_stays_above_the_floor():
    # 0.05, 0.28 (above 0.27), 0.20 (below again), then 0.27 and 0.31: back for good on day 97.
    quality = {**BEFORE, 94: 0.05, 95: 0.28, 96: 0.20, 97: 0.27, 98: 0.31}
    assert measures.time_to_recover(quality, 94) == 3


def test_quality_that_never_fell_recovered_at_once_and_one_still_down_never():
    assert measures.time_to_recover({**BEFORE, 94: 0.29, 95: 0.31}, 94) == 0
    assert measures.time_to_recover({**BEFORE, 94: 0.05, 95: 0.30, 96: 0.26}, 94) is None


def test_quality_lost_sums_the_shortfall_of_the_days_from_the_switch():
    # (0.30 - 0.05) + (0.30 - 0.20) + (0.30 - 0.35) = 0.25 + 0.10 - 0.05 = 0.30
    quality = {**BEFORE, 94: 0.05, 95: 0.20, 96: 0.35}
    assert measures.quality_lost(quality, 94) == pytest.approx(0.30)
    assert measures.last_share(quality, 94) == pytest.approx(0.35 / 0.30)
