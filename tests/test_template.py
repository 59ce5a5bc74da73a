"""``make template``: every level becomes a project of its own whose tests pass there.

Each level is written to a temporary folder and its ``make test`` runs there, in an environment
the project installs for itself from its own lock (uv's cache is reused). Inside the project the
tests marked ``slow`` (end-to-end runs the repository's own suite has just run on the very same
code) and the data tests (byte-identical copies, checked here) are left out, to keep the whole
suite within its time budget; run ``make test`` in a template by hand for all of them. The top
level is written under a new package name, so every reference to the name must follow.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest

from template.__main__ import main as make_template
from template.dependencies import level_groups
from template.project import TemplateRequest, available_levels, uv_executable
from template.readme import readme_text

ROOT = Path(__file__).resolve().parents[1]
LEVELS = available_levels()
NEW_NAME = "shop_recs"
#: The top level is renamed: it has the most references to its name (commands, workflow, paths).
CASES = [(level, NEW_NAME if level == LEVELS[-1] else None) for level in LEVELS]
PROJECT_TEST_OPTIONS = "-m 'not slow' --ignore=tests/data -p no:cacheprovider"


def locked_versions(lock: Path) -> dict[str, set[str]]:
    """Package name → the versions a uv lock file pins (more than one when it forks)."""
    versions: dict[str, set[str]] = defaultdict(set)
    for package in tomllib.loads(lock.read_text())["package"]:
        versions[package["name"]].add(package["version"])
    return versions


def project_environment() -> dict[str, str]:
    """This environment without the tool settings and virtualenv of the repository's run."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MLFLOW_", "PREFECT_", "VIRTUAL_ENV", "PYTEST_"))
    }


def text_files(project: Path) -> list[Path]:
    """The project's own text files (not its environment)."""
    suffixes = {".py", ".toml", ".md", ".yml", ".mk"}
    return [
        path
        for path in project.rglob("*")
        if ".venv" not in path.parts
        and path.is_file()
        and (path.suffix in suffixes or path.name == "Makefile")
    ]


@pytest.mark.parametrize(("level", "name"), CASES)
def test_each_level_becomes_a_project_whose_own_tests_pass(level, name, tmp_path, capsys):
    project = tmp_path / "my-recommender"
    package = name or level

    renaming = ["--name", name] if name else []
    code = make_template(["--level", level, "--dest", str(project), *renaming])

    assert code == 0, capsys.readouterr().err
    assert (project / package / "level.mk").exists()
    assert (project / "tests" / package).is_dir()
    assert f"include {package}/level.mk" in (project / "Makefile").read_text()
    assert f"make template LEVEL={level}" in (project / "README.md").read_text()
    for path in (ROOT / "tests" / "data").glob("*.py"):
        assert (project / "tests" / "data" / path.name).read_bytes() == path.read_bytes()

    # Only the level's dependencies, at the versions the repository is tested with.
    runtime, dev = level_groups(ROOT / "pyproject.toml", level)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["dependencies"] == runtime
    assert pyproject["dependency-groups"]["dev"] == dev
    locked, ours = locked_versions(project / "uv.lock"), locked_versions(ROOT / "uv.lock")
    assert {package: locked[package] - ours[package] for package in locked} == {
        pyproject["project"]["name"]: {"0.1.0"},
        **{package: set() for package in locked if package != pyproject["project"]["name"]},
    }
    if level == LEVELS[0]:
        assert not {"mlflow", "prefect", "evidently", "fastapi"} & set(locked)

    result = subprocess.run(
        ["make", "test", f"UV={uv_executable()}"],
        cwd=project,
        env={**project_environment(), "PYTEST_ADDOPTS": PROJECT_TEST_OPTIONS},
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed", result.stdout), result.stdout[-2000:]


def test_a_renamed_project_keeps_no_trace_of_the_levels_name(tmp_path):
    level = LEVELS[-1]
    project = tmp_path / "shop"

    assert make_template(["--level", level, "--dest", str(project), "--name", NEW_NAME]) == 0

    traces = [
        f"{path.relative_to(project)}:{number}"
        for path in text_files(project)
        if path.name not in {"README.md", "Makefile"}  # they say where the project came from
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"\blevel[0-9]_[a-z]+", line)
    ]
    assert traces == []
    ruff = Path(sys.executable).with_name("ruff")
    lint = subprocess.run(
        [ruff, "check", "--no-cache", "."], cwd=project, capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0, lint.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--level", "level9_magic"], "LEVEL=level9_magic: choose one of level0_manual"),
        (["--level", "level0_manual"], "DEST is required"),
        (["--level", "level0_manual", "--dest", str(ROOT / "copy")], "must be outside"),
        (["--level", "level0_manual", "--dest", "{dest}", "--name", "My-Recs"], "NAME=My-Recs"),
        (["--level", "level0_manual", "--dest", "{dest}", "--name", "json"], "NAME=json"),
        (["--level", "level0_manual", "--dest", "{full}"], "not an empty folder"),
    ],
)
def test_a_request_that_cannot_work_is_refused_in_one_line(arguments, message, tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine\n")
    filled = [value.format(dest=tmp_path / "new", full=tmp_path / "full") for value in arguments]

    assert make_template(filled) == 2

    error = capsys.readouterr().err.strip()
    assert message in error
    assert len(error.splitlines()) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["full"]
    assert (tmp_path / "full" / "notes.txt").read_text() == "mine\n"


@pytest.mark.parametrize(("plays_production", "promised"), [(False, "DATA="), (True, "SCENARIO=")])
def test_the_readme_offers_movielens_only_to_levels_that_can_run_on_it(plays_production, promised):
    request = TemplateRequest(level="level3_monitoring", dest=Path("/tmp/shop"), name="shop")
    text = readme_text(
        request,
        "a level",
        [],
        repository="repo",
        version="abc",
        made_on="2026-12-02",
        has_workflow=True,
        plays_production=plays_production,
    )

    assert f"make level3 {promised}" in text
    assert ("ml-100k" in text) is not plays_production
