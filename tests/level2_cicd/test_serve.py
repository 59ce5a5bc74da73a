"""The serving API: answers, refusals, the champion hot swap, and start-up failures.

Models are trained on a tiny simulated world and registered in a temporary MLflow store, so
nothing touches ./state. Request/response tests use FastAPI's TestClient, and schemathesis
generates requests from the published OpenAPI schema; the hot swap and the start-up failures run
the real command (``python -m level2_cicd.serve``) in a subprocess.
"""

from __future__ import annotations

import logging
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

import httpx
import numpy as np
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import settings

from data import World, WorldConfig
from level2_cicd import serve
from level2_cicd.evaluation import Split, split_by_time
from level2_cicd.model import EaseRecommender
from level2_cicd.runtime import artifact_location, free_port, use_local_state
from level2_cicd.serve import MAX_ID, MAX_QUERY_BYTES, MAX_QUERY_PARAMETERS, create_app

if TYPE_CHECKING:
    from level2_cicd.champion import ChampionHolder

ROOT = Path(__file__).resolve().parents[2]
MAX_K = 50
MODEL = "recommender"


# ---- a temporary registry with two different models -----------------------------------------


@pytest.fixture(scope="module", autouse=True)
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An MLflow store of this module's own, so version numbers do not depend on other tests.

    Only MLflow's settings change, and they are restored afterwards; Prefect's (set for the
    session by tests/conftest.py) are left alone.
    """
    saved = dict(os.environ)
    for name in [name for name in os.environ if name.startswith("MLFLOW_")]:
        del os.environ[name]
    state = tmp_path_factory.mktemp("serve-state")
    use_local_state(state)
    try:
        yield state
    finally:
        os.environ.clear()
        os.environ.update(saved)


@dataclass
class Trained:
    """A fitted model and its logged MLflow model URI and run."""

    model: EaseRecommender
    uri: str
    run_id: str


@dataclass
class Registry:
    """The two logged models and a way to register them under any name."""

    split: Split
    a: Trained
    b: Trained

    def register(self, name: str, *models: Trained, champion: int | None = 1) -> list[str]:
        """Register ``models`` as versions 1, 2, … of ``name``; alias the ``champion``-th one."""
        import mlflow
        from mlflow.tracking import MlflowClient

        versions = [str(mlflow.register_model(model.uri, name).version) for model in models]
        if champion is not None:
            MlflowClient().set_registered_model_alias(name, "champion", versions[champion - 1])
        return versions


@pytest.fixture(scope="module")
def registry(store: Path) -> Registry:
    """Two EASE models of the same data, different enough (l2) to rank differently."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from level2_cicd.tracking import log_model

    interactions = World(WorldConfig(seed=7, size="tiny")).history().interactions
    split = split_by_time(interactions, 0.2)
    experiment = MlflowClient().create_experiment(
        "serve-tests", artifact_location=artifact_location(store)
    )

    def train(l2: float) -> Trained:
        model = EaseRecommender(l2=l2).fit(split.train)
        with mlflow.start_run(experiment_id=experiment) as run:
            uri = log_model(model, split, k=10)
        return Trained(model, uri, run.info.run_id)

    return Registry(split, train(200.0), train(50_000.0))


@pytest.fixture(scope="module")
def known_user(registry: Registry) -> int:
    """A user with training history whose top 10 differ between the two models."""
    users = registry.split.train["user_id"].unique()[:50]
    for user in users:
        first = top_items(registry.a.model, int(user))
        if first != top_items(registry.b.model, int(user)):
            return int(user)
    pytest.fail("the two test models recommend the same items: they cannot show a swap")


def top_items(model: EaseRecommender, user: int, k: int = 10) -> list[int]:
    return model.recommend(np.array([user]), k=k)["item_id"].tolist()


def new_holder(name: str, client: Any = None) -> ChampionHolder:
    from level2_cicd.champion import ChampionHolder

    holder = ChampionHolder(name, client=client)
    holder.load()
    return holder


@pytest.fixture(scope="module")
def holder(registry: Registry) -> ChampionHolder:
    registry.register(MODEL, registry.a)
    return new_holder(MODEL)


@pytest.fixture(scope="module")
def api(holder: ChampionHolder) -> TestClient:
    return TestClient(create_app(holder, max_k=MAX_K))


