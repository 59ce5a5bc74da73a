"""A level's dependencies, read from the repository's ``pyproject.toml``, and the project file.

The repository declares one dependency group per level (``level2``) and per level's tests
(``level2-dev``), each including the group of the level below. A project made from a level gets
that group, flattened, as its dependencies, and the tests' group as its ``dev`` group, with the
repository's own tool settings (pytest, ruff) unchanged.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

#: The tool settings a project keeps exactly as the repository has them.
KEPT_TOOL_SECTIONS = ("[tool.pytest.", "[tool.ruff")


class DependencyError(ValueError):
    """The repository's pyproject.toml does not declare what a level needs."""


def group_requirements(groups: dict[str, list[Any]], name: str) -> list[str]:
    """The requirements of group ``name``, with every ``include-group`` resolved, in order."""
    if name not in groups:
        raise DependencyError(
            f"pyproject.toml: no dependency group {name!r}; each level declares level<N> and "
            "level<N>-dev"
        )
    requirements: list[str] = []
    for entry in groups[name]:
        included = entry["include-group"] if isinstance(entry, dict) else None
        for requirement in group_requirements(groups, included) if included else [entry]:
            if requirement not in requirements:
                requirements.append(requirement)
    return requirements


def level_groups(pyproject: Path, level: str) -> tuple[list[str], list[str]]:
    """The level's runtime and test requirements: groups ``level<N>`` and ``level<N>-dev``."""
    groups = tomllib.loads(pyproject.read_text())["dependency-groups"]
    number = level.split("_", maxsplit=1)[0]  # "level2_cicd" -> "level2"
    return group_requirements(groups, number), group_requirements(groups, f"{number}-dev")


def project_file(root_pyproject: Path, *, name: str, description: str, level: str) -> str:
    """The new project's ``pyproject.toml``: its name, the level's dependencies, the tools."""
    runtime, dev = level_groups(root_pyproject, level)
    root = tomllib.loads(root_pyproject.read_text())["project"]
    lines = [
        "[project]",
        f'name = "{name}"',
        'version = "0.1.0"',
        f'description = "{description}"',
        'readme = "README.md"',
        f'requires-python = "{root["requires-python"]}"',
        "dependencies = [",
        *(f'    "{requirement}",' for requirement in runtime),
        "]",
        "",
        "[dependency-groups]",
        "dev = [",
        *(f'    "{requirement}",' for requirement in dev),
        "]",
        "",
        "[tool.uv]",
        "# A set of runnable folders, not an installable library.",
        "package = false",
        "",
        *kept_tool_sections(root_pyproject.read_text()),
    ]
    return "\n".join(lines).rstrip() + "\n"


def kept_tool_sections(text: str) -> list[str]:
    """The lines of the repository's pytest and ruff sections, comments included."""
    kept, keeping = [], False
    for line in text.splitlines():
        if line.startswith("["):
            keeping = line.startswith(KEPT_TOOL_SECTIONS)
        if keeping:
            kept.append(line)
    return kept
