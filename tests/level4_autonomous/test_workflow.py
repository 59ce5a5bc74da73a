"""Level 4's GitHub Actions workflow: valid, safe, and running the release stages in order.

Two linters from the locked dev dependencies check the file, offline: check-jsonschema against
GitHub's workflow schema (vendored in check-jsonschema) and zizmor for the usual security faults
(unpinned actions, template injection, persisted credentials, broad permissions). Each is also
shown a broken copy, which proves it is really checking. The rest reads the YAML: the stages run
in the contract's order, nothing is registered, promoted or deployed from a pull request, and a
manual run that asks for the tuning runs only the tuning.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# In this repository the workflow ships inside the level; in a project made from the level it
# sits at the root, the only place GitHub reads workflows from.
LOCATIONS = [
    ROOT / "level4_autonomous" / ".github" / "workflows" / "cicd.yml",
    ROOT / ".github" / "workflows" / "cicd.yml",
]
WORKFLOW = next((path for path in LOCATIONS if path.exists()), LOCATIONS[0])
CONFIG = ROOT / "level4_autonomous" / "config.toml"
# The linters are installed beside the interpreter running the tests (the project's .venv).
BIN = Path(sys.executable).parent

RELEASE_STAGES = ["train", "gate", "register", "promote", "deploy", "smoke"]
CONTRACT = ["lint", "unit tests", *RELEASE_STAGES]
CHECKED_PATHS = ["level4_autonomous", "data", "tests/level4_autonomous"]

# `inputs` is empty on pushes and pull requests: `inputs.tune` reads as null there.
PULL_REQUEST = {
    "github.event_name": "pull_request",
    "github.ref": "refs/pull/7/merge",
    "inputs.tune": None,
}
PUSH_TO_MAIN = {"github.event_name": "push", "github.ref": "refs/heads/main", "inputs.tune": None}
DISPATCH_ON_MAIN = {
    "github.event_name": "workflow_dispatch",
    "github.ref": "refs/heads/main",
    "inputs.tune": False,
}
DISPATCH_ON_BRANCH = {
    "github.event_name": "workflow_dispatch",
    "github.ref": "refs/heads/try",
    "inputs.tune": False,
}
TUNE_ON_MAIN = {**DISPATCH_ON_MAIN, "inputs.tune": True}
TUNE_JOB = "tune"


# --- the linters ------------------------------------------------------------------------------


def run_tool(name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    executable = BIN / name
    assert executable.exists(), f"{executable} is missing: run `uv sync` (dev dependencies)"
    return subprocess.run(
        [str(executable), *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


def check_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return run_tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", path)


def zizmor(path: Path) -> tuple[int, list[str]]:
    """The exit code of zizmor and the rules it reported (0: no findings; 10-14: findings)."""
    result = run_tool("zizmor", "--offline", "--no-config", "--format", "json", path)
    assert result.returncode in {0, 10, 11, 12, 13, 14}, result.stderr
    return result.returncode, [finding["ident"] for finding in json.loads(result.stdout)]


def broken_copy(tmp_path: Path, pattern: str, replacement: str) -> Path:
    """The workflow with the first match of ``pattern`` (a multi-line regex) replaced."""
    text, count = re.subn(pattern, replacement, WORKFLOW.read_text(), count=1, flags=re.M)
    assert count == 1, f"{pattern!r} not found in {WORKFLOW}"
    path = tmp_path / "cicd.yml"
    path.write_text(text)
    return path


def test_workflow_matches_githubs_schema():
    result = check_schema(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_job_without_runs_on(tmp_path):
    result = check_schema(broken_copy(tmp_path, r"^ +runs-on:.*\n", ""))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "'runs-on' is a required property" in result.stdout


def test_zizmor_finds_nothing():
    assert zizmor(WORKFLOW) == (0, [])


def test_zizmor_flags_an_action_pinned_to_a_tag(tmp_path):
    copy = broken_copy(tmp_path, r"actions/checkout@[0-9a-f]{40}.*$", "actions/checkout@v4")
    code, rules = zizmor(copy)
    assert code != 0
    assert rules == ["unpinned-uses"]


def test_zizmor_flags_untrusted_input_in_a_script(tmp_path):
    step = (
        "      - name: Greet\n"
        '        run: echo "Building ${{ github.event.pull_request.title }}"\n\n'
        "      - name: Train\n"
    )
    code, rules = zizmor(broken_copy(tmp_path, r"^      - name: Train\n", step))
    assert code != 0
    assert rules == ["template-injection"]


def test_every_action_is_pinned_to_a_commit_with_its_version():
    uses = re.findall(r"uses:\s*(\S+.*)$", WORKFLOW.read_text(), flags=re.M)
    assert uses
    pinned = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
    assert [line for line in uses if not pinned.match(line)] == []


# --- the workflow's shape ---------------------------------------------------------------------


def load_workflow(path: Path = WORKFLOW) -> dict[Any, Any]:
    return yaml.safe_load(path.read_text())


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as the boolean true.
    return workflow.get("on", workflow.get(True)) or {}


def stage_of(step: dict[str, Any]) -> str | None:
    """The contract stage a step runs, from its command."""
    script = step.get("run", "")
    if match := re.search(r"python -m level4_autonomous\.stages (\w+)", script):
        return match.group(1) if match.group(1) in RELEASE_STAGES else None
    if re.search(r"\bruff (check|format)\b", script):
        return "lint"
    if re.search(r"\bpytest\b", script):
        return "unit tests"
    return None


def needs(job: dict[str, Any]) -> list[str]:
    value = job.get("needs", [])
    return [value] if isinstance(value, str) else list(value)


def upstream(jobs: dict[str, Any], name: str) -> set[str]:
    """Every job that must finish before ``name`` starts."""
    found: set[str] = set()
    todo = needs(jobs[name])
    while todo:
        job = todo.pop()
        if job not in found:
            found.add(job)
            todo += needs(jobs[job])
    return found


def stage_steps(workflow: dict[Any, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(stage, job, step) for each step that runs a stage, jobs in dependency order."""
    jobs = workflow["jobs"]
    ordered = sorted(jobs, key=lambda name: len(upstream(jobs, name)))
    found = []
    for job in ordered:
        for step in jobs[job]["steps"]:
            stage = stage_of(step)
            if stage is not None:
                found.append((stage, job, step))
    return found


