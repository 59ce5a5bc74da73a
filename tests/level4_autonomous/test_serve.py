"""Level 4's serving API: level 2's answers and refusals, plus the prediction log behind them.

A copied level tests its own ``serve.py``, so the checks of level 2's API that still matter are
repeated here (answers, 422s naming the parameter, hostile queries, HEAD, the offline docs, the
published schema). Level 2's slow test of the champion hot swap under load is not: the swap code
(``champion.py`` and the endpoint's single read of ``holder.current``) is the same as level 2's,
which tests it, and a second copy would add a minute of subprocess time and nothing else.

What level 4 adds is tested in-process with FastAPI's TestClient against
``create_app(holder, max_k, prediction_log)``, and the log read back with the monitoring's own
reading functions: every answer is in the log, with its items, context and simulated time, before
it is sent; feedback joins its request, all of a batch or none of it; refusals are error rows; an
answer that cannot be logged is not sent (503). The champion is one EASE model of a tiny
simulated world, registered in the session's temporary MLflow store. ``test_durability.py`` kills
the real service mid-traffic.
"""

from __future__ import annotations

import json
import logging
import random
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

import numpy as np
import pandas as pd
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.types import Message, Receive, Scope, Send

from data import World, WorldConfig
from data.schema import LATEST_TIMESTAMP, SECONDS_PER_DAY, WORLD_EPOCH
from level4_autonomous import serve
from level4_autonomous.config import DEFAULT_CONFIG, load_config
from level4_autonomous.evaluation import Split, split_by_time
from level4_autonomous.model import EaseRecommender
from level4_autonomous.prediction_log import (
    PredictionLog,
    day_of,
    log_path,
    read_feedback,
    read_recommendations,
    read_requests,
)
from level4_autonomous.runtime import artifact_location
from level4_autonomous.serve import (
    MAX_BODY_BYTES,
    MAX_FEEDBACK_EVENTS,
    MAX_ID,
    MAX_QUERY_BYTES,
    MAX_QUERY_PARAMETERS,
    create_app,
)

if TYPE_CHECKING:
    from level4_autonomous.champion import ChampionHolder

MAX_K = 50
#: A simulated day of the tests' requests, and its first second.
DAY = 100
DAY_START = WORLD_EPOCH + DAY * SECONDS_PER_DAY
#: Every context parameter, with a valid value.
CONTEXT = {"device": "mobile", "country": "FR", "age_band": "25-34", "account_age_days": 730}
#: The day the largest user id is asked for.
LARGE_ID_DAY = DAY + 1


# ---- a champion in the session's temporary registry, and a log of the module's own -----------


@dataclass
class Registered:
    """The model behind the champion, its training split and its registered name."""

    model: EaseRecommender
    split: Split
    name: str
    run_id: str


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Registered:
    """One EASE model of the tiny world, logged as the flow logs it and made champion.

    Its name is the module's own, so its version is "1" whatever other tests registered.
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    from level4_autonomous.tracking import log_model

    interactions = World(WorldConfig(seed=7, size="tiny")).history().interactions
    split = split_by_time(interactions, 0.2)
    client = MlflowClient()
    experiment = client.create_experiment(
        f"serve-tests-{uuid.uuid4().hex[:8]}",
        artifact_location=artifact_location(tmp_path_factory.mktemp("serve-artifacts")),
    )
    model = EaseRecommender(l2=200.0).fit(split.train)
    with mlflow.start_run(experiment_id=experiment) as run:
        uri = log_model(model, split, k=10)
    name = f"serve-{uuid.uuid4().hex[:8]}"
    version = mlflow.register_model(uri, name).version
    client.set_registered_model_alias(name, "champion", str(version))
    return Registered(model, split, name, run.info.run_id)


@pytest.fixture(scope="module")
def holder(registered: Registered) -> ChampionHolder:
    """The registered champion, loaded (digest checked) as the service loads it."""
    from level4_autonomous.champion import ChampionHolder

    loaded = ChampionHolder(registered.name)
    loaded.load()
    return loaded


@pytest.fixture(scope="module")
def log_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the module's prediction log is (the file the service would write in its state)."""
    return log_path(tmp_path_factory.mktemp("serve-log"))


@pytest.fixture(scope="module")
def prediction_log(log_file: Path) -> Iterator[PredictionLog]:
    """The log ``api`` writes, open for the whole module like a service's."""
    with PredictionLog.open(log_file) as opened:
        yield opened


@pytest.fixture(scope="module")
def api(holder: ChampionHolder, prediction_log: PredictionLog) -> TestClient:
    """The level's API around the champion, logging to the module's log."""
    return TestClient(create_app(holder, max_k=MAX_K, prediction_log=prediction_log))


@pytest.fixture(scope="module")
def known_user(registered: Registered) -> int:
    """A user with training history."""
    return int(registered.split.train["user_id"].iloc[0])


@pytest.fixture(scope="module")
def new_user(registered: Registered) -> int:
    """A user the model does not know: it gets the popular items."""
    return int(registered.model.user_ids_.max()) + 1


