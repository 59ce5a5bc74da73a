"""What a step up costs in code: a level's diff from the level below, as a page of its own.

The same comparison as ``make diff FROM=… TO=…`` (Python, config and make files; READMEs left
out), rendered with the added and removed lines coloured and a count per file, so a reader of
the comparison can open it next to the figures.
"""

from __future__ import annotations

import difflib
import html
from pathlib import Path

#: The files a level's code is made of (its README is prose, compared by reading).
CODE_PATTERNS = ("*.py", "*.toml", "*.mk")


def level_files(folder: Path) -> dict[str, list[str]]:
    """The level's code files by name, each as its lines."""
    return {
        path.name: path.read_text(encoding="utf-8").splitlines()
        for pattern in CODE_PATTERNS
        for path in sorted(folder.glob(pattern))
    }


def file_diffs(lower: Path, upper: Path) -> list[tuple[str, list[str]]]:
    """(file name, unified diff lines) for every file that differs, in name order."""
    before, after = level_files(lower), level_files(upper)
    changed = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name, []), after.get(name, [])
        if old == new:
            continue
        lines = list(
            difflib.unified_diff(
                old,
                new,
                f"{lower.name}/{name}" if name in before else "/dev/null",
                f"{upper.name}/{name}" if name in after else "/dev/null",
                lineterm="",
            )
        )
        changed.append((name, lines))
    return changed


def counts(lines: list[str]) -> tuple[int, int]:
    """Lines added and removed in one file's diff."""
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    return added, removed


def render(lower: Path, upper: Path, path: Path) -> dict[str, int]:
    """Write the diff page to ``path``; the totals (files changed, lines added and removed)."""
    diffs = file_diffs(lower, upper)
    total_added = total_removed = 0
    index, bodies = [], []
    for name, lines in diffs:
        added, removed = counts(lines)
        total_added += added
        total_removed += removed
        anchor = f"file-{html.escape(name)}"
        index.append(
            f'<li><a href="#{anchor}">{html.escape(name)}</a> '
            f'<span class="add">+{added}</span> <span class="del">-{removed}</span></li>'
        )
        rows = "\n".join(_line(line) for line in lines)
        bodies.append(f'<h2 id="{anchor}">{html.escape(name)}</h2>\n<pre>{rows}</pre>')
    title = f"{lower.name} → {upper.name}"
    page = PAGE.format(
        title=html.escape(title),
        summary=f"{len(diffs)} files changed, +{total_added} -{total_removed} lines",
        index="\n".join(index),
        bodies="\n".join(bodies),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return {"files": len(diffs), "added": total_added, "removed": total_removed}


def _line(line: str) -> str:
    kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "")
    if line.startswith(("+++", "---")):
        kind = "head"
    escaped = html.escape(line)
    return f'<span class="{kind}">{escaped}</span>' if kind else escaped


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 72em; }}
pre {{ background: #f8f8f8; padding: .8em; overflow-x: auto; font-size: 12px; }}
.add {{ color: #116611; background: #e6ffe6; }} .del {{ color: #991111; background: #ffecec; }}
.hunk {{ color: #555; }} .head {{ font-weight: bold; }}
</style></head><body>
<h1>{title}</h1>
<p>{summary} (the code; READMEs left out, as in <code>make diff</code>).</p>
<ul>
{index}
</ul>
{bodies}
</body></html>
"""
