"""The ladder's claims: every one backed by the code as it is, fewer manual steps per level."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from compare.ladder import DUTIES, LEVELS, Absent, EvidenceError, Line, code_size, describe, resolve


@pytest.mark.parametrize("level", LEVELS, ids=lambda level: level.name)
def test_every_claim_points_at_its_evidence_in_the_code(level):
    described = describe(level)
    for claim in [*described["automated"], *described["manual_steps"]]:
        assert claim["evidence"].startswith(level.name), claim
        assert claim["duty"] in DUTIES


def test_each_step_up_automates_a_duty_the_level_below_left_to_a_person():
    automated = [{claim.duty for claim in level.automated} for level in LEVELS]
    for lower, upper in itertools.pairwise(automated):
        assert lower < upper
    assert [len(level.manual) for level in LEVELS] == [5, 3, 2, 1, 1]


def test_a_line_of_evidence_shows_the_file_the_line_number_and_the_line(tmp_path: Path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "train.py").write_text('"""Train."""\n\nprint("hand it over")\n')
    found = resolve("demo", Line("train.py", r"hand it over"), tmp_path)
    assert found == 'demo/train.py:3: print("hand it over")'


def test_evidence_that_is_gone_is_an_error_not_a_stale_claim(tmp_path: Path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "train.py").write_text("import evidently\n")
    with pytest.raises(EvidenceError, match=r"demo/train.py: no line matches"):
        resolve("demo", Line("train.py", r"by hand"), tmp_path)
    with pytest.raises(EvidenceError, match=r"demo/train.py matches .* no module imports"):
        resolve("demo", Absent(r"^import evidently", "no module imports Evidently"), tmp_path)


def test_code_size_counts_python_files_and_their_non_blank_lines(tmp_path: Path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "a.py").write_text("x = 1\n\n\ny = 2\n")
    (tmp_path / "demo" / "b.py").write_text("z = 3\n")
    (tmp_path / "demo" / "README.md").write_text("not code\n")
    assert code_size("demo", tmp_path) == {"files": 2, "lines": 3}


def test_the_ladder_names_every_level_folder_and_its_make_target():
    root = Path(__file__).resolve().parents[2]
    folders = sorted(path.parent.name for path in root.glob("level*/level.mk"))
    assert [level.name for level in LEVELS] == folders
    for level in LEVELS:
        assert f"{level.target}:" in (root / level.name / "level.mk").read_text()