def collapse(stages: list[str]) -> list[str]:
    return [stage for i, stage in enumerate(stages) if i == 0 or stages[i - 1] != stage]


def order_problems(workflow: dict[Any, Any]) -> list[str]:
    """What is wrong with the order of the stages; empty when it follows the contract."""
    jobs = workflow["jobs"]
    steps = stage_steps(workflow)
    # Lint may take a step per command; every other stage is one step.
    collapsed = collapse([stage for stage, _, _ in steps])
    problems = [] if collapsed == CONTRACT else [f"stages run as {collapsed}, not {CONTRACT}"]
    for (before, job_before, _), (after, job_after, _) in itertools.pairwise(steps):
        if job_before != job_after and job_before not in upstream(jobs, job_after):
            problems.append(f"{after} (job {job_after}) does not wait for {before} ({job_before})")
    release_jobs = {job for stage, job, _ in steps if stage in RELEASE_STAGES}
    if len(release_jobs) > 1:
        problems.append(f"train..smoke hand over through local files but run in {release_jobs}")
    return problems


def test_stages_run_in_the_contracts_order():
    assert order_problems(load_workflow()) == []


def test_order_check_notices_a_stage_out_of_place():
    workflow = load_workflow()
    steps = workflow["jobs"][stage_steps(workflow)[-1][1]]["steps"]
    promote = next(i for i, step in enumerate(steps) if stage_of(step) == "promote")
    steps[promote - 1], steps[promote] = steps[promote], steps[promote - 1]
    assert order_problems(workflow) != []


def test_lint_and_unit_tests_cover_the_level():
    scripts = [step["run"] for stage, _, step in stage_steps(load_workflow()) if stage == "lint"]
    commands = [line.split() for script in scripts for line in script.splitlines() if line]
    for ruff in (["ruff", "check"], ["ruff", "format", "--check"]):
        command = next(words for words in commands if words[: len(ruff)] == ruff)
        assert set(CHECKED_PATHS) <= set(command[len(ruff) :]), command
    tests = next(
        step["run"] for stage, _, step in stage_steps(load_workflow()) if stage == "unit tests"
    )
    assert tests.split()[-2:] == ["tests/level4_autonomous", "tests/data"]


def test_the_dataset_is_generated_where_the_config_reads_it_before_training():
    data_path = tomllib.loads(CONFIG.read_text())["data"]["path"]
    steps = [step for job in load_workflow()["jobs"].values() for step in job["steps"]]
    scripts = [" ".join(step.get("run", "").split()) for step in steps]
    generate = next(i for i, script in enumerate(scripts) if "-m data generate" in script)
    train = next(i for i, step in enumerate(steps) if stage_of(step) == "train")
    assert generate < train
    assert f"--out {data_path}" in scripts[generate]


