"""Reading a dataset folder (native, MovieLens 100k or MovieLens latest-small) into a Dataset.

Two steps, because the levels differ in how they treat bad data: :func:`read_dataset` only fails
when a folder cannot be read at all, so a level with its own validation step can report content
problems its way; :func:`load_dataset` reads, validates and returns typed frames, or refuses the
data with one :class:`DataError` that lists every problem.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .csv_tables import csv_format_for, read_csv_tables, unreadable_reason
from .dataset import Dataset
from .movielens import (
    MOVIELENS_100K_RATINGS,
    MOVIELENS_LATEST_RATINGS,
    read_movielens_100k,
    read_movielens_latest_small,
)
from .problems import DataError, Problem
from .schema import INTERACTIONS, ITEMS, METADATA_FILE, TABLES, USERS
from .validation import typed_table, validate_dataset

__all__ = [
    "DataError",
    "Problem",
    "load_dataset",
    "read_dataset",
    "typed_dataset",
    "validate_dataset",
]

NATIVE_FORMATS = tuple(csv_format_for(schema) for schema in TABLES)


def load_dataset(path: str | Path) -> Dataset:
    """Read and validate a dataset folder; typed frames, interactions in time order.

    Ids, ``day`` and ``timestamp`` are int64, prices and ratings float64, text columns str
    (object). Nullable whole-number columns (``signup_day``, ``release_day``) are float64 with
    NaN for unknown, so they stay plain numpy columns.
    """
    dataset = read_dataset(path)
    problems = validate_dataset(dataset)
    if problems:
        raise DataError(problems, dataset.path)
    return typed_dataset(dataset)


def typed_dataset(dataset: Dataset) -> Dataset:
    """The frames of a dataset that passed :func:`validate_dataset`, with their final dtypes."""
    return Dataset(
        users=typed_table(dataset.users, USERS),
        items=typed_table(dataset.items, ITEMS),
        interactions=typed_table(dataset.interactions, INTERACTIONS).sort_values(
            "timestamp", kind="stable", ignore_index=True
        ),
        meta=dataset.meta,
        path=dataset.path,
    )


def read_dataset(path: str | Path) -> Dataset:
    """Read whatever dataset the folder holds, without judging its content.

    Raises :class:`DataError` only if the folder cannot be read: it does not exist, is not a
    dataset folder, or a file is missing, empty or not valid CSV. A MovieLens folder is converted
    on the way, so its ratings, users and items must be readable as numbers (see
    :mod:`data.movielens`).
    """
    folder = Path(path)
    if not folder.is_dir():
        reason = "not a folder" if folder.exists() else "no such folder"
        raise DataError([Problem(str(folder), None, reason)], folder)
    if (folder / INTERACTIONS.file_name).exists():
        return _read_native(folder)
    if (folder / MOVIELENS_100K_RATINGS).exists():
        return read_movielens_100k(folder)
    if (folder / MOVIELENS_LATEST_RATINGS).exists():
        return read_movielens_latest_small(folder)
    found = ", ".join(sorted(child.name for child in folder.iterdir())) or "nothing"
    message = (
        f"not a dataset folder: expected {INTERACTIONS.file_name} (with {USERS.file_name} and "
        f"{ITEMS.file_name}), {MOVIELENS_100K_RATINGS} (MovieLens 100k) or "
        f"{MOVIELENS_LATEST_RATINGS} (MovieLens latest-small); found {found}"
    )
    raise DataError([Problem(str(folder), None, message)], folder)


def _read_native(folder: Path) -> Dataset:
    problems: list[Problem] = []
    try:
        frames = read_csv_tables(folder, NATIVE_FORMATS)
    except DataError as error:
        problems.extend(error.problems)
    try:
        meta = _read_metadata(folder)
    except DataError as error:
        problems.extend(error.problems)
    if problems:
        raise DataError(problems, folder)
    return Dataset(
        users=frames[USERS.file_name],
        items=frames[ITEMS.file_name],
        interactions=frames[INTERACTIONS.file_name],
        meta=meta,
        path=folder,
    )


def _read_metadata(folder: Path) -> dict[str, Any]:
    """``world.json`` as written by its producer, or a minimal record when there is none."""
    path = folder / METADATA_FILE
    if not path.exists():
        return {"source": "native", "path": str(folder)}
    reason = unreadable_reason(path)
    if reason is not None:
        raise DataError([Problem(METADATA_FILE, None, reason)], folder)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        problem = Problem(METADATA_FILE, None, f"not valid JSON: {error}")
        raise DataError([problem], folder) from None
    if not isinstance(meta, dict):
        message = f"expected a JSON object, found {type(meta).__name__}"
        raise DataError([Problem(METADATA_FILE, None, message)], folder)
    return meta