def top_items(model: EaseRecommender, user: int, k: int = 10) -> list[int]:
    return model.recommend(np.array([user]), k=k)["item_id"].tolist()


def at(seconds_into_day: int, day: int = DAY) -> dict[str, str]:
    """The header that logs a request at a moment of a simulated day."""
    return {"X-Simulated-Time": str(WORLD_EPOCH + day * SECONDS_PER_DAY + seconds_into_day)}


def logged_request(path: Path, request_id: str, day: int = DAY) -> pd.Series:
    """The one row the log has for ``request_id`` (of ``day``), read as the monitoring reads it."""
    frame = read_requests(path, day, day)
    rows = frame[frame["request_id"] == request_id]
    assert len(rows) == 1, f"{len(rows)} rows for {request_id}"
    return rows.iloc[0]


def logged_items(path: Path, request_id: str, day: int = DAY) -> list[tuple[int, int, float]]:
    """The ``(rank, item_id, score)`` the log has for ``request_id``, best first."""
    frame = read_recommendations(path, day, day)
    rows = frame[frame["request_id"] == request_id]
    return list(zip(rows["rank"], rows["item_id"], rows["score"], strict=True))


def logged_feedback(path: Path, request_id: str, day: int = DAY) -> dict[int, tuple[str, int]]:
    """The feedback stored on ``request_id``'s items: item → (event, timestamp)."""
    frame = read_feedback(path, day, day)
    rows = frame[frame["request_id"] == request_id]
    return {
        int(item): (event, int(timestamp))
        for item, event, timestamp in zip(
            rows["item_id"], rows["event"], rows["timestamp"], strict=True
        )
    }


def served(api: TestClient, user: int, k: int = 5, seconds: int = 0) -> dict[str, Any]:
    """A successful ``/recommend`` answer's body, logged on the tests' simulated day."""
    response = api.get("/recommend", params={"user_id": user, "k": k}, headers=at(seconds))
    assert response.status_code == 200, response.text
    return response.json()


def event(request_id: str, item_id: int, kind: str = "click", seconds: int = 60) -> dict:
    """One feedback event, ``seconds`` after the start of the tests' simulated day."""
    return {
        "request_id": request_id,
        "item_id": item_id,
        "event": kind,
        "timestamp": DAY_START + seconds,
    }


# ---- answers ---------------------------------------------------------------------------------


def test_recommends_unseen_items_for_a_known_user(
    api: TestClient, registered: Registered, known_user: int
) -> None:
    response = api.get("/recommend", params={"user_id": known_user, "k": 10})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["user_id"], body["k"], body["model_version"]) == (known_user, 10, "1")
    assert body["fallback"] is False
    assert re.fullmatch("[0-9a-f]{32}", body["request_id"])
    assert response.headers["x-request-id"] == body["request_id"]
    items = body["items"]
    assert [item["rank"] for item in items] == list(range(1, 11))
    scores = [item["score"] for item in items]
    assert scores == sorted(scores, reverse=True)
    train = registered.split.train
    seen = set(train.loc[train["user_id"] == known_user, "item_id"])
    assert not seen & {item["item_id"] for item in items}
    assert [item["item_id"] for item in items] == top_items(registered.model, known_user)


def test_unknown_user_gets_the_most_popular_items(
    api: TestClient, registered: Registered, new_user: int
) -> None:
    for user in (new_user, MAX_ID):
        clock = at(0, day=LARGE_ID_DAY)
        response = api.get("/recommend", params={"user_id": user, "k": 5}, headers=clock)

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["fallback"] is True
        popular = np.argsort(-registered.model.popularity_, kind="stable")[:5]
        expected = registered.model.item_ids_[popular].tolist()
        assert [item["item_id"] for item in body["items"]] == expected


def test_k_defaults_to_ten(api: TestClient, known_user: int) -> None:
    response = api.get("/recommend", params={"user_id": known_user})

    assert response.status_code == 200
    assert response.json()["k"] == 10
    assert len(response.json()["items"]) == 10


def test_each_answer_has_an_id_of_its_own(api: TestClient, known_user: int) -> None:
    ids = [served(api, known_user)["request_id"] for _ in range(5)]

    assert len(set(ids)) == 5


