"""This level's own release stages: registration, the gate's refusal, promotion and its audit trail.

The level's ``release.py`` is its own copy, so it is tested here on what a release must never get
wrong; the gate's checks one by one and the release's failure modes are tested where the release
stages were introduced, a level below. Candidates are logged straight to MLflow (``conftest.py``).
"""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from level4_autonomous.model_card import CARD_TAG
from level4_autonomous.registry import CHALLENGER, CHAMPION, version_with_alias

# On the tiny world: l2=200 gives NDCG@10 0.169, l2=3000 gives 0.146 (above popularity's 0.128
# x 1.1, but more than 2 % below the first): a model that passes the floor, not the champion check.
GOOD_L2, WEAK_L2 = 200.0, 3000.0


def test_the_first_good_model_becomes_champion_with_an_audit_trail(config, candidates):
    released, code = candidates.release(GOOD_L2)

    assert (released["gate"], code) == ("passed", 0)
    assert version_with_alias(config.registry.model_name, CHAMPION).version == "1"
    tags = MlflowClient().get_model_version(config.registry.model_name, "1").tags
    assert tags["run_id"] == released["run_id"]
    assert tags["gate.verdict"] == "passed"
    assert (
        tags["model.sha256"] == MlflowClient().get_run(released["run_id"]).data.tags["model.sha256"]
    )
    assert tags["replaced_version"] == "none"
    assert released["run_id"] in tags["promotion_reason"]
    assert tags["promoted_at"].startswith("20")
    assert "@" in tags["promoted_by"]
    assert len(tags["mlflow.source.git.commit"]) in {40, len("unknown")}
    assert tags[CARD_TAG].startswith(f"runs:/{released['run_id']}/model_card/")


def test_a_worse_model_is_registered_with_its_refusal_but_never_becomes_champion(
    config, candidates, capsys
):
    candidates.release(GOOD_L2)

    worse, code = candidates.release(WEAK_L2)

    assert (worse["gate"], code) == ("failed", 1)
    assert version_with_alias(config.registry.model_name, CHAMPION).version == "1"
    assert version_with_alias(config.registry.model_name, CHALLENGER).version == "2"
    tags = MlflowClient().get_model_version(config.registry.model_name, "2").tags
    assert tags["gate.verdict"] == "failed"
    assert "promoted_at" not in tags
    assert CARD_TAG in tags  # a refused version is on record with its card too
    assert "The gate refused version 2: the champion stays version 1." in capsys.readouterr().out


def test_a_better_model_replaces_the_champion_and_names_the_one_it_replaced(config, candidates):
    candidates.release(WEAK_L2)

    better, code = candidates.release(GOOD_L2)

    assert (better["gate"], code) == ("passed", 0)
    assert version_with_alias(config.registry.model_name, CHAMPION).version == "2"
    tags = MlflowClient().get_model_version(config.registry.model_name, "2").tags
    assert tags["replaced_version"] == "1"
    assert better["run_id"] in tags["promotion_reason"]