# ---- answers ---------------------------------------------------------------------------------


def test_recommends_unseen_items_for_a_known_user(
    api: TestClient, registry: Registry, known_user: int
) -> None:
    response = api.get("/recommend", params={"user_id": known_user, "k": 10})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["user_id"], body["k"], body["model_version"]) == (known_user, 10, "1")
    assert body["fallback"] is False
    items = body["items"]
    assert [item["rank"] for item in items] == list(range(1, 11))
    scores = [item["score"] for item in items]
    assert scores == sorted(scores, reverse=True)
    seen = set(registry.split.train.loc[registry.split.train["user_id"] == known_user, "item_id"])
    assert not seen & {item["item_id"] for item in items}
    assert [item["item_id"] for item in items] == top_items(registry.a.model, known_user)


def test_unknown_user_gets_the_most_popular_items(api: TestClient, registry: Registry) -> None:
    for user in (int(registry.a.model.user_ids_.max()) + 1, MAX_ID):
        response = api.get("/recommend", params={"user_id": user, "k": 5})

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["fallback"] is True
        popular = np.argsort(-registry.a.model.popularity_, kind="stable")[:5]
        expected = registry.a.model.item_ids_[popular].tolist()
        assert [item["item_id"] for item in body["items"]] == expected


def test_k_defaults_to_ten(api: TestClient, known_user: int) -> None:
    response = api.get("/recommend", params={"user_id": known_user})

    assert response.status_code == 200
    assert response.json()["k"] == 10
    assert len(response.json()["items"]) == 10


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("", "user_id"),
        ("user_id=", "user_id"),
        ("user_id=abc", "user_id"),
        ("user_id=-1", "user_id"),
        ("user_id=4.2", "user_id"),
        ("user_id=42.0", "user_id"),
        ("user_id=4_2", "user_id"),
        ("user_id=%2042", "user_id"),
        ("user_id=0x2a", "user_id"),
        ("user_id=%EF%BC%91", "user_id"),  # a full-width digit one
        (f"user_id={2**63}", "user_id"),
        ("user_id=" + "9" * 5000, "user_id"),
        ("user_id=1&k=0", "k"),
        ("user_id=1&k=-3", "k"),
        (f"user_id=1&k={MAX_K + 1}", "k"),
        ("user_id=1&k=ten", "k"),
        ("user_id=1&k=", "k"),
        ("user_id=1&user=2", "user"),
        ("User_Id=1", "User_Id"),
        ("user_id=1&user_id=2", "user_id"),
    ],
)
def test_invalid_requests_get_a_422_naming_the_parameter(
    api: TestClient, query: str, parameter: str
) -> None:
    response = api.get(f"/recommend?{query}")

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == "invalid_request"
    assert parameter in [problem["parameter"] for problem in body["problems"]]
    assert f"{parameter}:" in body["message"]


def test_every_problem_is_reported_at_once(api: TestClient) -> None:
    response = api.get("/recommend?user_id=abc&k=0&format=json")

    assert response.status_code == 422
    problems = {problem["parameter"]: problem for problem in response.json()["problems"]}
    assert set(problems) == {"user_id", "k", "format"}
    assert problems["format"]["message"] == "unknown parameter (this endpoint takes user_id, k)"
    assert problems["user_id"]["input"] == "abc"


def test_other_endpoints_refuse_parameters(api: TestClient) -> None:
    for path in ("/health", "/model"):
        response = api.get(path, params={"verbose": "1"})

        assert response.status_code == 422
        assert response.json()["problems"][0]["parameter"] == "verbose"


def test_unknown_paths_and_methods_answer_json(api: TestClient) -> None:
    missing = api.get("/recommendations")
    wrong_method = api.post("/recommend", params={"user_id": 1})

    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    assert "/recommend" in missing.json()["message"]
    assert (wrong_method.status_code, wrong_method.json()["error"]) == (405, "method_not_allowed")


