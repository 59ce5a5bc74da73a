"""Each scenario changes the world from its switch day on, as its name says, and nothing before."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.dataset import write_dataset
from data.population import CATEGORIES, draw_category_tastes
from data.scenarios import FEED_PRICE_FACTOR, SCENARIOS, shifted_categories
from data.world import World, WorldConfig

SWITCH = 20
DAYS = 40
CHANGES = [name for name in SCENARIOS if name != "stable"]


def make(scenario: str, switch_day: int | None = SWITCH) -> World:
    return World(
        WorldConfig(
            seed=5, size="tiny", scenario=scenario, switch_day=switch_day, history_days=DAYS
        )
    )


@pytest.fixture(scope="module")
def worlds() -> dict[str, World]:
    return {name: make(name) for name in SCENARIOS}


def days(world: World, first: int, last: int) -> pd.DataFrame:
    """Interactions of days first .. last - 1."""
    return pd.concat([world.interactions(day) for day in range(first, last)], ignore_index=True)


def category_mix(world: World, rows: pd.DataFrame) -> np.ndarray:
    categories = world.items["category"].to_numpy()[rows["item_id"].to_numpy()]
    shares = pd.Series(categories).value_counts(normalize=True)
    return shares.reindex(list(CATEGORIES), fill_value=0.0).to_numpy()


def total_variation(world: World, rows: pd.DataFrame, other: pd.DataFrame) -> float:
    return 0.5 * float(np.abs(category_mix(world, rows) - category_mix(world, other)).sum())


@pytest.mark.parametrize("name", CHANGES)
def test_a_scenario_changes_nothing_before_its_switch_day(worlds, name):
    stable, world = worlds["stable"], worlds[name]
    for day in (0, 9, SWITCH - 1):
        pd.testing.assert_frame_equal(world.interactions(day), stable.interactions(day))
        pd.testing.assert_frame_equal(world.requests(day), stable.requests(day))
    day = SWITCH - 1
    lists = stable.oracle(days(stable, 0, day), day).recommend(stable.requests(day)["user_id"])
    pd.testing.assert_frame_equal(world.respond(day, lists), stable.respond(day, lists))
    np.testing.assert_array_equal(
        world.oracle_scores(range(50), range(50), day),
        stable.oracle_scores(range(50), range(50), day),
    )
    for table, column in (("users", "signup_day"), ("items", "release_day")):
        before = getattr(world, table)
        before = before[before[column] < SWITCH]
        reference = getattr(stable, table)
        pd.testing.assert_frame_equal(before, reference[reference[column] < SWITCH])
    # ... and something differs from the switch day on.
    assert not world.interactions(SWITCH + 5).equals(stable.interactions(SWITCH + 5))


@pytest.mark.parametrize("name", CHANGES)
def test_by_default_the_change_starts_right_after_the_history(name):
    stable, world = make("stable", switch_day=None), make(name, switch_day=None)
    assert world.metadata()["effective_switch_day"] == DAYS
    mine, reference = world.history(), stable.history()
    for table in ("users", "items", "interactions"):
        pd.testing.assert_frame_equal(getattr(mine, table), getattr(reference, table))
    assert not world.interactions(DAYS + 3).equals(stable.interactions(DAYS + 3))


def test_new_market_users_arrive_after_the_switch_and_bring_much_traffic(worlds):
    world = worlds["new_market"]
    users = world.users
    new = users[users["country"] == "BR"]
    home = users[users["country"] != "BR"]
    assert len(new) > 0.3 * len(home)
    assert new["signup_day"].min() >= SWITCH

    def new_share(rows: pd.DataFrame) -> float:
        return float(rows["user_id"].isin(new["user_id"]).mean())

    after = days(world, SWITCH + 14, DAYS)
    assert new_share(days(world, 0, SWITCH)) == 0.0
    assert new_share(after) > 0.25
    # Other people: younger, more on mobile, with other tastes.
    young = ["18-24", "25-34"]
    assert (new["device"] == "mobile").mean() > (home["device"] == "mobile").mean() + 0.15
    assert new["age_band"].isin(young).mean() > home["age_band"].isin(young).mean() + 0.15
    by_new = after["user_id"].isin(new["user_id"])
    assert total_variation(world, after[by_new], after[~by_new]) > 0.15


def test_a_taste_shift_moves_the_category_mix_from_the_switch_day(worlds):
    world, stable = worlds["taste_shift"], worlds["stable"]
    early, before, after = days(world, 0, 10), days(world, 10, SWITCH), days(world, SWITCH, 30)
    shift = total_variation(world, before, after)
    assert shift > 0.09
    assert shift > 2 * total_variation(world, early, before)
    assert shift > 2 * total_variation(stable, before, days(stable, SWITCH, 30))
    # The same users and items: only their tastes moved.
    pd.testing.assert_frame_equal(world.users, stable.users)
    pd.testing.assert_frame_equal(world.items, stable.items)


@pytest.mark.parametrize("seed", range(5))
def test_the_taste_shift_moves_every_category(seed):
    shift = shifted_categories(draw_category_tastes(np.random.default_rng(seed)))
    assert sorted(shift) == list(range(len(CATEGORIES)))
    assert (shift != np.arange(len(CATEGORIES))).all()


def test_a_new_catalogue_takes_a_large_share_from_the_switch_day(worlds):
    world, stable = worlds["catalog_shift"], worlds["stable"]
    n_old = len(stable.items)
    assert len(world.items) == n_old + round(0.5 * n_old)
    new = world.items["item_id"] >= n_old
    assert (world.items.loc[new, "release_day"] == SWITCH).all()

    def new_share(rows: pd.DataFrame) -> float:
        return float(new.to_numpy()[rows["item_id"].to_numpy()].mean())

    assert new_share(days(world, 0, SWITCH)) == 0.0
    assert new_share(world.interactions(SWITCH)) > 0.4
    assert new_share(days(world, SWITCH, DAYS)) > 0.3
    # A different catalogue, not only a bigger one: cheaper, from other categories.
    old_items, new_items = world.items[~new], world.items[new]
    assert new_items["price"].median() < old_items["price"].median()
    old_mix = old_items["category"].value_counts(normalize=True)
    new_mix = new_items["category"].value_counts(normalize=True)
    assert 0.5 * old_mix.sub(new_mix, fill_value=0.0).abs().sum() > 0.2


def test_a_feed_incident_breaks_the_rows_but_not_the_behaviour(worlds):
    world, stable = worlds["feed_incident"], worlds["stable"]
    broken, clean = world.interactions(SWITCH + 2), stable.interactions(SWITCH + 2)
    assert "event_type" in broken.columns
    assert "event" not in broken.columns
    missing = broken["user_id"].isna()
    assert 0.05 < missing.mean() < 0.2
    np.testing.assert_allclose(broken["price"], FEED_PRICE_FACTOR * clean["price"])
    # Behind the broken feed, people did exactly what they do in the stable world.
    pd.testing.assert_series_equal(broken["event_type"], clean["event"], check_names=False)
    pd.testing.assert_series_equal(broken["item_id"], clean["item_id"])
    assert (broken.loc[~missing, "user_id"] == clean.loc[~missing, "user_id"]).all()
    pd.testing.assert_frame_equal(world.interactions(SWITCH + 2), broken)


def test_a_feed_incident_inside_the_history_writes_a_merged_feed(worlds, tmp_path):
    history = worlds["feed_incident"].history().interactions
    after = history["day"] >= SWITCH
    assert history.loc[~after, "event"].notna().all()
    assert history.loc[after, "event"].isna().all()
    assert history.loc[after, "event_type"].notna().all()
    assert history.loc[~after, "user_id"].notna().all()
    assert history.loc[after, "user_id"].isna().any()
    folder = write_dataset(worlds["feed_incident"].history(), tmp_path / "broken")
    written = pd.read_csv(folder / "interactions.csv", dtype=str, keep_default_na=False)
    assert {"event", "event_type"} <= set(written.columns)
    user_ids = written["user_id"]
    assert (user_ids == "").any()
    assert user_ids[user_ids != ""].str.fullmatch(r"\d+").all()  # whole numbers, not 12.0


def test_only_the_real_shifts_call_for_retraining():
    real = {name for name, scenario in SCENARIOS.items() if scenario.real_shift}
    assert real == {"new_market", "taste_shift", "catalog_shift"}
