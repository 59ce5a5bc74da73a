"""The file contract of a dataset folder: which tables, columns, types and ranges.

Every producer (the simulator, the MovieLens importers) writes this shape and every reader checks
it, so a level never has to guess what a column means. A dataset folder holds:

- ``users.csv``        one row per user, keyed by ``user_id``;
- ``items.csv``        one row per item, keyed by ``item_id``;
- ``interactions.csv`` one row per implicit-feedback event, in time order;
- ``world.json``       metadata: where the data came from (for simulated data, everything needed to
  rebuild the hidden world, so the oracle ranking can be computed again).

Beyond each column's own type and range, the contract says:

- an event happens once: two interactions with the same ``timestamp``, ``user_id``, ``item_id``
  and ``event`` are the same event delivered twice, and the data is refused rather than
  de-duplicated (a feed that repeats rows is broken upstream, and silently dropping rows would
  hide it; every count a level reports comes from the rows as delivered);
- ``timestamp`` is in Unix seconds, before 2100: a later value is a unit error (milliseconds) or
  a broken clock, not the future;
- ``day`` counts whole days since day 0 began, the same day 0 for every row: ``timestamp - day *
  86400`` falls within one 24-hour window (which one depends on the source: midnight of
  ``WORLD_EPOCH`` for simulated data, the first rating for MovieLens);
- whole numbers fit in 64 bits, so ids keep their exact value in every tool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["int", "float", "str"]

#: Simulated time starts here (2026-01-01T00:00:00Z); ``day`` counts whole days since then.
WORLD_EPOCH = 1_767_225_600
SECONDS_PER_DAY = 86_400
#: 2100-01-01T00:00:00Z: no real event is later; a timestamp past it is in the wrong unit.
LATEST_TIMESTAMP = 4_102_444_800

#: Implicit-feedback events. ``rating`` marks an explicit rating turned into an interaction
#: (MovieLens); the simulator emits the other three, deepest stage reached per visit.
EVENTS = frozenset({"view", "click", "purchase", "rating"})


@dataclass(frozen=True)
class Column:
    """One column: its type, whether it must be present, may be empty, and its allowed range."""

    name: str
    kind: ColumnKind
    required: bool = True
    nullable: bool = False
    min_value: float | None = None
    max_value: float | None = None
    allowed: frozenset[str] | None = None


@dataclass(frozen=True)
class TableSchema:
    """A table of a dataset folder: its file name, columns and unique key.

    ``key`` names the columns whose values together identify a row: no two rows may share them.
    """

    name: str
    file_name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()

    def column(self, name: str) -> Column:
        """The schema of column ``name``; a name the table does not have is a ``KeyError``."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.file_name} has no column {name!r} in its schema")


USERS = TableSchema(
    name="users",
    file_name="users.csv",
    key=("user_id",),
    columns=(
        Column("user_id", "int", min_value=0),
        Column("age_band", "str"),
        Column("country", "str"),
        Column("device", "str"),
        Column("signup_day", "int", nullable=True),
    ),
)

ITEMS = TableSchema(
    name="items",
    file_name="items.csv",
    key=("item_id",),
    columns=(
        Column("item_id", "int", min_value=0),
        Column("category", "str"),
        Column("price", "float", nullable=True, min_value=0.0),
        # Negative: released before the data starts (MovieLens films are older than the ratings).
        Column("release_day", "int", nullable=True),
    ),
)

INTERACTIONS = TableSchema(
    name="interactions",
    file_name="interactions.csv",
    key=("timestamp", "user_id", "item_id", "event"),
    columns=(
        Column("timestamp", "int", min_value=0, max_value=LATEST_TIMESTAMP),
        Column("day", "int", min_value=0),
        Column("user_id", "int", min_value=0),
        Column("item_id", "int", min_value=0),
        Column("event", "str", allowed=EVENTS),
        # Context: present in simulated data, absent in MovieLens (ratings have their own column).
        Column("device", "str", required=False),
        Column("price", "float", required=False, min_value=0.0),
        Column("rating", "float", required=False, min_value=0.0, max_value=5.0),
    ),
)

TABLES = (USERS, ITEMS, INTERACTIONS)
METADATA_FILE = "world.json"
