"""The simulated shop: a deterministic world that produces history, live traffic and feedback.

Hidden ground truth (never written to a dataset folder), for user ``u``, item ``i``, day ``d``:

- exposure, how often the shop shows an item (popularity bias, plus a launch boost that fades)::

      e(i, d) = exp(b_i) * (1 + h_i * exp(-(d - r_i) / LAUNCH_DECAY_DAYS))   for d >= r_i

  with ``b_i`` ~ Normal(0, 1) (so exposure is log-normal), ``r_i`` the release day and ``h_i``
  the launch boost;
- utility, how much the user likes the item::

      U(u, i, d) = t_u · v_i + A[u, c_d(i)] + QUALITY_WEIGHT * b_i - s_u * log(p_i / p_ref(c_i))

  with latent tastes ``t_u``, ``v_i``, category affinity ``A`` (shared + age band + country +
  individual), ``c_d(i)`` the item's category (swapped from the switch day in ``taste_shift``),
  price sensitivity ``s_u`` and price relative to the category's typical price.

Organic behaviour, day by day: each signed-up user visits with a personal probability
(log-normal activity, calibrated to the size target). A visit draws ``CANDIDATES`` items from
the available catalogue in proportion to exposure, then looks at 1 + Poisson(EXTRA_PICKS) of them,
chosen without replacement by Gumbel-max on ``U / TEMPERATURE``. Each item looked at gives one
row whose event is the deepest stage reached: click with probability
``sigmoid(CLICK_OFFSET + U)``, purchase with ``sigmoid(PURCHASE_OFFSET + U)`` of those clicks.

The oracle score is the log of the expected organic interaction rate of the pair, up to terms
that are the same for every item of a user (visit probability, visit length, the softmax's
normaliser)::

      score(u, i, d) = log e(i, d) + U(u, i, d) / TEMPERATURE

because exposure sampling followed by a softmax on utility picks item ``i`` with probability
approximately proportional to ``e(i, d) * exp(U / TEMPERATURE)``. Ranking a user's items by it is
therefore the best possible prediction of their next organic interactions.

Served recommendations (:meth:`World.respond`) are seen for sure, so only utility and position
matter: item at rank ``k`` is clicked with probability
``attention(k) * sigmoid(SERVED_CLICK_OFFSET + U)``, attention(k) = 1 / log2(k + 1).
Recommendations do not change organic behaviour: every day can be generated on its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .dataset import Dataset
from .oracle import OracleRecommender
from .population import (
    DEVICES,
    HOME_MARKET,
    Items,
    Users,
    arrival_days,
    draw_category_tastes,
    draw_items,
    draw_users,
    id_positions,
    session_devices,
)
from .randomness import Stream, keyed_uniform, stream_rng
from .scenarios import (
    SCENARIOS,
    corrupt_feed,
    new_catalog_items,
    new_market_users,
    shifted_categories,
)
from .schema import SECONDS_PER_DAY, WORLD_EPOCH

GENERATOR = "data.world"
FORMAT_VERSION = 1

#: Target number of history interactions of each named size.
SIZES = {"tiny": 20_000, "small": 200_000, "medium": 1_000_000, "large": 10_000_000}
INTERACTIONS_PER_USER = 25
MIN_USERS = 100
#: The catalogue grows like the square root of the data, and stays small enough for item-item
#: models that invert an items x items matrix (``catalog_shift`` adds half as many again).
MIN_ITEMS, MAX_ITEMS = 200, 4000
EARLIEST_DAY = -3 * 365
USERS_BEFORE_HISTORY = 0.8
ITEMS_BEFORE_HISTORY = 0.85
#: Category mix of the home catalogue (same order as population.CATEGORIES).
HOME_CATEGORY_WEIGHTS = (8, 5, 10, 8, 6, 6, 5, 4, 4, 5, 5, 4)

CANDIDATES = 40
EXTRA_PICKS = 1.5
MAX_PICKS = 8
TEMPERATURE = 1.0
QUALITY_WEIGHT = 0.5
LAUNCH_DECAY_DAYS = 30
#: Mean seconds between two items of a visit.
SECONDS_PER_LOOK = 90
#: Relative traffic per hour of the day: quiet nights, busy evenings.
HOURLY_TRAFFIC = np.array(
    [2, 1, 1, 1, 1, 2, 3, 5, 6, 6, 6, 6, 7, 7, 6, 6, 6, 7, 8, 9, 10, 9, 7, 4], dtype=float
)
CLICK_OFFSET = -3.5
PURCHASE_OFFSET = -5.0
SERVED_CLICK_OFFSET = -6.0
#: Probability that feedback on a served list arrives 0, 1, 2 or 3 days late.
FEEDBACK_DELAY = np.array([0.55, 0.25, 0.12, 0.08])
#: Users whose scores are computed at once inside a day's visits.
VISITS_PER_CHUNK = 8192

#: Event names by depth of engagement (0 = only looked at).
EVENT_BY_DEPTH = np.array(["view", "click", "purchase"], dtype=object)
DEVICE_NAMES = np.array(DEVICES, dtype=object)


def target_interactions(size: str | int) -> int:
    """The number of history interactions a size asks for."""
    return SIZES[size] if isinstance(size, str) else size


@dataclass(frozen=True)
class WorldConfig:
    """Everything that defines a world: the same config always gives the same data, byte for byte.

    ``size`` is a name of SIZES or a target number of history interactions; ``switch_day`` is the
    first day the scenario acts on (default: the first day after the history).
    """

    seed: int = 42
    size: str | int = "small"
    scenario: str = "stable"
    switch_day: int | None = None
    history_days: int = 90

    def __post_init__(self) -> None:
        """Refuse bad settings, all of them in one error, and keep integers as plain ``int``."""
        problems = []
        if not _is_int(self.seed) or self.seed < 0:
            problems.append(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.size not in SIZES and not (_is_int(self.size) and self.size > 0):
            problems.append(f"size must be one of {', '.join(SIZES)} or a positive integer")
        if self.scenario not in SCENARIOS:
            problems.append(
                f"scenario must be one of {', '.join(SCENARIOS)}, got {self.scenario!r}"
            )
        if self.switch_day is not None and (not _is_int(self.switch_day) or self.switch_day < 0):
            problems.append(f"switch_day must be a non-negative integer, got {self.switch_day!r}")
        if not _is_int(self.history_days) or self.history_days < 1:
            problems.append(f"history_days must be a positive integer, got {self.history_days!r}")
        if problems:
            raise ValueError("invalid world config: " + "; ".join(problems))
        # Plain ints, so that metadata() is JSON whatever integer type the caller passed.
        for name in ("seed", "size", "switch_day", "history_days"):
            if _is_int(getattr(self, name)):
                object.__setattr__(self, name, int(getattr(self, name)))

    @property
    def effective_switch_day(self) -> int:
        """The first day the scenario acts on: ``switch_day``, or else the day after the history."""
        return self.history_days if self.switch_day is None else self.switch_day


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclass(frozen=True)
class _Visits:
    """One day's visits, in time order: who, at which second of the day, on which device."""

    user: np.ndarray
    second: np.ndarray
    device: np.ndarray