@pytest.mark.parametrize(
    ("query", "headers", "parameter"),
    [
        ("", {}, "user_id"),
        ("user_id=abc", {}, "user_id"),
        ("user_id=-1", {}, "user_id"),
        ("user_id=42.0", {}, "user_id"),
        ("user_id=4_2", {}, "user_id"),
        ("user_id=%2042", {}, "user_id"),
        ("user_id=%EF%BC%91", {}, "user_id"),  # a full-width digit one
        (f"user_id={2**63}", {}, "user_id"),
        ("user_id=1&k=0", {}, "k"),
        (f"user_id=1&k={MAX_K + 1}", {}, "k"),
        ("user_id=1&k=", {}, "k"),
        pytest.param("user_id=1&user=2", {}, "user"),
        pytest.param("user_id=1&user_id=2", {}, "user_id"),
        ("user_id=1&device=", {}, "device"),
        (f"user_id=1&country={'x' * 33}", {}, "country"),
        pytest.param("user_id=1&age_band=a&age_band=b", {}, "age_band"),
        ("user_id=1&account_age_days=-1", {}, "account_age_days"),
        ("user_id=1&account_age_days=1e3", {}, "account_age_days"),
        ("user_id=1", {"X-Simulated-Time": "soon"}, "X-Simulated-Time"),
        ("user_id=1", {"X-Simulated-Time": "-5"}, "X-Simulated-Time"),
        ("user_id=1", {"X-Simulated-Time": str(LATEST_TIMESTAMP + 1)}, "X-Simulated-Time"),
    ],
)
def test_invalid_requests_get_a_422_naming_the_parameter(
    api: TestClient, query: str, headers: dict[str, str], parameter: str
) -> None:
    response = api.get(f"/recommend?{query}", headers=headers)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json"
    assert re.fullmatch("[0-9a-f]{32}", response.headers["x-request-id"])
    body = response.json()
    assert body["error"] == "invalid_request"
    assert parameter in [problem["parameter"] for problem in body["problems"]]
    assert f"{parameter}:" in body["message"]


def test_every_problem_is_reported_at_once(api: TestClient) -> None:
    response = api.get("/recommend?user_id=abc&k=0&device=&format=json")

    assert response.status_code == 422
    problems = {problem["parameter"]: problem for problem in response.json()["problems"]}
    assert set(problems) == {"user_id", "k", "device", "format"}
    assert problems["format"]["message"] == (
        "unknown parameter (this endpoint takes user_id, k, device, country, age_band, "
        "account_age_days)"
    )
    assert problems["user_id"]["input"] == "abc"


def test_other_endpoints_refuse_parameters(api: TestClient) -> None:
    for method, path in (("GET", "/health"), ("GET", "/model"), ("POST", "/feedback")):
        response = api.request(method, path, params={"verbose": "1"}, json={"events": []})

        assert response.status_code == 422, path
        assert response.json()["problems"][0]["parameter"] == "verbose"


def test_unknown_paths_answer_json_naming_the_endpoints(api: TestClient) -> None:
    response = api.get("/recommendations")

    assert (response.status_code, response.json()["error"]) == (404, "not_found")
    assert "/recommend" in response.json()["message"]
    assert "POST /feedback" in response.json()["message"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/recommend", "GET, HEAD"),
        ("PUT", "/recommend", "GET, HEAD"),
        ("DELETE", "/health", "GET, HEAD"),
        ("PATCH", "/model", "GET, HEAD"),
        ("GET", "/feedback", "POST"),
        ("HEAD", "/feedback", "POST"),
        ("PUT", "/feedback", "POST"),
    ],
)
def test_a_wrong_method_gets_405_with_the_methods_of_its_route(
    api: TestClient, method: str, path: str, allowed: str
) -> None:
    response = api.request(method, path)

    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    if method != "HEAD":
        body = response.json()
        assert body["error"] == "method_not_allowed"
        assert body["message"] == (
            f"method {method} not allowed here; use {allowed.replace(', ', ' or ')}"
        )


@pytest.fixture
def own_api(holder: ChampionHolder, tmp_path: Path) -> Iterator[TestClient]:
    """The API with a log of the test's own, for tests whose log rows no other test should read."""
    with PredictionLog.open(log_path(tmp_path)) as opened:
        yield TestClient(create_app(holder, max_k=MAX_K, prediction_log=opened))


def test_garbage_never_causes_a_server_error(own_api: TestClient) -> None:
    chunks = ["user_id", "k", "device", "account_age_days", "=", "&", "%", "%00", "%ff", "%%",
              "-", "+", "1", "0", "99", "e9", "9" * 40, "é", "\u202e", "'", '"', ";", "[]", "{}",
              "..", "/", "?", "#", " ", "nan", "inf", "None", "null", "true", "0x1", "½", "٣",
              "\t"]  # fmt: skip
    bodies = [b"", b"{", b"[]", b"null", b'{"events": null}', b'{"events": [{}]}',
              b'{"events": [1, "a", null]}', b"\xff\xfe", b'{"events": []}' * 2]  # fmt: skip
    generator = random.Random(1)
    paths = ["/recommend", "/feedback", "/health", "/model", "/", "/recommend/", "/%00"]
    for _ in range(300):
        query = "".join(generator.choice(chunks) for _ in range(generator.randint(0, 12)))
        url = f"{generator.choice(paths)}?{quote(query, safe='=&%')}"
        method = generator.choice(["GET", "GET", "POST", "POST", "PUT", "DELETE"])
        body = generator.choice(bodies) if method == "POST" else None
        clock = generator.choice(["", "1", "-1", "abc", "9" * 30, str(DAY_START)])
        headers = {"X-Simulated-Time": clock, "Content-Type": "application/json"}
        response = own_api.request(method, url, content=body, headers=headers)

        assert response.status_code < 500, (method, url, body, response.text)
        assert isinstance(response.json(), dict), (method, url)


