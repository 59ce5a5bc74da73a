"""Who and what is in the simulated shop: users and items, visible features and hidden tastes.

The visible columns are what a dataset folder shows (:mod:`data.schema`); the hidden arrays
(latent tastes, category affinities, popularity, price sensitivity, activity) are the ground
truth the world samples behaviour from and never writes out. Features and tastes are drawn
together so that features carry real signal: a user's category affinity is the sum of a part
shared by everyone, an age-band part, a country part and an individual part.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Self

import numpy as np
import pandas as pd

CATEGORIES = (
    "books",
    "electronics",
    "fashion",
    "home",
    "sports",
    "beauty",
    "toys",
    "grocery",
    "garden",
    "music",
    "games",
    "health",
)
#: Typical price of an item of each category, in euros (same order as CATEGORIES).
REFERENCE_PRICES = np.array([15, 250, 45, 60, 50, 25, 30, 8, 40, 18, 50, 20], dtype=float)
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
DEVICES = ("mobile", "desktop", "tablet")
#: Every country the world knows; which of them sign up is a market's business.
COUNTRIES = ("DE", "FR", "ES", "IT", "NL", "PL", "BR")

LATENT_DIM = 12
#: Standard deviations of the parts of a user's category affinity.
OVERALL_AFFINITY_SCALE = 0.6
AGE_AFFINITY_SCALE = 0.5
COUNTRY_AFFINITY_SCALE = 0.5
INDIVIDUAL_AFFINITY_SCALE = 0.6
#: Standard deviation of the latent match u·v between a random user and a random item.
LATENT_SCALE = 1.5
#: Standard deviation of log item popularity: exposure is log-normal, so a few items are seen a lot.
POPULARITY_SCALE = 1.0
PRICE_SPREAD = 0.5
#: Prices stay below 10,000 so that the CSV's six significant digits always keep the cents.
MIN_PRICE, MAX_PRICE = 0.5, 9999.99
PRIMARY_DEVICE_SHARE = 0.85


@dataclass(frozen=True)
class Market:
    """The kind of users that sign up somewhere: country, age and device mix, price sensitivity.

    ``country_taste_scale`` multiplies the country part of the category affinity, so a market can
    have tastes further from the home market's than the home countries are from each other.
    """

    country_weights: dict[str, float]
    age_weights: tuple[float, ...]
    device_weights: tuple[float, ...]
    price_sensitivity: float
    activity: float = 1.0
    country_taste_scale: float = 1.0


HOME_MARKET = Market(
    country_weights={"DE": 0.3, "FR": 0.2, "ES": 0.15, "IT": 0.15, "NL": 0.1, "PL": 0.1},
    age_weights=(0.12, 0.24, 0.22, 0.18, 0.14, 0.10),
    device_weights=(0.55, 0.35, 0.10),
    price_sensitivity=0.5,
)


@dataclass(frozen=True)
class CategoryTastes:
    """How much everyone, each age band and each country likes each category (world-level)."""

    overall: np.ndarray
    by_age: np.ndarray
    by_country: np.ndarray


def draw_category_tastes(rng: np.random.Generator) -> CategoryTastes:
    """Draw the shared, age-band and country parts of category affinity."""
    n_categories = len(CATEGORIES)
    return CategoryTastes(
        overall=rng.normal(0.0, OVERALL_AFFINITY_SCALE, n_categories),
        by_age=rng.normal(0.0, AGE_AFFINITY_SCALE, (len(AGE_BANDS), n_categories)),
        by_country=rng.normal(0.0, COUNTRY_AFFINITY_SCALE, (len(COUNTRIES), n_categories)),
    )


def mean_affinity(tastes: CategoryTastes, market: Market) -> np.ndarray:
    """The category affinity of an average user of ``market`` (individual parts average out)."""
    ages = np.asarray(market.age_weights) / sum(market.age_weights)
    countries = np.zeros(len(COUNTRIES))
    for name, weight in market.country_weights.items():
        countries[COUNTRIES.index(name)] = weight
    countries /= countries.sum()
    by_country = market.country_taste_scale * countries @ tastes.by_country
    return tastes.overall + ages @ tastes.by_age + by_country


class _Columns:
    """Dataclasses of equally long arrays, one row per entity, that can be stacked."""

    def __len__(self) -> int:
        return len(getattr(self, fields(self)[0].name))

    def concat(self, other: Self) -> Self:
        """Rows of ``self`` followed by rows of ``other`` (ids are row positions)."""
        parts = {
            field.name: np.concatenate([getattr(self, field.name), getattr(other, field.name)])
            for field in fields(self)
        }
        return replace(self, **parts)


@dataclass(frozen=True)
class Users(_Columns):
    """Users as parallel arrays; a user's id is its row position."""

    signup_day: np.ndarray
    age: np.ndarray
    country: np.ndarray
    device: np.ndarray
    taste: np.ndarray
    affinity: np.ndarray
    price_sensitivity: np.ndarray
    activity: np.ndarray

    def frame(self) -> pd.DataFrame:
        """The visible columns, as in ``users.csv``."""
        return pd.DataFrame(
            {
                "user_id": np.arange(len(self), dtype=np.int64),
                "age_band": np.array(AGE_BANDS, dtype=object)[self.age],
                "country": np.array(COUNTRIES, dtype=object)[self.country],
                "device": np.array(DEVICES, dtype=object)[self.device],
                "signup_day": self.signup_day.astype(np.int64),
            }
        )


