"""The model card: one markdown page per registered version, for whoever must answer for it.

A reviewer, an auditor or the person paged at night should not have to piece a model's record
together from runs, inputs, tags and aliases. The card puts it on one page: the model and its
files' digest, the training data and its digests, the metrics against the popularity baseline
and the oracle, the gate's verdict, the release history, what the model is for and what it
cannot do. Everything on it is read from what the registry and the version's run already hold,
so the card adds no fact of its own and can be written again at any time.

It is logged as an artifact of the version's run (``model_card/<name>-v<version>.md``, the same
path every time it is rewritten) and the version gets the tag ``model_card`` with its URI.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlflow.entities import Run
from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from .integrity import DIGEST_TAG, first_line

#: The version tag that names the card; present only while the card shows the latest release step.
CARD_TAG = "model_card"
#: The compared models, as the flow logs their metrics (``model/ndcg_at_10``, …).
BASELINES = ("popularity", "oracle")
#: The evaluation's metrics, in the order it computes them (``evaluation.evaluate_ranking``).
METRIC_ORDER = ("precision_at_", "recall_at_", "ndcg_at_", "map_at_", "coverage")
#: The gate's report in the run (see ``release.py``).
GATE_REPORT = "gate.json"
#: The audit tags ``registry.promote`` writes, in the order the card lists them.
PROMOTION_TAGS = ("promoted_at", "promoted_by", "promotion_reason", "replaced_version")

INTENDED_USE = """\
A "recommended for you" list: the top k items of the shop's catalogue for a user the model was
trained on, items the user has not interacted with yet, ranked by EASE (an item-to-item model
learnt in closed form) from implicit feedback. Made to show how an MLOps level releases and
watches a model; a decision about a real shop would need the limits below addressed first."""

LIMITS = """\
- **Implicit feedback only.** A view, a click and a purchase each count once and the same: the
  model learns which items go together, not what users liked or paid for. It uses no user
  attribute (age band, country, device).
- **New users get popularity.** A user absent from the training data gets the most popular
  items, the same list for everyone (the service marks it `fallback`).
- **No new items.** An item that had no interaction in the training data is never recommended,
  however relevant, until the model is trained again; a catalogue that changes fast goes stale.
- **Frozen in time.** Tastes are learnt up to the training cut-off; when they move, quality falls
  without any error (the monitoring of this level is there to see it).
- **Offline figures.** The metrics are measured on the latest interactions of the same data
  (a time split, binary relevance, at k); they predict, not prove, what users will do.
- **The world is simulated.** The shop, its users and their hidden preferences come from the
  project's simulator, which is why an oracle exists; its figures say how the model does in that
  world, not in a real shop. On a MovieLens import, ratings are taken as interactions and there
  is no oracle.
- **Catalogue size.** Training inverts an items x items matrix: up to a few tens of thousands of
  items."""


def card_path(name: str, version: str) -> str:
    """Where the card of a version lives among its run's artifacts."""
    return f"model_card/{name}-v{version}.md"


def write_version_card(name: str, version: str) -> str:
    """Write the card of a registered version into its run and tag the version with its URI.

    Raises whatever MLflow raises when the registry, the run or the artifact store cannot be
    read or written; :func:`record_version_card` is the release's way to call it.
    """
    client = MlflowClient()
    registered = client.get_model_version(name, version)
    run = client.get_run(registered.run_id)
    path = card_path(name, version)
    client.log_text(run.info.run_id, render_card(registered, run, gate_report(client, run)), path)
    uri = f"runs:/{run.info.run_id}/{path}"
    client.set_model_version_tag(name, version, CARD_TAG, uri)
    return uri