def test_garbage_never_causes_a_server_error(api: TestClient) -> None:
    chunks = ["user_id", "k", "=", "&", "%", "%00", "%ff", "%%", "-", "+", "1", "0", "99", "e9",
              "9" * 40, "é", "\u202e", "'", '"', ";", "[]", "{}", "..", "/", "?", "#", " ", "nan",
              "inf", "None", "null", "true", "0x1", "½", "٣", "\t"]  # fmt: skip
    generator = random.Random(1)
    paths = ["/recommend", "/health", "/model", "/", "/recommend/", "/docs/../recommend", "/%00"]
    for _ in range(400):
        query = "".join(generator.choice(chunks) for _ in range(generator.randint(0, 12)))
        url = f"{generator.choice(paths)}?{quote(query, safe='=&%')}"
        method = generator.choice(["GET", "GET", "GET", "POST", "PUT", "DELETE", "PATCH"])
        response = api.request(method, url)

        assert response.status_code < 500, (method, url, response.text)
        assert isinstance(response.json(), dict), (method, url)


def test_health_reports_the_model_and_the_registry(api: TestClient) -> None:
    response = api.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["model_version"], body["registry"]) == ("ok", "1", "reachable")
    assert parse_time(body["registry_checked_at"]) <= datetime.now(UTC)


def test_model_reports_version_run_and_training_time(api: TestClient, registry: Registry) -> None:
    from mlflow.tracking import MlflowClient

    response = api.get("/model")

    assert response.status_code == 200
    body = response.json()
    run = MlflowClient().get_run(registry.a.run_id)
    assert body["name"] == MODEL
    assert (body["version"], body["alias"], body["run_id"]) == ("1", "champion", run.info.run_id)
    assert body["model_uri"] == f"models:/{MODEL}/1"
    assert body["source"]
    assert parse_time(body["trained_at"]).timestamp() == pytest.approx(run.info.start_time / 1000)
    assert parse_time(body["registered_at"]) <= parse_time(body["loaded_at"])
    assert body["users"] == len(registry.a.model.user_ids_)
    assert body["items"] == len(registry.a.model.item_ids_)


def parse_time(text: str) -> datetime:
    """An ISO 8601 time that must carry a UTC offset."""
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() is not None and moment.utcoffset().total_seconds() == 0, text
    return moment


# ---- the HTTP surface: hostile queries, the published schema, HEAD, the docs ----------------


