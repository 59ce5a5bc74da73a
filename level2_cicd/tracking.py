"""What a run records, in MLflow and in ``metrics.json``: enough to rebuild and compare any run.

A run is created when the flow starts (parameters, code version), so even a run that fails is on
record with its reason. Results are logged at the end, the model last: a run that fails while
logging never has a model that looks usable. A run stopped by a signal is closed as KILLED; one
whose process died without a word (SIGKILL, a power cut) is closed by the next run of the level
on the same host, which finds its recorded process gone.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import joblib
import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from data import Dataset

from .config import Config, as_dict
from .evaluation import Split
from .integrity import record_digest
from .mlflow_model import RECOMMENDER_ARTIFACT
from .model import Recommender
from .processes import ProcessRecord, interrupting_signal
from .runtime import artifact_location
from .validation import ValidationReport

LEVEL = Path(__file__).resolve().parent
METRICS_FILE = "metrics.json"
#: Pinned from the running environment: inferring them costs 10-14 s per model on 2 cores.
MODEL_REQUIREMENTS = ("numpy", "pandas", "scipy", "scikit-learn", "joblib", "mlflow")

# MLflow warns on every model that it cannot find pip's version (uv environments have no pip);
# the model's requirements are pinned explicitly, so the warning says nothing useful here.
logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
# MLflow logs every database error with its traceback before raising it; the error is reported
# once, by whoever catches it (see tracking_store_errors).
logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)

#: What SQLite says when MLflow cannot write its database, and what to do about it.
DATABASE_PROBLEMS = {
    "database is locked": (
        "is locked by another process (MLflow waited 20 s): stop whatever holds it, such as an "
        "`mlflow ui` writing to it, and run again"
    ),
    "readonly database": (
        "is read-only: make it writable, or set MLFLOW_TRACKING_URI to one that is"
    ),
    "unable to open database file": (
        "cannot be opened: check that its folder exists and is writable"
    ),
    # What SQLite says when the file cannot even be opened for writing (an immutable file).
    "disk I/O error": "cannot be read or written (disk I/O error): check that it is writable",
}


class TrackingStoreError(RuntimeError):
    """The tracking database refused the run (locked, read-only); the message names the file."""


@contextmanager
def tracking_store_errors() -> Iterator[None]:
    """Turn MLflow's SQL error about a locked or read-only database into one line naming it.

    Such an error will not pass by trying again (MLflow already waited 20 s for a lock), so it
    is raised as a :class:`TrackingStoreError`, which no step retries.
    """
    try:
        yield
    except MlflowException as error:
        problem = next((text for key, text in DATABASE_PROBLEMS.items() if key in str(error)), None)
        if problem is None:
            raise
        raise TrackingStoreError(f"MLflow database {tracking_database()} {problem}") from None


def tracking_database() -> str:
    """The database file of a ``sqlite:///`` tracking URI, or the URI itself."""
    uri = mlflow.get_tracking_uri()
    return uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else uri


def start_run(
    config: Config,
    flow_run_id: str | None,
    *,
    experiment: str | None = None,
    run_name: str | None = None,
) -> str:
    """Create the MLflow run for this pipeline run; log its parameters and code version.

    The run goes to ``experiment`` (default: the configured one), named ``run_name`` if given.
    """
    client = MlflowClient()
    experiment = experiment or config.tracking.experiment
    found = client.get_experiment_by_name(experiment)
    experiment_id = (
        found.experiment_id
        if found
        else client.create_experiment(
            experiment, artifact_location=artifact_location(config.tracking.state_dir)
        )
    )
    close_abandoned_runs(client, experiment_id)
    tags = {
        **code_version(),
        **process_tags(),
        "level": LEVEL.name,
        "data.path": str(config.data.path),
    }
    if flow_run_id:
        tags["prefect.flow_run_id"] = flow_run_id
    run = client.create_run(experiment_id, tags=tags, run_name=run_name)
    for name, value in config.flat().items():
        client.log_param(run.info.run_id, name, value)
    return run.info.run_id


def log_results(
    run_id: str,
    *,
    config: Config,
    dataset: Dataset,
    split: Split,
    validation: ValidationReport,
    report: dict[str, Any],
    model: Recommender,
) -> str:
    """Log datasets, metrics and reports, then the model; return the model's URI."""
    with mlflow.start_run(run_id=run_id):
        log_datasets(dataset, split)
        for name in ("model", "popularity", "oracle"):
            if name in report:
                mlflow.log_metrics({f"{name}/{key}": value for key, value in report[name].items()})
        mlflow.log_dict(validation.to_dict(), "validation.json")
        mlflow.log_dict(as_dict(config), "config.json")
        mlflow.log_dict(report, METRICS_FILE)
        return log_model(model, split, config.evaluation.k)


