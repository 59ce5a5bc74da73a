"""The simulated world: reproducible, day by day, with sensible volume, feedback and an oracle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data import oracle as oracle_module
from data.__main__ import main as cli_main
from data.dataset import write_dataset
from data.schema import EVENTS, INTERACTIONS, METADATA_FILE, SECONDS_PER_DAY, USERS, WORLD_EPOCH
from data.world import World, WorldConfig

REPO = Path(__file__).resolve().parents[2]
TINY = WorldConfig(seed=7, size="tiny")


@pytest.fixture(scope="module")
def world() -> World:
    return World(TINY)


@pytest.fixture(scope="module")
def history(world: World) -> pd.DataFrame:
    return world.history().interactions


def ndcg_at_10(recommended: dict[int, list[int]], relevant: dict[int, set[int]]) -> float:
    """Mean NDCG@10 with binary relevance over the users of ``relevant``."""
    discounts = 1.0 / np.log2(np.arange(2, 12))
    scores = []
    for user, items in relevant.items():
        ranked = recommended.get(user, [])[:10]
        gain = sum(discounts[rank] for rank, item in enumerate(ranked) if item in items)
        scores.append(gain / discounts[: min(10, len(items))].sum())
    return float(np.mean(scores))


# --- reproducibility ---------------------------------------------------------------------------


def test_the_same_config_writes_the_same_bytes(tmp_path):
    first = write_dataset(World(TINY).history(), tmp_path / "first")
    second = write_dataset(World(TINY).history(), tmp_path / "second")
    for name in ("users.csv", "items.csv", "interactions.csv", METADATA_FILE):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_another_seed_gives_another_world(world):
    other = World(WorldConfig(seed=8, size="tiny"))
    assert not other.users.equals(world.users)
    assert not other.interactions(3).equals(world.interactions(3))


def test_a_day_generated_alone_equals_that_day_of_the_history(history):
    fresh = World(TINY)
    later_first = fresh.interactions(40)
    alone = fresh.interactions(5)
    within = history[history["day"] == 5].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, within)
    pd.testing.assert_frame_equal(later_first, history[history["day"] == 40].reset_index(drop=True))


# --- volume, entities, schema -------------------------------------------------------------------


@pytest.mark.parametrize("size, target", [("tiny", 20_000), (50_000, 50_000)])
def test_the_history_volume_matches_the_size_target(size, target):
    rows = len(World(WorldConfig(size=size, history_days=30)).history().interactions)
    assert 0.85 * target < rows < 1.15 * target


def test_nobody_acts_before_signing_up_and_nothing_is_used_before_its_release(world, history):
    future = pd.concat([world.interactions(day) for day in range(90, 130, 4)])
    rows = pd.concat([history, future], ignore_index=True)
    signup = world.users.set_index("user_id")["signup_day"]
    release = world.items.set_index("item_id")["release_day"]
    assert (signup.loc[rows["user_id"]].to_numpy() <= rows["day"].to_numpy()).all()
    assert (release.loc[rows["item_id"]].to_numpy() <= rows["day"].to_numpy()).all()
    # The world keeps growing: some users and items only appear after the history.
    assert (world.users["signup_day"] >= 90).any()
    assert (world.items["release_day"] >= 90).any()
    assert future["user_id"].isin(world.users.loc[world.users["signup_day"] >= 90, "user_id"]).any()


def test_the_history_holds_the_users_and_items_known_by_its_end(world):
    dataset = world.history()
    assert dataset.users["signup_day"].max() <= 89
    assert dataset.items["release_day"].max() <= 89
    assert len(dataset.users) == (world.users["signup_day"] <= 89).sum()
    assert set(dataset.interactions["user_id"]) <= set(dataset.users["user_id"])
    assert set(dataset.interactions["item_id"]) <= set(dataset.items["item_id"])
    assert dataset.meta == world.metadata()


def test_interactions_follow_the_file_contract(world, history):
    assert list(world.users.columns) == [column.name for column in USERS.columns]
    assert list(history.columns) == [c.name for c in INTERACTIONS.columns if c.name != "rating"]
    assert history["user_id"].dtype == np.int64
    assert set(history["event"]) == {"view", "click", "purchase"} <= EVENTS
    seconds = history["timestamp"] - WORLD_EPOCH - history["day"] * SECONDS_PER_DAY
    assert seconds.between(0, SECONDS_PER_DAY - 1).all()
    assert history["timestamp"].is_monotonic_increasing
    prices = world.items.set_index("item_id")["price"].loc[history["item_id"]].to_numpy()
    np.testing.assert_array_equal(history["price"].to_numpy(), prices)
    # Deeper stages are rarer: most looks stay views, purchases are the fewest.
    shares = history["event"].value_counts(normalize=True)
    assert shares["view"] > shares["click"] > shares["purchase"] > 0.02


def test_popular_items_take_much_of_the_traffic_but_not_all(history):
    counts = history["item_id"].value_counts()
    top_tenth = counts.head(len(counts) // 10).sum() / len(history)
    assert 0.3 < top_tenth < 0.8


def test_requests_are_the_visitors_of_the_organic_sessions(world):
    requests = world.requests(12)
    organic = world.interactions(12)
    assert list(requests.columns) == ["timestamp", "day", "user_id", "device"]
    assert set(requests["user_id"]) == set(organic["user_id"])
    assert requests["user_id"].is_unique
    assert (requests["day"] == 12).all()
    first_look = organic.groupby("user_id")["timestamp"].min()
    visit = requests.set_index("user_id")["timestamp"]
    assert (visit.loc[first_look.index] <= first_look).all()


# --- served recommendations ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(world: World, history: pd.DataFrame) -> pd.DataFrame:
    """The oracle's top 10 for every visitor of days 90..94, with their day."""
    lists = []
    for day in range(90, 95):
        users = world.requests(day)["user_id"]
        lists.append(world.oracle(history, day).recommend(users, k=10).assign(day=day))
    return pd.concat(lists, ignore_index=True)


