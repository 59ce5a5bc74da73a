"""The pipeline's configuration: one TOML file plus command-line overrides, validated up front.

Validating before anything runs means a typo in a key or an impossible value stops the run with
the field's name, instead of surfacing as an odd failure halfway through training.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    ValidationError,
    field_validator,
)

from . import PACKAGE

DEFAULT_CONFIG = Path(__file__).with_name("config.toml")


class Section(BaseModel):
    """A table of the file: unknown keys are typos, and NaN or infinity is never a setting."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DataConfig(Section):
    """``[data]``: the dataset folder to train on, simulated or MovieLens."""

    path: Path


class SplitConfig(Section):
    """``[split]``: how much of the latest history is held out for evaluation."""

    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)


class ModelConfig(Section):
    """``[model]``: EASE's one hyper-parameter (the model has no seed to set)."""

    l2: float = Field(200.0, gt=0.0)


class EvaluationConfig(Section):
    """``[evaluation]``: the length of the ranked lists the metrics judge."""

    k: int = Field(10, ge=1, le=100)


class Expectations(Section):
    """``[expectations]``: what data is worth training on, beyond the file contract."""

    min_interactions: int = Field(1000, ge=1)
    min_users: int = Field(50, ge=1)
    min_items: int = Field(20, ge=1)
    max_price: float = Field(5000.0, gt=0.0)


class TrackingConfig(Section):
    """``[tracking]``: the MLflow experiment, and where local state goes."""

    experiment: str = Field(PACKAGE, min_length=1)
    state_dir: Path = Path("state") / PACKAGE


class TuningConfig(Section):
    """``[tuning]``: the ``l2`` values ``train --tune`` tries, and the days it judges them on.

    The tuning never changes the configuration: it reports the best value and how to adopt it.
    """

    #: Candidates for ``model.l2`` (the configured value is always tried as well). On the command
    #: line, comma-separated: ``--set tuning.l2_grid=10,100,1000``.
    l2_grid: tuple[PositiveFloat, ...] = (10.0, 30.0, 100.0, 300.0, 1e3, 3e3, 1e4, 3e4)
    #: The validation period: the last this many days of the training period. Each candidate is
    #: trained on the days before them; the test period is never read.
    validation_days: int = Field(14, ge=1)

    @field_validator("l2_grid", mode="before")
    @classmethod
    def split_at_commas(cls, value: object) -> object:
        """An override arrives as text, ``10,100,1000`` (or ``[10, 100, 1000]``): a list of it."""
        if isinstance(value, str):
            text = value.strip().strip("[]").strip()
            return [part.strip() for part in text.split(",")] if text else []
        return value

    @field_validator("l2_grid")
    @classmethod
    def not_empty(cls, grid: tuple[float, ...]) -> tuple[float, ...]:
        """At least one candidate besides the configured value, or there is nothing to tune."""
        if not grid:
            raise ValueError("give at least one value to try")
        return grid


class ScheduleConfig(Section):
    """``[schedule]``: how often ``train --schedule`` runs the flow."""

    interval_minutes: int = Field(1440, ge=1)


class RegistryConfig(Section):
    """``[registry]``: the registered model every trained model becomes a version of."""

    model_name: str = Field("recommender", min_length=1)


class GateConfig(Section):
    """``[gate]``: how far a challenger must beat popularity and may trail the champion."""

    min_lift_over_popularity: float = Field(1.1, ge=1.0)
    champion_tolerance: float = Field(0.02, ge=0.0, lt=1.0)


class ServingConfig(Section):
    """``[serving]``: where the API listens, how often it looks for a new champion."""

    host: str = "127.0.0.1"
    port: int = Field(8003, ge=1, le=65535)
    refresh_seconds: float = Field(5.0, gt=0.0)
    max_k: int = Field(100, ge=1)
    #: Record every /recommend answer and the feedback on it (off only to measure its cost).
    log_predictions: bool = True