class World:
    """The hidden world behind the data: users, items, tastes and the day-by-day behaviour.

    ``users`` and ``items`` hold every user and item of the world, including those that only
    sign up or are released in the future (``signup_day`` / ``release_day`` say when).
    """

    def __init__(self, config: WorldConfig) -> None:
        self.config = config
        seed, days = config.seed, config.history_days
        self.switch_day = config.effective_switch_day
        target = target_interactions(config.size)
        tastes = draw_category_tastes(stream_rng(seed, Stream.WORLD))

        rng = stream_rng(seed, Stream.USERS)
        n_users = max(MIN_USERS, round(target / INTERACTIONS_PER_USER))
        signup = arrival_days(rng, n_users, USERS_BEFORE_HISTORY, EARLIEST_DAY, 2 * days)
        users = draw_users(rng, signup, HOME_MARKET, tastes)
        activity_scale = _activity_scale(users, days, target)

        rng = stream_rng(seed, Stream.ITEMS)
        n_items = int(np.clip(round(2 * np.sqrt(target)), MIN_ITEMS, MAX_ITEMS))
        release = arrival_days(rng, n_items, ITEMS_BEFORE_HISTORY, EARLIEST_DAY, 2 * days)
        items = draw_items(rng, release, HOME_CATEGORY_WEIGHTS)

        if config.scenario == "new_market":
            users = users.concat(new_market_users(seed, n_users, self.switch_day, tastes))
        if config.scenario == "catalog_shift":
            items = items.concat(new_catalog_items(seed, n_items, self.switch_day))
        self._shifted_category = (
            shifted_categories(tastes)[items.category]
            if config.scenario == "taste_shift"
            else items.category
        )
        self._users: Users = users
        self._items: Items = items
        self._visit_probability = np.minimum(1.0, activity_scale * users.activity)
        self._log_relative_price = items.log_relative_price
        self.users = users.frame()
        self.items = items.frame()

    # --- the hidden model ------------------------------------------------------------------

    def available_items(self, day: int) -> np.ndarray:
        """Ids of the items released on or before ``day``."""
        return np.flatnonzero(self._items.release_day <= day)

    def exposure(self, items: np.ndarray, day: int) -> np.ndarray:
        """How often the shop shows each of ``items`` on ``day`` (relative; released items only)."""
        age = day - self._items.release_day[items]
        launch = self._items.launch_boost[items] * np.exp(-age / LAUNCH_DECAY_DAYS)
        return np.exp(self._items.popularity[items]) * (1.0 + launch)

    def _utility(
        self, users: np.ndarray, items: np.ndarray, day: int, latent: np.ndarray
    ) -> np.ndarray:
        """U(u, i, d) for broadcastable position arrays, given their latent match t_u · v_i."""
        category = self._shifted_category if day >= self.switch_day else self._items.category
        return (
            latent
            + self._users.affinity[users, category[items]]
            + QUALITY_WEIGHT * self._items.popularity[items]
            - self._users.price_sensitivity[users] * self._log_relative_price[items]
        )

    def _pair_utility(self, users: np.ndarray, items: np.ndarray, day: int) -> np.ndarray:
        """U for each user (rows) and each item in the same row of ``items`` (n x m)."""
        utility = np.empty(items.shape)
        for start in range(0, len(users), VISITS_PER_CHUNK):
            rows = slice(start, start + VISITS_PER_CHUNK)
            user, item = users[rows, None], items[rows]
            latent = np.einsum(
                "nd,nmd->nm", self._users.taste[users[rows]], self._items.latent[item]
            )
            utility[rows] = self._utility(user, item, day, latent)
        return utility

    def _score_matrix(self, users: np.ndarray, items: np.ndarray, day: int) -> np.ndarray:
        """True scores of every user against every item; -inf for items not yet released."""
        latent = self._users.taste[users] @ self._items.latent[items].T
        utility = self._utility(users[:, None], items[None, :], day, latent)
        released = self._items.release_day[items] <= day
        log_exposure = np.full(items.size, -np.inf)
        log_exposure[released] = np.log(self.exposure(items[released], day))
        return log_exposure + utility / TEMPERATURE

    # --- organic behaviour -----------------------------------------------------------------

    def _visits(self, day: int) -> _Visits:
        rng = stream_rng(self.config.seed, Stream.SESSIONS, _check_day(day))
        signed_up = np.flatnonzero(self._users.signup_day <= day)
        user = signed_up[rng.random(signed_up.size) < self._visit_probability[signed_up]]
        hour = rng.choice(24, size=user.size, p=HOURLY_TRAFFIC / HOURLY_TRAFFIC.sum())
        second = hour * 3600 + rng.integers(0, 3600, user.size)
        device = session_devices(rng, self._users.device[user], HOME_MARKET.device_weights)
        order = np.lexsort((user, second))
        return _Visits(user=user[order], second=second[order], device=device[order])

    def _organic(self, day: int) -> pd.DataFrame:
        """What the day's visitors look at (see the module docstring), one row per item."""
        visits = self._visits(day)
        rng = stream_rng(self.config.seed, Stream.CHOICES, day)
        n = visits.user.size
        available = self.available_items(day)
        cumulative = np.cumsum(self.exposure(available, day))
        draws = rng.random((n, CANDIDATES)) * cumulative[-1]
        slots = np.minimum(np.searchsorted(cumulative, draws, side="right"), available.size - 1)
        candidates = available[slots]
        utility = self._pair_utility(visits.user, candidates, day)
        keys = utility / TEMPERATURE + rng.gumbel(size=(n, CANDIDATES))
        keys[_repeats(candidates)] = -np.inf
        order = np.argsort(-keys, axis=1)[:, :MAX_PICKS]
        n_picks = 1 + np.minimum(rng.poisson(EXTRA_PICKS, n), MAX_PICKS - 1)
        looked = (np.arange(MAX_PICKS) < n_picks[:, None]) & np.isfinite(
            np.take_along_axis(keys, order, axis=1)
        )
        visit = np.broadcast_to(np.arange(n)[:, None], looked.shape)[looked]
        offsets = rng.exponential(SECONDS_PER_LOOK, (n, MAX_PICKS)).cumsum(axis=1)[looked]
        item = np.take_along_axis(candidates, order, axis=1)[looked]
        depth = _engagement(
            rng.random(item.size), np.take_along_axis(utility, order, axis=1)[looked], CLICK_OFFSET
        )
        second = np.minimum(visits.second[visit] + offsets.astype(np.int64), SECONDS_PER_DAY - 1)
        user = visits.user[visit]
        rows = np.lexsort((item, user, second))
        return pd.DataFrame(
            {
                "timestamp": _timestamps(day, second[rows]),
                "day": np.full(rows.size, day, dtype=np.int64),
                "user_id": user[rows],
                "item_id": item[rows],
                "event": EVENT_BY_DEPTH[depth[rows]],
                "device": DEVICE_NAMES[visits.device[visit][rows]],
                "price": self._items.price[item[rows]],
            }
        )

    def interactions(self, day: int) -> pd.DataFrame:
        """The organic interactions of one day, in time order, as the feed delivers them."""
        frame = self._organic(day)
        if self.config.scenario == "feed_incident" and day >= self.switch_day:
            return corrupt_feed(frame, stream_rng(self.config.seed, Stream.FEED_INCIDENT, day))
        return frame

    def history(self, on_day: Callable[[int, int], None] | None = None) -> Dataset:
        """Days 0 .. history_days - 1 as a dataset: the users and items known by the end of it.

        ``on_day(days_done, rows_so_far)`` is called after each day, for progress reports.
        """
        frames, rows = [], 0
        for day in range(self.config.history_days):
            frames.append(self.interactions(day))
            rows += len(frames[-1])
            if on_day is not None:
                on_day(day + 1, rows)
        last_day = self.config.history_days - 1
        return Dataset(
            users=self.users[self.users["signup_day"] <= last_day].reset_index(drop=True),
            items=self.items[self.items["release_day"] <= last_day].reset_index(drop=True),
            interactions=pd.concat(frames, ignore_index=True),
            meta=self.metadata(),
        )

    # --- live traffic ----------------------------------------------------------------------

    def requests(self, day: int) -> pd.DataFrame:
        """The visitors of ``day`` asking for recommendations (the same as the organic visits)."""
        visits = self._visits(day)
        return pd.DataFrame(
            {
                "timestamp": _timestamps(day, visits.second),
                "day": np.full(visits.user.size, day, dtype=np.int64),
                "user_id": visits.user,
                "device": DEVICE_NAMES[visits.device],
            }
        )

    def respond(self, day: int, recommendations: pd.DataFrame) -> pd.DataFrame:
        """The clicks and purchases that served lists get on ``day`` (one row per engaged item).

        ``recommendations`` has columns user_id, item_id and rank (1-based). Each row's outcome
        depends only on (day, user, item, rank), not on the other rows. Unknown users or items,
        users not signed up and items not released by ``day`` get no engagement. The feedback
        is observed ``observed_day - day`` = 0..3 days late.
        """
        missing = {"user_id", "item_id", "rank"} - set(recommendations.columns)
        if missing:
            raise ValueError(f"recommendations lack the column(s) {', '.join(sorted(missing))}")
        users, known_users = id_positions(recommendations["user_id"], len(self._users))
        items, known_items = id_positions(recommendations["item_id"], len(self._items))
        ranks = pd.to_numeric(recommendations["rank"], errors="coerce").to_numpy(float, na_value=0)
        valid = (
            known_users
            & known_items
            & (ranks >= 1)
            & (ranks == np.floor(ranks))
            & (self._users.signup_day[users] <= _check_day(day))
            & (self._items.release_day[items] <= day)
        )
        user, item, rank = users[valid], items[valid], ranks[valid].astype(np.int64)
        latent = np.einsum("nd,nd->n", self._users.taste[user], self._items.latent[item])
        utility = self._utility(user, item, day, latent)
        seed, keys = self.config.seed, (np.int64(day), user, item, rank)
        depth = _engagement(
            keyed_uniform(seed, Stream.RESPONSE, *keys),
            utility,
            SERVED_CLICK_OFFSET,
            attention=1.0 / np.log2(rank + 1.0),
        )
        delay = np.searchsorted(
            np.cumsum(FEEDBACK_DELAY), keyed_uniform(seed, Stream.RESPONSE_DELAY, *keys)
        )
        second = self._response_seconds(
            day, user, rank, keyed_uniform(seed, Stream.RESPONSE_TIME, *keys)
        )
        engaged = depth > 0
        return pd.DataFrame(
            {
                "day": np.full(engaged.sum(), day, dtype=np.int64),
                "timestamp": _timestamps(day, second[engaged]),
                "user_id": user[engaged],
                "item_id": item[engaged],
                "rank": rank[engaged],
                "event": EVENT_BY_DEPTH[depth[engaged]],
                "observed_day": day + np.minimum(delay[engaged], FEEDBACK_DELAY.size - 1),
            }
        )

    def _response_seconds(
        self, day: int, users: np.ndarray, ranks: np.ndarray, uniform: np.ndarray
    ) -> np.ndarray:
        """Second of the day of a reaction, later for items further down the list.

        The reaction comes after the user's visit that day, or at any time if they did not visit.
        """
        visits = self._visits(day)
        visit_second = np.full(len(self._users), -1, dtype=np.int64)
        visit_second[visits.user] = visits.second
        start = visit_second[users]
        start = np.where(start >= 0, start, (uniform * SECONDS_PER_DAY).astype(np.int64))
        delay = 5 + 15 * ranks + (uniform * 120).astype(np.int64)
        return np.minimum(start + delay, SECONDS_PER_DAY - 1)

    # --- ground truth ------------------------------------------------------------------------

    def oracle_scores(self, user_ids: object, item_ids: object, day: int) -> np.ndarray:
        """True scores (users x items) on ``day``: see the module docstring; -inf if unreleased."""
        users = self._require_known(user_ids, len(self._users), "user")
        items = self._require_known(item_ids, len(self._items), "item")
        return self._score_matrix(users, items, _check_day(day))

    def oracle(self, seen: pd.DataFrame, day: int) -> OracleRecommender:
        """The best recommender for ``day``: items available that day, minus the ``seen`` pairs."""
        items = self.available_items(_check_day(day))
        return OracleRecommender(
            lambda users: self._score_matrix(users, items, day), items, len(self._users), seen
        )

    @staticmethod
    def _require_known(ids: object, n: int, kind: str) -> np.ndarray:
        positions, known = id_positions(ids, n)
        if not known.all():
            unknown = np.asarray(pd.Series(ids))[~known][:5].tolist()
            raise ValueError(f"unknown {kind} id(s) {unknown}: this world has ids 0..{n - 1}")
        return positions

    # --- metadata ----------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """What ``world.json`` records: the generator, its format and the config to rebuild it."""
        return {
            "generator": GENERATOR,
            "format_version": FORMAT_VERSION,
            **dataclasses.asdict(self.config),
            "scenario_description": SCENARIOS[self.config.scenario].description,
            "effective_switch_day": self.switch_day,
            "target_interactions": target_interactions(self.config.size),
            "world_users": len(self._users),
            "world_items": len(self._items),
            "epoch": WORLD_EPOCH,
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> World:
        """Rebuild the world that wrote ``meta`` (the contents of a dataset's ``world.json``)."""
        if meta.get("generator") != GENERATOR:
            raise ValueError(
                f"world.json was written by {meta.get('generator')!r}, not {GENERATOR!r}: "
                "there is no simulated world to rebuild"
            )
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"world.json has format_version {meta.get('format_version')!r}; "
                f"this code reads version {FORMAT_VERSION}"
            )
        names = [field.name for field in dataclasses.fields(WorldConfig)]
        missing = [name for name in names if name not in meta]
        if missing:
            raise ValueError(f"world.json lacks the field(s) {', '.join(missing)}")
        return cls(WorldConfig(**{name: meta[name] for name in names}))


