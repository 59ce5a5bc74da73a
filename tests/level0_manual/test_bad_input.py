"""Level 0 refuses bad arguments and data in one line, exits non-zero and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from data import Dataset, World, WorldConfig, write_dataset
from level0_manual import recommend, train


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("world") / "stable-tiny"
    return write_dataset(World(WorldConfig(seed=7, size="tiny")).history(), folder)


@pytest.fixture(scope="module")
def model_file(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("level0")
    assert train.main(["--data", str(tiny_world), "--out", str(out)]) == 0
    return out / "model.joblib"


def refused_arguments(main, argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """What argparse said when it refused ``argv``; it must exit 2 without a traceback."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# --- train.py arguments: checked before the data is read --------------------------------------


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("--k", "0"),
        ("--k", "-1"),
        ("--k", "101"),
        ("--l2", "0"),
        ("--l2", "-5"),
        ("--l2", "nan"),
        ("--l2", "inf"),
        ("--test-fraction", "0"),
        ("--test-fraction", "1.5"),
        ("--test-fraction", "-0.1"),
        ("--test-fraction", "nan"),
    ],
)
def test_a_bad_training_argument_is_refused_before_the_data_is_read(
    argument: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    # The data folder does not exist: only a check made before reading it names the argument.
    argv = ["--data", str(tmp_path / "nowhere"), "--out", str(out), argument, value]

    err = refused_arguments(train.main, argv, capsys)

    assert f"argument {argument}: " in err
    assert not out.exists()


def test_an_out_that_is_a_file_is_refused_before_the_data_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model.joblib"
    out.write_text("a file someone keeps")

    err = refused_arguments(
        train.main, ["--data", str(tmp_path / "nowhere"), "--out", str(out)], capsys
    )

    assert f"argument --out: {out} is a file, not a folder" in err
    assert out.read_text() == "a file someone keeps"


def test_an_out_that_cannot_be_created_is_refused_before_the_data_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("")
    out = tmp_path / "notes.txt" / "level0"

    err = refused_arguments(
        train.main, ["--data", str(tmp_path / "nowhere"), "--out", str(out)], capsys
    )

    assert f"argument --out: cannot create {out}: {tmp_path / 'notes.txt'} is a file" in err


# --- train.py on data it cannot train on -----------------------------------------------------


def cold_start_only(folder: Path) -> Path:
    """Users 0 and 1 before the cut-off, users 2 and 3 after: no test user has a history."""
    users = pd.DataFrame(
        {
            "user_id": [0, 1, 2, 3],
            "age_band": ["18-24"] * 4,
            "country": ["DE"] * 4,
            "device": ["web"] * 4,
            "signup_day": [0, 0, 0, 0],
        }
    )
    items = pd.DataFrame(
        {"item_id": [10, 11, 12], "category": ["books"] * 3, "price": [1.0] * 3, "release_day": 0}
    )
    interactions = pd.DataFrame(
        {
            "timestamp": [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000],
            "day": 0,
            "user_id": [0, 0, 1, 1, 0, 1, 0, 1, 2, 3],
            "item_id": [10, 11, 10, 12, 12, 11, 10, 10, 11, 12],
            "event": "view",
        }
    )
    return write_dataset(Dataset(users=users, items=items, interactions=interactions), folder)


def test_data_that_cannot_be_evaluated_is_refused_in_one_line_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = cold_start_only(tmp_path / "cold")
    out = tmp_path / "out"

    assert train.main(["--data", str(folder), "--out", str(out)]) == 2

    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        f"error: {folder} cannot be trained on: no user has relevant test items: "
        "nothing to evaluate"
    )
    assert "Traceback" not in err
    assert not out.exists()


def only_user(world: Path, user_id: int, folder: Path) -> Path:
    """A copy of ``world`` with the interactions of one user only."""
    folder.mkdir()
    for path in world.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    interactions = pd.read_csv(world / "interactions.csv", keep_default_na=False)
    interactions[interactions["user_id"] == user_id].to_csv(
        folder / "interactions.csv", index=False
    )
    return folder


def test_a_one_user_dataset_whose_oracle_scores_zero_trains_without_a_traceback(
    tiny_world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = only_user(tiny_world, 678, tmp_path / "one-user")
    out = tmp_path / "out"

    assert train.main(["--data", str(folder), "--out", str(out)]) == 0

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["oracle"]["ndcg_at_10"] == 0.0  # the case that divided by zero
    printed = capsys.readouterr().out
    assert "the oracle's NDCG@10 is 0 here" in printed


def test_a_failed_save_leaves_no_file_behind(
    tiny_world: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "new" / "out"

    def disk_full(_self: Path, *_args: object, **_kwargs: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)  # metrics.json is written after the model

    assert train.main(["--data", str(tiny_world), "--out", str(out)]) == 1

    err = capsys.readouterr().err
    assert err.splitlines()[-1] == f"error: cannot write to {out}: No space left on device"
    assert not (tmp_path / "new").exists()


# --- recommend.py ------------------------------------------------------------------------------


def test_recommend_refuses_a_list_length_below_one(
    model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--model", str(model_file), "--user", "1", "--k", "0"]

    assert "argument --k: " in refused_arguments(recommend.main, argv, capsys)


def test_recommend_refuses_a_user_id_beyond_64_bits_instead_of_calling_it_unknown(
    model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--model", str(model_file), "--user", "99999999999999999999"]

    err = refused_arguments(recommend.main, argv, capsys)

    assert "argument --user: 99999999999999999999 is outside the 64-bit id range" in err


@pytest.mark.parametrize("content", [b"not a model", b'{"model": {}}'])
def test_recommend_refuses_a_file_that_is_not_a_model_in_one_line(
    content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "model.joblib"
    path.write_bytes(content)

    assert recommend.main(["--model", str(path), "--user", "1"]) == 2

    err = capsys.readouterr().err
    assert err.startswith(f"error: {path} is not a model file train.py wrote (")
    assert len(err.splitlines()) == 1