def engaged(world: World, served: pd.DataFrame) -> int:
    return sum(len(world.respond(day, lists)) for day, lists in served.groupby("day"))


def test_a_higher_rank_gets_more_clicks(world, served):
    at_top = engaged(world, served.assign(rank=1))
    at_bottom = engaged(world, served.assign(rank=10))
    assert at_top > 2 * at_bottom


def test_items_the_user_likes_more_get_more_clicks(world, served):
    rng = np.random.default_rng(0)
    random_items = served.assign(item_id=rng.choice(world.available_items(90), len(served)))
    assert engaged(world, served) > 2 * engaged(world, random_items)


def test_feedback_arrives_within_three_days_and_only_for_engagement(world, served):
    lists = served[served["day"] == 90].drop(columns="day")
    feedback = world.respond(90, lists)
    assert list(feedback.columns) == [
        "day",
        "timestamp",
        "user_id",
        "item_id",
        "rank",
        "event",
        "observed_day",
    ]
    assert len(feedback) > 0
    assert set(feedback["event"]) <= {"click", "purchase"}
    assert feedback["observed_day"].between(90, 93).all()
    assert feedback["observed_day"].nunique() > 1
    seconds = feedback["timestamp"] - WORLD_EPOCH - 90 * SECONDS_PER_DAY
    assert seconds.between(0, SECONDS_PER_DAY - 1).all()
    pairs = feedback.merge(lists, on=["user_id", "item_id", "rank"], how="left", indicator=True)
    assert (pairs["_merge"] == "both").all()


def test_a_response_is_deterministic_and_independent_of_the_other_rows(world, served):
    lists = served[served["day"] == 91].drop(columns="day")
    full = world.respond(91, lists)
    pd.testing.assert_frame_equal(full, world.respond(91, lists))
    half = lists.iloc[::2]
    alone = world.respond(91, half)
    within = full.merge(half[["user_id", "item_id", "rank"]], on=["user_id", "item_id", "rank"])
    pd.testing.assert_frame_equal(alone.reset_index(drop=True), within[alone.columns])