class MonitoringConfig(Section):
    """``[monitoring]``: what the daily monitoring compares, and when it raises an alert."""

    #: The last days of the training data that production is compared with.
    reference_days: int = Field(28, ge=1)
    #: A column drifts when its drift score (Jensen-Shannon distance for categories, normed
    #: Wasserstein distance for numbers) reaches this.
    column_drift_score: float = Field(0.1, gt=0.0, le=1.0)
    #: Alert when this share of the compared columns drifted.
    drift_share: float = Field(0.25, gt=0.0, le=1.0)
    #: Alert when more of the feed's interactions than this are on items the champion was not
    #: trained on (it cannot recommend them).
    max_new_item_share: float = Field(0.25, gt=0.0, le=1.0)
    #: The champion's first production days, whose click-through is what it is expected to keep.
    baseline_days: int = Field(3, ge=1)
    #: Alert when a day's click-through is significantly below this share of the baseline's,
    min_ctr_ratio: float = Field(0.85, gt=0.0, lt=1.0)
    #: significantly meaning a one-sided p-value under this.
    ctr_significance: float = Field(0.01, gt=0.0, lt=0.5)
    #: A comparison of fewer rows than this (the day's answered requests, or its feed's rows) is
    #: not judged: no drift or click-through alert from it.
    min_rows: int = Field(400, ge=1)
    max_error_rate: float = Field(0.01, ge=0.0, le=1.0)
    max_p99_ms: float = Field(250.0, gt=0.0)
    #: Which days get an HTML report beside the JSON (each page is about 4 MB).
    html_reports: Literal["all", "alerts", "none"] = "alerts"
    #: Alerts are also POSTed here as JSON when set.
    webhook_url: str | None = None
    #: An Evidently UI to send each day's snapshots to (``make stack`` runs one) instead of the
    #: workspace folder in the state folder.
    workspace_url: str | None = None

    @field_validator("workspace_url")
    @classmethod
    def http_url(cls, url: str | None) -> str | None:
        """An Evidently UI is reached over HTTP: anything else is a mistake worth naming."""
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"must be an http:// or https:// URL of an Evidently UI, got {url!r}")
        return url


class Config(Section):
    """The whole file, a section per table; every table but ``[data]`` has defaults."""

    data: DataConfig
    split: SplitConfig = SplitConfig()
    model: ModelConfig = ModelConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    expectations: Expectations = Expectations()
    tracking: TrackingConfig = TrackingConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    tuning: TuningConfig = TuningConfig()
    registry: RegistryConfig = RegistryConfig()
    gate: GateConfig = GateConfig()
    serving: ServingConfig = ServingConfig()
    monitoring: MonitoringConfig = MonitoringConfig()

    def flat(self) -> dict[str, str]:
        """``section.key`` → value, as MLflow parameters are logged."""
        return {
            f"{section}.{key}": str(value)
            for section, values in self.model_dump().items()
            for key, value in values.items()
        }


class ConfigError(ValueError):
    """A configuration file or override that cannot be used, with the offending field named."""


def load_config(path: Path = DEFAULT_CONFIG, overrides: dict[str, str] | None = None) -> Config:
    """Read ``path``, apply ``section.key=value`` overrides and validate the result."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: a folder, not a configuration file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not valid UTF-8 text (TOML must be): {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        if not key:
            raise ConfigError(f"override {dotted!r}: expected section.key=value, e.g. model.l2=500")
        target = raw.setdefault(section, {})
        if not isinstance(target, dict):
            raise ConfigError(f"override {dotted!r}: {section!r} is not a section of {path}")
        target[key] = value
    try:
        return Config.model_validate(raw)
    except ValidationError as error:
        details = "; ".join(
            f"field '{'.'.join(str(part) for part in problem['loc'])}': {problem['msg']}"
            for problem in error.errors()
        )
        raise ConfigError(f"{path}: {details}") from None


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """``["model.l2=500"]`` → ``{"model.l2": "500"}``; pydantic converts the strings."""
    overrides = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator:
            raise ConfigError(f"override {pair!r}: expected section.key=value, e.g. model.l2=500")
        overrides[key.strip()] = value.strip()
    return overrides


def as_dict(config: Config) -> dict[str, Any]:
    """The configuration as JSON-able data, to log with the run."""
    return config.model_dump(mode="json")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` and repeatable ``--set section.key=value``, as every command takes them."""
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="configuration file")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override any configuration value; repeatable",
    )
