"""Write one level as a standalone project that installs, tests and runs on its own.

The project gets the level's package (renamed on request, with every reference following),
``data/``, the level's tests and the data tests, ``mk/common.mk`` and a Makefile that includes
the level's ``level.mk``, a ``pyproject.toml`` with only the level's dependencies, a lock with the
versions the repository is tested with, ``.ci/run``, the level's CI workflow and a README that
says where it all came from.

Everything is written into a staging folder beside the destination and moved into place at the
end, so a failure leaves no half-made project behind.
"""

from __future__ import annotations

import ast
import keyword
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path

from .dependencies import level_groups, project_file
from .readme import readme_text

REPOSITORY = Path(__file__).resolve().parents[1]
#: Files copied as they are (source in the repository → place in the project).
COMMON_FILES = {
    "data": "data",
    "tests/conftest.py": "tests/conftest.py",
    "tests/data": "tests/data",
    "tests/fixtures": "tests/fixtures",
    "mk/common.mk": "mk/common.mk",
    ".gitignore": ".gitignore",
    ".ci/run": ".ci/run",
}
#: Top-level names a project already uses, so its package cannot take them.
RESERVED_NAMES = {"data", "tests", "mk", "state", "template", "benchmarks"}
TEXT_SUFFIXES = {".py", ".toml", ".md", ".yml", ".yaml", ".mk", ".json", ".txt", ".cfg", ""}
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".github")


class TemplateError(ValueError):
    """The request cannot be carried out; the message names the parameter and why."""


@dataclass(frozen=True)
class TemplateRequest:
    """A checked request: which level, where, and the package's name in the new project."""

    level: str
    dest: Path
    name: str

    @property
    def renamed(self) -> bool:
        """Whether the package gets a name of its own in the new project."""
        return self.name != self.level

    @property
    def run_target(self) -> str:
        """The make target that runs the level: its number, ``level2`` for ``level2_cicd``."""
        return self.level.split("_", maxsplit=1)[0]

    @property
    def project_name(self) -> str:
        """The distribution name: the destination folder's name, lower case, words joined by -."""
        return re.sub(r"[^a-z0-9]+", "-", self.dest.name.lower()).strip("-") or self.name


def available_levels() -> list[str]:
    """The level folders of the repository: those with their own make targets."""
    return sorted(path.parent.name for path in REPOSITORY.glob("level[0-9]_*/level.mk"))


def check_request(level: str | None, dest: Path | None, name: str | None) -> TemplateRequest:
    """Refuse, naming the parameter, anything that cannot become a working project."""
    levels = available_levels()
    if not level or level not in levels:
        raise TemplateError(f"LEVEL={level or ''}: choose one of {', '.join(levels)}")
    if dest is None:
        raise TemplateError("DEST is required: the folder to write the project to")
    dest = dest.expanduser().resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise TemplateError(f"DEST={dest}: already exists and is not an empty folder")
    if dest == REPOSITORY or REPOSITORY in dest.parents:
        raise TemplateError(f"DEST={dest}: must be outside this repository")
    name = name or level
    if not name.isidentifier() or keyword.iskeyword(name) or name != name.lower():
        raise TemplateError(
            f"NAME={name}: must be a lower-case Python identifier, e.g. my_recommender"
        )
    if name != level and (
        name in RESERVED_NAMES or name in sys.stdlib_module_names or find_spec(name) is not None
    ):
        raise TemplateError(f"NAME={name}: already the name of a module; choose another")
    level_groups(REPOSITORY / "pyproject.toml", level)  # the level declares its dependencies
    return TemplateRequest(level=level, dest=dest, name=name)


def write_template(request: TemplateRequest) -> Path:
    """Write the project to ``request.dest`` (all of it, or nothing) and return its path."""
    request.dest.parent.mkdir(parents=True, exist_ok=True)
    # Beside the destination, so the final move is a rename; mkdir honours the umask.
    staging = request.dest.parent / f".{request.dest.name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        copy_sources(request, staging)
        if request.renamed:
            rename_package(staging, request.level, request.name)
        write_project_files(request, staging)
        lock(staging)
        if request.renamed:
            tidy(staging)
        if request.dest.exists():
            request.dest.rmdir()  # checked empty above
        staging.replace(request.dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return request.dest


def copy_sources(request: TemplateRequest, staging: Path) -> None:
    """The level's package and tests under the project's name, and what every project shares."""
    level = REPOSITORY / request.level
    shutil.copytree(level, staging / request.name, ignore=IGNORED)
    if (level / ".github").is_dir():
        shutil.copytree(level / ".github", staging / ".github")
    tests = REPOSITORY / "tests" / request.level
    shutil.copytree(tests, staging / "tests" / request.name, ignore=IGNORED)
    for source, target in COMMON_FILES.items():
        origin, destination = REPOSITORY / source, staging / target
        destination.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, destination, ignore=IGNORED)
        else:
            shutil.copy2(origin, destination)