def record_version_card(name: str, version: str) -> str | None:
    """Write the card for the release, which stands whether or not the card can be written.

    A release step that already happened (a registered version, a moved ``champion`` alias) is
    not undone for a document: the registry and the run, which the card only summarises, keep
    the full record, and undoing a promotion would swap the model users get because of a writing
    error. So a card that cannot be written costs one warning line on stderr naming the version
    and why, and the version is left without the ``model_card`` tag (a card from an earlier step
    is untagged, as it no longer tells the whole story): a version without the tag has a card
    still to write. Returns the card's URI, or None when it was not written.
    """
    try:
        uri = write_version_card(name, version)
    except Exception as error:  # whatever went wrong, the release stands (see above)
        reason = first_line(error)
    else:
        print(f"Model card of version {version}: {uri}")
        return uri
    with contextlib.suppress(Exception):  # no tag to remove, or the registry is gone: said below
        MlflowClient().delete_model_version_tag(name, version, CARD_TAG)
    print(
        f"warning: no model card for {name} version {version} ({reason}); the release stands, "
        f"and the version has no '{CARD_TAG}' tag until model_card.write_version_card succeeds.",
        file=sys.stderr,
    )
    return None


def gate_report(client: MlflowClient, run: Run) -> dict[str, Any] | None:
    """The gate's report logged with the run, or None for a run the gate never judged."""
    run_id = run.info.run_id
    if GATE_REPORT not in {item.path for item in client.list_artifacts(run_id)}:
        return None
    with tempfile.TemporaryDirectory(prefix="gate-report-") as folder:
        path = client.download_artifacts(run_id, GATE_REPORT, dst_path=folder)
        return json.loads(Path(path).read_text(encoding="utf-8"))


def render_card(registered: ModelVersion, run: Run, gate: dict[str, Any] | None) -> str:
    """The card's markdown: every figure and fact is the registry's or the run's own."""
    name, version = registered.name, str(registered.version)
    sections = [
        [f"# Model card: {name} version {version}", "", *model_lines(registered, run)],
        ["## Training data", "", *data_lines(run)],
        ["## Metrics", "", *metric_lines(run)],
        ["## Gate verdict", "", *gate_lines(registered, gate)],
        ["## Release history", "", *history_lines(registered)],
        ["## Intended use", "", INTENDED_USE],
        ["## Limits", "", LIMITS],
    ]
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"


def model_lines(registered: ModelVersion, run: Run) -> list[str]:
    """What the model is and how to find its exact files."""
    params, tags = run.data.params, registered.tags
    return [
        f"- Registered model: `{registered.name}`, version {registered.version}",
        "- Algorithm: EASE (item-to-item ridge regression, closed form), "
        f"l2 = {params.get('model.l2', 'not recorded')}",
        f"- Run: `{run.info.run_id}` (experiment `{run.info.experiment_id}`)",
        f"- Model files: `{registered.source}`",
        f"- Files' SHA-256 (`{DIGEST_TAG}`): `{tags.get(DIGEST_TAG, 'not recorded')}`",
        f"- Code: commit `{tags.get('mlflow.source.git.commit', 'not recorded')}`, "
        f"uncommitted changes: {tags.get('code.dirty', 'not recorded')}",
    ]


def data_lines(run: Run) -> list[str]:
    """The data the run trained and was evaluated on, as MLflow recorded it with digests."""
    path = run.data.tags.get("data.path") or run.data.params.get("data.path", "not recorded")
    lines = [
        f"- `data.path`: `{path}`",
        f"- Held out: the latest {share(run.data.params.get('split.test_fraction'))} of the "
        "interactions (a global time split)",
        "",
        "| period | dataset | rows | digest |",
        "|---|---|---|---|",
    ]
    for dataset_input in run.inputs.dataset_inputs:
        dataset = dataset_input.dataset
        context = next(
            (tag.value for tag in dataset_input.tags if tag.key == MLFLOW_DATASET_CONTEXT), "?"
        )
        rows = json.loads(dataset.profile or "{}").get("num_rows", "?")
        lines.append(f"| {context} | {dataset.name} | {rows} | `{dataset.digest}` |")
    if not run.inputs.dataset_inputs:
        lines.append("| not recorded | | | |")
    return lines


