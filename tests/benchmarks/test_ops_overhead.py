"""The ops-overhead benchmark's bookkeeping, on hand-made numbers and files (no timing)."""

from __future__ import annotations

import json

import pytest

from benchmarks import ops_overhead
from benchmarks.ops_overhead import Timing, import_seconds, median, table

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       120 |        120 |   _io
import time:      2000 |    1500000 | mlflow
import time:       300 |     250000 |     mlflow.tracking
import time:       400 |     500000 | prefect
some other line a level printed
import time:        50 |      40000 | level2_cicd.stages
"""


def test_only_top_level_imports_are_summed_so_nothing_counts_twice():
    # mlflow 1.5 s (its mlflow.tracking is inside it), prefect 0.5 s, the level's module 0.04 s;
    # the indented _io and mlflow.tracking are parts of others.
    assert import_seconds(IMPORTTIME) == pytest.approx(2.04)
    assert import_seconds("no imports were profiled\n") == 0


def test_median_takes_each_part_on_its_own():
    runs = [Timing(10.0, 4.0), Timing(12.0, 6.0), Timing(30.0, 5.0)]
    assert median(runs) == Timing(12.0, 5.0)


def test_production_days_are_the_summary_minus_the_release_stages(tmp_path, monkeypatch):
    monkeypatch.setattr(ops_overhead, "STATE", tmp_path)
    level = tmp_path / "level3_monitoring"
    level.mkdir()
    (level / "summary.json").write_text(json.dumps({"seconds": 20.5}))
    (level / "stage_seconds.json").write_text(json.dumps({"train": 5.0, "deploy": 3.5}))
    assert ops_overhead.production_days("level3") == pytest.approx(12.0)
    assert ops_overhead.production_days("level0") == 0.0  # no summary: no production days


def test_the_table_charges_each_level_over_level_0_without_its_production_day():
    row = {"import_seconds": 2.0, "step_seconds": 1.0}
    results = {
        "level0": {**row, "alone_seconds": 2.0, "shared_seconds": 2.0, "production_day_seconds": 0},
        "level3": {**row, "alone_seconds": 30, "shared_seconds": 25.0, "production_day_seconds": 9},
    }
    lines = table(results).splitlines()
    assert lines[1].split()[-1] == "+0.0"
    assert lines[2].split()[-2:] == ["9.0", "+14.0"]  # 25 - 9 - 2