@pytest.fixture
def checks_run(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every run of the service's own parameter check, by query (counted, then run as usual)."""
    runs: list[str] = []
    check = serve.parameter_problems

    def counted(request: Any) -> list[dict[str, Any]]:
        runs.append(request.url.query[:50])
        return check(request)

    monkeypatch.setattr(serve, "parameter_problems", counted)
    return runs


def test_a_flood_of_parameters_is_refused_before_any_check(
    api: TestClient, checks_run: list[str]
) -> None:
    flood = "&".join(f"{index}=" for index in range(1000))  # 5 KB, within the length limit
    assert len(flood) < MAX_QUERY_BYTES

    response = api.get(f"/recommend?user_id=1&{flood}")

    assert response.status_code == 422
    body = response.json()
    assert [problem["parameter"] for problem in body["problems"]] == ["query"]
    assert f"at most {MAX_QUERY_PARAMETERS}" in body["message"]
    assert len(response.content) < 1000  # not every name echoed back
    assert checks_run == []  # refused before routing: no per-parameter work at all


def test_a_query_string_too_long_is_refused_before_any_check(
    api: TestClient, checks_run: list[str]
) -> None:
    response = api.get(f"/recommend?user_id=1&note={'a' * MAX_QUERY_BYTES}")

    assert response.status_code == 414
    body = response.json()
    assert body["error"] == "uri_too_long"
    assert f"{MAX_QUERY_BYTES} bytes" in body["message"]
    assert len(response.content) < 1000
    assert checks_run == []


def test_each_query_is_checked_once(api: TestClient, checks_run: list[str]) -> None:
    for query in ("user_id=1", "user_id=1&user=2", "user_id=abc&user=2", "user_id=1&k=1&k=2"):
        checks_run.clear()
        api.get(f"/recommend?{query}")

        assert len(checks_run) == 1, query


def test_stray_parameters_are_echoed_within_bounds(api: TestClient) -> None:
    long_names = [f"{index:02d}{'x' * 400}" for index in range(MAX_QUERY_PARAMETERS - 1)]
    query = "user_id=1&" + "&".join(f"{name}={'v' * 20}" for name in long_names)
    assert len(query) <= MAX_QUERY_BYTES

    response = api.get(f"/recommend?{query}")

    assert response.status_code == 422
    problems = response.json()["problems"]
    assert len(problems) == len(long_names)
    assert all(len(problem["parameter"]) <= 100 for problem in problems)
    assert len(response.content) < 8000  # each name once, clipped; the query itself is 6 KB


def test_published_schema_uses_json_schema_keywords_for_bounds(api: TestClient) -> None:
    document = api.get("/openapi.json").json()
    parameters = {
        parameter["name"]: parameter["schema"]
        for parameter in document["paths"]["/recommend"]["get"]["parameters"]
    }

    assert not pydantic_keywords(document)
    assert (parameters["user_id"]["minimum"], parameters["user_id"]["maximum"]) == (0, MAX_ID)
    assert (parameters["k"]["minimum"], parameters["k"]["maximum"]) == (1, MAX_K)


def pydantic_keywords(node: object) -> list[str]:
    """Keys anywhere in a JSON document that are pydantic's names, not JSON Schema keywords."""
    if isinstance(node, dict):
        found = [key for key in node if key in {"ge", "gt", "le", "lt", "multiple_of"}]
        return found + [key for value in node.values() for key in pydantic_keywords(value)]
    if isinstance(node, list):
        return [key for value in node for key in pydantic_keywords(value)]
    return []


@pytest.mark.parametrize("target", ["/recommend?user_id=1&k=3", "/health", "/model", "/docs"])
def test_head_answers_like_get_without_a_body(api: TestClient, target: str) -> None:
    get, head = api.get(target), api.head(target)

    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert int(head.headers["content-length"]) == len(get.content)


def test_head_of_a_bad_request_gets_its_status_without_a_body(api: TestClient) -> None:
    response = api.head("/recommend?user_id=abc")

    assert (response.status_code, response.content) == (422, b"")


def test_other_methods_are_told_get_and_head(api: TestClient) -> None:
    response = api.delete("/health")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert "GET or HEAD" in response.json()["message"]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_need_nothing_from_outside(api: TestClient, page: str) -> None:
    html = api.get(page)
    assets = re.findall(r"""(?:src|href)=["']([^"']+)""", html.text)

    assert html.status_code == 200
    assert "://" not in html.text  # no CDN, no absolute URL of any kind
    assert any(asset.endswith(".js") for asset in assets), assets
    for asset in assets:
        assert asset.startswith("/") and not asset.startswith("//"), asset
        response = api.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 1000, asset


#: The published schema, read at import: schemathesis makes one test per operation when pytest
#: collects, before any fixture exists (its ``pytest.from_fixture``, which would wait, fails on
#: pytest 9: it sets ``node._nodeid``). The schema does not depend on the model, so an app without
#: one publishes it; the requests go to the app with the test champion (``api``).
published = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(cast("ChampionHolder", None), max_k=MAX_K)
)


@published.parametrize()
@settings(max_examples=100, derandomize=True, database=None, deadline=None)
def test_the_service_keeps_its_published_schema(case: schemathesis.Case, api: TestClient) -> None:
    """Generated requests, valid and invalid, judged by every check schemathesis has (its default).

    At most 100 generated cases per operation, the same on every run (derandomized).
    """
    case.call_and_validate(app=api.app)


# ---- following the alias ---------------------------------------------------------------------


def set_champion(name: str, version: str) -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient().set_registered_model_alias(name, "champion", version)


def test_refresh_follows_the_alias_and_in_flight_requests_keep_their_model(
    registry: Registry, known_user: int
) -> None:
    registry.register("follows", registry.a, registry.b)
    holder = new_holder("follows")
    in_flight = holder.current
    assert holder.refresh() is False

    set_champion("follows", "2")
    assert holder.refresh() is True
    assert holder.current.version == "2"
    assert holder.current.recommend(known_user, 10)[0].tolist() == top_items(
        registry.b.model, known_user
    )
    # A request that read the old champion before the swap still finishes on it.
    assert in_flight.recommend(known_user, 10)[0].tolist() == top_items(
        registry.a.model, known_user
    )

    set_champion("follows", "1")  # a rollback is a move like any other
    assert holder.refresh() is True
    assert holder.current.version == "1"


