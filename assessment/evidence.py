"""Evidence: which answers a repository gives by itself, each with the file and line that says so.

Every rule is a regular expression over the lines of one kind of file (Python, YAML, TOML,
Makefiles) and names the question and the option a matching line supports. Comment lines are
skipped: a line of code is evidence, a note about it is not. When several options of a question
have matching lines, the highest level wins: a repository that registers models also tracks runs,
and the question asks how far it goes.

The rules look for what a capability needs in code, whatever the project: an experiment tracker's
calls, a registry alias, a CI workflow that trains, a web framework, a drift library, an event
trigger. Each rung of this project's ladder (``level0_manual`` … ``level4_autonomous``) adds code
that a rule of its own level recognises, and a test checks that every level folder, read this
way, comes out at its own level. Evidence of absence is not evidence: a question no rule matches
stays unanswered.
"""

from __future__ import annotations

import io
import os
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .questions import Option, QuestionFileError, Questionnaire
from .scoring import Evidence

PACKAGE_DIR = Path(__file__).resolve().parent
SUFFIXES = {".py": "py", ".yml": "yaml", ".yaml": "yaml", ".toml": "toml", ".mk": "make"}
MAKEFILES = {"Makefile", "makefile", "GNUmakefile"}
#: Folders that hold no code of the project's own: environments, caches, run state.
SKIPPED = {
    "__pycache__", "node_modules", "venv", "env", "state", "mlruns", "build", "dist",
    "site-packages",
}  # fmt: skip
#: Hidden folders are skipped, except those where CI workflows live.
HIDDEN_KEPT = {".github", ".gitlab", ".circleci"}
MAX_FILE_BYTES = 2_000_000
SHOWN_PER_QUESTION = 2


@dataclass(frozen=True)
class Rule:
    """Lines of files of ``kinds`` that match ``pattern`` support ``option`` of ``question``."""

    question: str
    option: str
    kinds: tuple[str, ...]
    pattern: re.Pattern[str]


def rule(question: str, option: str, pattern: str, *kinds: str) -> Rule:
    """A rule over Python files unless other kinds are named."""
    return Rule(question, option, kinds or ("py",), re.compile(pattern))


# Patterns used by several questions.
SAVES_MODEL_FILE = r"\b(joblib|pickle|dill|cloudpickle)\.dump\(|\btorch\.save\("
LOADS_MODEL_FILE = r"\b(joblib|pickle|dill|cloudpickle)\.load\("
PRINTS_METRICS = r"\bprint\w*\(.*\bmetrics\b"
TRACKS_RUN = r"\bmlflow\.start_run\(|\bwandb\.init\(|\bneptune\.init_run\("
LOGS_METRICS = r"\bmlflow\.log_metrics?\(|\bwandb\.log\("
COMPARES_RUNS = r"\bsearch_runs\("
REGISTERS = r"\bregister_model\(|\.create_model_version\("
MOVES_ALIAS = r"\bset_registered_model_alias\(|\btransition_model_version_stage\("
CI_ON_CHANGE = r"^\s*(pull_request|merge_request|push):"
GATE = r"\bdef \w*gate\w*\(|\bclass \w*Gate\w*\b"
HEALTH_ENDPOINT = r"\.(get|route)\(\s*[\"']/(health|healthz|ready|readyz)[\"']"
PREDICTION_LOG = (
    r"CREATE TABLE[^(]*\b(requests|predictions|inferences)\b|^\s*model_version\s+TEXT\b"
)
FEEDBACK = r"\.post\(\s*[\"']/feedback\b|CREATE TABLE[^(]*\bfeedback\b"
DRIFT_LIBRARY = r"^\s*(from|import) (evidently|nannyml|whylogs|alibi_detect)\b"
ALERT_SINK = r"\bwebhook_url\b|\bslack_sdk\b"
MODEL_CARD = r"\bmodel_card\w*|\bModelCard\b"
LIVE_SPLIT = r"\bab_test\b|\bcanary\b|\bshadow_traffic\b"
EVENT_TRIGGER = r"\bDeploymentEventTrigger\(|\bemit_event\(|\bEventTrigger\("
DECISION_LOG = r"[\"']decision\.|\bdecisions\.jsonl\b"
PAGES = r"\bpage_to\b|\bpage_webhook_url\b|\bpagerduty\b|\bopsgenie\b"
POLICY_SECTION = r"^\[(policy|automation|reactions?)\]"

