"""Every level folder can be copied out with data/ beside it: no level imports another."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEVELS = sorted(path.name for path in ROOT.glob("level[0-9]_*") if path.is_dir())


def imported_modules(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(), filename=str(source))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_there_are_levels_to_check():
    assert "level0_manual" in LEVELS


@pytest.mark.parametrize("level", LEVELS)
def test_level_imports_no_other_level(level):
    others = set(LEVELS) - {level}
    offenders = {
        str(source.relative_to(ROOT)): sorted(imported_modules(source) & others)
        for source in (ROOT / level).rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}