def test_health_reports_the_model_and_the_registry(api: TestClient) -> None:
    response = api.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["model_version"], body["registry"]) == ("ok", "1", "reachable")
    assert body["problem"] is None


def test_model_reports_version_run_and_catalogue(api: TestClient, registered: Registered) -> None:
    response = api.get("/model")

    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["version"], body["alias"]) == (registered.name, "1", "champion")
    assert body["run_id"] == registered.run_id
    assert body["model_uri"] == f"models:/{registered.name}/1"
    assert body["users"] == len(registered.model.user_ids_)
    assert body["items"] == len(registered.model.item_ids_)


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
    api: TestClient, checks_run: list[str], log_file: Path
) -> None:
    flood = "&".join(f"{index}=" for index in range(1000))  # 5 KB, within the length limit
    assert len(flood) < MAX_QUERY_BYTES

    response = api.get(f"/recommend?user_id=1&{flood}", headers=at(10))

    assert response.status_code == 422
    body = response.json()
    assert [problem["parameter"] for problem in body["problems"]] == ["query"]
    assert f"at most {MAX_QUERY_PARAMETERS}" in body["message"]
    assert len(response.content) < 1000  # not every name echoed back
    assert checks_run == []  # refused before routing: no per-parameter work at all
    row = logged_request(log_file, response.headers["x-request-id"])
    assert row["status"] == 422
    assert pd.isna(row["user_id"])  # a query over the limits is not read, even for the log


def test_a_query_string_too_long_is_refused_before_any_check(
    api: TestClient, checks_run: list[str], log_file: Path
) -> None:
    response = api.get(f"/recommend?user_id=1&note={'a' * MAX_QUERY_BYTES}", headers=at(20))

    assert response.status_code == 414
    body = response.json()
    assert body["error"] == "uri_too_long"
    assert f"{MAX_QUERY_BYTES} bytes" in body["message"]
    assert len(response.content) < 1000
    assert checks_run == []
    row = logged_request(log_file, response.headers["x-request-id"])
    assert row["status"] == 414
    assert pd.isna(row["user_id"])


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
    clock = parameters["X-Simulated-Time"]["anyOf"][0]
    assert (clock["minimum"], clock["maximum"]) == (0, LATEST_TIMESTAMP)
    assert set(document["paths"]["/feedback"]) == {"post"}


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


def test_head_is_not_logged_as_an_answer_nobody_saw(api: TestClient, log_file: Path) -> None:
    before = logged_rows(log_file)

    assert api.head("/recommend?user_id=1&k=3").status_code == 200

    assert logged_rows(log_file) == before


def test_head_of_a_bad_request_gets_its_status_without_a_body(api: TestClient) -> None:
    response = api.head("/recommend?user_id=abc")

    assert (response.status_code, response.content) == (422, b"")


def test_docs_need_nothing_from_outside(api: TestClient) -> None:
    html = api.get("/docs")
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
#: collects, before any fixture exists. The schema depends on neither the model nor the log, so
#: an app without them publishes it; the requests go to the app with both (``api``).
published = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(cast("ChampionHolder", None), max_k=MAX_K)
)


