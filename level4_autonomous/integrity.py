"""A model's files are checked against the digest recorded when it was logged, before any load.

Loading one of this project's MLflow models runs code from the artifact store (``mlflow_model.py``
and the package copied beside it) and unpickles ``recommender.joblib``: whoever can write to the
artifact store could run code in every process that loads a model. So when a model is logged, the
SHA-256 of its files is recorded in the tracking database (the run's tag ``model.sha256``), and
every load downloads the files, hashes them and refuses a mismatch before MLflow reads any of them.

The digest protects against files changed in the artifact store after logging (by a person, a
script or a storage fault). It does not protect against someone who can write the tracking
database as well: they can record the digest of files of their own.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import mlflow
from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository
from mlflow.tracking import MlflowClient

#: The run tag (and registry version tag) holding the SHA-256 of the model's files.
DIGEST_TAG = "model.sha256"
#: A note MLflow writes beside a model it loads through a ``models:/`` URI: into the artifact
#: store itself when that is a local folder. It is not part of the model and nothing reads it, so
#: it is dropped from every copy before hashing and loading.
MLFLOW_LOAD_NOTE = "registered_model_meta"
_CHUNK = 1 << 20


class ModelIntegrityError(RuntimeError):
    """A model's files cannot be fetched or do not match their recorded digest; one line why."""


def files_digest(folder: Path) -> str:
    """SHA-256 over every file under ``folder``: its relative path and the SHA-256 of its content.

    Changing, adding, removing or renaming any file changes the digest; the order of listing
    does not.
    """
    files = sorted((path.relative_to(folder).as_posix(), path) for path in folder.rglob("*"))
    manifest = hashlib.sha256()
    for relative, path in files:
        if path.is_file():
            manifest.update(f"{file_sha256(path)}  {relative}\n".encode())
    return manifest.hexdigest()


def file_sha256(path: Path) -> str:
    """The SHA-256 of one file, read in chunks so a large model never sits in memory twice."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def storage_location(model_uri: str) -> str:
    """Where the artifact store keeps the files of a ``models:/…`` URI (name/version or id).

    Downloading from there, rather than through the ``models:/`` URI, gets exactly the stored
    files: MLflow's model download adds a ``registered_model_meta`` file of its own.
    """
    try:
        return str(ModelsArtifactRepository.get_underlying_uri(model_uri))
    except Exception as error:
        raise ModelIntegrityError(
            f"cannot find the files of {model_uri}: {first_line(error)}"
        ) from error


def download_model(model_uri: str, folder: Path, location: str | None = None) -> Path:
    """Copy the model's files from the artifact store into ``folder``; return their local path."""
    location = location or storage_location(model_uri)
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(folder))
    except Exception as error:
        raise ModelIntegrityError(
            f"cannot fetch the files of {model_uri} from {location}: {last_line(error)}"
        ) from error
    (Path(local) / MLFLOW_LOAD_NOTE).unlink(missing_ok=True)
    return Path(local)


def record_digest(model_uri: str, run_id: str) -> str:
    """Hash the files just logged for ``model_uri`` and tag the run with the digest."""
    with tempfile.TemporaryDirectory(prefix="model-digest-") as folder:
        digest = files_digest(download_model(model_uri, Path(folder)))
    MlflowClient().set_tag(run_id, DIGEST_TAG, digest)
    return digest


def run_digest(run_id: str) -> str | None:
    """The digest recorded with the run's model, if any."""
    return MlflowClient().get_run(run_id).data.tags.get(DIGEST_TAG)


def run_model_uri(run_id: str) -> str | None:
    """The ``models:/m-…`` URI of the model the run logged, or None if it logged none."""
    outputs = MlflowClient().get_run(run_id).outputs
    models = outputs.model_outputs if outputs else []
    return f"models:/{models[-1].model_id}" if models else None


def load_verified(model_uri: str, expected: str | None, folder: Path) -> Any:
    """Download the model into ``folder``, check it against ``expected``, then load it.

    MLflow loads the very files that were hashed, so nothing can change between check and load.
    Returns the loaded pyfunc model; ``ModelIntegrityError`` says why the files were refused.
    """
    if not expected:
        raise ModelIntegrityError(
            f"{model_uri} has no recorded digest (tag {DIGEST_TAG} on its run or registry "
            "version), so its files cannot be checked: log it again with this level's tracking"
        )
    location = storage_location(model_uri)
    files = download_model(model_uri, folder, location)
    found = files_digest(files)
    if found != expected:
        raise ModelIntegrityError(
            f"the files of {model_uri} at {location} do not match the SHA-256 "
            f"recorded when it was logged ({expected[:12]}…, found {found[:12]}…): they were "
            "changed in the artifact store since; refusing to load them"
        )
    return mlflow.pyfunc.load_model(str(files))


def first_line(error: BaseException) -> str:
    """The first line of an error's message (or its type when it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def last_line(error: BaseException) -> str:
    """The last line of an error's message: where MLflow's download failures give the cause."""
    lines = [line for line in str(error).splitlines() if line.strip("# ")]
    return lines[-1].strip() if lines else type(error).__name__
