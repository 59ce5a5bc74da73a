"""The data every level reads: the simulated world, the dataset contract and its reader.

Kept light on purpose (numpy and pandas only): ``python -m data`` and every level import it.
"""

from .dataset import Dataset, write_dataset
from .loading import load_dataset, read_dataset, typed_dataset
from .problems import DataError, Problem
from .validation import validate_dataset
from .world import World, WorldConfig, oracle_for

__all__ = [
    "DataError",
    "Dataset",
    "Problem",
    "World",
    "WorldConfig",
    "load_dataset",
    "oracle_for",
    "read_dataset",
    "typed_dataset",
    "validate_dataset",
    "write_dataset",
]