def test_registry_problems_never_unload_the_model(
    registry: Registry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from mlflow.tracking import MlflowClient

    registry.register("problems", registry.a)
    holder = new_holder("problems")
    api = TestClient(create_app(holder, max_k=MAX_K))
    caplog.set_level(logging.WARNING, logger="level2_cicd.champion")
    MlflowClient().delete_registered_model_alias("problems", "champion")
    assert [holder.refresh() for _ in range(3)] == [False] * 3

    # A version whose files are not a model: it is tried, refused, and not served.
    broken = MlflowClient().create_model_version("problems", source=str(tmp_path))
    set_champion("problems", str(broken.version))
    assert [holder.refresh() for _ in range(3)] == [False] * 3

    assert api.get("/recommend", params={"user_id": 1}).json()["model_version"] == "1"
    assert api.get("/health").json()["registry"] == "reachable"
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2, warnings  # one per problem, not one per poll
    assert "has no 'champion' alias" in warnings[0]
    assert f"cannot use version {broken.version}" in warnings[1]
    assert all("still serving version 1" in warning for warning in warnings)


class SwitchableClient:
    """The real registry client, or one whose server is gone (a closed port), at will."""

    def __init__(self, dead_uri: str) -> None:
        from mlflow.tracking import MlflowClient

        self.live = MlflowClient()
        self.dead = MlflowClient(tracking_uri=dead_uri, registry_uri=dead_uri)
        self.down = False

    def get_model_version_by_alias(self, name: str, alias: str) -> Any:
        """The live registry's answer, or a refused connection while ``down``."""
        return (self.dead if self.down else self.live).get_model_version_by_alias(name, alias)

    def get_run(self, run_id: str) -> Any:
        """The live registry's answer, or a refused connection while ``down``."""
        return (self.dead if self.down else self.live).get_run(run_id)


def test_unreachable_registry_after_start_keeps_serving(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    registry.register("outage", registry.a, registry.b)
    client = SwitchableClient(f"http://127.0.0.1:{free_port()}")
    holder = new_holder("outage", client=client)
    api = TestClient(create_app(holder, max_k=MAX_K))
    caplog.set_level(logging.INFO, logger="level2_cicd.champion")
    client.down = True
    assert [holder.refresh() for _ in range(3)] == [False] * 3

    health = api.get("/health")
    assert health.status_code == 200
    assert health.json()["registry"] == "unreachable"
    answer = api.get("/recommend", params={"user_id": 1, "k": 3})
    assert answer.status_code == 200
    assert answer.json()["model_version"] == "1"
    messages = [record.getMessage() for record in caplog.records]
    outage = [message for message in messages if "cannot reach" in message]
    assert len(outage) == 1, caplog.text
    assert "still serving version 1" in outage[0]

    client.down = False  # the registry is back, and the champion moved meanwhile
    set_champion("outage", "2")
    assert holder.refresh() is True
    health = api.get("/health").json()
    assert (health["model_version"], health["registry"]) == ("2", "reachable")


# ---- the real service ------------------------------------------------------------------------


def write_config(folder: Path, name: str, port: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(
        f"[data]\npath = 'unused'\n[tracking]\nstate_dir = '{folder / 'state'}'\n"
        f"[registry]\nmodel_name = '{name}'\n"
        f"[serving]\nhost = '127.0.0.1'\nport = {port}\nrefresh_seconds = 0.5\nmax_k = {MAX_K}\n"
    )
    return path


def start_service(config: Path, log: Path, **env: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "level2_cicd.serve", "--config", str(config)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture(scope="module")
def startup_failures(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Services that cannot start, started together (each pays MLflow's import time)."""
    folder = tmp_path_factory.mktemp("startup")
    dead_port = free_port()
    cases: dict[str, tuple[str, dict[str, str]]] = {
        "empty store": (MODEL, {"MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'empty.db'}"}),
        "unreachable": (
            MODEL,
            {
                "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{dead_port}",
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                "MLFLOW_HTTP_REQUEST_TIMEOUT": "2",
            },
        ),
    }
    processes = {}
    for case, (name, env) in cases.items():
        case_folder = folder / case.replace(" ", "-")
        config = write_config(case_folder, name, free_port())
        processes[case] = (start_service(config, case_folder / "out.log", **env), case_folder)
    results = {}
    for case, (process, case_folder) in processes.items():
        try:
            code = process.wait(timeout=90)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        results[case] = (code, (case_folder / "out.log").read_text(), cases[case][1])
    return results


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("empty store", "has no model named 'recommender'"),
        ("unreachable", "cannot reach the MLflow registry at http://127.0.0.1:"),
    ],
)
@pytest.mark.slow
def test_service_that_cannot_load_a_champion_says_why_and_exits(
    startup_failures: dict, case: str, expected: str
) -> None:
    code, output, env = startup_failures[case]
    uri = env["MLFLOW_TRACKING_URI"]

    assert code == 1, output
    assert "Traceback" not in output, output
    last = output.strip().splitlines()[-1]
    assert last.startswith("error: "), output
    assert expected in last
    assert uri in last


def test_a_model_without_champion_alias_cannot_be_loaded(registry: Registry) -> None:
    from level2_cicd.champion import ChampionHolder, NoChampionError

    registry.register("no-alias", registry.a, champion=None)

    with pytest.raises(NoChampionError, match="model 'no-alias' has no 'champion' alias"):
        ChampionHolder("no-alias").load()


@dataclass
class Hammer:
    """Client threads requesting recommendations non-stop; every failure is kept."""

    url: str
    users: list[int]
    stop: threading.Event = field(default_factory=threading.Event)
    failures: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, count: int = 3) -> None:
        """Start ``count`` client threads."""
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(count)]
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        """Stop the clients and wait for them (at most 30 s each)."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _run(self, seed: int) -> None:
        generator = random.Random(seed)
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set():
                user = generator.choice(self.users)
                try:
                    response = client.get("/recommend", params={"user_id": user, "k": 10})
                    body = response.json()
                    if response.status_code != 200 or len(body["items"]) != 10:
                        self.failures.append(f"{response.status_code} {response.text[:200]}")
                    else:
                        self.versions.append(body["model_version"])
                except Exception as error:
                    self.failures.append(f"{type(error).__name__}: {error}")


def wait_until(
    condition: Callable[[], bool], seconds: float, process: subprocess.Popen, log: Path
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the service exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if condition():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"not within {seconds} s; service log:\n{log.read_text()[-3000:]}")


@pytest.mark.slow
def test_running_service_swaps_champion_without_failing_requests(
    registry: Registry, known_user: int, tmp_path: Path
) -> None:
    registry.register("live", registry.a, registry.b)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    process = start_service(write_config(tmp_path, "live", port), log)
    hammer = Hammer(url, [known_user, int(registry.a.model.user_ids_.max()) + 1])
    try:
        wait_until(lambda: httpx.get(f"{url}/health").status_code == 200, 90, process, log)
        first = httpx.get(f"{url}/recommend", params={"user_id": known_user}).json()
        assert first["model_version"] == "1"
        assert [item["item_id"] for item in first["items"]] == top_items(
            registry.a.model, known_user
        )

        for garbage in RAW_GARBAGE:
            assert send_raw(port, garbage).startswith(b"HTTP/1.1 4"), garbage

        hammer.start()
        time.sleep(1)
        set_champion("live", "2")
        wait_until(lambda: httpx.get(f"{url}/model").json()["version"] == "2", 20, process, log)
        time.sleep(1)
        hammer.finish()

        assert hammer.failures == [], hammer.failures[:5]
        assert {"1", "2"} <= set(hammer.versions), "the hammer never saw both versions"
        assert hammer.versions[-1] == "2"
        assert len(hammer.versions) > 30, "the hammer hardly ran"
        after = httpx.get(f"{url}/recommend", params={"user_id": known_user}).json()
        assert after["model_version"] == "2"
        assert [item["item_id"] for item in after["items"]] == top_items(
            registry.b.model, known_user
        )
    finally:
        hammer.finish()
        stop(process)
    assert process.returncode == 0, log.read_text()[-3000:]
    assert "now serving version 2 (was 1)" in log.read_text()


#: Requests that are not HTTP at all, or barely: the server must refuse them and carry on.
RAW_GARBAGE = [
    b"\x00\xff\x16\x03\x01garbage\r\n\r\n",
    b"GET /recommend?user_id=1 HTTP/9.9\r\n\r\n",
    b"GET /recommend?user_id=1\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
]


def send_raw(port: int, data: bytes) -> bytes:
    """Send bytes on a fresh connection; return what the server answers before closing."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(data)
        return connection.recv(200)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM by process id, as an operator would; kill only if it does not stop in time."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
