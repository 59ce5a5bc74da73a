"""The named scenarios: what changes in the world from the switch day on, and nothing before it.

Each scenario is a small, separate change to the stable world, so a level's monitoring can be
checked against a known cause: three real shifts that should lead to retraining (a new market, a
taste shift, a new catalogue) and one broken feed that must not (the behaviour is unchanged, only
the delivered rows are damaged). Every change draws from its own random stream and only touches
users, items or days from the switch day on, so days before it are identical to ``stable``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .population import (
    CATEGORIES,
    HOME_MARKET,
    CategoryTastes,
    Items,
    Market,
    Users,
    draw_items,
    draw_users,
    mean_affinity,
)
from .randomness import Stream, stream_rng


@dataclass(frozen=True)
class Scenario:
    """A named change of the world; ``real_shift`` says whether a model should be retrained."""

    name: str
    description: str
    real_shift: bool


SCENARIOS = {
    scenario.name: scenario
    for scenario in (
        Scenario("stable", "nothing changes", real_shift=False),
        Scenario(
            "new_market",
            "covariate shift: users from a new country, younger and on mobile, with other "
            "category tastes, sign up from the switch day on and bring a large share of traffic",
            real_shift=True,
        ),
        Scenario(
            "taste_shift",
            "concept drift: from the switch day the same users like other categories "
            "(the ranking of category affinities is reversed), so the category mix moves",
            real_shift=True,
        ),
        Scenario(
            "catalog_shift",
            "catalogue shift: half as many items again, cheaper and from a few categories, are "
            "released on the switch day with promoted exposure and take a large share of traffic",
            real_shift=True,
        ),
        Scenario(
            "feed_incident",
            "data-quality incident: behaviour is unchanged, but the interaction feed breaks on the "
            "switch day: some user_id values are empty, price is in cents, event is renamed "
            "event_type",
            real_shift=False,
        ),
    )
}

NEW_MARKET = Market(
    country_weights={"BR": 1.0},
    age_weights=(0.35, 0.35, 0.15, 0.08, 0.05, 0.02),
    device_weights=(0.85, 0.10, 0.05),
    price_sensitivity=1.0,
    activity=1.5,
    country_taste_scale=2.5,
)
#: New-market users per home-market user, signing up evenly over the first days after the switch.
NEW_MARKET_USERS_PER_USER = 0.5
NEW_MARKET_RAMP_DAYS = 14

#: New items per existing item, all released on the switch day.
NEW_CATALOG_ITEMS_PER_ITEM = 0.5
NEW_CATALOG_PRICE_FACTOR = 0.7
NEW_CATALOG_LAUNCH_BOOST = 3.0

#: Share of rows whose user_id the broken feed leaves empty, and the unit change of price.
FEED_NULL_SHARE = 0.1
FEED_PRICE_FACTOR = 100


def new_market_users(
    seed: int, n_home_users: int, switch_day: int, tastes: CategoryTastes
) -> Users:
    """The users of the new market (``new_market``), all signing up on or after the switch day."""
    rng = stream_rng(seed, Stream.NEW_MARKET)
    n = round(NEW_MARKET_USERS_PER_USER * n_home_users)
    signup_day = switch_day + rng.integers(0, NEW_MARKET_RAMP_DAYS, n)
    return draw_users(rng, signup_day, NEW_MARKET, tastes)


def new_catalog_items(seed: int, n_items: int, switch_day: int) -> Items:
    """The items released together on the switch day (``catalog_shift``).

    Their categories come from a concentrated random mix, so the catalogue's category and price
    distributions change visibly, not only its size.
    """
    rng = stream_rng(seed, Stream.NEW_CATALOG)
    category_weights = tuple(rng.dirichlet(np.full(len(CATEGORIES), 0.5)))
    n = round(NEW_CATALOG_ITEMS_PER_ITEM * n_items)
    return draw_items(
        rng,
        np.full(n, switch_day),
        category_weights,
        price_factor=NEW_CATALOG_PRICE_FACTOR,
        launch_boost=NEW_CATALOG_LAUNCH_BOOST,
    )


def shifted_categories(tastes: CategoryTastes) -> np.ndarray:
    """The taste shift: categories by what they stand for from the switch day on.

    From the switch day a user likes category ``c`` as much as they liked ``shift[c]`` before.
    The home market's ranking of categories is reversed (its favourite swaps with its least
    liked, the second with the second least, ...), so every category moves and the change is
    large whatever the seed; each user's own deviations move along with their category.
    """
    ranking = np.argsort(-mean_affinity(tastes, HOME_MARKET))
    shift = np.empty_like(ranking)
    shift[ranking] = ranking[::-1]
    return shift


def corrupt_feed(interactions: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The rows of a broken upstream feed: empty user ids, prices in cents, a renamed column.

    ``user_id`` becomes a nullable integer, so clean and broken days still write whole numbers.
    """
    broken = interactions.rename(columns={"event": "event_type"})
    user_id = broken["user_id"].astype("Int64")
    user_id[rng.random(len(broken)) < FEED_NULL_SHARE] = pd.NA
    broken["user_id"] = user_id
    broken["price"] = np.round(broken["price"] * FEED_PRICE_FACTOR)
    return broken
