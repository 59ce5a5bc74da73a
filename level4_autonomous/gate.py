"""The validation gate: the automatic decision whether a trained model may serve users.

Three kinds of checks, all on the same held-out evaluation period:

- **quality floor**: the model's NDCG@k beats the popularity baseline's by a stated factor;
- **behaviour**: what any recommender in production must do, checked on the logged MLflow model
  itself: the same answer twice, never an item the user already has, k items, a defined answer
  for an unknown user, and inputs outside its signature refused;
- **not worse than the champion**: the current champion is evaluated on the same data, and the
  challenger's NDCG@k may trail it by at most the stated tolerance. A champion that cannot be
  evaluated (its files changed or gone) fails this check: the challenger cannot be shown not to be
  worse than the model users may still be getting, and a broken champion needs a person anyway.

The gate writes a report (what was checked, the figures, the verdict); it never moves an alias.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .config import GateConfig
from .evaluation import Split, evaluate_models, relevant_items
from .model import RECOMMENDATION_COLUMNS, PopularityRecommender, Recommender
from .validation import Check

#: Users the behavioural checks ask for: enough to catch a systematic fault, cheap to run.
BEHAVIOUR_SAMPLE = 200


@dataclass(frozen=True)
class GateReport:
    """The gate's verdict and everything it is based on."""

    checks: list[Check]
    metrics: dict[str, dict[str, float]]
    champion_version: str | None = None
    #: The SHA-256 of the judged model's files, as recorded with its run.
    model_sha256: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether the model may serve: every check held."""
        return all(check.passed for check in self.checks)

    @property
    def verdict(self) -> str:
        """``passed`` or ``failed``: the word the reports lead with and the run is tagged with."""
        return "passed" if self.passed else "failed"

    def failures(self) -> list[str]:
        """The checks that failed, one line each: why the model was refused."""
        return [f"{check.name}: {check.detail}" for check in self.checks if not check.passed]

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON, logged with the challenger's run and kept in the state folder."""
        return {
            "verdict": self.verdict,
            "model_sha256": self.model_sha256,
            "champion_version": self.champion_version,
            "checks": [asdict(check) for check in self.checks],
            "metrics": self.metrics,
        }

    def to_markdown(self) -> str:
        """The report for a person: the checks, then the models' metrics side by side."""
        lines = [f"# Validation gate: {self.verdict.upper()}", ""]
        if self.model_sha256:
            lines += [f"Model files, SHA-256: `{self.model_sha256}`", ""]
        lines += ["| check | result | detail |", "|---|---|---|"]
        for check in self.checks:
            mark = "pass" if check.passed else "FAIL"
            lines.append(f"| {check.name} | {mark} | {check.detail} |")
        names = list(self.metrics)
        lines += ["", "| metric | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for metric in self.metrics[names[0]]:
            values = " | ".join(f"{self.metrics[name][metric]:.4f}" for name in names)
            lines.append(f"| {metric} | {values} |")
        return "\n".join(lines) + "\n"


def run_gate(
    challenger: Any,
    champion: Recommender | None,
    split: Split,
    *,
    k: int,
    gate: GateConfig,
    champion_version: str | None = None,
    champion_problem: str | None = None,
    model_sha256: str | None = None,
) -> GateReport:
    """Judge ``challenger`` (a loaded MLflow pyfunc model) against the floor and the champion.

    ``champion`` is None when there is none yet, or when it cannot be evaluated: then
    ``champion_problem`` says why.
    """
    recommender = challenger.unwrap_python_model().recommender
    models: dict[str, Recommender] = {
        "challenger": recommender,
        "popularity": PopularityRecommender().fit(split.train),
    }
    if champion is not None:
        models["champion"] = champion
    metrics = evaluate_models(models, split, k=k)
    checks = [
        quality_floor(metrics, k, gate.min_lift_over_popularity),
        *behaviour_checks(challenger, recommender, split, k),
        not_worse_than_champion(
            metrics, k, gate.champion_tolerance, champion_version, champion_problem
        ),
    ]
    return GateReport(
        checks=checks,
        metrics=metrics,
        champion_version=champion_version,
        model_sha256=model_sha256,
    )


def quality_floor(metrics: dict[str, dict[str, float]], k: int, min_lift: float) -> Check:
    """The challenger's NDCG@k against popularity's: worth serving only if clearly better."""
    ndcg = f"ndcg_at_{k}"
    model, baseline = metrics["challenger"][ndcg], metrics["popularity"][ndcg]
    return Check(
        "quality floor",
        model >= baseline * min_lift,
        f"NDCG@{k} {model:.4f} vs popularity {baseline:.4f} (needs x{min_lift:.2f}: "
        f"{baseline * min_lift:.4f})",
    )


def not_worse_than_champion(
    metrics: dict[str, dict[str, float]],
    k: int,
    tolerance: float,
    champion_version: str | None,
    champion_problem: str | None = None,
) -> Check:
    """The challenger's NDCG@k against the champion's; fails if the champion cannot be evaluated."""
    ndcg = f"ndcg_at_{k}"
    if champion_problem:
        return Check(
            "not worse than champion",
            False,
            f"champion v{champion_version} cannot be evaluated: {champion_problem}. Repair its "
            "files or point the alias at a version that loads, then run the gate again",
        )
    if "champion" not in metrics:
        return Check("not worse than champion", True, "no champion yet: first deployment")
    model, champion = metrics["challenger"][ndcg], metrics["champion"][ndcg]
    floor = champion * (1.0 - tolerance)
    return Check(
        "not worse than champion",
        model >= floor,
        f"NDCG@{k} {model:.4f} vs champion v{champion_version} {champion:.4f} "
        f"(needs at least {floor:.4f}, tolerance {tolerance:.0%})",
    )


def behaviour_checks(
    pyfunc_model: Any, recommender: Recommender, split: Split, k: int
) -> list[Check]:
    """What any recommender in production must do, asked of a sample of the evaluated users."""
    users = np.sort(relevant_items(split)["user_id"].unique())[:BEHAVIOUR_SAMPLE]
    first = recommender.recommend(users, k=k)
    second = recommender.recommend(users, k=k)
    seen = first.merge(
        split.train[["user_id", "item_id"]].drop_duplicates(), on=["user_id", "item_id"]
    )
    list_lengths = first.groupby("user_id").size().reindex(users, fill_value=0)
    unknown_user = int(split.train["user_id"].max()) + 1
    unknown = recommender.recommend([unknown_user], k=k)
    return [
        Check(
            "deterministic",
            first.equals(second),
            f"{len(users)} users asked twice: "
            + ("same lists" if first.equals(second) else "lists differ"),
        ),
        Check(
            "no already-seen items",
            seen.empty,
            f"{len(seen)} recommended items were already in the users' history",
        ),
        Check(
            f"{k} items per user",
            bool((list_lengths == k).all()),
            f"{int(list_lengths.min())} to {int(list_lengths.max())} items for {len(users)} users",
        ),
        Check(
            "unknown user answered",
            len(unknown) == k,
            f"user {unknown_user} (never seen) got {len(unknown)} items",
        ),
        signature_check(pyfunc_model, users[:5], k),
    ]


def signature_check(pyfunc_model: Any, users: np.ndarray, k: int) -> Check:
    """The logged model answers in the agreed shape, and refuses input outside its signature."""
    answer = pyfunc_model.predict(pd.DataFrame({"user_id": users}), params={"k": k})
    shape_ok = list(answer.columns) == RECOMMENDATION_COLUMNS and len(answer) == k * len(users)
    try:
        pyfunc_model.predict(pd.DataFrame({"customer": users}), params={"k": k})
        refused = False
    except Exception:  # MLflow raises its own exception types for schema errors
        refused = True
    return Check(
        "input signature respected",
        shape_ok and refused,
        f"columns {list(answer.columns)}, {len(answer)} rows for {len(users)} users; "
        f"input without user_id {'refused' if refused else 'ACCEPTED'}",
    )