def test_the_locked_dependencies_are_audited_on_every_run_before_training():
    workflow = load_workflow()
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    scripts = [" ".join(step.get("run", "").replace("\\\n", " ").split()) for step in steps]
    audit = next(i for i, script in enumerate(scripts) if "pip-audit" in script)
    train = next(i for i, step in enumerate(steps) if stage_of(step) == "train")
    export = re.search(r"uv export ([^|&;]*)", scripts[audit])

    assert audit < train
    assert "if" not in steps[audit] and not steps[audit].get("continue-on-error")
    assert export, scripts[audit]
    assert {"--frozen", "--all-groups", "--no-emit-project"} <= set(export.group(1).split())
    assert {"--strict", "--require-hashes", "--disable-pip"} <= set(scripts[audit].split())
    assert re.search(r"pip-audit==\$\{PIP_AUDIT_VERSION\}", scripts[audit])
    assert re.fullmatch(r"\d+\.\d+\.\d+", workflow["env"]["PIP_AUDIT_VERSION"])


def test_triggers_are_pushes_and_pull_requests_on_main_and_manual_runs():
    on = triggers(load_workflow())
    assert set(on) == {"push", "pull_request", "workflow_dispatch"}
    for event in ("push", "pull_request"):
        assert on[event]["branches"] == ["main"]
        assert {"level4_autonomous/**", "data/**", "uv.lock"} <= set(on[event]["paths"])
    tune = on["workflow_dispatch"]["inputs"]["tune"]
    assert tune["type"] == "boolean"
    assert tune["default"] is False