RULES: tuple[Rule, ...] = (
    # Data and experiment management.
    rule("run_tracking", "not_recorded", SAVES_MODEL_FILE),
    rule("run_tracking", "tracker", TRACKS_RUN),
    rule("run_tracking", "tracker", r"\bmlflow\.(log_params?|log_input)\("),
    rule("run_tracking", "registry", REGISTERS),
    rule("run_tracking", "per_answer", PREDICTION_LOG),
    rule("run_tracking", "decisions", DECISION_LOG),
    rule(
        "data_checks",
        "pipeline",
        r"\bclass \w*(Validation|Expectation)\w*Error\b"
        r"|^\s*(from|import) (great_expectations|pandera|deepchecks)\b",
    ),
    rule("data_checks", "ci", r"^\s*(-\s*)?run:.*\btrain(ing)?\b", "yaml"),
    rule("data_checks", "production", DRIFT_LIBRARY),
    rule("data_checks", "quarantine", r"\bquarantine\w*\("),
    rule("reproducibility", "recorded", r"\bhashlib\.(sha256|sha1|md5)\(|\bgit\b.*\brev-parse\b"),
    rule(
        "reproducibility",
        "locked",
        r"\buv sync\b.*--(frozen|locked)|--require-hashes|\bpoetry install\b|\bpip-sync\b"
        r"|\bconda-lock\b",
        "yaml",
    ),
    rule("reproducibility", "card", MODEL_CARD),
    rule("reproducibility", "window", r"\b(train_from_day|training_window|recent_only)\b", "py"),
    rule("feedback_loop", "joined", FEEDBACK),
    rule("feedback_loop", "decides", LIVE_SPLIT),
    # Model deployment and integration.
    rule("release", "copied", LOADS_MODEL_FILE),
    rule("release", "picked", COMPARES_RUNS),
    rule("release", "promoted", MOVES_ALIAS),
    rule("release", "watched", PREDICTION_LOG),
    rule("release", "checked_live", LIVE_SPLIT),
    rule("serving", "script", r"add_argument\(\s*[\"']--model[\"']"),
    rule("serving", "script", LOADS_MODEL_FILE),
    rule("serving", "batch", r"\bmlflow\.\w+\.load_model\("),
    rule(
        "serving",
        "api",
        r"^\s*(from|import) (fastapi|flask|bentoml|litserve)\b|\buvicorn\.(run|Server)\(",
    ),
    rule("serving", "logged", FEEDBACK),
    rule("serving", "split", LIVE_SPLIT),
    rule("rollback", "alias_back", MOVES_ALIAS),
    rule("rollback", "alerted", ALERT_SINK),
    rule("rollback", "automatic", r"\bdef roll_?back\w*\(|\broll_?back\("),
    rule("release_checks", "compared", LOGS_METRICS),
    rule("release_checks", "gate", GATE),
    rule("release_checks", "live_health", r"\bmax_p99\w*|\bmax_error_rate\b", "py", "toml"),
    rule("release_checks", "online", LIVE_SPLIT),
    rule("release_checks", "online", r"\bonline_significance\b", "py", "toml"),
    # Monitoring and governance.
    rule("production_watch", "nothing", PRINTS_METRICS),
    rule("production_watch", "training_only", LOGS_METRICS),
    rule("production_watch", "health", HEALTH_ENDPOINT),
    rule("production_watch", "health", r"^\s*(-\s*)?run:.*\bsmoke\b", "yaml"),
    rule("production_watch", "monitored", DRIFT_LIBRARY),
    rule("production_watch", "reacts", EVENT_TRIGGER),
    rule(
        "alerting",
        "orchestrator",
        r"^\s*@(flow|dag)\b|^\s*from (prefect|airflow|dagster) import\b",
    ),
    rule("alerting", "ci", CI_ON_CHANGE, "yaml"),
    rule("alerting", "alerts", ALERT_SINK),
    rule("alerting", "paged", PAGES, "py", "toml"),
    rule("audit", "runs", TRACKS_RUN),
    rule("audit", "promotions", r"\.set_model_version_tag\(|[\"']promoted_by[\"']"),
    rule("audit", "cards", MODEL_CARD),
    rule("audit", "decisions", DECISION_LOG),
    rule("thresholds", "data", r"^\[(expectations|validation|data_checks?)\]", "toml"),
    rule("thresholds", "gate", r"^\[(gate|validation_gate|promotion)\]", "toml"),
    rule("thresholds", "monitoring", r"^\[(monitoring|alerts|drift)\]", "toml"),
    rule("thresholds", "policy", POLICY_SECTION, "toml"),
    # Team and process.
    rule(
        "retraining_trigger",
        "by_hand",
        r"-m\s+[\w.]+\.train\b|\bpython\S*\s+\S*train\.py\b",
        "make",
    ),
    rule(
        "retraining_trigger",
        "schedule",
        r"^\s*(interval|cron|rrule)=|\b(Cron|Interval)Schedule\(|\bschedule_interval=",
    ),
    rule("retraining_trigger", "schedule", r"^\s*-\s*cron:", "yaml"),
    rule("retraining_trigger", "every_change", CI_ON_CHANGE, "yaml"),
    rule("retraining_trigger", "alert", ALERT_SINK),
    rule("retraining_trigger", "event", EVENT_TRIGGER),
    rule("retraining_trigger", "event", r"^\s*triggers:", "yaml"),
    rule("handover", "file", SAVES_MODEL_FILE),
    rule("handover", "tracker", r"\.log_model\("),
    rule("handover", "ci_registry", CI_ON_CHANGE, "yaml"),
    rule("handover", "card", MODEL_CARD),
    rule("handover", "policy", POLICY_SECTION, "toml"),
    rule("who_decides", "trainer", PRINTS_METRICS),
    rule("who_decides", "reader", COMPARES_RUNS),
    rule("who_decides", "gate", GATE),
    rule("who_decides", "watcher", ALERT_SINK),
    rule("who_decides", "policy", POLICY_SECTION, "toml"),
)


