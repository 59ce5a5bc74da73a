"""A dataset folder in memory, and writing one to disk without leaving half a folder behind."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .schema import INTERACTIONS, ITEMS, METADATA_FILE, USERS


@dataclass
class Dataset:
    """The three tables of a dataset folder plus its metadata (see :mod:`data.schema`)."""

    users: pd.DataFrame
    items: pd.DataFrame
    interactions: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def write_dataset(dataset: Dataset, folder: str | Path) -> Path:
    """Write ``dataset`` to ``folder`` atomically: a failure leaves any previous folder as it was.

    The tables are written into a temporary sibling folder first and moved into place at the end,
    so a reader never sees a dataset with some of its files missing or truncated.
    """
    target = Path(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for schema, frame in (
            (USERS, dataset.users),
            (ITEMS, dataset.items),
            (INTERACTIONS, dataset.interactions),
        ):
            frame.to_csv(staging / schema.file_name, index=False, float_format="%.10g")
        (staging / METADATA_FILE).write_text(
            json.dumps(dataset.meta, indent=2, sort_keys=True) + "\n"
        )
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    dataset.path = target
    return target