@pytest.fixture(scope="module")
def fuzzed_api(
    holder: ChampionHolder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The API with a log of its own, for the generated requests.

    Module-scoped: hypothesis runs every example of a test within one call of its fixtures.
    """
    with PredictionLog.open(log_path(tmp_path_factory.mktemp("fuzzed"))) as opened:
        yield TestClient(create_app(holder, max_k=MAX_K, prediction_log=opened))


@published.parametrize()
@settings(max_examples=40, derandomize=True, database=None, deadline=None)
def test_the_service_keeps_its_published_schema(
    case: schemathesis.Case, fuzzed_api: TestClient
) -> None:
    """Generated requests, valid and invalid, judged by schemathesis's checks.

    All its default checks but one: "a schema-valid request is accepted" cannot hold here. A
    feedback event valid by the schema names a request this service never served (422 by
    design: the schema cannot say "a request_id you were sent"), and schemathesis sends the
    optional ``X-Simulated-Time`` header's JSON null as the text "null". At most 40 generated
    cases per operation, the same on every run (derandomized).
    """
    case.call_and_validate(app=fuzzed_api.app, excluded_checks=[positive_data_acceptance])


# ---- the prediction log: every answer, before it is sent -------------------------------------


class LogCheckedOnSend:
    """Wraps the API: when a ``/recommend`` answer starts on its way out, reads the log for it.

    What it finds is what a client would find in the log the moment it has the answer.
    """

    def __init__(self, app: Any, path: Path) -> None:
        self.app, self.path = app, path
        self.found: dict[str, tuple[int, int]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; look in the log when its answer starts."""

        async def checking_send(message: Message) -> None:
            if message["type"] == "http.response.start" and scope.get("path") == "/recommend":
                request_id = dict(message["headers"])[b"x-request-id"].decode()
                requests = read_requests(self.path, DAY, DAY)
                items = read_recommendations(self.path, DAY, DAY)
                self.found[request_id] = (
                    int((requests["request_id"] == request_id).sum()),
                    int((items["request_id"] == request_id).sum()),
                )
            await send(message)

        await self.app(scope, receive, checking_send)


def test_an_answer_is_in_the_log_before_it_is_sent(
    api: TestClient, log_file: Path, known_user: int
) -> None:
    checked = LogCheckedOnSend(api.app, log_file)
    client = TestClient(checked)

    answer = client.get("/recommend", params={"user_id": known_user, "k": 7}, headers=at(30))
    refused = client.get("/recommend", params={"user_id": "x"}, headers=at(31))

    assert answer.status_code == 200
    assert checked.found[answer.json()["request_id"]] == (1, 7)  # the request and its 7 items
    assert refused.status_code == 422
    assert checked.found[refused.headers["x-request-id"]] == (1, 0)  # an error row, no items


def test_the_log_has_the_answer_with_its_items_context_and_simulated_time(
    api: TestClient, log_file: Path, known_user: int
) -> None:
    clock = at(SECONDS_PER_DAY - 1)  # the last second of the day is still that day
    response = api.get(
        "/recommend", params={"user_id": known_user, "k": 10, **CONTEXT}, headers=clock
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["x-request-id"] == body["request_id"]
    row = logged_request(log_file, body["request_id"])
    assert row["timestamp"] == int(clock["X-Simulated-Time"])
    assert row["day"] == DAY == day_of(row["timestamp"])
    assert (row["user_id"], row["k"], row["status"]) == (known_user, 10, 200)
    assert (row["model_version"], row["fallback"]) == ("1", False)
    assert {name: row[name] for name in CONTEXT} == CONTEXT
    assert row["latency_ms"] > 0
    expected = [(item["rank"], item["item_id"], item["score"]) for item in body["items"]]
    assert logged_items(log_file, body["request_id"]) == expected


def test_a_fallback_answer_is_logged_as_one(api: TestClient, log_file: Path, new_user: int) -> None:
    body = served(api, new_user, k=3)

    row = logged_request(log_file, body["request_id"])
    assert (row["user_id"], row["fallback"]) == (new_user, True)
    assert len(logged_items(log_file, body["request_id"])) == 3


def test_without_a_simulated_time_the_wall_clock_is_logged(
    api: TestClient, log_file: Path, known_user: int
) -> None:
    before = int(time.time())
    response = api.get("/recommend", params={"user_id": known_user, "k": 2})
    after = int(time.time())

    assert response.status_code == 200
    row = logged_request(log_file, response.json()["request_id"], day_of(before))
    assert before <= row["timestamp"] <= after
    assert row["device"] is None and pd.isna(row["account_age_days"])  # no context sent


def test_a_refused_query_is_an_error_row_with_the_valid_parameters(
    api: TestClient, log_file: Path
) -> None:
    query = {
        "user_id": "42",
        "k": "ten",
        "device": "tablet",
        "country": "x" * 33,
        "age_band": "65+",
        "account_age_days": "3.5",
    }
    response = api.get("/recommend", params=query, headers=at(40))

    assert response.status_code == 422
    problems = {problem["parameter"] for problem in response.json()["problems"]}
    assert problems == {"k", "country", "account_age_days"}
    row = logged_request(log_file, response.headers["x-request-id"])
    assert (row["status"], row["timestamp"]) == (422, DAY_START + 40)
    assert (row["user_id"], row["device"], row["age_band"]) == (42, "tablet", "65+")
    assert pd.isna(row["k"]) and row["country"] is None and pd.isna(row["account_age_days"])
    assert row["model_version"] is None and pd.isna(row["fallback"])
    assert logged_items(log_file, response.headers["x-request-id"]) == []


def test_an_invalid_simulated_time_is_refused_and_logged_at_the_wall_clock(
    api: TestClient, log_file: Path
) -> None:
    before = int(time.time())
    response = api.get("/recommend", params={"user_id": 3}, headers={"X-Simulated-Time": "-1"})
    after = int(time.time())

    assert response.status_code == 422
    row = logged_request(log_file, response.headers["x-request-id"], day_of(before))
    assert before <= row["timestamp"] <= after
    assert (row["status"], row["user_id"]) == (422, 3)


def test_a_wrong_method_on_recommend_is_logged_as_an_error_row(
    api: TestClient, log_file: Path
) -> None:
    response = api.post("/recommend", params={"user_id": 7, "k": 3}, headers=at(50))

    assert response.status_code == 405
    row = logged_request(log_file, response.headers["x-request-id"])
    assert (row["status"], row["user_id"], row["k"]) == (405, 7, 3)


def test_only_recommend_answers_are_logged(api: TestClient, log_file: Path) -> None:
    before = logged_rows(log_file)

    for method, path in (("GET", "/health"), ("GET", "/model"), ("GET", "/nowhere")):
        assert "x-request-id" not in api.request(method, path).headers
    api.post("/feedback", json={"events": []})

    assert logged_rows(log_file) == before


def logged_rows(path: Path) -> int:
    """How many requests the log has, all days together."""
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT count(*) FROM requests").fetchone()[0]


# ---- feedback --------------------------------------------------------------------------------


def test_feedback_joins_its_request(api: TestClient, log_file: Path, known_user: int) -> None:
    body = served(api, known_user, seconds=100)
    first, second = (item["item_id"] for item in body["items"][:2])
    two_days_later = 2 * SECONDS_PER_DAY + 5

    response = api.post(
        "/feedback",
        json={
            "events": [
                event(body["request_id"], first, "click", seconds=160),
                event(body["request_id"], second, "purchase", seconds=two_days_later),
            ]
        },
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 2, "duplicates": 0}
    frame = read_feedback(log_file, DAY, DAY)  # by the day of the request, whenever it came
    rows = frame[frame["request_id"] == body["request_id"]].set_index("item_id")
    assert rows.loc[first, "event"] == "click"
    assert rows.loc[second, "event"] == "purchase"
    assert rows.loc[second, "timestamp"] == DAY_START + two_days_later
    assert (rows.loc[first, "day"], rows.loc[second, "day"]) == (DAY, DAY + 2)
    assert set(rows["request_day"]) == {DAY}


def test_a_batch_naming_an_unknown_request_is_refused_whole(
    api: TestClient, log_file: Path, known_user: int
) -> None:
    body = served(api, known_user)
    item = body["items"][0]["item_id"]
    unknown = uuid.uuid4().hex

    response = api.post(
        "/feedback", json={"events": [event(body["request_id"], item), event(unknown, item)]}
    )

    assert response.status_code == 422
    answer = response.json()
    assert answer["error"] == "invalid_request"
    assert [problem["parameter"] for problem in answer["problems"]] == ["events.1.request_id"]
    assert answer["problems"][0]["input"] == unknown
    assert logged_feedback(log_file, body["request_id"]) == {}  # the valid event neither


def test_a_batch_naming_an_item_not_served_is_refused_whole(
    api: TestClient, log_file: Path, known_user: int
) -> None:
    body = served(api, known_user, k=3)
    items = [item["item_id"] for item in body["items"]]
    not_served = next(item for item in range(10_000) if item not in items)
    events = [event(body["request_id"], item) for item in items]
    events.insert(2, event(body["request_id"], not_served))

    response = api.post("/feedback", json={"events": events})

    assert response.status_code == 422
    answer = response.json()
    assert [problem["parameter"] for problem in answer["problems"]] == ["events.2.item_id"]
    assert answer["problems"][0]["message"] == (
        f"item {not_served} was not served in request {body['request_id']}"
    )
    assert logged_feedback(log_file, body["request_id"]) == {}


def test_feedback_on_a_refused_request_is_refused(api: TestClient) -> None:
    refused = api.get("/recommend", params={"user_id": "x"}, headers=at(70))
    request_id = refused.headers["x-request-id"]

    response = api.post("/feedback", json={"events": [event(request_id, 1)]})

    assert response.status_code == 422  # an error row was served no items
    assert response.json()["problems"][0]["parameter"] == "events.0.item_id"


def test_duplicates_are_counted_and_the_deeper_event_wins(
    api: TestClient, log_file: Path, known_user: int
) -> None:
    body = served(api, known_user)
    request_id, item = body["request_id"], body["items"][0]["item_id"]

    def post(*events: dict) -> dict:
        response = api.post("/feedback", json={"events": list(events)})
        assert response.status_code == 200, response.text
        return response.json()

    assert post(event(request_id, item, "click", 60)) == {"accepted": 1, "duplicates": 0}
    assert post(event(request_id, item, "click", 61)) == {"accepted": 0, "duplicates": 1}
    assert logged_feedback(log_file, request_id) == {item: ("click", DAY_START + 60)}

    assert post(event(request_id, item, "purchase", 90)) == {"accepted": 0, "duplicates": 1}
    assert logged_feedback(log_file, request_id) == {item: ("purchase", DAY_START + 90)}

    assert post(event(request_id, item, "click", 95)) == {"accepted": 0, "duplicates": 1}
    assert logged_feedback(log_file, request_id) == {item: ("purchase", DAY_START + 90)}


def test_repeats_within_one_batch_count_as_duplicates(
    api: TestClient, log_file: Path, known_user: int
) -> None:
    body = served(api, known_user)
    request_id, item = body["request_id"], body["items"][1]["item_id"]
    events = [event(request_id, item, "click", 60), event(request_id, item, "purchase", 70)]

    response = api.post("/feedback", json={"events": [*events, event(request_id, item)]})

    assert response.json() == {"accepted": 1, "duplicates": 2}
    assert logged_feedback(log_file, request_id) == {item: ("purchase", DAY_START + 70)}


def one_event(**changes: object) -> bytes:
    """A batch of one valid event with ``changes`` (a field given None is left out)."""
    fields = {"request_id": "a" * 32, "item_id": 1, "event": "click", "timestamp": 1, **changes}
    kept = {name: value for name, value in fields.items() if value is not None}
    return json.dumps({"events": [kept]}).encode()


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        (b"{not json", "body"),
        (b"[]", "body"),
        (b"{}", "events"),
        (b'{"events": [], "more": 1}', "more"),
        (one_event(request_id="abc"), "events.0.request_id"),
        (one_event(item_id="1"), "events.0.item_id"),  # strict: no string for a number
        (one_event(item_id=-1), "events.0.item_id"),
        (one_event(event="view"), "events.0.event"),
        (one_event(timestamp=LATEST_TIMESTAMP + 1), "events.0.timestamp"),
        (one_event(timestamp=None), "events.0.timestamp"),
        (one_event(extra=1), "events.0.extra"),
    ],
)
def test_an_invalid_feedback_body_gets_a_422_naming_the_field(
    api: TestClient, body: bytes, parameter: str
) -> None:
    response = api.post("/feedback", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 422, response.text
    assert parameter in [problem["parameter"] for problem in response.json()["problems"]]


def test_a_body_that_is_not_utf8_is_refused_as_the_schema_says(api: TestClient) -> None:
    documented = api.get("/openapi.json").json()["paths"]["/feedback"]["post"]["responses"]

    response = api.post(
        "/feedback", content=b'{"events": []}\xff', headers={"Content-Type": "application/json"}
    )

    assert response.status_code < 500
    assert response.json()["error"]  # the API's error format
    assert str(response.status_code) in documented


def test_a_batch_of_too_many_events_is_refused(api: TestClient) -> None:
    events = [event("a" * 32, 1)] * (MAX_FEEDBACK_EVENTS + 1)

    response = api.post("/feedback", json={"events": events})

    assert response.status_code == 422
    assert [problem["parameter"] for problem in response.json()["problems"]] == ["events"]


def test_an_oversize_body_is_refused_unread(
    api: TestClient, log_file: Path, known_user: int
) -> None:
    body = served(api, known_user)
    item = body["items"][0]["item_id"]
    batch = b'{"events": [%s]}' % (
        b'{"request_id": "%s", "item_id": %d, "event": "click", "timestamp": %d}'
        % (body["request_id"].encode(), item, DAY_START)
    )
    padded = batch + b" " * (MAX_BODY_BYTES + 1 - len(batch))  # valid JSON, one byte too many

    def in_chunks() -> Iterator[bytes]:  # no Content-Length: refused as the limit is passed
        for start in range(0, len(padded), 1 << 20):
            yield padded[start : start + (1 << 20)]

    for content in (padded, in_chunks()):
        response = api.post(
            "/feedback", content=content, headers={"Content-Type": "application/json"}
        )

        assert response.status_code == 413
        assert response.json()["error"] == "content_too_large"
        assert f"at most {MAX_BODY_BYTES} bytes" in response.json()["message"]
    assert logged_feedback(log_file, body["request_id"]) == {}
    accepted = api.post(  # at the limit: read and stored
        "/feedback", content=padded[:-1], headers={"Content-Type": "application/json"}
    )
    assert accepted.json() == {"accepted": 1, "duplicates": 0}


# ---- when the log cannot be written, or is off -----------------------------------------------


@pytest.fixture
def breakable_log(tmp_path: Path) -> Iterator[PredictionLog]:
    """A log of the test's own, for tests that make its writes fail."""
    with PredictionLog.open(log_path(tmp_path)) as opened:
        yield opened


def fail_inserts(path: Path, table: str) -> None:
    """Make every insert into ``table`` fail, as a full disk would (from another connection)."""
    with sqlite3.connect(path) as connection:
        connection.execute(
            f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )


def repair(path: Path, table: str) -> None:
    """Undo ``fail_inserts``."""
    with sqlite3.connect(path) as connection:
        connection.execute(f"DROP TRIGGER fail_{table}")


def test_an_answer_that_cannot_be_logged_is_not_sent(
    holder: ChampionHolder, breakable_log: PredictionLog, known_user: int
) -> None:
    api = TestClient(create_app(holder, max_k=MAX_K, prediction_log=breakable_log))
    path = breakable_log.path
    fail_inserts(path, "recommendations")

    response = api.get("/recommend", params={"user_id": known_user, "k": 5}, headers=at(0))

    assert response.status_code == 503
    body = response.json()
    assert set(body) == {"error", "message", "problems"}  # no items, no request_id
    assert body["error"] == "service_unavailable"
    assert "prediction log cannot be written" in body["message"]
    assert "database or disk is full" in body["message"]
    request_id = response.headers["x-request-id"]
    row = logged_request(path, request_id)  # the answer's row was rolled back with its items;
    assert (row["status"], row["user_id"], row["k"]) == (503, known_user, 5)  # the error stays
    assert row["model_version"] is None
    assert logged_items(path, request_id) == []

    repair(path, "recommendations")  # the log is back: so are the answers, without a restart
    again = api.get("/recommend", params={"user_id": known_user, "k": 5}, headers=at(1))
    assert again.status_code == 200
    assert len(logged_items(path, again.json()["request_id"])) == 5


def test_a_log_that_takes_nothing_leaves_no_row_and_says_so(
    holder: ChampionHolder,
    breakable_log: PredictionLog,
    known_user: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = TestClient(create_app(holder, max_k=MAX_K, prediction_log=breakable_log))
    fail_inserts(breakable_log.path, "requests")
    caplog.set_level(logging.ERROR, logger="level4_autonomous.serve")

    response = api.get("/recommend", params={"user_id": known_user}, headers=at(0))

    assert response.status_code == 503
    assert "items" not in response.json()
    assert read_requests(breakable_log.path, -100_000, 100_000).empty
    request_id = response.headers["x-request-id"]
    assert any(f"cannot log the refused request {request_id}" in line for line in caplog.messages)


def test_feedback_that_cannot_be_stored_is_503_and_stores_nothing(
    holder: ChampionHolder, breakable_log: PredictionLog, known_user: int
) -> None:
    api = TestClient(create_app(holder, max_k=MAX_K, prediction_log=breakable_log))
    body = served(api, known_user)
    fail_inserts(breakable_log.path, "feedback")

    response = api.post(
        "/feedback", json={"events": [event(body["request_id"], body["items"][0]["item_id"])]}
    )

    assert response.status_code == 503
    assert "prediction log cannot be written" in response.json()["message"]
    assert logged_feedback(breakable_log.path, body["request_id"]) == {}


def test_without_a_log_answers_are_sent_and_feedback_is_503(
    holder: ChampionHolder, known_user: int
) -> None:
    api = TestClient(create_app(holder, max_k=MAX_K, prediction_log=None))

    answer = api.get("/recommend", params={"user_id": known_user, "k": 3})
    feedback = api.post("/feedback", json={"events": []})

    assert answer.status_code == 200
    assert answer.headers["x-request-id"] == answer.json()["request_id"]
    assert feedback.status_code == 503
    assert "serving.log_predictions is false" in feedback.json()["message"]


@pytest.mark.parametrize("log_predictions", [True, False])
def test_the_service_opens_its_log_only_when_configured_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_predictions: bool
) -> None:
    config = load_config(
        DEFAULT_CONFIG,
        {"tracking.state_dir": str(tmp_path), "serving.log_predictions": str(log_predictions)},
    )
    given: list[PredictionLog | None] = []

    def serve_with_log(_config: object, prediction_log: PredictionLog | None) -> int:
        given.append(prediction_log)
        return 0

    monkeypatch.setattr(serve, "serve_with_log", serve_with_log)

    assert serve.serve(config) == 0
    if log_predictions:
        assert given[0] is not None and given[0].path == log_path(tmp_path)
        assert log_path(tmp_path).is_file()
    else:
        assert given == [None]
        assert not log_path(tmp_path).exists()


def test_a_log_that_cannot_be_opened_stops_the_service_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_path(tmp_path).mkdir()  # a folder where the file should be
    config = load_config(DEFAULT_CONFIG, {"tracking.state_dir": str(tmp_path)})

    assert serve.serve(config) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: cannot open the prediction log {log_path(tmp_path)}")


# ---- the online check's test arm --------------------------------------------------------------


def test_the_test_arm_serves_its_share_of_users_by_role_then_nobody(
    registered: Registered, holder: ChampionHolder
) -> None:
    """A version under ab_test answers exactly the users its role's share picks, until removed."""
    from mlflow.tracking import MlflowClient

    from level4_autonomous.champion import ChampionHolder
    from level4_autonomous.registry import AB_TEST, ROLE_TAG
    from level4_autonomous.serve import in_test_arm

    client = MlflowClient()
    source = client.get_model_version(registered.name, "1").source
    arm = ChampionHolder(registered.name, alias=AB_TEST, optional=True)
    app = TestClient(create_app(holder, MAX_K, None, arm, {"challenger": 0.5, "watch": 0.1}))
    users = range(200)

    def answered_by() -> dict[int, str]:
        return {
            user: app.get(f"/recommend?user_id={user}&k=3").json()["model_version"]
            for user in users
        }

    for role, share in (("watch", 0.1), ("challenger", 0.5)):
        version = str(
            client.create_model_version(registered.name, source, registered.run_id).version
        )
        client.set_model_version_tag(registered.name, version, ROLE_TAG, role)
        client.set_registered_model_alias(registered.name, AB_TEST, version)
        assert arm.refresh() is True
        expected = {user: version if in_test_arm(user, share) else "1" for user in users}
        assert answered_by() == expected
        assert app.get("/health").json()["ab_test_version"] == version
    client.delete_registered_model_alias(registered.name, AB_TEST)
    arm.refresh()
    assert set(answered_by().values()) == {"1"}
    assert app.get("/health").json()["ab_test_version"] is None