def oracle_for(dataset: Dataset, seen: pd.DataFrame, day: int) -> OracleRecommender | None:
    """The oracle behind a dataset: the world's true ranking on ``day``, or None if unknown.

    Only simulated data has one (its ``world.json`` rebuilds the hidden world); MovieLens and
    other real data do not. ``seen`` holds the (user_id, item_id) pairs every model excludes.
    """
    if dataset.meta.get("generator") != GENERATOR:
        return None
    return World.from_metadata(dataset.meta).oracle(seen=seen, day=day)


def _activity_scale(users: Users, history_days: int, target: int) -> float:
    """The factor on users' activity that makes the expected history volume hit ``target``.

    Visit probability is min(1, scale * activity); the expected volume grows with the scale, so a
    bisection on a log scale finds it.
    """
    days_signed_up = np.clip(history_days - np.maximum(users.signup_day, 0), 0, history_days)
    looks_per_visit = 1 + EXTRA_PICKS

    def expected(scale: float) -> float:
        probability = np.minimum(1.0, scale * users.activity)
        return looks_per_visit * float(days_signed_up @ probability)

    low, high = 1e-9, 1e3
    for _ in range(60):
        middle = np.sqrt(low * high)
        low, high = (middle, high) if expected(middle) < target else (low, middle)
    return float(np.sqrt(low * high))