def log_datasets(dataset: Dataset, split: Split) -> None:
    """Record the training and evaluation periods as the active run's inputs, with digests."""
    with warnings.catch_warnings():
        # MLflow 3.17 registers its local-file dataset source twice, then warns that a path is
        # ambiguous between the two; and it hints that integer ids cannot hold missing values,
        # which is the point of them. Neither is actionable.
        warnings.filterwarnings("ignore", message="The specified dataset source can be")
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        source, name = str(dataset.path), Path(str(dataset.path)).name
        for context, frame in (("training", split.train), ("evaluation", split.test)):
            logged = mlflow.data.from_pandas(frame, source=source, name=f"{name} ({context})")
            mlflow.log_input(logged, context=context)


def log_model(model: Recommender, split: Split, k: int) -> str:
    """Log the recommender as the active run's MLflow pyfunc model; record its files' digest.

    The model has its signature and an input example; the digest (``integrity.py``) is what
    every later load checks the files against.
    """
    example = pd.DataFrame({"user_id": split.train["user_id"].drop_duplicates().head(3).to_numpy()})
    output = model.recommend(example["user_id"], k=k)
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        # MLflow hints that integer ids cannot hold missing values: that is the point of them.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        signature = infer_signature(example, output, params={"k": k})
        recommender_file = Path(folder) / "recommender.joblib"
        joblib.dump(model, recommender_file)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(LEVEL / "mlflow_model.py"),
            artifacts={RECOMMENDER_ARTIFACT: str(recommender_file)},
            code_paths=[str(LEVEL)],
            signature=signature,
            input_example=example,
            pip_requirements=[f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS],
        )
    record_digest(info.model_uri, info.run_id)
    return info.model_uri


def log_failure(run_id: str, error: BaseException) -> None:
    """Close the run with the reason: KILLED when a signal stopped it, FAILED otherwise.

    The validation report is kept too, when validation refused the data.
    """
    client = MlflowClient()
    stopped_by = interrupting_signal(error)
    reason = f"{type(error).__name__}: {error}"
    if stopped_by is not None:
        reason = f"interrupted by {stopped_by.name}"
    client.set_tag(run_id, "failure", reason[:5000])
    report = getattr(error, "report", None)
    if isinstance(report, ValidationReport):
        client.log_dict(run_id, report.to_dict(), "validation.json")
    client.log_text(run_id, f"{reason}\n", "failure.txt")
    client.set_terminated(run_id, status="KILLED" if stopped_by else "FAILED")


def process_tags() -> dict[str, str]:
    """Which process on which host runs the pipeline, so a later run can tell if it died."""
    record = ProcessRecord.of(os.getpid())
    return {
        "process.host": socket.gethostname(),
        "process.pid": str(record.pid),
        "process.started": repr(record.started),
        "process.command": json.dumps(record.command),
    }


def recorded_process(tags: dict[str, str]) -> ProcessRecord | None:
    """The process a run's tags name; None for a run whose tags do not say."""
    try:
        return ProcessRecord(
            int(tags["process.pid"]),
            float(tags["process.started"]),
            tuple(json.loads(tags["process.command"])),
        )
    except (KeyError, ValueError):
        return None


def close_abandoned_runs(client: MlflowClient, experiment_id: str) -> None:
    """Mark KILLED the RUNNING runs of this host whose process is gone (SIGKILL, power loss).

    Runs of other hosts are left alone: their processes cannot be checked from here.
    """
    host = socket.gethostname().replace("'", "")
    running = client.search_runs(
        [experiment_id],
        filter_string=f"attributes.status = 'RUNNING' and tags.`process.host` = '{host}'",
    )
    for run in running:
        record = recorded_process(run.data.tags)
        if record is not None and record.running() is None:
            reason = f"its process (pid {record.pid} on {host}) ended without closing the run"
            client.set_tag(run.info.run_id, "failure", reason)
            client.set_terminated(run.info.run_id, status="KILLED")
            print(f"Marked run {run.info.run_id} KILLED: {reason}.", flush=True)


def code_version() -> dict[str, str]:
    """The git commit of the code that ran, and whether it had uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, check=True, cwd=LEVEL
        ).stdout.strip()

    try:
        commit, dirty = git("rev-parse", "HEAD"), bool(git("status", "--porcelain"))
    except (OSError, subprocess.CalledProcessError):
        return {"mlflow.source.git.commit": "unknown", "code.dirty": "unknown"}
    return {"mlflow.source.git.commit": commit, "code.dirty": str(dirty).lower()}


def save_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """Write via a temporary file in the same folder, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_metrics_file(report: dict[str, Any], folder: Path) -> Path:
    """``metrics.json`` in the same format as every level writes it."""
    text = json.dumps(report, indent=2) + "\n"
    return save_atomically(folder / METRICS_FILE, lambda path: path.write_text(text))
