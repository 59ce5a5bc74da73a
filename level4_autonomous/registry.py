"""The MLflow model registry: every trained model is a version; aliases say which one serves.

``champion`` is the version the service loads, ``challenger`` the latest candidate, ``ab_test``
the version a share of users gets during an online check. Each version
carries tags that make the registry an audit trail: which run made it, what the gate said, who
promoted it, when, and which version it replaced.
"""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

CHAMPION = "champion"
CHALLENGER = "challenger"
#: The version the online check serves to a share of users beside the champion: a challenger
#: before its promotion, the replaced champion while the new one is watched.
AB_TEST = "ab_test"
#: The tag that says why a version is on the test arm: "challenger" or "watch".
ROLE_TAG = "online_check.role"


@dataclass(frozen=True)
class ModelVersion:
    """One registered version: enough to load it and to say where it came from."""

    name: str
    version: str
    run_id: str

    @property
    def uri(self) -> str:
        """The URI of exactly this version, whatever the aliases name later."""
        return f"models:/{self.name}/{self.version}"


def register(model_uri: str, name: str, run_id: str, tags: dict[str, str]) -> ModelVersion:
    """Register the run's model as a new version of ``name`` and mark it the challenger."""
    registered = mlflow.register_model(model_uri, name, tags=tags)
    client = MlflowClient()
    client.set_registered_model_alias(name, CHALLENGER, registered.version)
    return ModelVersion(name, str(registered.version), run_id)


def version_with_alias(name: str, alias: str) -> ModelVersion | None:
    """The version an alias points at, or None when the alias (or the model) does not exist."""
    try:
        found = MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException as error:
        if error.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            return None
        raise
    return ModelVersion(name, str(found.version), found.run_id)


def promote(challenger: ModelVersion, reason: str) -> ModelVersion | None:
    """Move ``champion`` to ``challenger``; record why, by whom and what it replaced.

    The audit tags are written before the alias moves, so a version is never champion without
    its record. Returns the previous champion, if there was one.
    """
    client = MlflowClient()
    previous = version_with_alias(challenger.name, CHAMPION)
    audit = {
        "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "promoted_by": promoter(),
        "promotion_reason": reason,
        "replaced_version": previous.version if previous else "none",
    }
    for key, value in audit.items():
        client.set_model_version_tag(challenger.name, challenger.version, key, value)
    client.set_registered_model_alias(challenger.name, CHAMPION, challenger.version)
    return previous


def promoter() -> str:
    """Who is promoting: the CI workflow when run there, else the local user at this host."""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        workflow, run = os.environ.get("GITHUB_WORKFLOW", "?"), os.environ.get("GITHUB_RUN_ID", "?")
        return f"github-actions:{workflow}#{run}"
    return f"{getpass.getuser()}@{socket.gethostname()}"
