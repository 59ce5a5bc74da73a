"""The question file: the project's own is valid, and a broken one is refused in one line."""

from __future__ import annotations

import pytest

from assessment.evidence import RULES, check_rules
from assessment.questions import QuestionFileError, parse_questions

VALID = """
[[levels]]
level = 0
folder = "level0_manual"
name = "manual"
[[levels]]
level = 1
folder = "level1_pipeline"
name = "pipeline"
[[levels]]
level = 2
folder = "level2_cicd"
name = "CI/CD"
[[levels]]
level = 3
folder = "level3_monitoring"
name = "monitoring"
[[levels]]
level = 4
folder = "level4_autonomous"
name = "autonomous"

[dimensions.data]
title = "Data"
next_steps = ["a", "b", "c", "d", "e"]

[[questions]]
id = "tracking"
dimension = "data"
weight = 2
text = "How are runs recorded?"
[[questions.options]]
key = "none"
level = 0
label = "Not at all"
[[questions.options]]
key = "tracker"
level = 1
label = "In a tracker"

[[questions]]
id = "rollback"
dimension = "data"
weight = 3
text = "What happens when a model does worse?"
[[questions.options]]
key = "nothing"
level = 0
label = "Nothing"
[[questions.options]]
key = "automatic"
level = 4
label = "Rolled back by itself"
"""

BROKEN = {
    "missing weight": (VALID.replace("weight = 3\n", ""), "question 'rollback': field 'weight'"),
    "option level 7": (
        VALID.replace("level = 4\nlabel", "level = 7\nlabel"),
        "question 'rollback': field 'options[2].level' must be a whole number from 0 to 4, got 7",
    ),
    "duplicate id": (
        VALID.replace('id = "rollback"', 'id = "tracking"'),
        "question 'tracking': duplicate id",
    ),
    "unknown dimension": (
        VALID.replace('dimension = "data"\nweight = 3', 'dimension = "people"\nweight = 3'),
        "question 'rollback': field 'dimension' is 'people'",
    ),
    "a typo in a field": (
        VALID.replace("weight = 2", "wieght = 2"),
        "question 'tracking': unknown field 'wieght'",
    ),
    "a weight of zero": (
        VALID.replace("weight = 2", "weight = 0"),
        "question 'tracking': field 'weight' must be a number above 0",
    ),
    "no id": (VALID.replace('id = "tracking"\n', ""), "question #1: field 'id' is missing"),
}


def test_the_projects_question_file_is_valid_and_covers_the_four_dimensions(questionnaire):
    assert [d.id for d in questionnaire.dimensions] == ["data", "deployment", "monitoring", "team"]
    assert [level.folder for level in questionnaire.levels] == [
        "level0_manual",
        "level1_pipeline",
        "level2_cicd",
        "level3_monitoring",
        "level4_autonomous",
    ]
    for dimension in questionnaire.dimensions:
        asked = [q for q in questionnaire.questions if q.dimension == dimension.id]
        assert len(asked) >= 3, dimension.id
    for question in questionnaire.questions:
        assert sorted({option.level for option in question.options}) == [0, 1, 2, 3, 4]


def test_every_evidence_rule_names_a_question_and_an_option_of_the_file(questionnaire):
    check_rules(questionnaire)
    assert {rule.question for rule in RULES} <= {q.id for q in questionnaire.questions}


def test_a_rule_naming_an_option_the_file_does_not_have_is_refused(questionnaire):
    broken = (RULES[0].__class__(RULES[0].question, "gone", ("py",), RULES[0].pattern),)
    with pytest.raises(QuestionFileError, match=r"question 'run_tracking'.*option 'gone'"):
        check_rules(questionnaire, broken)


def test_the_valid_example_loads():
    import tomllib

    questions = parse_questions(tomllib.loads(VALID))
    assert [q.id for q in questions.questions] == ["tracking", "rollback"]
    assert questions.question("rollback").option("automatic").number == 2


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_question_file_is_refused_naming_the_question_and_the_field(
    case, assess, tmp_path
):
    text, message = BROKEN[case]
    questions = tmp_path / "questions.toml"
    questions.write_text(text, encoding="utf-8")
    answers = tmp_path / "answers.toml"
    answers.write_text("tracking = 1\n", encoding="utf-8")
    run = assess("--questions", str(questions), "--answers", str(answers))
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1, run.stderr  # one line, no traceback
    assert run.stderr.startswith(f"error: {questions}: ")
    assert message in run.stderr


def test_a_question_file_that_is_not_toml_is_refused_in_one_line(assess, tmp_path):
    questions = tmp_path / "questions.toml"
    questions.write_text("[[questions]\n", encoding="utf-8")
    run = assess("--questions", str(questions), "--no-input")
    assert run.returncode == 2
    assert run.stderr.startswith(f"error: {questions}: not valid TOML")
    assert "Traceback" not in run.stderr
