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
from .schema import INTERACTIONS, ITEMS, SECONDS_PER_DAY, USERS, Column, TableSchema

#: Whole numbers must fit in int64. As floats: 2**63 is the first value that does not fit.
INT64_LIMIT = float(2**63)
#: Floats hold every whole number up to 2**53 exactly; a larger one is shown as a float.
EXACT_FLOAT_LIMIT = 2**53


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
    problems.extend(_day_problems(dataset.interactions))
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
    if schema.key and set(schema.key) <= set(frame.columns):
        problems.extend(_duplicate_problems(frame[list(schema.key)], schema.file_name, first_line))
    return problems


def _reference_problems(
    interactions: pd.DataFrame, column: str, parent: pd.DataFrame, parent_schema: TableSchema
) -> list[Problem]:
    """Interactions whose user or item is not in users.csv or items.csv.

    Only ids that are valid on their own are looked up: one out of range is reported as that.
    """
    if column not in interactions.columns or column not in parent.columns:
        return []
    values = as_numbers(interactions[column])
    valid = within_contract(values, INTERACTIONS.column(column))
    unknown = valid & ~values.isin(as_numbers(parent[column]).dropna())
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
            detail = " outside the 64-bit integer range"
            messages += describe_rows(~_fits_int64(finite), first_line, "value", detail, values)
        if column.min_value is not None:
            detail = f" below the minimum {_shown(column.min_value)}"
            messages += describe_rows(
                finite < column.min_value, first_line, "value", detail, values
            )
        if column.max_value is not None:
            detail = f" above the maximum {_shown(column.max_value)}"
            messages += describe_rows(
                finite > column.max_value, first_line, "value", detail, values
            )
    return [Problem(file_name, column.name, message) for message in messages]


def _fits_int64(numbers: pd.Series) -> pd.Series:
    """True where a number is missing or fits in int64; False where it would overflow."""
    return numbers.isna() | ((numbers >= -INT64_LIMIT) & (numbers < INT64_LIMIT))


def within_contract(numbers: pd.Series, column: Column) -> pd.Series:
    """Where a numeric column's values meet its own contract: present, finite, whole, in range.

    Checks that combine columns (references, ``day`` against ``timestamp``) look only at these
    rows, so a value is reported once, for what is wrong with it.
    """
    valid = numbers.notna() & ~np.isinf(numbers)
    if column.kind == "int":
        valid &= (numbers == np.floor(numbers)) & _fits_int64(numbers)
    if column.min_value is not None:
        valid &= numbers >= column.min_value
    if column.max_value is not None:
        valid &= numbers <= column.max_value
    return valid


def _day_problems(interactions: pd.DataFrame) -> list[Problem]:
    """Rows whose ``day`` does not count whole days from the day 0 the other rows count from.

    ``timestamp - day * 86400`` is when day 0 began plus the time of day: within one 24-hour
    window for every row. Checked in one pass; only if the rows do not fit one window is the
    window that holds the most rows found (a sort), and the rows outside it reported.
    """
    if not {"timestamp", "day"} <= set(interactions.columns):
        return []
    timestamps = as_numbers(interactions["timestamp"])
    days = as_numbers(interactions["day"])
    usable = within_contract(timestamps, INTERACTIONS.column("timestamp")) & within_contract(
        days, INTERACTIONS.column("day")
    )
    day_zero = (timestamps - days * SECONDS_PER_DAY)[usable].to_numpy(dtype=np.float64)
    if day_zero.size == 0 or day_zero.max() - day_zero.min() < SECONDS_PER_DAY:
        return []
    ordered = np.sort(day_zero)
    rows_in_window = np.searchsorted(ordered, ordered + SECONDS_PER_DAY) - np.arange(ordered.size)
    start = ordered[int(np.argmax(rows_in_window))]
    outside = pd.Series(False, index=interactions.index)
    outside[usable] = (day_zero < start) | (day_zero >= start + SECONDS_PER_DAY)
    position = int(np.flatnonzero(outside.to_numpy())[0])
    message = (
        f"{_count(int(outside.sum()), 'value')} that disagree"
        f"{'s' if outside.sum() == 1 else ''} with column 'timestamp' (first at line "
        f"{position + 2}: day {_shown(days.iloc[position])} at timestamp "
        f"{_shown(timestamps.iloc[position])}; the other rows count whole days from one day 0)"
    )
    return [Problem(INTERACTIONS.file_name, "day", message)]


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


def _duplicate_problems(keys: pd.DataFrame, file_name: str, first_line: int) -> list[Problem]:
    """Rows that repeat an earlier row's key: one key column is named, a compound key listed."""
    duplicated = repeated_rows(keys)
    if not duplicated.any():
        return []
    position = int(np.flatnonzero(duplicated)[0])
    first = keys.iloc[position]
    original = int(np.flatnonzero((keys == first).all(axis=1).to_numpy())[0])
    if len(keys.columns) == 1:
        (column,) = keys.columns
        message = (
            f"{_count(int(duplicated.sum()), 'duplicate key value')} (first at line "
            f"{position + first_line}: {_shown(first[column])}, already at line "
            f"{original + first_line})"
        )
        return [Problem(file_name, column, message)]
    *others, last = keys.columns
    message = (
        f"{_count(int(duplicated.sum()), 'duplicate row')}: the same {', '.join(others)} and "
        f"{last} as an earlier row (first at line {position + first_line}, a repeat of line "
        f"{original + first_line})"
    )
    return [Problem(file_name, None, message)]


def repeated_rows(keys: pd.DataFrame) -> np.ndarray:
    """True for each row whose values in every column of ``keys`` repeat an earlier row's.

    Rows with a missing value never count (validation reports the null itself). pandas'
    ``duplicated`` over several columns takes seconds per ten million rows, so the numeric
    columns are first folded into one 64-bit fingerprint and sorted (about a second); only the
    rows whose fingerprint repeats are then compared in full, so a rare collision costs nothing.
    """
    candidates = np.ones(len(keys), dtype=bool)
    numeric = [keys[name] for name in keys.columns if pd.api.types.is_numeric_dtype(keys[name])]
    if numeric:
        candidates = np.logical_and.reduce([column.notna().to_numpy() for column in numeric])
        fingerprints = _fingerprints(numeric)
        ordered = np.sort(fingerprints[candidates])
        repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        candidates &= np.isin(fingerprints, repeated)
    subset = keys[candidates]
    complete = subset.notna().all(axis=1).to_numpy()
    duplicated = np.zeros(len(keys), dtype=bool)
    duplicated[np.flatnonzero(candidates)[complete]] = subset[complete].duplicated().to_numpy()
    return duplicated


def _fingerprints(columns: list[pd.Series]) -> np.ndarray:
    """One 64-bit hash per row of the numeric ``columns`` (equal rows, equal hashes)."""
    mixed = np.zeros(len(columns[0]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in columns:
            bits = as_numbers(column).to_numpy(dtype=np.float64).view(np.uint64)
            mixed = (mixed ^ bits) * np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing
            mixed ^= mixed >> np.uint64(31)
    return mixed


def _shown(value: object) -> str:
    """A value as a person would write it: whole floats without ``.0``.

    Unless too large to be exact: a 20-digit id read as a float shows as ``1e+20``, not as digits
    it never had.
    """
    if isinstance(value, float | np.floating) and float(value).is_integer():
        if abs(value) <= EXACT_FLOAT_LIMIT:
            return str(int(value))
        return repr(float(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, np.generic):
        return repr(value.item())
    return repr(value)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
