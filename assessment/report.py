"""The report: one structure (what ``--format json`` prints), rendered as text or Markdown.

Everything the text and Markdown say is in the structure, so the three formats never disagree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import comparison
from .questions import Questionnaire
from .scoring import Answer, Score
from .terminal import Style

TOP = 4
DEST = "../my-project"


def build_report(
    questionnaire: Questionnaire,
    answers: dict[str, Answer],
    score: Score,
    compare_path: Path,
    repo: Path | None = None,
) -> dict[str, Any]:
    """The whole report as plain data: scores, the next step, the simulated figures, answers."""
    current = questionnaire.level(score.level)
    weakest = questionnaire.dimension(score.weakest.id)
    unanswered = [q for q in questionnaire.questions if q.id not in answers]
    return {
        "overall": {
            "level": score.level,
            "name": current.name,
            "folder": current.folder,
            "weighted_mean": round(score.mean, 2),
        },
        "answered": score.answered,
        "questions": score.questions,
        "scored_only_answered": bool(unanswered),
        "repo": None if repo is None else str(repo),
        "dimensions": [
            {
                "id": dimension.id,
                "title": dimension.title,
                "score": None if dimension.score is None else round(dimension.score, 2),
                "level": dimension.level,
                "answered": dimension.answered,
                "questions": dimension.questions,
                "weakest": dimension.id == score.weakest.id,
            }
            for dimension in score.dimensions
        ],
        "weakest": {
            "id": weakest.id,
            "title": weakest.title,
            "level": score.weakest.level,
            "score": round(score.weakest.score or 0.0, 2),
            "next_step": weakest.next_steps[score.weakest.level or 0],
        },
        "next": next_level(questionnaire, score.level),
        "simulated": simulated(questionnaire, score.level, compare_path),
        "answers": [
            {
                "id": answer.question.id,
                "dimension": answer.question.dimension,
                "question": answer.question.text,
                "option": answer.option.number,
                "key": answer.option.key,
                "label": answer.option.label,
                "level": answer.option.level,
                "weight": answer.question.weight,
                "source": answer.source,
                "evidence": [str(line) for line in answer.evidence],
            }
            for answer in (answers[q.id] for q in questionnaire.questions if q.id in answers)
        ],
        "unanswered": [
            {"id": q.id, "dimension": q.dimension, "question": q.text} for q in unanswered
        ],
    }


def next_level(questionnaire: Questionnaire, level: int) -> dict[str, Any]:
    """The folder to copy (the level above) and the diff to study, or that there is none."""
    current = questionnaire.level(level)
    if level >= TOP:
        return {
            "at_top": True,
            "from": current.folder,
            "to": None,
            "advice": (
                "Level 4 is the top of the ladder: nothing above to copy. Keep watching what it "
                "does: make compare SCENARIO=all (detection delay, time to recover, quality lost "
                "per scenario) and make bench (false alarms, reactions, cost)."
            ),
        }
    upper = questionnaire.level(level + 1)
    return {
        "at_top": False,
        "from": current.folder,
        "to": upper.folder,
        "copy": f"make template LEVEL={upper.folder} DEST={DEST}",
        "diff": f"make diff FROM={current.folder} TO={upper.folder}",
    }


def simulated(questionnaire: Questionnaire, level: int, compare_path: Path) -> dict[str, Any]:
    """What the step bought on the simulated world, from compare.json when there is one.

    At the top, the last step (3 → 4) is shown: what the team's level buys over the one below.
    """
    lower = questionnaire.level(min(level, TOP - 1))
    upper = questionnaire.level(lower.number + 1)
    source = comparison.find_comparison(compare_path)
    if source is None:
        return {
            "available": False,
            "message": (
                f"No comparison yet ({shown_path(compare_path)} has no compare.json): "
                f"`{comparison.MAKE_ONE}` runs the five levels on one simulated world "
                "(about 3 minutes) and measures detection delay, time to recover and quality lost."
            ),
        }
    try:
        step = comparison.read_step(source, lower.folder, upper.folder)
    except comparison.ComparisonError as error:
        return {"available": False, "message": str(error)}
    if isinstance(step, str):
        return {"available": False, "message": step}
    return {
        "available": True,
        "source": shown_path(step.source),
        "world": step.world,
        "world_text": comparison.describe_world(step),
        "from": figures(step.lower, lower.number, lower.name),
        "to": figures(step.upper, upper.number, upper.name),
    }


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it is under it (as make runs it)."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def figures(level: comparison.LevelFigures, number: int, name: str) -> dict[str, Any]:
    """One level's figures as they were measured, and as the report prints them."""
    return {
        "folder": level.folder,
        "title": f"level {number} ({name})",
        "monitors": level.monitors,
        "detection_delay_days": level.detection_delay_days,
        "time_to_recover_days": level.time_to_recover_days,
        "quality_lost": level.quality_lost,
        "last_day_share": level.last_day_share,
        "manual_steps": level.manual_steps,
        "shown": {
            "detection delay": comparison.detection(level),
            "time to recover": comparison.recovery(level),
            "quality lost (NDCG-days)": f"{level.quality_lost:.2f}",
            "quality on the last day": comparison.last_day(level),
            "manual steps": "-" if level.manual_steps is None else str(level.manual_steps),
        },
    }


