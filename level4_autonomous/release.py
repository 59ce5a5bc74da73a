"""The release stages: judge a trained run's model, register it, promote it if it earned it.

Each function reads what it needs from MLflow and the dataset, so it can run in a fresh process
(a CI step). Nothing here moves the ``champion`` alias except :func:`promote_candidate`, and only
after the gate passed: a failed stage anywhere leaves the registry's champion as it was.
Each registered version gets its model card, rewritten on promotion (``model_card.py``); a card
that cannot be written is a warning, never a reason to undo a release.
"""

from __future__ import annotations

import json
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from data import DataError, load_dataset

from .champion import ChampionLoadError, load_usable, redact
from .config import Config
from .evaluation import Split
from .gate import GateReport, run_gate
from .integrity import DIGEST_TAG, ModelIntegrityError, first_line, load_verified, run_digest
from .model import Recommender
from .model_card import record_version_card
from .registry import CHAMPION, ModelVersion, promote, register, version_with_alias
from .stages import StageError
from .tracking import code_version, save_atomically
from .window import window_split

GATE_JSON, GATE_MARKDOWN = "gate.json", "gate.md"


def judge_candidate(config: Config, run_id: str, model_uri: str) -> str:
    """Run the gate on the candidate against the current champion; record and return the verdict.

    The candidate's files must match the digest its run recorded: a model that cannot be
    checked or loaded is not judged (``StageError``), and nothing is recorded. A champion that
    cannot be evaluated fails the comparison (see ``gate.py``), with one line on stderr.
    """
    split = training_split(run_id, config)
    champion = version_with_alias(config.registry.model_name, CHAMPION)
    champion_model, champion_problem = evaluable_champion(champion)
    digest = run_digest(run_id)
    with tempfile.TemporaryDirectory(prefix="candidate-") as folder:
        report = run_gate(
            load_candidate(run_id, model_uri, digest, Path(folder)),
            champion_model,
            split,
            k=config.evaluation.k,
            gate=config.gate,
            champion_version=champion.version if champion else None,
            champion_problem=champion_problem,
            model_sha256=digest,
        )
    record_gate_report(report, run_id, config)
    print(report.to_markdown())
    return report.verdict


def training_split(run_id: str, config: Config) -> Split:
    """The configured data's held-out split, once it is shown to be the run's training data."""
    try:
        dataset = load_dataset(config.data.path)
    except DataError as error:
        raise StageError(f"the gate cannot read its data (data.path): {error}") from None
    split = window_split(
        dataset.interactions, config.split.test_fraction, config.data.train_from_day
    )
    check_training_data(run_id, split, config)
    return split


def evaluable_champion(champion: ModelVersion | None) -> tuple[Recommender | None, str | None]:
    """The champion's recommender, or why it cannot be evaluated (also said on stderr)."""
    if champion is None:
        return None, None
    try:
        return usable_version(champion.name, champion.version), None
    except ChampionLoadError as problem:
        print(
            f"warning: the champion (version {champion.version}) cannot be evaluated, so the "
            f"gate fails: {problem}",
            file=sys.stderr,
        )
        return None, str(problem)


def check_training_data(run_id: str, split: Split, config: Config) -> None:
    """Refuse to judge a model on anything but the held-out period of its own training data.

    The run recorded its training and evaluation periods as MLflow dataset inputs with digests;
    the configured data, split the same way, must give the same digests. The comparison is by
    content, so the same data at another path is fine. MLflow's digest covers a frame's first
    10,000 rows, its row count and its columns.
    """
    run = MlflowClient().get_run(run_id)
    recorded = {
        tag.value: dataset_input.dataset.digest
        for dataset_input in run.inputs.dataset_inputs
        for tag in dataset_input.tags
        if tag.key == MLFLOW_DATASET_CONTEXT
    }
    if "training" not in recorded:
        raise StageError(
            f"run {run_id} recorded no training data (MLflow dataset inputs), so the gate cannot "
            "check that it evaluates on the held-out period of that data; train with this "
            "level's pipeline"
        )
    for context, frame in (("training", split.train), ("evaluation", split.test)):
        here = frame_digest(frame)
        if context in recorded and here != recorded[context]:
            raise StageError(
                "the gate evaluates a model on the held-out period of its own training data, "
                f"and this is not it: {data_difference(run, config)} ({context} period digest "
                f"{here}, recorded {recorded[context]}). Give the gate the train stage's data "
                "(--data) and split, or train on this data first"
            )


