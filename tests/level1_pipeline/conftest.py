"""Level 1 test configuration: config.toml as shipped, on the tiny world, in temporary state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from level1_pipeline.config import DEFAULT_CONFIG, load_config

TEST_EXPERIMENT = "level1-tests"


@pytest.fixture(scope="session")
def config_file(test_config: Callable[[Path, str], Path], tiny_world: Path) -> Path:
    """config.toml as shipped, but reading the tiny world and keeping state in a temporary place."""
    path = test_config(DEFAULT_CONFIG, TEST_EXPERIMENT)
    config = load_config(path)
    assert config.data.path == tiny_world
    assert config.tracking.experiment == TEST_EXPERIMENT
    assert config.tracking.state_dir == path.parent / "state"
    return path