@dataclass(frozen=True)
class Found:
    """A question's answer from the repository: the option and the lines that support it."""

    option: Option
    evidence: tuple[Evidence, ...]


def check_rules(questionnaire: Questionnaire, rules: tuple[Rule, ...] = RULES) -> None:
    """Every rule must name a question and an option of the question file."""
    for each in rules:
        try:
            questionnaire.question(each.question).option(each.option)
        except KeyError:
            raise QuestionFileError(
                f"question {each.question!r}: evidence.py names option {each.option!r}, "
                "which the question file does not have"
            ) from None


def source_files(repo: Path) -> Iterator[tuple[Path, str]]:
    """The repository's files the rules read, with their kind, in a stable order."""
    for folder, subfolders, files in os.walk(repo):
        here = Path(folder)
        subfolders[:] = sorted(
            name
            for name in subfolders
            if name not in SKIPPED
            and (not name.startswith(".") or name in HIDDEN_KEPT)
            and (here / name).resolve() != PACKAGE_DIR  # this tool's own patterns
        )
        for name in sorted(files):
            kind = "make" if name in MAKEFILES else SUFFIXES.get(Path(name).suffix)
            if kind is not None:
                yield here / name, kind


def read_evidence(
    repo: Path, questionnaire: Questionnaire, rules: tuple[Rule, ...] = RULES
) -> dict[str, Found]:
    """Each question some rule answers, with the highest supported option and its evidence.

    Files are named as ``repo`` was given joined with their path inside it, e.g.
    ``level2_cicd/registry.py``.
    """
    check_rules(questionnaire, rules)
    matches: dict[tuple[str, str], list[Evidence]] = {}
    for path, kind in source_files(repo):
        own = [each for each in rules if kind in each.kinds]
        if not own or path.stat().st_size > MAX_FILE_BYTES:
            continue
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue  # unreadable (a broken link, no permission): not evidence either way
        prose = docstring_lines(lines) if kind == "py" else set()
        for number, text in enumerate(lines, 1):
            if number in prose or text.lstrip().startswith("#"):
                continue
            for each in own:
                if each.pattern.search(text):
                    found = Evidence(str(path), number, shorten(text.strip()))
                    matches.setdefault((each.question, each.option), []).append(found)
    answers: dict[str, Found] = {}
    for question in questionnaire.questions:
        supported = [option for option in question.options if (question.id, option.key) in matches]
        if supported:
            best = max(supported, key=lambda option: option.level)  # the first of equal levels
            evidence = tuple(matches[(question.id, best.key)][:SHOWN_PER_QUESTION])
            answers[question.id] = Found(best, evidence)
    return answers


def docstring_lines(lines: list[str]) -> set[int]:
    """Line numbers of a Python file's docstrings (and other bare strings): prose, not code.

    A file that does not tokenize (not Python 3 after all) has none: all its lines are read.
    """
    prose: set[int] = set()
    statement_start = True
    string: tokenize.TokenInfo | None = None
    try:
        for token in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline):
            if token.type in (tokenize.NL, tokenize.COMMENT):
                continue
            if string is not None and token.type == tokenize.NEWLINE:
                prose.update(range(string.start[0], string.end[0] + 1))
            string = token if statement_start and token.type == tokenize.STRING else None
            statement_start = token.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
    except (tokenize.TokenError, SyntaxError):
        return set()
    return prose


def shorten(text: str, width: int = 90) -> str:
    """One line of code as the report shows it: at most ``width`` characters."""
    return text if len(text) <= width else text[: width - 1] + "…"