def data_difference(run: Run, config: Config) -> str:
    """Why the configured data is not the run's, as far as the run's record tells."""
    trained_on = run.data.tags.get("data.path") or run.data.params.get("data.path", "?")
    fraction = run.data.params.get("split.test_fraction")
    if fraction is not None and float(fraction) != config.split.test_fraction:
        return (
            f"run {run.info.run_id} held out split.test_fraction {fraction}, the gate was given "
            f"{config.split.test_fraction}"
        )
    if Path(trained_on).resolve() != config.data.path.resolve():
        return (
            f"run {run.info.run_id} was trained on {trained_on}, not on data.path "
            f"{config.data.path}"
        )
    return f"the data at {config.data.path} changed since run {run.info.run_id} was trained on it"


def frame_digest(frame: pd.DataFrame) -> str:
    """MLflow's digest of a data frame, as ``log_input`` recorded it at training."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        return mlflow.data.from_pandas(frame).digest


def load_candidate(run_id: str, model_uri: str, digest: str | None, folder: Path) -> Any:
    """The candidate's MLflow model, once its files match the digest its run recorded."""
    try:
        return load_verified(model_uri, digest, folder)
    except Exception as error:
        reason = str(error) if isinstance(error, ModelIntegrityError) else first_line(error)
        raise StageError(f"cannot judge run {run_id}: {reason}; nothing was recorded") from error


def usable_version(name: str, version: str) -> Recommender:
    """A registered version's recommender, checked as the service checks it before serving."""
    client = MlflowClient()
    found = client.get_model_version(name, version)
    return load_usable(name, found, client, redact(mlflow.get_registry_uri()))


def record_gate_report(report: GateReport, run_id: str, config: Config) -> None:
    """The report goes with the run (MLflow artifacts and tag) and into the level's state folder."""
    client = MlflowClient()
    client.log_dict(run_id, report.to_dict(), GATE_JSON)
    client.log_text(run_id, report.to_markdown(), GATE_MARKDOWN)
    client.set_tag(run_id, "gate.verdict", report.verdict)
    state = config.tracking.state_dir
    markdown = report.to_markdown()
    save_atomically(state / GATE_MARKDOWN, lambda path: path.write_text(markdown))
    text = json.dumps(report.to_dict(), indent=2)
    save_atomically(state / GATE_JSON, lambda path: path.write_text(text + "\n"))


def register_candidate(config: Config, candidate: dict[str, Any]) -> str:
    """A new registry version for the candidate, tagged with its run, verdict and code."""
    tags = {"run_id": candidate["run_id"], "gate.verdict": candidate["gate"], **code_version()}
    digest = run_digest(candidate["run_id"])
    if digest:
        tags[DIGEST_TAG] = digest
    version = register(
        candidate["model_uri"], config.registry.model_name, candidate["run_id"], tags=tags
    )
    print(
        f"Registered {version.name} version {version.version} (alias 'challenger'), "
        f"gate {candidate['gate']}."
    )
    record_version_card(version.name, version.version)
    return version.version


def promote_candidate(config: Config, candidate: dict[str, Any]) -> int:
    """Move ``champion`` to the candidate's version if the gate passed; else exit 1, unchanged."""
    name = config.registry.model_name
    current = version_with_alias(name, CHAMPION)
    unchanged = (
        f"the champion stays version {current.version}" if current else "there is still no champion"
    )
    if candidate["gate"] != "passed":
        print(
            f"The gate refused version {candidate['version']}: {unchanged}."
            f" See {config.tracking.state_dir / GATE_MARKDOWN}."
        )
        return 1
    challenger = ModelVersion(name, str(candidate["version"]), candidate["run_id"])
    try:
        usable_version(name, challenger.version)
    except ChampionLoadError as problem:
        print(
            f"Cannot promote version {challenger.version}: {problem}; {unchanged}.",
            file=sys.stderr,
        )
        return 1
    reason = f"gate passed for run {candidate['run_id']} (report: {GATE_JSON} in that run)"
    previous = promote(challenger, reason)
    before = f"version {previous.version}" if previous else "no champion"
    print(f"Promoted {name} version {challenger.version} to champion (was {before}).")
    record_version_card(name, challenger.version)
    return 0