def test_unknown_or_impossible_rows_get_no_engagement_and_no_crash(world, served):
    lists = served[served["day"] == 92].drop(columns=["day", "score"])
    unreleased = world.items.loc[world.items["release_day"] > 92, "item_id"].iloc[0]
    odd = pd.DataFrame(
        {
            "user_id": [10**9, -1, None, lists["user_id"].iloc[0], lists["user_id"].iloc[0]],
            "item_id": [1, 1, 1, 10**9, unreleased],
            "rank": [1, 1, 1, 1, 1],
        }
    )
    # Repeat the odd rows so that a real engagement chance would have shown up.
    feedback = world.respond(92, pd.concat([lists, *[odd] * 50], ignore_index=True))
    pd.testing.assert_frame_equal(feedback, world.respond(92, lists))
    assert world.respond(92, odd.iloc[:0]).empty
    with pytest.raises(ValueError, match="rank"):
        world.respond(92, lists.drop(columns="rank"))


# --- the oracle ---------------------------------------------------------------------------------


def test_the_oracle_ranks_far_better_than_popularity_on_later_days(world, history):
    future = pd.concat([world.interactions(day) for day in range(90, 97)])
    seen = set(zip(history["user_id"], history["item_id"], strict=True))
    new_pairs = [
        (user, item)
        for user, item in zip(future["user_id"], future["item_id"], strict=True)
        if (user, item) not in seen
    ]
    relevant = pd.DataFrame(new_pairs, columns=["user_id", "item_id"])
    relevant = relevant[relevant["user_id"].isin(history["user_id"])]
    relevant_sets = relevant.groupby("user_id")["item_id"].apply(set).to_dict()
    users = np.array(sorted(relevant_sets))

    ranked = world.oracle(history, 90).recommend(users, k=10)
    oracle_lists = ranked.groupby("user_id")["item_id"].apply(list).to_dict()
    popular = history["item_id"].value_counts().index.to_numpy()
    seen_by_user = history.groupby("user_id")["item_id"].apply(set).to_dict()
    popular_lists = {
        user: [item for item in popular[:100] if item not in seen_by_user[user]][:10]
        for user in users
    }
    oracle_ndcg = ndcg_at_10(oracle_lists, relevant_sets)
    popularity_ndcg = ndcg_at_10(popular_lists, relevant_sets)
    assert oracle_ndcg > 1.5 * popularity_ndcg
    assert popularity_ndcg > 0.02


def test_the_oracle_returns_the_recommender_shape(world, history):
    seen = history[history["day"] < 60]
    users = [5, 10**9, 3, 2]  # an unknown user in the middle
    ranked = world.oracle(seen, 60).recommend(users, k=7)
    assert list(ranked.columns) == ["user_id", "item_id", "rank", "score"]
    assert ranked["user_id"].unique().tolist() == [5, 3, 2]
    for _, rows in ranked.groupby("user_id"):
        assert rows["rank"].tolist() == list(range(1, 8))
        assert rows["score"].is_monotonic_decreasing
    repeats = ranked.merge(seen, on=["user_id", "item_id"])
    assert repeats.empty
    assert set(ranked["item_id"]) <= set(world.available_items(60))
    scores = world.oracle_scores([5], ranked.loc[ranked["user_id"] == 5, "item_id"], 60)
    np.testing.assert_allclose(scores[0], ranked.loc[ranked["user_id"] == 5, "score"])
    assert world.oracle(seen, 60).recommend([10**9], k=7).empty


def test_the_oracle_ranking_does_not_depend_on_its_chunk_size(world, history, monkeypatch):
    users = world.users["user_id"].to_numpy()[:300]
    whole = world.oracle(history, 90).recommend(users)
    monkeypatch.setattr(oracle_module, "SCORES_PER_CHUNK", 1000)
    pd.testing.assert_frame_equal(world.oracle(history, 90).recommend(users), whole)


