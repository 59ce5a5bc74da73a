"""Importers for the public MovieLens formats, so the levels can run on real ratings.

Both turn a MovieLens folder into the tables of :mod:`data.schema`:

- every rating is an interaction (``event="rating"``, the rating kept in ``rating``): the standard
  conversion of explicit ratings to implicit feedback for top-k evaluation;
- ``day`` counts whole days since the first rating, ``signup_day`` is a user's first rating day,
  ``release_day`` is the release date in days from the first rating (negative: released before);
- a user or item that is rated but absent from the user or item file still gets a row, with
  "unknown" features.

The source files are checked against their own column names first (``u.data, column 'item id'``),
because a value that is not a number cannot be converted; such a folder is refused with a
:class:`DataError` naming the MovieLens file, line and column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .csv_tables import CsvFormat, csv_format_for, read_csv_tables
from .dataset import Dataset
from .problems import DataError, Problem
from .schema import SECONDS_PER_DAY, Column, TableSchema
from .validation import describe_rows, typed_table, validate_table

MOVIELENS_100K_RATINGS = "u.data"
MOVIELENS_LATEST_RATINGS = "ratings.csv"

UNKNOWN = "unknown"
AGE_BANDS = ("<18", "18-24", "25-34", "35-44", "45-54", "55+")
AGE_BAND_STARTS = (18, 25, 35, 45, 55)

#: The 19 genre flags of ``u.item``, in file order; a film's category is its first flagged genre.
GENRES_100K = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
NO_GENRES = "(no genres listed)"
RELEASE_DATE_FORMAT = "%d-%b-%Y"  # 01-Jan-1995
#: "Heat (1995)", also "Fawlty Towers (1975\u20131979)" with an en dash; the first year counts.
YEAR_IN_TITLE = r"\((\d{4})(?:[-\u2013]\d{4})?\)$"


def _id(name: str) -> Column:
    return Column(name, "int", min_value=0)


def _rating(name: str) -> Column:
    return Column(name, "float", min_value=0.5, max_value=5.0)


def _text(name: str) -> Column:
    """A column the importer does not need (or parses itself), so any value is acceptable."""
    return Column(name, "str", nullable=True)


def _ratings(file_name: str, user_id: str, item_id: str) -> TableSchema:
    """Both formats rate with the same four columns, named differently.

    A rating given twice at the same second is one rating delivered twice: refused here, where
    the report can name the MovieLens file and its lines.
    """
    return TableSchema(
        name="ratings",
        file_name=file_name,
        key=(user_id, item_id, "timestamp"),
        columns=(_id(user_id), _id(item_id), _rating("rating"), _id("timestamp")),
    )


U_DATA = _ratings(MOVIELENS_100K_RATINGS, "user id", "item id")
U_USER = TableSchema(
    name="users",
    file_name="u.user",
    key=("user id",),
    columns=(
        _id("user id"),
        Column("age", "int", nullable=True, min_value=0),
        _text("gender"),
        _text("occupation"),
        _text("zip code"),
    ),
)
U_ITEM = TableSchema(
    name="items",
    file_name="u.item",
    key=("movie id",),
    columns=(
        _id("movie id"),
        _text("movie title"),
        _text("release date"),
        _text("video release date"),
        _text("IMDb URL"),
        *(Column(genre, "int", min_value=0, max_value=1) for genre in GENRES_100K),
    ),
)
RATINGS_CSV = _ratings(MOVIELENS_LATEST_RATINGS, "userId", "movieId")
MOVIES_CSV = TableSchema(
    name="items",
    file_name="movies.csv",
    key=("movieId",),
    columns=(_id("movieId"), _text("title"), _text("genres")),
)


SOURCES_100K = (
    (U_DATA, csv_format_for(U_DATA, "\t", headerless=True)),
    (U_USER, csv_format_for(U_USER, "|", headerless=True)),
    (U_ITEM, csv_format_for(U_ITEM, "|", headerless=True, encoding="latin-1")),
)
SOURCES_LATEST_SMALL = (
    (RATINGS_CSV, csv_format_for(RATINGS_CSV)),
    (MOVIES_CSV, csv_format_for(MOVIES_CSV)),
)


def read_movielens_100k(folder: str | Path) -> Dataset:
    """Convert an ml-100k folder (``u.data``, ``u.user``, ``u.item``) to a :class:`Dataset`."""
    folder = Path(folder)
    raw = read_csv_tables(folder, (csv_format for _, csv_format in SOURCES_100K))
    release_dates = pd.to_datetime(
        raw[U_ITEM.file_name]["release date"], format=RELEASE_DATE_FORMAT, errors="coerce", utc=True
    )
    _refuse_if_invalid(folder, raw, SOURCES_100K, _release_date_problems(raw, release_dates))
    ratings, users, items = (
        typed_table(raw[schema.file_name], schema) for schema, _ in SOURCES_100K
    )
    flags = items[list(GENRES_100K)].to_numpy() == 1
    first_genre = np.asarray(GENRES_100K, dtype=object)[flags.argmax(axis=1)]
    return _dataset(
        ratings=ratings.rename(columns={"user id": "user_id", "item id": "item_id"}),
        age_bands=pd.Series(_age_bands(users["age"]).to_numpy(), index=users["user id"]),
        categories=pd.Series(
            np.where(flags.any(axis=1), first_genre, UNKNOWN), index=items["movie id"]
        ),
        release_seconds=pd.Series(
            _epoch_seconds(release_dates).to_numpy(), index=items["movie id"]
        ),
        meta={"source": "movielens-100k", "path": str(folder)},
        folder=folder,
    )


def read_movielens_latest_small(folder: str | Path) -> Dataset:
    """Convert an ml-latest-small folder (``ratings.csv``, ``movies.csv``) to a :class:`Dataset`.

    There is no user file: users come from the ratings, with "unknown" features. A film's release
    is taken as 1 January of the year in its title, "Heat (1995)".
    """
    folder = Path(folder)
    raw = read_csv_tables(folder, (csv_format for _, csv_format in SOURCES_LATEST_SMALL))
    _refuse_if_invalid(folder, raw, SOURCES_LATEST_SMALL)
    ratings, movies = (
        typed_table(raw[schema.file_name], schema) for schema, _ in SOURCES_LATEST_SMALL
    )
    genres = movies["genres"].str.split("|").str[0]
    years = movies["title"].str.strip().str.extract(YEAR_IN_TITLE, expand=False)
    release_dates = pd.to_datetime(years + "-01-01", format="%Y-%m-%d", errors="coerce", utc=True)
    return _dataset(
        ratings=ratings.rename(columns={"userId": "user_id", "movieId": "item_id"}),
        age_bands=pd.Series(dtype=object),
        categories=pd.Series(
            genres.where(genres.notna() & (genres != NO_GENRES), UNKNOWN).to_numpy(),
            index=movies["movieId"],
        ),
        release_seconds=pd.Series(
            _epoch_seconds(release_dates).to_numpy(), index=movies["movieId"]
        ),
        meta={"source": "movielens-latest-small", "path": str(folder)},
        folder=folder,
    )


def _refuse_if_invalid(
    folder: Path,
    raw: dict[str, pd.DataFrame],
    sources: tuple[tuple[TableSchema, CsvFormat], ...],
    other_problems: list[Problem] | None = None,
) -> None:
    """Refuse the folder, naming MovieLens files and columns, if any file breaks its schema."""
    problems = [
        problem
        for schema, csv_format in sources
        for problem in validate_table(raw[schema.file_name], schema, csv_format.first_line)
    ]
    problems.extend(other_problems or [])
    if problems:
        raise DataError(problems, folder)


def _release_date_problems(raw: dict[str, pd.DataFrame], release_dates: pd.Series) -> list[Problem]:
    written = raw[U_ITEM.file_name]["release date"]
    not_dates = written.notna() & release_dates.isna()
    detail = " not in the form 01-Jan-1995"
    messages = describe_rows(not_dates, 1, "value", detail, written)
    return [Problem(U_ITEM.file_name, "release date", message) for message in messages]


def _dataset(
    *,
    ratings: pd.DataFrame,
    age_bands: pd.Series,
    categories: pd.Series,
    release_seconds: pd.Series,
    meta: dict[str, str],
    folder: Path,
) -> Dataset:
    """Build the three tables from ratings and per-user / per-item features indexed by id."""
    start = int(ratings["timestamp"].min())
    interactions = pd.DataFrame(
        {
            "timestamp": ratings["timestamp"],
            "day": (ratings["timestamp"] - start) // SECONDS_PER_DAY,
            "user_id": ratings["user_id"],
            "item_id": ratings["item_id"],
            "event": "rating",
            "rating": ratings["rating"],
        }
    )
    user_ids = _all_ids(age_bands.index, interactions["user_id"])
    users = pd.DataFrame(
        {
            "user_id": user_ids,
            "age_band": age_bands.reindex(user_ids).fillna(UNKNOWN).to_numpy(dtype=object),
            "country": UNKNOWN,
            "device": UNKNOWN,
            "signup_day": interactions.groupby("user_id")["day"]
            .min()
            .reindex(user_ids)
            .astype("float64")
            .to_numpy(),
        }
    )
    item_ids = _all_ids(categories.index, interactions["item_id"])
    release_days = np.floor((release_seconds.reindex(item_ids) - start) / SECONDS_PER_DAY)
    items = pd.DataFrame(
        {
            "item_id": item_ids,
            "category": categories.reindex(item_ids).fillna(UNKNOWN).to_numpy(dtype=object),
            "price": np.nan,
            "release_day": release_days.to_numpy(),
        }
    )
    return Dataset(users=users, items=items, interactions=interactions, meta=meta, path=folder)


def _all_ids(listed: pd.Index, rated: pd.Series) -> np.ndarray:
    """Sorted ids of the user or item file plus any that only appear in the ratings."""
    return np.union1d(listed.to_numpy(dtype="int64"), rated.unique()).astype("int64")


def _age_bands(ages: pd.Series) -> pd.Series:
    bands = pd.cut(ages, bins=[-np.inf, *AGE_BAND_STARTS, np.inf], right=False, labels=AGE_BANDS)
    return bands.astype(object).fillna(UNKNOWN)


def _epoch_seconds(dates: pd.Series) -> pd.Series:
    """Seconds since 1970 as float64, NaN where the date is unknown."""
    return (dates - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
