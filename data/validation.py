"""Checking tables against the file contract of :mod:`data.schema`, reporting every problem at once.

The checks are vectorised (a handful of passes over each column), so validating tens of millions
of interactions takes seconds. Each problem names the file and column, says how many rows are
affected and where the first one is, as a 1-based line of the file (the header is line 1), so a
person can open the file and see it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from .dataset import Dataset
from .problems import Problem
from .schema import INTERACTIONS, ITEMS, USERS, Column, TableSchema


def validate_dataset(dataset: Dataset) -> list[Problem]:
    """Every way the dataset breaks the contract of :mod:`data.schema`; empty when it is valid."""
    problems: list[Problem] = []
    for schema, frame in (
        (USERS, dataset.users),
        (ITEMS, dataset.items),
        (INTERACTIONS, dataset.interactions),
    ):
        problems.extend(validate_table(frame, schema))
    problems.extend(_reference_problems(dataset.interactions, "user_id", dataset.users, USERS))
    problems.extend(_reference_problems(dataset.interactions, "item_id", dataset.items, ITEMS))
    return problems


def validate_table(frame: pd.DataFrame, schema: TableSchema, first_line: int = 2) -> list[Problem]:
    """Every problem of one table: rows, column set, each column's values, unique key.

    ``first_line`` is the file line of the first row: 2 below a header, 1 in a headerless file.
    """
    problems: list[Problem] = []
    if len(frame) == 0:
        detail = " (the file has only a header)" if first_line > 1 else ""
        problems.append(Problem(schema.file_name, None, f"no rows{detail}"))
    problems.extend(_column_set_problems([str(name) for name in frame.columns], schema))
    for column in schema.columns:
        if column.name in frame.columns:
            problems.extend(
                _value_problems(frame[column.name], column, schema.file_name, first_line)
            )
    for key in schema.key:
        if key in frame.columns:
            problems.extend(_duplicate_problems(frame[key], schema.file_name, key, first_line))
    return problems


def _reference_problems(
    interactions: pd.DataFrame, column: str, parent: pd.DataFrame, parent_schema: TableSchema
) -> list[Problem]:
    """Interactions whose user or item is not in users.csv or items.csv."""
    if column not in interactions.columns or column not in parent.columns:
        return []
    values = as_numbers(interactions[column])
    unknown = values.notna() & ~values.isin(as_numbers(parent[column]).dropna())
    detail = f" absent from {parent_schema.file_name}"
    messages = describe_rows(unknown, 2, "value", detail, interactions[column])
    return [Problem(INTERACTIONS.file_name, column, message) for message in messages]


def typed_table(frame: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """A valid table with one dtype per kind, its schema's columns in schema order.

    Whole numbers are int64, other numbers float64, text str (object). A nullable whole-number
    column is float64 with NaN for unknown, so it stays a plain numpy column. Only meaningful once
    :func:`validate_table` found no problem (a non-numeric id cannot become int64).
    """
    typed: dict[str, pd.Series] = {}
    for column in schema.columns:
        if column.name not in frame.columns:
            continue
        values = frame[column.name]
        if column.kind == "str":
            typed[column.name] = _as_text(values)
        elif column.kind == "int" and not column.nullable:
            typed[column.name] = as_numbers(values).astype("int64", copy=False)
        else:
            typed[column.name] = as_numbers(values).astype("float64", copy=False)
    return pd.DataFrame(typed, index=frame.index, copy=False)


def _as_text(values: pd.Series) -> pd.Series:
    """Text as str objects, nulls as NaN; a column that already is text is kept (no copy)."""
    if pd.api.types.infer_dtype(values, skipna=True) in {"string", "empty"}:
        return values.astype(object)
    return values.astype(object).where(values.isna(), values.astype(str))


def as_numbers(values: pd.Series) -> pd.Series:
    """The column as numbers, NaN where a value is missing or not a number (text, booleans)."""
    if pd.api.types.is_bool_dtype(values):
        return pd.Series(np.nan, index=values.index)
    if pd.api.types.is_numeric_dtype(values):
        # Nullable extension types (Int64, Float64) hold pd.NA, which numpy cannot compare.
        return values if isinstance(values.dtype, np.dtype) else values.astype("float64")
    return pd.to_numeric(values, errors="coerce")


def _column_set_problems(found: list[str], schema: TableSchema) -> list[Problem]:
    expected = [column.name for column in schema.columns]
    unexpected = [name for name in found if name not in expected]
    problems: list[Problem] = []
    for column in schema.columns:
        if not column.required or column.name in found:
            continue
        renamed = _close_name(column.name, unexpected)
        if renamed is None:
            detail = f"columns found: {', '.join(found) or 'none'}"
            problems.append(Problem(schema.file_name, column.name, f"missing ({detail})"))
        else:
            unexpected.remove(renamed)
            message = f"missing; found {renamed!r} — was it renamed?"
            problems.append(Problem(schema.file_name, column.name, message))
    absent_optional = [name for name in expected if name not in found]
    for name in unexpected:
        message = f"unexpected column (expected: {', '.join(expected)})"
        meant = _close_name(name, absent_optional)
        if meant is not None:
            message += f"; did you mean {meant!r}?"
        problems.append(Problem(schema.file_name, name, message))
    return problems


def _close_name(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate that looks like ``name`` spelled another way (``itemId``, ``event_type``)."""
    by_plain = {_plain(candidate): candidate for candidate in candidates}
    if _plain(name) in by_plain:
        return by_plain[_plain(name)]
    close = difflib.get_close_matches(_plain(name), list(by_plain), n=1, cutoff=0.6)
    return by_plain[close[0]] if close else None