def _repeats(candidates: np.ndarray) -> np.ndarray:
    """Marks every repeat of an item within a row (the first occurrence stays unmarked)."""
    order = np.argsort(candidates, axis=1, kind="stable")
    ordered = np.take_along_axis(candidates, order, axis=1)
    repeat = np.zeros(candidates.shape, dtype=bool)
    np.put_along_axis(repeat, order[:, 1:], ordered[:, 1:] == ordered[:, :-1], axis=1)
    return repeat


def _engagement(
    uniform: np.ndarray,
    utility: np.ndarray,
    click_offset: float,
    attention: float | np.ndarray = 1.0,
) -> np.ndarray:
    """Deepest stage reached: 0 = only seen, 1 = clicked, 2 = purchased."""
    click = attention * _sigmoid(click_offset + utility)
    purchase = click * _sigmoid(PURCHASE_OFFSET + utility)
    return np.where(uniform < purchase, 2, np.where(uniform < click, 1, 0))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _timestamps(day: int, seconds: np.ndarray) -> np.ndarray:
    return (WORLD_EPOCH + day * SECONDS_PER_DAY + seconds).astype(np.int64)


def _check_day(day: int) -> int:
    if not _is_int(day) or day < 0:
        raise ValueError(f"day must be a non-negative integer (days since the epoch), got {day!r}")
    return int(day)
