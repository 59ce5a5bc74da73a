"""MovieLens folders become the same tables as simulated data; broken ones are refused clearly.

The fixtures are small files in the real formats, written for the project. Expected values are
worked out by hand from the fixture lines quoted in each test.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from data.dataset import Dataset
from data.loading import DataError, load_dataset, read_dataset, validate_dataset

FIXTURES = Path(__file__).parent.parent / "fixtures"
ML_100K = FIXTURES / "ml-100k-mini"
ML_LATEST_SMALL = FIXTURES / "ml-latest-small-mini"

# The first rating of ml-100k-mini: 874724710 = 1997-09-20 03:05:10 UTC.
FIRST_100K = 874_724_710
# The first rating of ml-latest-small-mini: 1500000000 = 2017-07-14 02:40:00 UTC.
FIRST_LATEST = 1_500_000_000
JAN_1_1995 = 788_918_400


def row(frame_rows: Dataset, table: str, key: str, value: int) -> dict[str, object]:
    frame = getattr(frame_rows, table)
    (found,) = frame.index[frame[key] == value]
    return frame.loc[found].to_dict()


def test_ml_100k_loads_to_the_expected_tables() -> None:
    dataset = load_dataset(ML_100K)

    assert dataset.meta == {"source": "movielens-100k", "path": str(ML_100K)}
    assert (len(dataset.users), len(dataset.items), len(dataset.interactions)) == (30, 40, 291)
    assert set(dataset.interactions["event"]) == {"rating"}
    assert dataset.interactions["timestamp"].is_monotonic_increasing
    assert dataset.interactions["timestamp"].iloc[0] == FIRST_100K


def test_ml_100k_users_get_age_bands_and_signup_days() -> None:
    dataset = load_dataset(ML_100K)

    # u.user: "1|24|M|technician|85711", "24|7|M|student|E2A4H", "7|57|M|administrator|91344"
    assert row(dataset, "users", "user_id", 1)["age_band"] == "18-24"
    assert row(dataset, "users", "user_id", 24)["age_band"] == "<18"
    assert row(dataset, "users", "user_id", 7)["age_band"] == "55+"
    # User 17's first rating in u.data is at 876992659: (876992659 - 874724710) // 86400 = 26.
    user_17 = row(dataset, "users", "user_id", 17)
    assert user_17["signup_day"] == 26
    assert (user_17["country"], user_17["device"]) == ("unknown", "unknown")


def test_ml_100k_items_get_first_genre_and_release_day() -> None:
    dataset = load_dataset(ML_100K)

    # "1|Toy Story (1995)|01-Jan-1995||...": flags Animation, Children's, Comedy.
    toy_story = row(dataset, "items", "item_id", 1)
    assert toy_story["category"] == "Animation"
    # (788918400 - 874724710) / 86400 = -993.1, so day -994 (whole days, rounded down).
    assert toy_story["release_day"] == -994
    assert np.isnan(toy_story["price"])
    # "32|Crumb (1994)|01-Jan-1994||...": Documentary only.
    assert row(dataset, "items", "item_id", 32)["category"] == "Documentary"
    # "40|unknown||||1|0|...": no release date, the "unknown" genre.
    unknown = row(dataset, "items", "item_id", 40)
    assert unknown["category"] == "unknown"
    assert np.isnan(unknown["release_day"])


def test_ml_100k_interaction_days_count_from_the_first_rating() -> None:
    dataset = load_dataset(ML_100K)

    # u.data line 1: "17\t28\t4\t879911787": (879911787 - 874724710) // 86400 = 60.
    interactions = dataset.interactions
    (rating,) = interactions.index[
        (interactions["user_id"] == 17) & (interactions["item_id"] == 28)
    ]
    assert interactions.loc[rating, "day"] == 60
    assert interactions.loc[rating, "rating"] == 4.0


def test_ml_latest_small_loads_to_the_expected_tables() -> None:
    dataset = load_dataset(ML_LATEST_SMALL)

    assert dataset.meta == {"source": "movielens-latest-small", "path": str(ML_LATEST_SMALL)}
    # 39 films in movies.csv plus movie 999999, which is rated but not listed.
    assert (len(dataset.users), len(dataset.items), len(dataset.interactions)) == (30, 40, 299)
    # ratings.csv is sorted by user; the loaded interactions are in time order.
    assert dataset.interactions["timestamp"].is_monotonic_increasing
    assert set(dataset.users["age_band"]) == {"unknown"}
    assert set(dataset.interactions["rating"]) <= {x / 2 for x in range(1, 11)}


def test_ml_latest_small_items_parse_genres_and_title_years() -> None:
    dataset = load_dataset(ML_LATEST_SMALL)

    # 11,"American President, The (1995)",Comedy|Drama|Romance: a quoted title with a comma.
    president = row(dataset, "items", "item_id", 11)
    assert president["category"] == "Comedy"
    # (788918400 - 1500000000) / 86400 = -8230.1, so day -8231.
    assert president["release_day"] == (JAN_1_1995 - FIRST_LATEST) // 86400 == -8231
    # 171749,Death Note: Desu nôto (2006-2007, en dash),(no genres listed): year 2006 counts.
    death_note = row(dataset, "items", "item_id", 171749)
    assert death_note["category"] == "unknown"
    assert death_note["release_day"] == (1_136_073_600 - FIRST_LATEST) // 86400
    # 171495,Cosmos,(no genres listed): no year in the title.
    assert np.isnan(row(dataset, "items", "item_id", 171495)["release_day"])
    # 999999 is only in ratings.csv.
    unlisted = row(dataset, "items", "item_id", 999999)
    assert unlisted["category"] == "unknown"
    assert np.isnan(unlisted["release_day"])


def test_ml_latest_small_users_come_from_the_ratings() -> None:
    dataset = load_dataset(ML_LATEST_SMALL)

    # ratings.csv: user 1's earliest rating is "1,1,4.0,1500000000", the very first one.
    assert row(dataset, "users", "user_id", 1)["signup_day"] == 0
    assert sorted(dataset.users["user_id"]) == list(range(1, 31))


@pytest.mark.parametrize("folder", [ML_100K, ML_LATEST_SMALL], ids=["100k", "latest-small"])
def test_movielens_fixtures_pass_validation(folder: Path) -> None:
    assert validate_dataset(read_dataset(folder)) == []


def corrupted(tmp_path: Path, source: Path, file_name: str, edit: Callable[[str], str]) -> Path:
    folder = tmp_path / source.name
    shutil.copytree(source, folder)
    path = folder / file_name
    path.write_bytes(edit(path.read_bytes().decode("latin-1")).encode("latin-1"))
    return folder


def replace_line(number: int, text: str) -> Callable[[str], str]:
    def edit(content: str) -> str:
        lines = content.splitlines(keepends=True)
        lines[number - 1] = text + "\n"
        return "".join(lines)

    return edit


@pytest.mark.parametrize(
    ("source", "file_name", "edit", "expected"),
    [
        (
            ML_100K,
            "u.data",
            replace_line(3, "14\tx28\t4\t877552134"),
            "u.data, column 'item id': 1 non-numeric value (first at line 3: 'x28')",
        ),
        (
            ML_100K,
            "u.data",
            replace_line(5, "3\t7\t6\t877552134"),
            "u.data, column 'rating': 1 value above the maximum 5 (first at line 5: 6)",
        ),
        (
            ML_100K,
            "u.user",
            replace_line(2, "1|53|F|other|94043"),
            "u.user, column 'user id': 1 duplicate key value (first at line 2: 1, "
            "already at line 1)",
        ),
        (
            ML_100K,
            "u.item",
            lambda text: text.replace("|01-Jan-1994|", "|1994-01-01|", 1),
            "u.item, column 'release date': 1 value not in the form 01-Jan-1995 "
            "(first at line 14: '1994-01-01')",
        ),
        (
            ML_LATEST_SMALL,
            "ratings.csv",
            lambda text: text.replace("userId,movieId", "userId,movie_id", 1),
            "ratings.csv, column 'movieId': missing; found 'movie_id' — was it renamed?",
        ),
        (
            ML_LATEST_SMALL,
            "ratings.csv",
            replace_line(4, "1,16,,1500010000"),
            "ratings.csv, column 'rating': 1 null value (first at line 4)",
        ),
        (
            ML_100K,
            "u.data",
            replace_line(4, "17\t28\t4\t879911787"),
            "u.data: 1 duplicate row: the same user id, item id and timestamp as an earlier row "
            "(first at line 4, a repeat of line 1)",
        ),
        (
            ML_LATEST_SMALL,
            "movies.csv",
            replace_line(3, "two,Jumanji (1995),Adventure|Children|Fantasy"),
            "movies.csv, column 'movieId': 1 non-numeric value (first at line 3: 'two')",
        ),
    ],
    ids=[
        "non-numeric-item",
        "rating-too-high",
        "duplicate-user",
        "bad-release-date",
        "renamed-column",
        "missing-rating",
        "duplicate-rating",
        "non-numeric-movie",
    ],
)
def test_corrupted_movielens_file_is_refused_naming_the_movielens_file(
    tmp_path: Path, source: Path, file_name: str, edit: Callable[[str], str], expected: str
) -> None:
    folder = corrupted(tmp_path, source, file_name, edit)

    with pytest.raises(DataError) as caught:
        load_dataset(folder)

    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("source", "file_name"),
    [(ML_100K, "u.user"), (ML_100K, "u.item"), (ML_LATEST_SMALL, "movies.csv")],
)
def test_missing_movielens_file_is_named(tmp_path: Path, source: Path, file_name: str) -> None:
    folder = tmp_path / source.name
    shutil.copytree(source, folder)
    (folder / file_name).unlink()

    with pytest.raises(DataError, match=rf"{file_name}: file is missing"):
        read_dataset(folder)


def test_u_data_with_a_missing_field_is_refused(tmp_path: Path) -> None:
    folder = corrupted(tmp_path, ML_100K, "u.data", replace_line(2, "27\t37\t1"))

    with pytest.raises(DataError) as caught:
        read_dataset(folder)

    assert (
        "u.data: not a valid tab-separated file: 1 line does not have 4 fields "
        "(first at line 2, with 3: '27\\t37\\t1')"
    ) in str(caught.value)