def rename_package(staging: Path, old: str, new: str) -> None:
    """Replace the package's name wherever it appears as a word: imports, paths, commands."""
    pattern = re.compile(rf"\b{re.escape(old)}\b")
    for path in staging.rglob("*"):
        if path.is_file() and path.suffix in TEXT_SUFFIXES:
            text = path.read_text()
            renamed = pattern.sub(new, text)
            if renamed != text:
                path.write_text(renamed)


def write_project_files(request: TemplateRequest, staging: Path) -> None:
    """The Makefile, pyproject.toml and README.md of the new project."""
    description = level_summary(request.level)
    (staging / "Makefile").write_text(makefile_text(request, description))
    (staging / "pyproject.toml").write_text(
        project_file(
            REPOSITORY / "pyproject.toml",
            name=request.project_name,
            description=description,
            level=request.level,
        )
    )
    runtime, _ = level_groups(REPOSITORY / "pyproject.toml", request.level)
    (staging / "README.md").write_text(
        readme_text(
            request,
            description,
            runtime,
            repository=repository_name(),
            version=source_version(),
            made_on=datetime.now(UTC).date().isoformat(),
            has_workflow=(staging / ".github").is_dir(),
            plays_production=(staging / request.name / "production.py").is_file(),
        )
    )


def makefile_text(request: TemplateRequest, description: str) -> str:
    """A Makefile of three lines that matter: the shared targets and the level's."""
    return (
        f"# {request.project_name}: {description}\n"
        f"# Made from {request.level} of {repository_name()} by `make template` (see README.md).\n"
        "# `make help` lists the targets. mk/common.mk sets up the environment (uv, then the\n"
        "# locked .venv/) and has what every project needs; "
        f"{request.name}/level.mk has the level's own.\n"
        "\n"
        "include mk/common.mk\n"
        f"include {request.name}/level.mk\n"
    )


def lock(staging: Path) -> None:
    """Lock the project's dependencies at the versions the repository's lock already has.

    uv keeps the versions of an existing lock when it re-resolves, so starting from the
    repository's lock drops what the level does not need and changes nothing else. Offline
    first (the packages are in uv's cache after ``make``), online if the cache lacks something.
    """
    shutil.copy2(REPOSITORY / "uv.lock", staging / "uv.lock")
    uv = uv_executable()
    for offline in (["--offline"], []):
        result = subprocess.run(
            [uv, "lock", "--quiet", *offline],
            cwd=staging,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0:
            return
    raise TemplateError(f"uv lock failed in the new project: {result.stderr.strip()}")


def tidy(staging: Path) -> None:
    """Re-sort imports and re-format after a rename, so the project stays ruff-clean."""
    ruff = str(Path(sys.executable).with_name("ruff"))
    for command in (["check", "--select", "I", "--fix", "--quiet"], ["format", "--quiet"]):
        subprocess.run([ruff, *command, "."], cwd=staging, capture_output=True, check=False)


def uv_executable() -> str:
    """The uv executable: from PATH, or the one ``make`` bootstrapped into .tools/."""
    found = shutil.which("uv") or REPOSITORY / ".tools" / "bin" / "uv"
    if not Path(found).exists():
        raise TemplateError("uv is not installed: run `make` in the repository first")
    return str(found)


def level_summary(level: str) -> str:
    """The first line of the level package's docstring, e.g. "Level 2, CI/CD: …"."""
    source = (REPOSITORY / level / "__init__.py").read_text()
    docstring = ast.get_docstring(ast.parse(source)) or level
    return docstring.splitlines()[0].rstrip(".")


def repository_name() -> str:
    """The repository's project name, as its pyproject.toml gives it."""
    text = (REPOSITORY / "pyproject.toml").read_text()
    found = re.search(r'^name = "([^"]+)"', text, flags=re.MULTILINE)
    return found.group(1) if found else REPOSITORY.name


def source_version() -> str:
    """The repository's commit, and whether the copied files had uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPOSITORY, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = bool(git("status", "--porcelain"))
    except (OSError, subprocess.CalledProcessError):
        return "(not a git checkout)"
    return f"commit {commit}" + (" with uncommitted changes" if dirty else "")