def test_oracle_scores_cover_every_pair_and_reject_unknown_ids(world):
    released = world.items["release_day"] <= 30
    items = np.concatenate(
        [world.items.loc[released, "item_id"][:3], world.items.loc[~released, "item_id"][:2]]
    )
    scores = world.oracle_scores([0, 1], items, 30)
    assert scores.shape == (2, 5)
    assert np.isfinite(scores[:, :3]).all()
    assert np.isneginf(scores[:, 3:]).all()
    with pytest.raises(ValueError, match="unknown user"):
        world.oracle_scores([10**9], [0], 30)
    with pytest.raises(ValueError, match="unknown item"):
        world.oracle_scores([0], [-3], 30)


# --- metadata and config -----------------------------------------------------------------------


def test_metadata_rebuilds_the_same_world(tmp_path):
    world = World(WorldConfig(seed=3, size="tiny", scenario="taste_shift", switch_day=10))
    folder = write_dataset(world.history(), tmp_path / "world")
    meta = json.loads((folder / METADATA_FILE).read_text())
    assert meta["generator"] == "data.world"
    assert meta["format_version"] == 1
    assert meta["scenario"] == "taste_shift"
    assert meta["switch_day"] == 10
    rebuilt = World.from_metadata(meta)
    assert rebuilt.config == world.config
    pd.testing.assert_frame_equal(rebuilt.interactions(20), world.interactions(20))
    np.testing.assert_array_equal(
        rebuilt.oracle_scores([1, 2], [3, 4], 95), world.oracle_scores([1, 2], [3, 4], 95)
    )


@pytest.mark.parametrize(
    "meta, message",
    [
        ({"generator": "data.movielens"}, "data.movielens"),
        ({"generator": "data.world", "format_version": 99}, "format_version"),
        ({"generator": "data.world", "format_version": 1, "seed": 1}, "size"),
    ],
)
def test_metadata_of_another_source_is_refused(meta, message):
    with pytest.raises(ValueError, match=message):
        World.from_metadata(meta)


@pytest.mark.parametrize(
    "changes",
    [
        {"scenario": "earthquake"},
        {"size": "huge"},
        {"size": 0},
        {"seed": -1},
        {"history_days": 0},
        {"switch_day": -5},
    ],
)
def test_an_invalid_config_is_refused(changes):
    with pytest.raises(ValueError, match="invalid world config"):
        WorldConfig(**changes)


def test_days_before_the_epoch_are_refused(world):
    with pytest.raises(ValueError, match="day"):
        world.interactions(-1)


# --- command line -------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "data", "generate", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_command_line_writes_a_dataset_folder(tmp_path):
    out = tmp_path / "tiny"
    done = run_cli(
        "--size", "tiny", "--seed", "7", "--scenario", "feed_incident", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in out.iterdir()) == [
        "interactions.csv",
        "items.csv",
        "users.csv",
        METADATA_FILE,
    ]
    meta = json.loads((out / METADATA_FILE).read_text())
    assert meta["seed"] == 7
    assert meta["scenario"] == "feed_incident"
    rows = len(pd.read_csv(out / "interactions.csv"))
    assert f"{rows:,} interactions" in done.stdout
    assert str(out) in done.stdout
    # By default the scenario starts after the history, so the folder shows none of it: said.
    assert "starts on day 90, after the history" in done.stdout


def test_the_command_line_is_silent_about_a_scenario_inside_the_history(tmp_path):
    done = run_cli(
        *("--size", "tiny", "--scenario", "feed_incident", "--switch-day", "60"),
        *("--out", str(tmp_path / "tiny")),
    )
    assert done.returncode == 0, done.stderr
    assert "note:" not in done.stdout


@pytest.mark.parametrize(
    "args, message",
    [(["--size", "huge"], "size"), (["--scenario", "flood"], "scenario")],
)
def test_the_command_line_refuses_bad_arguments(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as refused:
        cli_main(["generate", *args, "--out", str(tmp_path / "x")])
    assert refused.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_the_command_line_refuses_an_invalid_config(tmp_path, capsys):
    assert cli_main(["generate", "--switch-day", "-3", "--out", str(tmp_path / "x")]) == 2
    assert "switch_day" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