def render(report: dict[str, Any], fmt: str, style: Style) -> str:
    """The report in ``fmt``: json, markdown or text (the only one with colours)."""
    if fmt == "json":
        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        return markdown(report)
    return text(report, style)


def scope_sentence(report: dict[str, Any]) -> str:
    """How many questions were scored, and that unanswered ones were not."""
    answered, total = report["answered"], report["questions"]
    if not report["scored_only_answered"]:
        return f"all {total} questions answered"
    return (
        f"scored only the {answered} answered questions of {total} "
        f"(the {total - answered} unanswered, listed below, count for nothing)"
    )


def dimension_cells(dimension: dict[str, Any]) -> list[str]:
    """A dimension's level, score and answered count as table cells."""
    if dimension["score"] is None:
        return ["-", "-", f"0/{dimension['questions']}"]
    return [
        str(dimension["level"]),
        f"{dimension['score']:.2f}",
        f"{dimension['answered']}/{dimension['questions']}",
    ]


def text(report: dict[str, Any], style: Style) -> str:
    """The report for a terminal."""
    overall = report["overall"]
    lines = [
        style.bold(f"MLOps Compass: level {overall['level']} ({overall['name']})"),
        f"Weighted mean {overall['weighted_mean']:.2f}; {scope_sentence(report)}.",
        "A team is at the level every dimension has reached (each is the floor of its weighted "
        "mean).",
        "",
    ]
    title_width = max(len(d["title"]) for d in report["dimensions"])
    lines.append(f"  {'dimension':<{title_width}}  level  score  answered")
    for dimension in report["dimensions"]:
        level, score, answered = dimension_cells(dimension)
        row = f"  {dimension['title']:<{title_width}}  {level:>5}  {score:>5}  {answered:>8}"
        lines.append(style.yellow(row + "  <- weakest") if dimension["weakest"] else row)
    weakest = report["weakest"]
    lines += [
        "",
        style.bold(
            f"Weakest dimension: {weakest['title']} (level {weakest['level']}, "
            f"score {weakest['score']:.2f})"
        ),
        f"Next step: {weakest['next_step']}",
        "",
    ]
    step = report["next"]
    if step["at_top"]:
        lines.append(step["advice"])
    else:
        lines += [
            f"Copy the level above:  {style.cyan(step['copy'])}",
            f"Study the step:        {style.cyan(step['diff'])}",
        ]
    lines += ["", *simulated_text(report, style)]
    lines += ["", style.bold("Answers")]
    for answer in report["answers"]:
        lines.append(
            f"  {answer['id']} ({answer['dimension']}): {answer['option']}) {answer['label']} "
            f"[level {answer['level']}, weight {answer['weight']:g}, {answer['source']}]"
        )
        lines += [style.dim(f"      {line}") for line in answer["evidence"]]
    if report["unanswered"]:
        lines += ["", style.bold("Unanswered (not scored)")]
        lines += [
            f"  {item['id']} ({item['dimension']}): {item['question']}"
            for item in report["unanswered"]
        ]
    return "\n".join(lines) + "\n"


