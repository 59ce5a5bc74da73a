"""Evidence read from code: each level folder lands on its own level; the rules behave as stated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assessment.evidence import read_evidence

FOLDERS = [
    "level0_manual",
    "level1_pipeline",
    "level2_cicd",
    "level3_monitoring",
    "level4_autonomous",
]


@pytest.mark.parametrize("level", range(5), ids=FOLDERS)
def test_each_level_folder_assessed_from_its_code_lands_on_its_own_level(level, assess, tmp_path):
    run = assess(
        "--repo", FOLDERS[level], "--no-input", "--format", "json", "--compare", str(tmp_path)
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["overall"]["level"] == level
    assert report["overall"]["folder"] == FOLDERS[level]
    # Not by luck of the minimum: every dimension the code answers is at the folder's level.
    scored = [d for d in report["dimensions"] if d["score"] is not None]
    assert [d["level"] for d in scored] == [level] * len(scored)
    assert len(scored) == 4
    for answer in report["answers"]:
        assert answer["source"] == "evidence"
        assert answer["evidence"], answer["id"]
        assert answer["evidence"][0].startswith(f"{FOLDERS[level]}/"), answer["evidence"]
    if level < 4:
        assert report["next"]["copy"] == (
            f"make template LEVEL={FOLDERS[level + 1]} DEST=../my-project"
        )
        assert report["next"]["diff"] == f"make diff FROM={FOLDERS[level]} TO={FOLDERS[level + 1]}"
    else:
        assert report["next"]["at_top"] is True


def write(repo: Path, name: str, text: str) -> None:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_the_highest_option_with_evidence_wins_and_names_its_file_and_line(questionnaire, tmp_path):
    write(tmp_path, "train.py", "import mlflow\n\nwith mlflow.start_run():\n    pass\n")
    write(tmp_path, "release.py", "import mlflow\n\nmlflow.register_model(uri, 'recommender')\n")
    found = read_evidence(tmp_path, questionnaire)
    tracking = found["run_tracking"]
    assert (tracking.option.key, tracking.option.level) == ("registry", 2)
    assert [str(line) for line in tracking.evidence] == [
        f"{tmp_path}/release.py:3: mlflow.register_model(uri, 'recommender')"
    ]
    assert found["audit"].option.key == "runs"  # start_run alone: the tracker, no registry tags


def test_comments_and_docstrings_are_not_evidence(questionnaire, tmp_path):
    write(
        tmp_path,
        "notes.py",
        '"""One day we will quarantine(feeds) and roll_back(models)."""\n'
        "# from evidently import Report\n"
        "def train():\n"
        '    """mlflow.start_run() would go here."""\n',
    )
    write(tmp_path, "config.toml", "# [policy]\n")
    assert read_evidence(tmp_path, questionnaire) == {}


def test_a_ci_workflow_in_a_hidden_folder_is_read_and_environments_are_not(questionnaire, tmp_path):
    write(
        tmp_path,
        ".github/workflows/ci.yml",
        "on:\n  pull_request:\n    branches: [main]\njobs:\n  ci:\n    steps:\n"
        "      - run: uv sync --frozen\n      - run: python -m app.train\n",
    )
    write(tmp_path, ".venv/lib/site.py", "import evidently\n")
    write(tmp_path, "node_modules/x/y.py", "from evidently import Report\n")
    found = read_evidence(tmp_path, questionnaire)
    assert found["reproducibility"].option.key == "locked"
    assert found["data_checks"].option.key == "ci"
    assert found["retraining_trigger"].option.key == "every_change"
    assert "production_watch" not in found


def test_makefile_and_toml_rules_read_their_own_kinds(questionnaire, tmp_path):
    write(tmp_path, "Makefile", "train:\n\tpython -m shop.train --data x\n")
    write(tmp_path, "config.toml", "[monitoring]\ndrift_share = 0.25\n")
    write(tmp_path, "notes.txt", "[policy]\n")  # not a kind any rule reads
    found = read_evidence(tmp_path, questionnaire)
    assert found["retraining_trigger"].option.key == "by_hand"
    assert found["thresholds"].option.key == "monitoring"


def test_no_input_scores_only_what_the_code_answers_and_lists_the_rest(assess, tmp_path):
    write(tmp_path / "repo", "train.py", "import joblib\n\njoblib.dump(model, 'model.joblib')\n")
    run = assess("--repo", str(tmp_path / "repo"), "--no-input", "--compare", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert "scored only the 2 answered questions of 16" in run.stdout
    assert "Unanswered (not scored)" in run.stdout
    assert "  roles (team): Who works together on the model?" in run.stdout
    assert f"{tmp_path}/repo/train.py:3: joblib.dump(model, 'model.joblib')" in run.stdout


def test_repo_with_stdin_not_a_terminal_asks_nothing(assess, tmp_path):
    run = assess("--repo", "level1_pipeline", "--format", "json", "--compare", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["overall"]["level"] == 1
    assert "answer [" not in run.stdout + run.stderr


def test_a_repo_that_is_not_a_folder_is_refused(assess, tmp_path):
    run = assess("--repo", str(tmp_path / "nowhere"), "--no-input")
    assert run.returncode == 2
    assert run.stderr == f"error: --repo {tmp_path / 'nowhere'}: not a folder\n"


def test_a_repo_with_no_evidence_and_no_answers_scores_nothing(assess, tmp_path):
    run = assess("--repo", str(tmp_path), "--no-input")
    assert run.returncode == 2
    assert "no question was answered" in run.stderr
    assert "Traceback" not in run.stderr
