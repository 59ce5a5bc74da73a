"""The rendered diff between two levels: what changed, counted per file."""

from __future__ import annotations

from pathlib import Path

from compare.diffs import render


def test_the_diff_page_counts_added_removed_and_new_files(tmp_path: Path):
    lower, upper = tmp_path / "level0_demo", tmp_path / "level1_demo"
    lower.mkdir()
    upper.mkdir()
    (lower / "train.py").write_text("a = 1\nb = 2\n")
    (upper / "train.py").write_text("a = 1\nb = 3\nc = 4\n")
    (lower / "same.py").write_text("x = 1\n")
    (upper / "same.py").write_text("x = 1\n")
    (upper / "flow.py").write_text("f = 1\n")
    (upper / "README.md").write_text("prose is left out\n")
    totals = render(lower, upper, tmp_path / "diff.html")
    assert totals == {"files": 2, "added": 3, "removed": 1}
    page = (tmp_path / "diff.html").read_text()
    assert '<span class="add">+c = 4</span>' in page
    assert '<span class="del">-b = 2</span>' in page
    assert "same.py" not in page and "prose is left out" not in page