def test_permissions_are_read_only_and_runs_do_not_pile_up():
    workflow = load_workflow()
    assert workflow["permissions"] == {"contents": "read"}
    for job in workflow["jobs"].values():
        assert job.get("permissions", {"contents": "read"}) == {"contents": "read"}
        checkouts = [s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@")]
        assert all(step["with"]["persist-credentials"] is False for step in checkouts)
    assert "group" in workflow["concurrency"]


def test_the_reports_are_uploaded_even_when_a_stage_fails():
    steps = [step for job in load_workflow()["jobs"].values() for step in job["steps"]]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()"
    paths = upload["with"]["path"].split()
    assert {"state/level4_autonomous/*.json", "state/level4_autonomous/*.md"} <= set(paths)


# --- the manual tuning ------------------------------------------------------------------------


def test_the_tune_job_tunes_on_the_configs_data_and_uploads_the_evidence_whatever_happens():
    data_path = tomllib.loads(CONFIG.read_text())["data"]["path"]
    steps = load_workflow()["jobs"][TUNE_JOB]["steps"]
    scripts = [" ".join(step.get("run", "").split()) for step in steps]
    generate = next(i for i, script in enumerate(scripts) if "-m data generate" in script)
    tune = scripts.index("python -m level4_autonomous.train --tune")
    upload = next(
        i
        for i, step in enumerate(steps)
        if step.get("uses", "").startswith("actions/upload-artifact@")
    )

    assert generate < tune < upload
    assert f"--out {data_path}" in scripts[generate]
    assert "if" not in steps[tune]
    assert steps[upload]["if"] == "always()"
    paths = steps[upload]["with"]["path"].split()
    assert set(paths) == {
        "state/level4_autonomous/tuning.md",
        "state/level4_autonomous/tuning.json",
    }
    summary = next(script for script in scripts if "GITHUB_STEP_SUMMARY" in script)
    assert "state/level4_autonomous/tuning.md" in summary


def jobs_run(workflow: dict[Any, Any], context: dict[str, str]) -> list[str]:
    """The jobs that run on an event."""
    return [
        name
        for name, job in workflow["jobs"].items()
        if evaluate(job.get("if", "success()"), context)
    ]


def test_a_manual_run_that_asks_for_the_tuning_runs_only_the_tuning():
    workflow = load_workflow()

    assert jobs_run(workflow, TUNE_ON_MAIN) == [TUNE_JOB]
    assert stages_run(workflow, TUNE_ON_MAIN) == []


@pytest.mark.parametrize(
    "context",
    [PULL_REQUEST, PUSH_TO_MAIN, DISPATCH_ON_MAIN, DISPATCH_ON_BRANCH],
    ids=["pull-request", "push", "dispatch", "dispatch-branch"],
)
def test_the_tuning_runs_only_when_asked_for(context):
    assert TUNE_JOB not in jobs_run(load_workflow(), context)


# --- what runs on which event -----------------------------------------------------------------

TOKEN = re.compile(r"\s*(?:(&&|\|\||==|!=|!|\(|\))|'((?:[^']|'')*)'|([A-Za-z_][\w.-]*)(\(\))?)")
STATUS = {"always": True, "success": True, "failure": False, "cancelled": False}


class Condition:
    """A GitHub Actions `if:`, read for a run that has succeeded so far.

    It knows string and boolean literals, ==, !=, !, &&, ||, parentheses, the status functions
    and the names in the context it is given; anything else raises, so a condition on something
    new needs this reader (and the tests using it) updated.
    """

    def __init__(self, condition: str, context: dict[str, str]) -> None:
        self.text = condition.strip().removeprefix("${{").removesuffix("}}")
        self.tokens: list[tuple[str, Any]] = []
        position = 0
        while self.text[position:].strip():
            match = TOKEN.match(self.text, position)
            if match is None:
                raise ValueError(f"cannot read {self.text[position:]!r}")
            operator, string, name, call = match.groups()
            if operator:
                self.tokens.append(("op", operator))
            elif string is not None:
                self.tokens.append(("value", string.replace("''", "'")))
            elif call:
                self.tokens.append(("value", STATUS[name]))
            elif name in ("true", "false"):
                self.tokens.append(("value", name == "true"))
            else:
                self.tokens.append(("value", context[name]))
            position = match.end()

    def value(self) -> bool:
        """The condition's truth; an error if anything is left unread."""
        result = self.either()
        if self.tokens:
            raise ValueError(f"left over {self.tokens} in {self.text!r}")
        return bool(result)

    def next_is(self, operator: str) -> bool:
        """Whether ``operator`` comes next; if so, it is read."""
        if self.tokens and self.tokens[0] == ("op", operator):
            self.tokens.pop(0)
            return True
        return False

    def either(self) -> Any:
        """Operands joined by ``||``, which binds loosest."""
        return self.chain("||", self.both)

    def both(self) -> Any:
        """Operands joined by ``&&``, which binds tighter than ``||``."""
        return self.chain("&&", self.comparison)

    def chain(self, operator: str, operand: Callable[[], Any]) -> Any:
        """Operands joined by ``operator`` (``&&`` or ``||``), left to right."""
        value = operand()
        while self.next_is(operator):
            right = operand()
            value = (value or right) if operator == "||" else (value and right)
        return value

    def comparison(self) -> Any:
        """An ``==`` or ``!=``, case-insensitive as GitHub compares strings."""
        left = self.negation()
        for operator in ("==", "!="):
            if self.next_is(operator):
                same = str(left).casefold() == str(self.negation()).casefold()
                return same if operator == "==" else not same
        return left

    def negation(self) -> Any:
        """A ``!``, a condition in parentheses, or a single value."""
        if self.next_is("!"):
            return not self.negation()
        if self.next_is("("):
            value = self.either()
            if not self.next_is(")"):
                raise ValueError(f"unclosed parenthesis in {self.text!r}")
            return value
        kind, value = self.tokens.pop(0)
        if kind != "value":
            raise ValueError(f"unexpected {value!r} in {self.text!r}")
        return value


def evaluate(condition: str, context: dict[str, str]) -> bool:
    return Condition(condition, context).value()


def stages_run(workflow: dict[Any, Any], context: dict[str, str]) -> list[str]:
    """The contract stages that run on an event, when every stage succeeds."""
    jobs = workflow["jobs"]
    return [
        stage
        for stage, job, step in stage_steps(workflow)
        if evaluate(jobs[job].get("if", "success()"), context)
        and evaluate(step.get("if", "success()"), context)
    ]


def test_a_pull_request_is_linted_tested_trained_and_gated_but_never_released():
    assert collapse(stages_run(load_workflow(), PULL_REQUEST)) == CONTRACT[:4]


@pytest.mark.parametrize("context", [PUSH_TO_MAIN, DISPATCH_ON_MAIN], ids=["push", "dispatch"])
def test_main_runs_every_stage(context):
    assert collapse(stages_run(load_workflow(), context)) == CONTRACT


def test_a_manual_run_on_another_branch_does_not_release():
    assert collapse(stages_run(load_workflow(), DISPATCH_ON_BRANCH)) == CONTRACT[:4]


@pytest.mark.parametrize("stage", ["promote", "deploy"])
def test_event_check_notices_a_release_stage_open_to_pull_requests(stage):
    workflow = load_workflow()
    step = next(step for name, _, step in stage_steps(workflow) if name == stage)
    step["if"] = "github.ref == 'refs/heads/main' || github.event_name == 'pull_request'"
    assert stage in stages_run(workflow, PULL_REQUEST)


def test_the_condition_reader_follows_github_semantics():
    assert evaluate("${{ !(github.event_name == 'PUSH') && always() }}", PULL_REQUEST)
    assert not evaluate("github.event_name != 'pull_request' && success()", PULL_REQUEST)
    with pytest.raises(KeyError):
        evaluate("github.head_ref == 'main'", PULL_REQUEST)
