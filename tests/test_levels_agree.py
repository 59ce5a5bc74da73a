"""Across the levels: the same recommender, so the same figures from the same data.

Only these root tests import several levels, on purpose; each level's own tests import only that
level and ``data/``, so a project made from one level (``make template``) keeps all of them.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEVELS = sorted(path.name for path in ROOT.glob("level[0-9]_*") if path.is_dir())
PIPELINE_LEVELS = [level for level in LEVELS if (ROOT / level / "flow.py").exists()]
#: The recommender and its evaluation: one implementation, copied unchanged into every level.
SHARED_FILES = ["model.py", "evaluation.py"]
MODELS = ["model", "popularity", "oracle"]


def test_there_are_levels_to_compare():
    assert LEVELS[0] == "level0_manual"
    assert len(PIPELINE_LEVELS) >= 2, PIPELINE_LEVELS


@pytest.mark.parametrize("name", SHARED_FILES)
def test_the_model_and_its_metrics_are_the_same_file_at_every_level(name):
    first = (ROOT / LEVELS[0] / name).read_bytes()
    differing = [level for level in LEVELS[1:] if (ROOT / level / name).read_bytes() != first]
    assert differing == [], f"{name} differs from {LEVELS[0]}'s in {differing}"


@pytest.fixture(scope="module")
def level0_metrics(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    train = importlib.import_module("level0_manual.train")
    out = tmp_path_factory.mktemp("level0")
    assert train.main(["--data", str(tiny_world), "--out", str(out)]) == 0
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("level", PIPELINE_LEVELS)
def test_every_pipeline_reports_exactly_what_level_0_reports(
    level: str,
    level0_metrics: dict,
    test_config: Callable[[Path, str], Path],
):
    config = importlib.import_module(f"{level}.config")
    flow = importlib.import_module(f"{level}.flow")
    path = test_config(config.DEFAULT_CONFIG, f"{level}-agreement")

    result = flow.training_flow(str(path))

    metrics = json.loads(result.metrics_path.read_text())
    for name in MODELS:
        assert metrics[name] == pytest.approx(level0_metrics[name], rel=1e-12), name
    for section in ("evaluation", "params", "dataset"):
        assert metrics[section] == level0_metrics[section], section
