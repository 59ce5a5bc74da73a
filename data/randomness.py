"""Seeded random streams for the simulator: one stream per purpose and per day.

Every random decision of the world draws from a stream named by ``(seed, purpose, day)``, never
from a shared generator, so any day can be generated alone, in any order, with the same result,
and a scenario that draws extra numbers cannot shift the numbers of another purpose.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    """The purposes random numbers are drawn for; the value is part of every stream's seed."""

    WORLD = 0  # shared tables: category affinities of age bands and countries
    USERS = 1
    ITEMS = 2
    SESSIONS = 3  # who visits on a day, when, on which device
    CHOICES = 4  # what a visitor looks at and how deep they go
    NEW_MARKET = 5
    NEW_CATALOG = 6
    FEED_INCIDENT = 8
    RESPONSE = 9  # engagement with a served list
    RESPONSE_DELAY = 10
    RESPONSE_TIME = 11


def stream_rng(seed: int, stream: Stream, day: int | None = None) -> np.random.Generator:
    """A generator for ``stream`` (on ``day``): independent of every other stream and day."""
    key = [seed, int(stream)] if day is None else [seed, int(stream), day]
    return np.random.default_rng(key)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser: a fast bijective scrambler of 64-bit integers."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _MIX_1
    x = (x ^ (x >> np.uint64(27))) * _MIX_2
    return x ^ (x >> np.uint64(31))


def keyed_uniform(seed: int, stream: Stream, *keys: np.ndarray) -> np.ndarray:
    """Uniform numbers in [0, 1) that depend only on ``(seed, stream)`` and each row's keys.

    Used where an outcome must not depend on which other rows are in the same call: the same
    (user, item, rank) served on the same day gets the same response whatever else was served,
    so two rankings compared on one day share their luck (common random numbers).
    """
    shape = np.broadcast_shapes(*(np.shape(key) for key in keys))
    state = _splitmix(_splitmix(np.full(shape, seed, dtype=np.uint64)) ^ np.uint64(stream))
    for key in keys:
        state = _splitmix(state ^ np.asarray(key, dtype=np.int64).view(np.uint64))
    return (state >> np.uint64(11)).astype(np.float64) * 2.0**-53
