"""The file contract of a dataset folder: which tables, columns, types and ranges.

Every producer (the simulator, the MovieLens importers) writes this shape and every reader checks
it, so a level never has to guess what a column means. A dataset folder holds:

- ``users.csv``        one row per user, keyed by ``user_id``;
- ``items.csv``        one row per item, keyed by ``item_id``;
- ``interactions.csv`` one row per implicit-feedback event, in time order;
- ``world.json``       metadata: where the data came from (for simulated data, everything needed to
  rebuild the hidden world, so the oracle ranking can be computed again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["int", "float", "str"]

#: Simulated time starts here (2026-01-01T00:00:00Z); ``day`` counts whole days since then.
WORLD_EPOCH = 1_767_225_600
SECONDS_PER_DAY = 86_400

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
    """A table of a dataset folder: its file name, columns and unique key."""

    name: str
    file_name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if column.required)

    def column(self, name: str) -> Column:
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
    columns=(
        Column("timestamp", "int", min_value=0),
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
