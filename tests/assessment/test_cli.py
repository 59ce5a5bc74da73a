"""The command without questions: an answers file, each format, bad answers, colours."""

from __future__ import annotations

import io
import json

import pytest

from assessment.terminal import colours_supported

ESC = "\033["


def test_json_report_from_an_answers_file(assess, answers_at, tmp_path):
    run = assess("--answers", str(answers_at(1)), "--format", "json", "--compare", str(tmp_path))
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["overall"] == {
        "level": 1,
        "name": "pipeline",
        "folder": "level1_pipeline",
        "weighted_mean": 1.0,
    }
    assert (report["answered"], report["questions"], report["unanswered"]) == (16, 16, [])
    assert report["scored_only_answered"] is False
    assert {answer["source"] for answer in report["answers"]} == {"answers file"}
    assert report["weakest"]["id"] == "data"  # all equal: the first dimension of the file
    assert report["weakest"]["next_step"].startswith("Register each released model")
    assert report["next"]["copy"] == "make template LEVEL=level2_cicd DEST=../my-project"
    assert ESC not in run.stdout


def test_markdown_report_has_the_dimension_table_and_the_commands(assess, answers_at, tmp_path):
    run = assess(
        "--answers", str(answers_at(3)), "--format", "markdown", "--compare", str(tmp_path)
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("# MLOps Compass: level 3 (monitoring)\n")
    assert "| dimension | level | score | answered |\n|---|---|---|---|\n" in run.stdout
    assert "| Monitoring and governance | 3 | 3.00 | 4/4 |" in run.stdout
    assert "`make template LEVEL=level4_autonomous DEST=../my-project`" in run.stdout
    assert "`make diff FROM=level3_monitoring TO=level4_autonomous`" in run.stdout


def test_text_report_names_the_weakest_dimension_and_the_make_commands(
    assess, questionnaire, tmp_path
):
    answers = tmp_path / "answers.toml"
    # Everything at level 2 but the monitoring questions, at level 1: monitoring is the weakest.
    lines = []
    for question in questionnaire.questions:
        level = 1 if question.dimension == "monitoring" else 2
        lines.append(f"{question.id} = {level + 1}")  # option n is level n - 1 in this file
    answers.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = assess("--answers", str(answers), "--compare", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("MLOps Compass: level 1 (pipeline)\n")
    assert "Weakest dimension: Monitoring and governance (level 1, score 1.00)" in run.stdout
    assert "Next step: Record in the registry who promoted which version" in run.stdout
    assert "make template LEVEL=level2_cicd DEST=../my-project" in run.stdout
    assert "make diff FROM=level1_pipeline TO=level2_cicd" in run.stdout
    assert ESC not in run.stdout  # not a terminal: no colours


def test_level_four_has_nothing_above_and_says_what_to_watch(assess, answers_at, tmp_path):
    run = assess("--answers", str(answers_at(4)), "--compare", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert "Level 4 is the top of the ladder: nothing above to copy" in run.stdout
    assert "make compare SCENARIO=all" in run.stdout and "make bench" in run.stdout
    assert "make template" not in run.stdout


def test_an_answers_file_overrides_what_the_code_says(assess, tmp_path):
    answers = tmp_path / "answers.toml"
    answers.write_text('rollback = "unnoticed"\nroles = "one_team"\n', encoding="utf-8")
    run = assess(
        "--repo", "level2_cicd", "--answers", str(answers), "--format", "json",
        "--compare", str(tmp_path),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    chosen = {answer["id"]: answer for answer in report["answers"]}
    assert (chosen["rollback"]["level"], chosen["rollback"]["source"]) == (0, "answers file")
    assert (chosen["roles"]["level"], chosen["roles"]["source"]) == (4, "answers file")
    assert chosen["release"]["source"] == "evidence"
    # deployment: release 2 (w 3), serving 2 (w 2), rollback 0 (w 3), release_checks 2 (w 2.5):
    #   (6 + 4 + 0 + 5) / 10.5 = 1.43 -> level 1
    deployment = report["dimensions"][1]
    assert (deployment["score"], deployment["level"]) == (1.43, 1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("rolback = 1\n", "question 'rolback' is not in the questions"),
        ("rollback = 9\n", "question 'rollback': 9 is not an option (a number from 1 to 5"),
        ('rollback = "sometimes"\n', "question 'rollback': 'sometimes' is not an option"),
        ("rollback = \n", "not valid TOML"),
    ],
)
def test_a_bad_answers_file_is_refused_in_one_line(content, message, assess, tmp_path):
    answers = tmp_path / "answers.toml"
    answers.write_text(content, encoding="utf-8")
    run = assess("--answers", str(answers))
    assert run.returncode == 2
    assert run.stderr.startswith(f"error: {answers}: ")
    assert message in run.stderr
    assert run.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("tty", "environ", "expected"),
    [
        (True, {"TERM": "xterm-256color"}, True),
        (True, {}, True),
        (False, {"TERM": "xterm-256color"}, False),
        (True, {"TERM": "xterm-256color", "NO_COLOR": "1"}, False),
        (True, {"TERM": "xterm-256color", "NO_COLOR": ""}, False),
        (True, {"TERM": "dumb"}, False),
    ],
)
def test_colours_only_on_a_terminal_without_no_color_or_a_dumb_term(tty, environ, expected):
    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    assert colours_supported(Stream(), environ) is expected