def _plain(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _value_problems(
    values: pd.Series, column: Column, file_name: str, first_line: int
) -> list[Problem]:
    present = values.notna()
    messages = [] if column.nullable else describe_rows(~present, first_line, "null value")
    if column.kind == "str":
        if column.allowed is not None:
            outside = present & ~values.isin(column.allowed)
            detail = f" not one of {', '.join(sorted(column.allowed))}"
            messages += describe_rows(outside, first_line, "value", detail, values)
    else:
        numbers = as_numbers(values)
        infinite = np.isinf(numbers)
        finite = numbers.where(~infinite)
        messages += describe_rows(
            present & numbers.isna(), first_line, "non-numeric value", "", values
        )
        messages += describe_rows(infinite, first_line, "infinite value", "", values)
        if column.kind == "int":
            fractional = finite.notna() & (finite != np.floor(finite))
            messages += describe_rows(fractional, first_line, "non-integer value", "", values)
        if column.min_value is not None:
            detail = f" below the minimum {column.min_value:g}"
            messages += describe_rows(
                finite < column.min_value, first_line, "value", detail, values
            )
        if column.max_value is not None:
            detail = f" above the maximum {column.max_value:g}"
            messages += describe_rows(
                finite > column.max_value, first_line, "value", detail, values
            )
    return [Problem(file_name, column.name, message) for message in messages]


def describe_rows(
    mask: pd.Series,
    first_line: int,
    noun: str,
    detail: str = "",
    values: pd.Series | None = None,
) -> list[str]:
    """``["3 <noun>s<detail> (first at line 12: 'x')"]`` if any row is flagged, else ``[]``.

    The first flagged value is shown when ``values`` is given, so the reader sees what is wrong
    without opening the file.
    """
    if not mask.any():
        return []
    position = int(np.flatnonzero(mask.to_numpy())[0])
    where = f"first at line {position + first_line}"
    if values is not None:
        where += f": {_shown(values.iloc[position])}"
    return [f"{_count(int(mask.sum()), noun)}{detail} ({where})"]


def _duplicate_problems(
    values: pd.Series, file_name: str, column: str, first_line: int
) -> list[Problem]:
    duplicated = values.notna() & values.duplicated(keep="first")
    if not duplicated.any():
        return []
    position = int(np.flatnonzero(duplicated.to_numpy())[0])
    value = values.iloc[position]
    original = int(np.flatnonzero((values == value).to_numpy())[0])
    message = (
        f"{_count(int(duplicated.sum()), 'duplicate key value')} (first at line "
        f"{position + first_line}: {_shown(value)}, already at line {original + first_line})"
    )
    return [Problem(file_name, column, message)]


def _shown(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        return repr(value.item())
    return repr(value)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
