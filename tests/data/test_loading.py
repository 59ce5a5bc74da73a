"""Reading and validating native dataset folders: typed frames, or a refusal naming the fault."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.dataset import Dataset, write_dataset
from data.loading import DataError, Problem, load_dataset, read_dataset, validate_dataset
from data.validation import repeated_rows


def tiny_dataset() -> Dataset:
    """Three users, three items, five interactions written out of time order (with a tie)."""
    users = pd.DataFrame(
        {
            "user_id": [0, 1, 2],
            "age_band": ["18-24", "25-34", "55+"],
            "country": ["DE", "NA", "FR"],  # "NA" is Namibia, not a missing value
            "device": ["ios", "web", "android"],
            "signup_day": [0, 1, np.nan],
        }
    )
    items = pd.DataFrame(
        {
            "item_id": [10, 11, 12],
            "category": ["books", "games", "music"],
            "price": [9.5, 20.0, np.nan],
            "release_day": [-3, 0, np.nan],
        }
    )
    interactions = pd.DataFrame(
        {
            "timestamp": [300, 100, 200, 100, 90_000],
            "day": [0, 0, 0, 0, 1],
            "user_id": [0, 1, 2, 0, 1],
            "item_id": [10, 11, 12, 12, 10],
            "event": ["view", "click", "purchase", "view", "click"],
            "device": ["ios", "web", "android", "ios", "web"],
            "price": [9.5, 20.0, 5.0, 5.0, 9.5],
        }
    )
    return Dataset(users=users, items=items, interactions=interactions, meta={"seed": 7})


def write_tiny(folder: Path, change: Callable[[Dataset], None] | None = None) -> Path:
    dataset = tiny_dataset()
    if change is not None:
        change(dataset)
    return write_dataset(dataset, folder)


def refusal(folder: Path) -> str:
    with pytest.raises(DataError) as caught:
        load_dataset(folder)
    return str(caught.value)


def test_valid_folder_loads_typed_frames_in_time_order(tmp_path: Path) -> None:
    dataset = load_dataset(write_tiny(tmp_path / "ds"))

    assert dataset.users.dtypes.to_dict() == {
        "user_id": np.dtype("int64"),
        "age_band": np.dtype(object),
        "country": np.dtype(object),
        "device": np.dtype(object),
        "signup_day": np.dtype("float64"),
    }
    assert dataset.items["item_id"].dtype == np.dtype("int64")
    assert dataset.items["price"].dtype == np.dtype("float64")
    interactions = dataset.interactions
    for column in ("timestamp", "day", "user_id", "item_id"):
        assert interactions[column].dtype == np.dtype("int64"), column
    assert interactions["price"].dtype == np.dtype("float64")
    assert interactions["event"].dtype == np.dtype(object)
    # Sorted by time; the two events at t=100 keep their file order (stable sort).
    assert interactions["timestamp"].tolist() == [100, 100, 200, 300, 90_000]
    assert interactions[["user_id", "item_id"]].head(2).to_numpy().tolist() == [[1, 11], [0, 12]]
    assert list(interactions.index) == [0, 1, 2, 3, 4]
    assert dataset.users["country"].tolist() == ["DE", "NA", "FR"]
    assert np.isnan(dataset.users["signup_day"].iloc[2])
    assert dataset.meta == {"seed": 7}
    assert dataset.path == tmp_path / "ds"


def test_folder_without_world_json_gets_native_meta(tmp_path: Path) -> None:
    folder = write_tiny(tmp_path / "ds")
    (folder / "world.json").unlink()

    assert load_dataset(folder).meta == {"source": "native", "path": str(folder)}


def test_unreadable_world_json_is_refused(tmp_path: Path) -> None:
    folder = write_tiny(tmp_path / "ds")
    (folder / "world.json").write_text("{not json")

    assert "world.json: not valid JSON" in refusal(folder)


def drop_file(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


def write_text(name: str, text: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_text(text)


def header_only(name: str) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        path = folder / name
        path.write_text(path.read_text().splitlines()[0] + "\n")

    return change


@pytest.mark.parametrize(
    ("change_files", "expected"),
    [
        (drop_file("users.csv"), "users.csv: file is missing"),
        (write_text("items.csv", ""), "items.csv: file is empty (0 bytes)"),
        (write_text("items.csv", "\n"), "items.csv: file is empty (no header line)"),
        (header_only("interactions.csv"), "interactions.csv: no rows (the file has only a header)"),
        (
            write_text("users.csv", "user_id,age_band,country,device,signup_day\n1,a,b,c,0,9\n"),
            "users.csv: not a valid comma-separated file: 1 line does not have 5 fields "
            "(first at line 2, with 6: '1,a,b,c,0,9')",
        ),
        (
            write_text("users.csv", "user_id,age_band,user_id,device,signup_day\n1,a,b,c,0\n"),
            "users.csv, column 'user_id': appears more than once in the header",
        ),
    ],
    ids=["missing", "empty", "blank", "header-only", "unparseable", "repeated-column"],
)
def test_unreadable_file_is_refused_naming_the_file(
    tmp_path: Path, change_files: Callable[[Path], None], expected: str
) -> None:
    folder = write_tiny(tmp_path / "ds")
    change_files(folder)

    assert expected in refusal(folder)


def folder_instead_of(name: str) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()

    return change


def bad_byte_on_line(name: str, line: int) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        path = folder / name
        lines = path.read_bytes().splitlines(keepends=True)
        lines[line - 1] = b"\xff" + lines[line - 1]
        path.write_bytes(b"".join(lines))

    return change


@pytest.mark.parametrize(
    ("change_files", "expected"),
    [
        (folder_instead_of("users.csv"), "users.csv: a folder, not a file"),
        (folder_instead_of("world.json"), "world.json: a folder, not a file"),
        (
            bad_byte_on_line("items.csv", 3),
            "items.csv: not valid utf-8 text (first invalid byte at line 3)",
        ),
        (
            bad_byte_on_line("world.json", 2),
            "world.json: not valid utf-8 text (first invalid byte at line 2)",
        ),
    ],
    ids=["folder-as-table", "folder-as-metadata", "not-utf8-table", "not-utf8-metadata"],
)
def test_unreadable_content_is_refused_in_one_line_without_a_traceback(
    tmp_path: Path,
    change_files: Callable[[Path], None],
    expected: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    folder = write_tiny(tmp_path / "ds")
    change_files(folder)

    with pytest.raises(DataError) as caught:
        read_dataset(folder)

    assert [str(problem) for problem in caught.value.problems] == [expected]
    assert capfd.readouterr().err == ""  # pyarrow printed "Exception ignored" tracebacks


def set_cell(table: str, column: str, row: int, value: object) -> Callable[[Dataset], None]:
    def change(dataset: Dataset) -> None:
        frame = getattr(dataset, table)
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value

    return change


def rename(table: str, old: str, new: str) -> Callable[[Dataset], None]:
    return lambda dataset: getattr(dataset, table).rename(columns={old: new}, inplace=True)


def drop(table: str, column: str) -> Callable[[Dataset], None]:
    return lambda dataset: getattr(dataset, table).drop(columns=column, inplace=True)


def duplicate_first_user(dataset: Dataset) -> None:
    dataset.users = pd.concat([dataset.users, dataset.users.head(1)], ignore_index=True)


def append_copy_of_row(row: int) -> Callable[[Dataset], None]:
    def change(dataset: Dataset) -> None:
        copy = dataset.interactions.iloc[[row]]
        dataset.interactions = pd.concat([dataset.interactions, copy], ignore_index=True)

    return change


def add(table: str, column: str) -> Callable[[Dataset], None]:
    return lambda dataset: getattr(dataset, table).insert(0, column, 1)


# Line numbers are lines of the file: the header is line 1, so row 2 is on line 4.
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (drop("users", "country"), "users.csv, column 'country': missing (columns found: "),
        (
            rename("interactions", "event", "event_type"),
            "interactions.csv, column 'event': missing; found 'event_type' — was it renamed?",
        ),
        (
            rename("items", "item_id", "itemId"),
            "items.csv, column 'item_id': missing; found 'itemId' — was it renamed?",
        ),
        (
            add("interactions", "session"),
            "interactions.csv, column 'session': unexpected column (expected: timestamp,",
        ),
        (
            set_cell("interactions", "user_id", 2, "u7"),
            "interactions.csv, column 'user_id': 1 non-numeric value (first at line 4: 'u7')",
        ),
        (
            set_cell("interactions", "day", 1, 0.5),
            "interactions.csv, column 'day': 1 non-integer value (first at line 3: 0.5)",
        ),
        (
            set_cell("items", "price", 1, -2.5),
            "items.csv, column 'price': 1 value below the minimum 0 (first at line 3: -2.5)",
        ),
        (
            set_cell("interactions", "timestamp", 4, -1),
            "interactions.csv, column 'timestamp': 1 value below the minimum 0 (first at line 6",
        ),
        (
            set_cell("interactions", "day", 3, np.nan),
            "interactions.csv, column 'day': 1 null value (first at line 5)",
        ),
        (
            set_cell("users", "age_band", 0, None),
            "users.csv, column 'age_band': 1 null value (first at line 2)",
        ),
        (
            set_cell("interactions", "event", 1, "buy"),
            "interactions.csv, column 'event': 1 value not one of click, purchase, rating, view "
            "(first at line 3: 'buy')",
        ),
        (
            duplicate_first_user,
            "users.csv, column 'user_id': 1 duplicate key value (first at line 5: 0, "
            "already at line 2)",
        ),
        (
            set_cell("interactions", "item_id", 3, 99),
            "interactions.csv, column 'item_id': 1 value absent from items.csv "
            "(first at line 5: 99)",
        ),
        (
            set_cell("interactions", "user_id", 0, 42),
            "interactions.csv, column 'user_id': 1 value absent from users.csv "
            "(first at line 2: 42)",
        ),
        (
            append_copy_of_row(1),
            "interactions.csv: 1 duplicate row: the same timestamp, user_id, item_id and event "
            "as an earlier row (first at line 7, a repeat of line 3)",
        ),
        (
            set_cell("interactions", "timestamp", 4, 99_999_999_999),
            "interactions.csv, column 'timestamp': 1 value above the maximum 4102444800 "
            "(first at line 6: 99999999999)",
        ),
        (
            set_cell("interactions", "day", 2, 40),
            "interactions.csv, column 'day': 1 value that disagrees with column 'timestamp' "
            "(first at line 4: day 40 at timestamp 200",
        ),
        (
            set_cell("interactions", "user_id", 2, "99999999999999999999"),
            "interactions.csv, column 'user_id': 1 value outside the 64-bit integer range "
            "(first at line 4: 1e+20)",
        ),
    ],
    ids=[
        "missing-column",
        "renamed-column",
        "renamed-camel-case",
        "extra-column",
        "non-numeric-id",
        "non-integer-day",
        "negative-price",
        "negative-timestamp",
        "null-day",
        "null-text",
        "event-not-allowed",
        "duplicate-user",
        "unknown-item",
        "unknown-user",
        "duplicate-interaction",
        "timestamp-far-in-the-future",
        "day-disagrees-with-timestamp",
        "id-beyond-64-bits",
    ],
)
def test_bad_content_is_refused_naming_file_and_column(
    tmp_path: Path, change: Callable[[Dataset], None], expected: str
) -> None:
    message = refusal(write_tiny(tmp_path / "ds", change))

    assert expected in message
    assert message.startswith(f"dataset {tmp_path / 'ds'} has 1 problem:")


def test_only_rows_that_repeat_every_key_column_are_duplicates() -> None:
    keys = pd.DataFrame(
        {
            "timestamp": [1.0, 1.0, 1.0, 1.0, 2.0, np.nan, np.nan],
            "user_id": [5, 5, 5, 6, 5, 5, 5],
            "event": ["view", "click", "view", "view", "view", "view", "view"],
        }
    )

    assert repeated_rows(keys).tolist() == [False, False, True, False, False, False, False]


def test_line_numbers_point_at_the_offending_line_of_the_file(tmp_path: Path) -> None:
    folder = write_tiny(tmp_path / "ds", set_cell("interactions", "user_id", 3, "oops"))

    (problem,) = validate_dataset(read_dataset(folder))

    line = int(problem.message.split("first at line ")[1].split(":")[0])
    assert "oops" in (folder / "interactions.csv").read_text().splitlines()[line - 1]


def test_counts_every_offending_row(tmp_path: Path) -> None:
    def many_bad_events(dataset: Dataset) -> None:
        dataset.interactions["event"] = ["view", "like", "click", "like", "share"]

    (problem,) = validate_dataset(read_dataset(write_tiny(tmp_path / "ds", many_bad_events)))

    assert str(problem) == (
        "interactions.csv, column 'event': 3 values not one of click, purchase, rating, view "
        "(first at line 3: 'like')"
    )


def test_validate_dataset_reports_every_problem_at_once(tmp_path: Path) -> None:
    def break_everything(dataset: Dataset) -> None:
        duplicate_first_user(dataset)
        dataset.items.loc[0, "price"] = -1.0
        dataset.interactions.rename(columns={"event": "kind"}, inplace=True)
        dataset.interactions.loc[4, "item_id"] = 77

    problems = validate_dataset(read_dataset(write_tiny(tmp_path / "ds", break_everything)))

    assert {(problem.file, problem.column) for problem in problems} == {
        ("users.csv", "user_id"),
        ("items.csv", "price"),
        ("interactions.csv", "event"),  # missing: 'kind' is no likely rename of it
        ("interactions.csv", "kind"),  # unexpected
        ("interactions.csv", "item_id"),
    }
    with pytest.raises(DataError) as caught:
        load_dataset(tmp_path / "ds")
    assert caught.value.problems == problems
    assert "has 5 problems" in str(caught.value)


def test_read_dataset_keeps_bad_content_for_a_later_validation_step(tmp_path: Path) -> None:
    folder = write_tiny(tmp_path / "ds", set_cell("interactions", "user_id", 2, "u7"))
    (folder / "users.csv").write_text("user_id,age_band,country,device,signup_day\n")

    dataset = read_dataset(folder)

    assert dataset.interactions["user_id"].tolist() == ["0", "1", "u7", "0", "1"]
    assert len(dataset.users) == 0
    assert validate_dataset(dataset)


def test_valid_dataset_has_no_problems(tmp_path: Path) -> None:
    assert validate_dataset(read_dataset(write_tiny(tmp_path / "ds"))) == []
    assert validate_dataset(tiny_dataset()) == []


def test_missing_folder_is_refused_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere: no such folder"):
        read_dataset(tmp_path / "nowhere")


def test_folder_of_unknown_format_says_which_files_were_expected(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")

    with pytest.raises(DataError) as caught:
        read_dataset(tmp_path)

    message = str(caught.value)
    for expected in ("interactions.csv", "u.data", "ratings.csv", "found notes.txt"):
        assert expected in message


def test_every_unreadable_file_is_reported_together(tmp_path: Path) -> None:
    folder = write_tiny(tmp_path / "ds")
    (folder / "users.csv").unlink()
    (folder / "items.csv").write_text("")

    with pytest.raises(DataError) as caught:
        read_dataset(folder)

    assert [(problem.file, problem.column) for problem in caught.value.problems] == [
        ("users.csv", None),
        ("items.csv", None),
    ]


def test_problem_reads_as_file_column_and_message() -> None:
    assert str(Problem("interactions.csv", "user_id", "12 null values (first at line 57)")) == (
        "interactions.csv, column 'user_id': 12 null values (first at line 57)"
    )
    assert str(Problem("users.csv", None, "file is missing")) == "users.csv: file is missing"


def test_simulator_style_metadata_round_trips(tmp_path: Path) -> None:
    folder = write_tiny(tmp_path / "ds")
    meta = {"source": "simulator", "seed": 3, "scenario": {"name": "stable", "day": 0}}
    (folder / "world.json").write_text(json.dumps(meta))

    assert load_dataset(folder).meta == meta