def metric_lines(run: Run) -> list[str]:
    """The model's metrics beside the popularity baseline's and the oracle's, from the run."""
    by_model: dict[str, dict[str, float]] = {}
    for key, value in run.data.metrics.items():
        model, _, metric = key.partition("/")
        by_model.setdefault(model, {})[metric] = value
    if "model" not in by_model:
        return ["The run recorded no metrics (`model/…`): train with this level's pipeline."]
    k = run.data.params.get("evaluation.k", "k")
    lines = [
        f"On the held-out period, at k = {k}. The oracle ranks by the simulated world's hidden "
        "true preferences: the best any model could do.",
        "",
        "| metric | model | popularity | oracle | model / popularity | model / oracle |",
        "|---|---|---|---|---|---|",
    ]
    for metric, value in sorted(by_model["model"].items(), key=lambda item: in_order(item[0])):
        others = [by_model.get(baseline, {}).get(metric) for baseline in BASELINES]
        cells = [figure(value), *(figure(other) for other in others)]
        cells += [ratio(value, other) for other in others]
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    if "oracle" not in by_model:
        lines += ["", "No oracle: the data is not simulated, so true preferences are unknown."]
    return lines


def share(fraction: str | None) -> str:
    """A recorded fraction as a percentage."""
    return "?" if fraction is None else f"{float(fraction):.0%}"


def in_order(metric: str) -> tuple[int, str]:
    """The order the evaluation and the gate's report list metrics in; unknown ones last."""
    prefixes = [prefix for prefix in METRIC_ORDER if metric.startswith(prefix)]
    return (METRIC_ORDER.index(prefixes[0]) if prefixes else len(METRIC_ORDER), metric)


def figure(value: float | None) -> str:
    """A metric as the gate's report prints it, or a dash when the run has none."""
    return "—" if value is None else f"{value:.4f}"


def ratio(value: float, other: float | None) -> str:
    """How many times the baseline's figure the model reaches."""
    return "—" if not other else f"{value / other:.2f}x"


def gate_lines(registered: ModelVersion, gate: dict[str, Any] | None) -> list[str]:
    """The verdict the version was registered with, and the checks behind it."""
    verdict = registered.tags.get("gate.verdict", "not recorded")
    lines = [f"**{verdict.upper()}** (the version's `gate.verdict` tag)."]
    if gate is None:
        return [*lines, "", f"The run holds no gate report (`{GATE_REPORT}`)."]
    champion = gate.get("champion_version")
    lines += [
        "",
        f"Compared with the champion of the time: version {champion}."
        if champion
        else "There was no champion to compare with.",
        "",
        "| check | result | detail |",
        "|---|---|---|",
    ]
    for check in gate.get("checks", []):
        mark = "pass" if check["passed"] else "FAIL"
        lines.append(f"| {check['name']} | {mark} | {check['detail']} |")
    return lines


def history_lines(registered: ModelVersion) -> list[str]:
    """Registration, promotion and aliases, as the registry's audit tags record them."""
    tags = registered.tags
    registered_at = datetime.fromtimestamp(registered.creation_timestamp / 1000, UTC)
    lines = [f"- Registered: {registered_at.isoformat(timespec='seconds')}"]
    if "promoted_at" in tags:
        lines += [f"- `{key}`: {tags.get(key, 'not recorded')}" for key in PROMOTION_TAGS]
    else:
        lines.append("- Not promoted.")
    aliases = ", ".join(f"`{alias}`" for alias in sorted(registered.aliases)) or "none"
    written = datetime.now(UTC).isoformat(timespec="seconds")
    lines += [
        f"- Aliases when this card was written ({written}): {aliases}",
        "",
        "Aliases move after the card is written (a later champion replaces this one without "
        "rewriting it): the registry is the live record.",
    ]
    return lines
