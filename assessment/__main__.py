"""Where does your team stand? ``python -m assessment`` (``make assess``).

    python -m assessment                                   # asks the questions in the terminal
    python -m assessment --repo ../our-repo                # the code's answers are the defaults
    python -m assessment --repo level2_cicd --no-input --format json
    python -m assessment --answers answers.toml --format markdown

Exit codes: 0 the report, 2 a broken question or answers file or nothing answered, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .answers import AnswersError, read_answers
from .comparison import DEFAULT_FOLDER
from .evidence import Found, read_evidence
from .questions import DEFAULT_QUESTIONS, QuestionFileError, load_questions
from .report import build_report, render
from .scoring import Answer, score
from .terminal import InputEndedError, Style, ask_all, colours_supported

FORMATS = ("text", "markdown", "json")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m assessment", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--repo",
        type=Path,
        help="read evidence from this repository's code first (Python, YAML, TOML, Makefiles)",
    )
    parser.add_argument(
        "--answers",
        type=Path,
        help="a TOML or JSON file of question id = option number or key: no questions asked",
    )
    parser.add_argument("--format", choices=FORMATS, default="text", help="the report's format")
    parser.add_argument(
        "--no-input",
        action="store_true",
        help="ask nothing: score what --repo and --answers give (also when stdin is not a "
        "terminal and --repo is given)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        default=DEFAULT_FOLDER,
        help="make compare's compare.json, or a folder of them (default: state/compare)",
    )
    parser.add_argument(
        "--questions", type=Path, default=DEFAULT_QUESTIONS, help="the question file"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the assessment; Ctrl-C leaves with one line and exit code 130."""
    try:
        return assess(parse_args(argv))
    except KeyboardInterrupt:
        print("\nassessment interrupted: no report.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (| head): nothing more to say, and no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def assess(args: argparse.Namespace) -> int:
    """Load, gather the answers, score, report."""
    try:
        questionnaire = load_questions(args.questions)
        found: dict[str, Found] = {}
        if args.repo is not None:
            if not args.repo.is_dir():
                print(f"error: --repo {args.repo}: not a folder", file=sys.stderr)
                return 2
            found = read_evidence(args.repo, questionnaire)
        from_file = {} if args.answers is None else read_answers(args.answers, questionnaire)
    except (QuestionFileError, AnswersError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    interactive = (
        not args.no_input
        and args.answers is None
        and not (args.repo is not None and not sys.stdin.isatty())
    )
    if interactive:
        ui = sys.stdout if args.format == "text" else sys.stderr  # keep json and markdown clean
        ui_style = Style(colours_supported(ui))
        ui.write(ui_style.bold("MLOps Compass") + f": {len(questionnaire.questions)} questions ")
        ui.write(f"in {len(questionnaire.dimensions)} dimensions. Type the number that fits ")
        ui.write("best; s skips a question; Ctrl-C leaves.\n")
        if args.repo is not None:
            ui.write(
                f"{len(found)} answers come from {args.repo}'s code: Enter accepts them, "
                "a number overrides.\n"
            )
        try:
            answers = ask_all(
                questionnaire,
                found,
                read_line=sys.stdin.readline,
                out=ui,
                style=ui_style,
                echo=not sys.stdin.isatty(),
            )
        except InputEndedError as error:
            print(f"\nerror: {error}; nothing was scored.", file=sys.stderr)
            return 2
        ui.write("\n")
        ui.flush()
    else:
        answers = {}
        for question_id, each in found.items():
            question = questionnaire.question(question_id)
            answers[question_id] = Answer(question, each.option, "evidence", each.evidence)
        for question_id, option in from_file.items():  # the file overrides the code
            question = questionnaire.question(question_id)
            answers[question_id] = Answer(question, option, "answers file")

    try:
        result = score(questionnaire, answers)
    except ValueError as error:
        print(
            f"error: {error}. Answer the questions, give --answers FILE, or --repo PATH.",
            file=sys.stderr,
        )
        return 2
    report = build_report(questionnaire, answers, result, args.compare, args.repo)
    sys.stdout.write(render(report, args.format, Style(colours_supported(sys.stdout))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
