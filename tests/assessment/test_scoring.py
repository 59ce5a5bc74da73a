"""The scoring rule against hand-computed cases: weighted means, floors, the lowest dimension."""

from __future__ import annotations

import json

import pytest

from assessment.questions import Questionnaire, parse_questions
from assessment.scoring import Answer, score

LEVELS = [
    {"level": n, "folder": f"level{n}", "name": name}
    for n, name in enumerate(["manual", "pipeline", "CI/CD", "monitoring", "autonomous"])
]


def questionnaire_of(weights: dict[str, tuple[str, float]]) -> Questionnaire:
    """Questions ``id → (dimension, weight)``, each with one option per level (key ``l0``…)."""
    dimensions = dict.fromkeys(dimension for dimension, _ in weights.values())
    return parse_questions(
        {
            "levels": LEVELS,
            "dimensions": {
                dimension: {
                    "title": dimension.title(),
                    "next_steps": [f"{dimension} {n}" for n in range(5)],
                }
                for dimension in dimensions
            },
            "questions": [
                {
                    "id": question_id,
                    "dimension": dimension,
                    "weight": weight,
                    "text": f"{question_id}?",
                    "options": [
                        {"key": f"l{n}", "level": n, "label": f"level {n}"} for n in range(5)
                    ],
                }
                for question_id, (dimension, weight) in weights.items()
            ],
        }
    )


def answered(questionnaire: Questionnaire, levels: dict[str, int]) -> dict[str, Answer]:
    """Answers choosing the option of ``level`` for each question named."""
    return {
        question_id: Answer(
            questionnaire.question(question_id),
            questionnaire.question(question_id).option(f"l{level}"),
            "you",
        )
        for question_id, level in levels.items()
    }


def test_weighted_means_floors_and_the_lowest_dimension():
    questions = questionnaire_of(
        {"a1": ("alpha", 3), "a2": ("alpha", 1), "b1": ("beta", 2), "b2": ("beta", 2)}
    )
    result = score(questions, answered(questions, {"a1": 2, "a2": 4, "b1": 3}))
    alpha, beta = result.dimensions
    # alpha: (3 x 2 + 1 x 4) / (3 + 1) = 10 / 4 = 2.5 -> level 2
    assert (alpha.score, alpha.level, alpha.answered, alpha.questions) == (2.5, 2, 2, 2)
    # beta: b2 unanswered counts for nothing: (2 x 3) / 2 = 3.0 -> level 3
    assert (beta.score, beta.level, beta.answered, beta.questions) == (3.0, 3, 1, 2)
    # overall level: the lowest dimension level, min(2, 3) = 2
    assert result.level == 2
    # overall mean: (3 x 2 + 1 x 4 + 2 x 3) / (3 + 1 + 2) = 16 / 6 = 2.666...
    assert result.mean == pytest.approx(16 / 6)
    assert result.weakest.id == "alpha"
    assert (result.answered, result.questions) == (3, 4)


def test_a_weight_moves_the_score_as_much_as_it_weighs():
    questions = questionnaire_of({"rollback": ("ops", 3), "docs": ("ops", 1)})
    # rollback at 0 and docs at 4: (3 x 0 + 1 x 4) / 4 = 1.0 -> level 1
    low = score(questions, answered(questions, {"rollback": 0, "docs": 4}))
    # the other way round: (3 x 4 + 1 x 0) / 4 = 3.0 -> level 3
    high = score(questions, answered(questions, {"rollback": 4, "docs": 0}))
    assert (low.dimensions[0].score, low.level) == (1.0, 1)
    assert (high.dimensions[0].score, high.level) == (3.0, 3)


def test_a_score_just_below_a_whole_level_by_float_error_is_that_level():
    questions = questionnaire_of({"x": ("d", 0.1), "y": ("d", 0.2), "z": ("d", 0.3)})
    # (0.1 x 3 + 0.2 x 3 + 0.3 x 3) / (0.1 + 0.2 + 0.3) is 3, which floats compute as
    # 2.9999999999999996: the floor of that would be 2.
    result = score(questions, answered(questions, {"x": 3, "y": 3, "z": 3}))
    assert (result.dimensions[0].score, result.level) == (3.0, 3)


def test_a_level_is_the_floor_so_almost_there_is_not_there():
    questions = questionnaire_of({"x": ("d", 1), "y": ("d", 1), "z": ("d", 1), "w": ("d", 1)})
    # (4 + 4 + 4 + 3) / 4 = 3.75 -> level 3
    result = score(questions, answered(questions, {"x": 4, "y": 4, "z": 4, "w": 3}))
    assert (result.dimensions[0].score, result.level) == (3.75, 3)


def test_equal_scores_name_the_dimension_written_first_the_weakest():
    questions = questionnaire_of({"b": ("beta", 1), "a": ("alpha", 2), "c": ("gamma", 1)})
    # beta (1 x 2) / 1 = 2.0, alpha (2 x 2) / 2 = 2.0, gamma 3.0: beta is written first
    result = score(questions, answered(questions, {"b": 2, "a": 2, "c": 3}))
    assert result.weakest.id == "beta"
    assert result.level == 2


def test_a_dimension_without_answers_has_no_level_and_does_not_lower_the_overall_one():
    questions = questionnaire_of({"a": ("alpha", 1), "b": ("beta", 1)})
    result = score(questions, answered(questions, {"a": 3}))
    assert (result.dimensions[1].score, result.dimensions[1].level) == (None, None)
    assert result.level == 3
    assert result.weakest.id == "alpha"


def test_nothing_answered_is_an_error_not_level_zero():
    questions = questionnaire_of({"a": ("alpha", 1)})
    with pytest.raises(ValueError, match="nothing to score"):
        score(questions, {})


def test_the_project_weighs_an_automatic_rollback_above_where_thresholds_are_written(
    questionnaire,
):
    assert questionnaire.question("rollback").weight > questionnaire.question("thresholds").weight


def test_the_command_scores_an_answers_file_as_computed_by_hand(assess, tmp_path):
    answers = tmp_path / "answers.json"
    # data: run_tracking option 3 (level 2, weight 2), data_checks option 2 (level 1, weight 2),
    # reproducibility option 5 (level 4, weight 1.5), feedback_loop unanswered:
    #   (2 x 2 + 2 x 1 + 1.5 x 4) / (2 + 2 + 1.5) = 12 / 5.5 = 2.18 -> level 2
    # deployment: release option 2 (level 1, weight 3) only: 1.0 -> level 1
    # overall: min(2, 1) = 1; mean (4 + 2 + 6 + 3) / (2 + 2 + 1.5 + 3) = 15 / 8.5 = 1.76
    answers.write_text(
        json.dumps(
            {"run_tracking": 3, "data_checks": 2, "reproducibility": "window", "release": "2"}
        )
    )
    run = assess("--answers", str(answers), "--format", "json", "--compare", str(tmp_path))
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    data, deployment, monitoring, team = report["dimensions"]
    assert (data["score"], data["level"]) == (2.18, 2)
    assert (deployment["score"], deployment["level"]) == (1.0, 1)
    assert monitoring["score"] is None and team["score"] is None
    assert report["overall"] == {
        "level": 1,
        "name": "pipeline",
        "folder": "level1_pipeline",
        "weighted_mean": 1.76,
    }
    assert report["weakest"]["id"] == "deployment"
    assert (report["answered"], report["scored_only_answered"]) == (4, True)
