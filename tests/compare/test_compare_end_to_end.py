"""``python -m compare`` for real, on a tiny world: every figure against the file it came from.

The comparison runs each level's make target, which writes under the repository's ``state/``;
so the test runs it in a copy of the repository (the environment linked, not copied), with the
services on free ports, and checks that nothing it started outlives it.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from compare.ladder import LEVELS
from compare.page import TABLE_ID, timeline_id

ROOT = Path(__file__).resolve().parents[2]
SCENARIO, SEED, SIZE, DAYS, SWITCH_DAY = "catalog_shift", 7, "tiny", 4, 92
NOT_COPIED = (".git", ".venv", ".tools", "state", "__pycache__", ".pytest_cache", ".ruff_cache")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A copy of the repository whose services listen on free ports."""
    copy = tmp_path / "repository"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*NOT_COPIED))
    (copy / ".venv").symlink_to(ROOT / ".venv")
    for level in ("level2_cicd", "level3_monitoring", "level4_autonomous"):
        config = copy / level / "config.toml"
        text = re.sub(r"(?m)^port = \d+$", f"port = {free_port()}", config.read_text())
        config.write_text(text)
    return copy


@pytest.mark.slow
def test_compare_reads_every_figure_from_the_levels_runs(repository, process_trace):
    out = repository / "state" / "compare"
    command = [sys.executable, "-m", "compare", "--scenario", SCENARIO, "--seed", str(SEED)]
    command += ["--size", SIZE, "--days", str(DAYS), "--switch-day", str(SWITCH_DAY)]
    environment = process_trace.environment()
    environment.pop("MLFLOW_TRACKING_URI", None)  # the levels keep their own stores, as in use
    run = subprocess.run(
        command, cwd=repository, env=environment, capture_output=True, text=True,
        timeout=900, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert process_trace.running() == []

    folder = out / SCENARIO
    result = json.loads((folder / "compare.json").read_text())
    levels = result["levels"]
    assert list(levels) == [level.name for level in LEVELS]
    state = repository / "state"
    level3, level4 = levels["level3_monitoring"], levels["level4_autonomous"]
    for name in ("level3_monitoring", "level4_autonomous"):
        summary = json.loads((state / name / "summary.json").read_text())
        timeline = pd.read_csv(state / name / "timeline.csv")
        stages = json.loads((state / name / "stage_seconds.json").read_text())
        level = levels[name]
        assert [(a["day"], a["metric"]) for a in level["production"]["alerts"]] == [
            (a["day"], a["metric"]) for a in summary["alerts"]
        ]
        assert [d["true_quality"] for d in level["timeline"]] == pytest.approx(
            timeline["true_quality"].tolist(), abs=1e-5
        )
        assert level["production"]["failed_requests"] == int(timeline["failed"].sum())
        assert level["seconds"]["training"] == stages["train"]
    summary4 = json.loads((state / "level4_autonomous" / "summary.json").read_text())
    assert level4["production"]["failed_requests"] == summary4["failed_requests"]
    assert [(d["day"], d["action"]) for d in level4["production"]["decisions"]] == [
        (d["day"], d["action"]) for d in summary4["decisions"]
    ]
    # The new catalogue is alerted on the day it arrives, by both levels that watch.
    assert level3["production"]["detection_delay_days"] == 0
    assert level4["production"]["detection_delay_days"] == 0
    # Levels 0-2 replay the model they released; it is the model level 3 served over HTTP all
    # along, so the replayed true quality is level 3's, measured without a service.
    for name in ("level0_manual", "level1_pipeline", "level2_cicd"):
        replayed = [day["true_quality"] for day in levels[name]["timeline"]]
        assert replayed == pytest.approx([day["true_quality"] for day in level3["timeline"]])
        assert levels[name]["production"]["detection_delay_days"] is None
    assert levels["level0_manual"]["seconds"]["release"] is None

    page = (folder / "compare.html").read_text()
    for level in LEVELS:
        assert f'id="{timeline_id(level.name)}"' in page
    assert f'<table id="{TABLE_ID}">' in page
    assert (folder / "compare.png").read_bytes().startswith(b"\x89PNG")
    # The run ends with the table and where the page is.
    assert "time to recover" in run.stdout and "quality lost" in run.stdout
    assert str(folder / "compare.html") in run.stdout