def simulated_text(report: dict[str, Any], style: Style) -> list[str]:
    """The simulated figures of the step as a small table, or why there are none."""
    sim = report["simulated"]
    if not sim["available"]:
        return [sim["message"]]
    lower, upper = sim["from"], sim["to"]
    heading = (
        "What level 4 bought over level 3" if report["next"]["at_top"] else "What that step bought"
    )
    lines = [
        style.bold(f"{heading} on the simulated world ({sim['world_text']}):"),
        style.dim(f"  from {sim['source']}"),
    ]
    width = max(len(name) for name in lower["shown"])
    left = max(len(lower["title"]), *(len(value) for value in lower["shown"].values()))
    right = max(len(upper["title"]), *(len(value) for value in upper["shown"].values()))
    lines.append(f"  {'':<{width}}  {lower['title']:>{left}}  {upper['title']:>{right}}")
    for name, before in lower["shown"].items():
        lines.append(f"  {name:<{width}}  {before:>{left}}  {upper['shown'][name]:>{right}}")
    return lines


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown, e.g. for an issue or a wiki page."""
    overall = report["overall"]
    lines = [
        f"# MLOps Compass: level {overall['level']} ({overall['name']})",
        "",
        f"Weighted mean **{overall['weighted_mean']:.2f}**; {scope_sentence(report)}. A team is "
        "at the level every dimension has reached (each is the floor of its weighted mean).",
        "",
        "| dimension | level | score | answered |",
        "|---|---|---|---|",
    ]
    for dimension in report["dimensions"]:
        level, score, answered = dimension_cells(dimension)
        title = dimension["title"] + (" (weakest)" if dimension["weakest"] else "")
        lines.append(f"| {title} | {level} | {score} | {answered} |")
    weakest, step = report["weakest"], report["next"]
    lines += [
        "",
        "## Next step",
        "",
        f"**Weakest dimension:** {weakest['title']} (level {weakest['level']}, score "
        f"{weakest['score']:.2f}). {weakest['next_step']}",
        "",
    ]
    if step["at_top"]:
        lines.append(step["advice"])
    else:
        lines += [f"- Copy the level above: `{step['copy']}`", f"- Study: `{step['diff']}`"]
    lines += ["", "## On the simulated world", ""]
    sim = report["simulated"]
    if not sim["available"]:
        lines.append(sim["message"])
    else:
        lower, upper = sim["from"], sim["to"]
        lines += [
            f"{sim['world_text']} (`{sim['source']}`):",
            "",
            f"| | {lower['title']} | {upper['title']} |",
            "|---|---|---|",
        ]
        lines += [
            f"| {name} | {value} | {upper['shown'][name]} |"
            for name, value in lower["shown"].items()
        ]
    lines += [
        "",
        "## Answers",
        "",
        "| question | answer | level | weight | source |",
        "|---|---|---|---|---|",
    ]
    for answer in report["answers"]:
        source = answer["source"]
        if answer["evidence"]:
            source += ": " + "; ".join(f"`{line}`" for line in answer["evidence"][:1])
        source = source.replace("|", "\\|")  # a pipe in a line of code would split the cell
        lines.append(
            f"| {answer['id']} | {answer['option']}) {answer['label']} | {answer['level']} "
            f"| {answer['weight']:g} | {source} |"
        )
    if report["unanswered"]:
        lines += ["", "## Unanswered (not scored)", ""]
        lines += [f"- `{item['id']}`: {item['question']}" for item in report["unanswered"]]
    return "\n".join(lines) + "\n"
