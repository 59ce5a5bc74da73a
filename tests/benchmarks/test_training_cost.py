"""The training-cost benchmark's arithmetic and bookkeeping, on hand-made numbers (no timing)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks.training_cost import (
    exponent,
    fit_in_parts,
    growth,
    inverse_gflops,
    median_parts,
    per_million,
    timed_calls,
)


def measured(size: str, rows: int, items: int, fit: dict[str, float]) -> dict[str, object]:
    """A size's result as the child process reports it, with only what ``growth`` reads."""
    evaluation = {"ranking: model": 2e-6 * rows, "relevant+metrics": 1e-6 * rows}
    return {
        "size": size,
        "train_interactions": rows,
        "items": items,
        "fit_seconds": fit,
        "evaluation_seconds": evaluation,
        "seconds": {"fit": sum(fit.values()), "evaluate": sum(evaluation.values())},
        "peak_mb": {"imports": 100.0, "evaluate": 100 + rows / 1e4},
    }


def test_exponent_is_the_power_between_two_points() -> None:
    assert exponent(10, 5, 100, 50) == pytest.approx(1.0)
    assert exponent(2, 8, 4, 64) == pytest.approx(3.0)
    assert exponent(1_000, 3.0, 10_000, 3.0) == pytest.approx(0.0)


def test_exponent_is_none_when_it_cannot_be_taken() -> None:
    assert exponent(10, 0.0, 100, 1.0) is None
    assert exponent(10, 1.0, 10, 2.0) is None


def test_per_million_and_inverse_rate() -> None:
    assert per_million(3.0, 1_500_000) == pytest.approx(2.0)
    # A 1,000 x 1,000 inverse is 2e9 operations: in 2 s that is 1 GFLOP/s.
    assert inverse_gflops(2.0, 1_000) == pytest.approx(1.0)
    assert inverse_gflops(0.0, 1_000) is None


def test_growth_tells_linear_parts_from_the_cubic_inverse() -> None:
    # Interactions x10 and items x2 at each step: a linear part grows x10, the inverse x8.
    sizes = [("a", 10_000, 100), ("b", 100_000, 200), ("c", 1_000_000, 400)]
    results = [
        measured(
            name,
            rows,
            items,
            {"user-item matrix": 1e-6 * rows, "gram": 3e-6 * rows, "inverse": 1e-9 * items**3},
        )
        for name, rows, items in sizes
    ]
    summary = growth(results)

    assert [step["from"] + step["to"] for step in summary["steps"]] == ["ab", "bc"]
    for step in summary["steps"]:
        assert step["interactions_ratio"] == pytest.approx(10.0)
        assert step["items_ratio"] == pytest.approx(2.0)
        assert step["exponent"]["user-item matrix"] == pytest.approx(1.0)
        assert step["exponent"]["gram"] == pytest.approx(1.0)
        assert step["exponent"]["ranking: model"] == pytest.approx(1.0)
        assert step["exponent"]["inverse"] == pytest.approx(math.log(8) / math.log(10))
        assert step["inverse_exponent_against_items"] == pytest.approx(3.0)
        assert step["exponent"]["peak memory above imports"] == pytest.approx(1.0)
    for size in summary["per_size"]:
        assert size["seconds_per_million"]["gram"] == pytest.approx(3.0)
        assert size["inverse_seconds_per_giga_items3"] == pytest.approx(1.0)
        assert size["inverse_gflops"] == pytest.approx(2.0)
        assert size["mb_per_million"] == pytest.approx(100.0)


def test_growth_of_a_single_size_has_no_steps() -> None:
    only = measured("a", 10_000, 100, {"user-item matrix": 0.1, "gram": 0.1, "inverse": 0.1})
    assert growth([only])["steps"] == []


def test_median_parts_takes_each_part_on_its_own() -> None:
    runs = [{"a": 1.0, "b": 9.0}, {"a": 5.0, "b": 2.0}, {"a": 3.0, "b": 4.0}]
    assert median_parts(runs) == {"a": 3.0, "b": 4.0}


def test_timed_calls_adds_each_call_and_puts_the_function_back() -> None:
    class Owner:
        @staticmethod
        def work(value: int) -> int:
            return value * 2

    seconds: dict[str, float] = {}
    original = Owner.work
    with timed_calls(Owner, "work", seconds, "work"):
        assert Owner.work(2) == 4
        assert Owner.work(3) == 6
    assert seconds["work"] >= 0.0
    assert Owner.work is original


def test_fit_in_parts_fits_the_same_model_and_names_every_part() -> None:
    from level2_cicd.model import EaseRecommender

    rng = np.random.default_rng(0)
    interactions = pd.DataFrame(
        {"user_id": rng.integers(0, 50, 600), "item_id": rng.integers(0, 30, 600)}
    )
    seconds: dict[str, float] = {}
    model = fit_in_parts(interactions, 200.0, seconds)

    assert set(seconds) == {"user-item matrix", "gram", "inverse"}
    assert all(value >= 0.0 for value in seconds.values())
    plain = EaseRecommender(l2=200.0).fit(interactions)
    np.testing.assert_array_equal(model.weights_, plain.weights_)
    assert "_fit_scorer" not in vars(model)  # the timing wrapper is gone again
    assert EaseRecommender._fit_scorer.__qualname__ == "EaseRecommender._fit_scorer"