@dataclass(frozen=True)
class Items(_Columns):
    """Items as parallel arrays; an item's id is its row position."""

    release_day: np.ndarray
    category: np.ndarray
    price: np.ndarray
    popularity: np.ndarray
    latent: np.ndarray
    launch_boost: np.ndarray

    @property
    def log_relative_price(self) -> np.ndarray:
        """log(price / typical price of the category): what a price-sensitive user dislikes."""
        return np.log(self.price / REFERENCE_PRICES[self.category])

    def frame(self) -> pd.DataFrame:
        """The visible columns, as in ``items.csv``."""
        return pd.DataFrame(
            {
                "item_id": np.arange(len(self), dtype=np.int64),
                "category": np.array(CATEGORIES, dtype=object)[self.category],
                "price": self.price,
                "release_day": self.release_day.astype(np.int64),
            }
        )


def arrival_days(
    rng: np.random.Generator, n: int, earlier_share: float, earliest: int, last: int
) -> np.ndarray:
    """Days on which ``n`` entities appear, so the world keeps growing during and after the history.

    ``earlier_share`` of them appear in [earliest, 0], the rest spread evenly over [1, last].
    """
    earlier = rng.random(n) < earlier_share
    return np.where(earlier, rng.integers(earliest, 1, n), rng.integers(1, last + 1, n))


def _weighted_codes(rng: np.random.Generator, weights: tuple[float, ...], n: int) -> np.ndarray:
    probabilities = np.asarray(weights, dtype=float)
    return rng.choice(len(probabilities), size=n, p=probabilities / probabilities.sum())


def _latent(rng: np.random.Generator, n: int) -> np.ndarray:
    """Latent vectors scaled so that the dot product of two of them has sd ``LATENT_SCALE``."""
    scale = np.sqrt(LATENT_SCALE) / LATENT_DIM**0.25
    return rng.normal(0.0, scale, (n, LATENT_DIM))


def draw_users(
    rng: np.random.Generator, signup_day: np.ndarray, market: Market, tastes: CategoryTastes
) -> Users:
    """Users of ``market`` signing up on ``signup_day``, with features and hidden tastes."""
    n = len(signup_day)
    country_codes = [COUNTRIES.index(name) for name in market.country_weights]
    country = np.asarray(country_codes)[
        _weighted_codes(rng, tuple(market.country_weights.values()), n)
    ]
    age = _weighted_codes(rng, market.age_weights, n)
    individual = rng.normal(0.0, INDIVIDUAL_AFFINITY_SCALE, (n, len(CATEGORIES)))
    return Users(
        signup_day=np.asarray(signup_day, dtype=np.int64),
        age=age,
        country=country,
        device=_weighted_codes(rng, market.device_weights, n),
        taste=_latent(rng, n),
        affinity=(
            tastes.overall
            + tastes.by_age[age]
            + market.country_taste_scale * tastes.by_country[country]
            + individual
        ),
        price_sensitivity=rng.gamma(2.0, market.price_sensitivity / 2.0, n),
        activity=market.activity * rng.lognormal(0.0, 1.0, n),
    )


def draw_items(
    rng: np.random.Generator,
    release_day: np.ndarray,
    category_weights: tuple[float, ...],
    price_factor: float = 1.0,
    launch_boost: float = 1.0,
) -> Items:
    """Items released on ``release_day``: category, price, popularity and hidden latent traits.

    ``launch_boost`` is the extra exposure an item gets right after its release (the shop
    promotes what is new); see :meth:`data.world.World.exposure`.
    """
    n = len(release_day)
    category = _weighted_codes(rng, category_weights, n)
    price = REFERENCE_PRICES[category] * price_factor * rng.lognormal(0.0, PRICE_SPREAD, n)
    return Items(
        release_day=np.asarray(release_day, dtype=np.int64),
        category=category,
        price=np.clip(np.round(price, 2), MIN_PRICE, MAX_PRICE),
        popularity=rng.normal(0.0, POPULARITY_SCALE, n),
        latent=_latent(rng, n),
        launch_boost=np.full(n, launch_boost),
    )


def session_devices(
    rng: np.random.Generator, primary: np.ndarray, weights: tuple[float, ...]
) -> np.ndarray:
    """The device of each session: mostly the user's own, sometimes another one."""
    other = _weighted_codes(rng, weights, len(primary))
    return np.where(rng.random(len(primary)) < PRIMARY_DEVICE_SHARE, primary, other)


def id_positions(ids: object, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of ``ids`` among ``n`` entities, and which ids exist at all.

    Ids are row positions, so the lookup is arithmetic; anything else (missing, fractional,
    negative, too large, not a number) is marked as unknown, with position 0 as a placeholder.
    """
    values = pd.to_numeric(pd.Series(ids), errors="coerce")
    numbers = values.to_numpy(dtype=float, na_value=np.nan)
    known = np.isfinite(numbers) & (numbers >= 0) & (numbers < n) & (numbers == np.floor(numbers))
    return np.where(known, numbers, 0).astype(np.int64), known
