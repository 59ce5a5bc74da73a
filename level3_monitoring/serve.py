"""Level 3's serving API: the registry's champion behind a small, strict HTTP API that logs.

    python -m level3_monitoring.serve [--config FILE] [--set serving.port=8001]

    GET /recommend?user_id=42&k=10   ranked items with scores (the popular items for a new user)
        [&device=&country=&age_band=&account_age_days=]
                                     and a request_id; the optional context is logged, not used
                                     by the model. Header ``X-Simulated-Time: <unix seconds>``
                                     sets the time the request is logged at (the simulation's
                                     clock); without it, the wall clock
    POST /feedback                   {"events": [{"request_id", "item_id", "event", "timestamp"}]}:
                                     clicks and purchases on served items, all stored or none
    GET /health                      200 while a model answers; "degraded" and why, when it is
                                     not the registry's champion or the registry is unreachable
    GET /model                       the version served: run, training time, source
    GET /docs                        the OpenAPI description (Swagger UI, served without a CDN)

HEAD is answered like GET, without the body.

It loads ``models:/<registry.model_name>@champion`` from the MLflow registry (the level's local
store unless ``MLFLOW_TRACKING_URI`` says otherwise) and checks the alias every
``serving.refresh_seconds``: a promotion reaches the service without a restart (``champion.py``).

Every ``/recommend`` answer is written to the prediction log (``prediction_log.py``,
``<tracking.state_dir>/predictions.db``) before it is sent: an answer the client received is in
the log, even if the service is killed the next moment. An answer that cannot be logged is not
sent (503): a recommendation nobody can monitor is not served. Refused requests (status >= 400)
are logged as error rows, for the error rate. Every ``/recommend`` answer, errors included,
carries its id in the ``X-Request-ID`` header. ``serving.log_predictions = false`` turns the log
off (to measure what it costs); ``/feedback`` then answers 503.

Every error is JSON, ``{"error": "<code>", "message": "<sentence>", "problems": [...]}``, with
one problem per bad query parameter or body field (unknown, repeated, malformed or out of range;
the first ``MAX_PROBLEMS`` of them). A query of more than ``MAX_QUERY_PARAMETERS`` parameters
(422) or ``MAX_QUERY_BYTES`` bytes (414), or a body of more than ``MAX_BODY_BYTES`` (413), is
refused before it is parsed: a hostile request costs no more than a normal one.

SIGTERM or SIGINT (Ctrl-C) stops it gracefully: requests in flight are answered, then it exits 0.
It exits 1 when it cannot serve at start (the prediction log cannot be opened, or no champion can
be loaded: registry unreachable, no champion, model unusable; one line on stderr says which), 2
for a bad configuration, 3 when the address cannot be bound (uvicorn's message says why).
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations at run
# time, and the limit on ``k`` is a local of ``create_app`` that a string annotation cannot see.

import argparse
import logging
import os
import re
import signal
import sys
import time
import uuid
from collections import Counter
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from data.schema import LATEST_TIMESTAMP

from . import PACKAGE
from .config import Config, ConfigError, add_config_arguments, load_config, parse_overrides
from .prediction_log import (
    FeedbackEvent,
    FeedbackRefusedError,
    LoggedRequest,
    PredictionLog,
    PredictionLogError,
    log_path,
)
from .runtime import use_local_state

if TYPE_CHECKING:
    import numpy as np

    from .champion import ChampionHolder

# Named after the module even when it runs as ``python -m``, where ``__name__`` is "__main__".
log = logging.getLogger(f"{PACKAGE}.serve")
access_log = logging.getLogger(f"{PACKAGE}.serve.access")

#: Ids are stored as 64-bit integers; a larger one cannot be a user of any model.
MAX_ID = 2**63 - 1
DEFAULT_K = 10
#: The endpoints take at most six parameters; a query beyond these limits is refused unread, so
#: its cost is one pass over its bytes (thousands of parameters once took seconds and megabytes).
MAX_QUERY_PARAMETERS = 16
MAX_QUERY_BYTES = 8192
#: A POST body is read up to this and refused beyond it (413): room for ``MAX_FEEDBACK_EVENTS``
#: events, even pretty-printed (10,000 take about 1 MB compact, 2 MB indented by four).
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_FEEDBACK_EVENTS = 10_000
#: The longest context value (device, country, age band) a request may carry.
MAX_CONTEXT_LENGTH = 32
#: The longest parameter name or value an error repeats back.
MAX_ECHO = 100
#: Problems listed in one error answer; the message says how many more there were.
MAX_PROBLEMS = 20
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DECIMAL_INTEGER = re.compile(r"-?[0-9]+")
#: Error codes of the JSON error body; other statuses use their HTTP phrase ("not_found").
ERROR_CODES = {
    413: "content_too_large",
    414: "uri_too_long",
    422: "invalid_request",
    500: "internal_error",
}
REQUEST_ID_HEADER = b"x-request-id"
SIMULATED_TIME_HEADER = b"x-simulated-time"
#: The methods a ``405`` lists as allowed, in this order (HEAD wherever GET is: ``HeadAsGet``).
METHOD_ORDER = ("GET", "HEAD", "POST")
#: MLflow's HTTP defaults retry for about 4 minutes with a 120 s timeout per request. A service
#: should say quickly at start that its registry is unreachable, and its polls must not pile up.
#: Only defaults: the environment wins.
REGISTRY_CLIENT_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}


# ---- response shapes (also the OpenAPI schema at /docs) -------------------------------------


class Item(BaseModel):
    """One recommended item; lists come best first."""

    item_id: int
    rank: int = Field(description="1 is the best")
    score: float = Field(description="the model's score; popularity for the fallback")


class Recommendations(BaseModel):
    """The answer of ``/recommend``: the user's items and the version that ranked them."""

    request_id: str = Field(
        description="this answer's id in the prediction log; send it back with the feedback"
    )
    user_id: int
    k: int = Field(description="items asked for; fewer come back if the catalogue is smaller")
    model_version: str
    fallback: bool = Field(description="true when the model does not know the user")
    items: list[Item]


class ReportedEvent(BaseModel):
    """A click or purchase on an item a ``/recommend`` answer served."""

    model_config = ConfigDict(extra="forbid", strict=True)

    request_id: str = Field(
        pattern="^[0-9a-f]{32}$", description="the request_id of the answer that served the item"
    )
    item_id: int = Field(ge=0, le=MAX_ID)
    event: Literal["click", "purchase"]
    timestamp: int = Field(ge=0, le=LATEST_TIMESTAMP, description="when it happened, Unix seconds")


class FeedbackBatch(BaseModel):
    """The body of ``POST /feedback``: stored all together, or (any event refused) not at all."""

    model_config = ConfigDict(extra="forbid", strict=True)

    events: list[ReportedEvent] = Field(max_length=MAX_FEEDBACK_EVENTS)


class FeedbackReceipt(BaseModel):
    """What a feedback batch did with its events.

    A repeat counts as a duplicate; a deeper one (a purchase after a click on the same item)
    still replaces the event stored.
    """

    accepted: int = Field(description="events stored as new")
    duplicates: int = Field(description="events about an item whose feedback was already there")


class Health(BaseModel):
    """Alive (HTTP 200 whenever a model answers) and whether it serves the registry's champion.

    A monitoring system alerts on ``status`` and shows ``problem``. The status code stays 200 when
    degraded, because the service still answers correctly with the model it has: a load balancer
    that took it out of rotation would turn a failed update into an outage.
    """

    status: Literal["ok", "degraded"] = Field(
        description="ok: serving the champion the registry names; degraded: see problem"
    )
    model_version: str = Field(description="the version answering requests")
    champion_version: str | None = Field(
        description="the version the champion alias named at the last registry check "
        "(null: the registry has no champion)"
    )
    problem: str | None = Field(
        description="why the status is degraded, in one line: the champion cannot be loaded "
        "(and why), the alias is gone, or the registry is unreachable; null when ok"
    )
    load_failed_at: datetime | None = Field(
        description="when loading champion_version last failed (it is retried with a back-off "
        "of up to a minute); null unless it is failing"
    )
    registry: Literal["reachable", "unreachable"] = Field(
        description="whether the last check of the champion alias reached the registry"
    )
    registry_checked_at: datetime | None = Field(
        description="when the registry last answered that check"
    )


class ModelInfo(BaseModel):
    """The answer of ``/model``: the version that answers, and where it came from."""

    name: str
    version: str
    alias: str
    run_id: str | None
    model_uri: str
    source: str
    trained_at: datetime | None = Field(description="start of the training run, UTC")
    registered_at: datetime | None
    loaded_at: datetime
    users: int = Field(description="users the model knows")
    items: int = Field(description="items in its catalogue")


class Problem(BaseModel):
    """One bad part of a request: the parameter, what is wrong, the value sent (clipped)."""

    parameter: str
    message: str
    input: str | None = None


class ErrorBody(BaseModel):
    """Every error's body: a stable code, one sentence, and each problem found."""

    error: str
    message: str
    problems: list[Problem] = []


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    414: {"model": ErrorBody, "description": f"query string longer than {MAX_QUERY_BYTES} bytes"},
    422: {"model": ErrorBody, "description": "invalid query parameters"},
}
RECOMMEND_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    503: {"model": ErrorBody, "description": "the answer cannot be written to the prediction log"},
}
FEEDBACK_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    400: {"model": ErrorBody, "description": "a body that is not UTF-8 text"},
    413: {"model": ErrorBody, "description": f"body larger than {MAX_BODY_BYTES} bytes"},
    422: {
        "model": ErrorBody,
        "description": "an invalid body, or events about requests or items not served",
    },
    503: {"model": ErrorBody, "description": "the prediction log is off, or cannot be written"},
}


# ---- request validation ---------------------------------------------------------------------


def decimal_integer(value: object) -> object:
    """Accept only plain decimal integers: pydantic alone would read "4_2", "42.0", " 42" as 42."""
    if isinstance(value, str) and not DECIMAL_INTEGER.fullmatch(value):
        raise PydanticCustomError("int_parsing", "Input should be an integer, like 42")
    return value


#: Goes *after* the ``Query(ge=…, le=…)`` of an integer parameter: a bound placed after a validator
#: is published in the OpenAPI schema as pydantic's ``ge``/``le`` instead of JSON Schema's
#: ``minimum``/``maximum`` (pydantic issue 11576), and generated clients would not see the bounds.
PLAIN_INTEGER = BeforeValidator(decimal_integer)


class StrayParameterError(RequestValidationError):
    """Raised by ``check_parameters``: the stray parameters, found once, already in the error."""


def parameter_problems(request: Request) -> list[dict[str, Any]]:
    """Query parameters the endpoint does not take, or that are given more than once.

    FastAPI ignores both: a typo such as ``?user=42`` or ``?K=5`` would silently get a default
    answer, and ``?k=5&k=50`` would quietly use one of the two. One pass over the parameters.
    """
    dependant = getattr(request.scope.get("route"), "dependant", None)
    allowed = [field.alias for field in dependant.query_params] if dependant else []
    parameters = request.query_params.multi_items()
    counts = Counter(name for name, _ in parameters)
    last_values = dict(parameters)
    problems = []
    for name, count in counts.items():
        if name not in allowed:
            expected = ", ".join(allowed) or "no parameters"
            message = f"unknown parameter (this endpoint takes {expected})"
        elif count > 1:
            message = f"given {count} times; give it once"
        else:
            continue
        problems.append({"loc": ("query", name), "msg": message, "input": last_values[name]})
    return problems


def check_parameters(request: Request) -> None:
    """First call of every endpoint (after FastAPI's own checks): refuse stray parameters."""
    problems = parameter_problems(request)
    if problems:
        raise StrayParameterError(problems)


# ---- the application ------------------------------------------------------------------------


def create_app(
    holder: "ChampionHolder", max_k: int = 100, prediction_log: PredictionLog | None = None
) -> FastAPI:
    """The API around ``holder``'s current champion. ``max_k`` bounds ``k`` (and the work).

    Answers and feedback go to ``prediction_log``; without one, nothing is logged.
    """
    app = FastAPIOffline(  # FastAPI with Swagger UI's files served from the package, no CDN
        title="Recommender",
        summary="Level 3: the registry's champion recommender, following the alias; every "
        "answer and its feedback logged.",
        version="3",
    )
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(FeedbackRefusedError, feedback_refused)
    app.add_exception_handler(PredictionLogError, log_unavailable)
    app.add_middleware(BodyLimit)
    app.add_middleware(QueryLimits)
    app.add_middleware(HeadAsGet)
    app.add_middleware(AccessLog)
    # The last added runs first: it sees every /recommend answer, the refusals above included.
    app.add_middleware(RequestRecords, prediction_log=prediction_log)
    default_k = min(DEFAULT_K, max_k)

    # ``async``: the answer is numpy work of tens of microseconds on arrays in memory, cheaper
    # on the event loop than the two hops to a worker thread and back a plain ``def`` costs.
    # Only the log write goes to a worker thread: it waits for the log's lock and the disk.
    @app.get("/recommend", responses=RECOMMEND_RESPONSES)
    async def recommend(
        request: Request,
        *,
        user_id: Annotated[
            int,
            Query(ge=0, le=MAX_ID, description="the user to rank for"),
            PLAIN_INTEGER,
        ],
        k: Annotated[
            int,
            Query(ge=1, le=max_k, description="how many items"),
            PLAIN_INTEGER,
        ] = default_k,
        device: Annotated[str | None, context_query("the client's device")] = None,
        country: Annotated[str | None, context_query("the user's country")] = None,
        age_band: Annotated[str | None, context_query("the user's age band")] = None,
        account_age_days: Annotated[
            int | None,
            Query(ge=0, le=MAX_ID, description="days since the user signed up (logged only)"),
            PLAIN_INTEGER,
        ] = None,
        simulated_time: Annotated[
            int | None,
            Header(
                alias="X-Simulated-Time",
                ge=0,
                le=LATEST_TIMESTAMP,
                description="the time to log the request at, Unix seconds (default: now)",
            ),
            PLAIN_INTEGER,
        ] = None,
    ) -> Recommendations:
        """The user's top-k unseen items; the most popular ones for a user the model lacks.

        The answer is in the prediction log before it is sent; its ``request_id`` names it there.
        The answer to a HEAD request is not logged: nobody saw its items.
        """
        check_parameters(request)
        champion = holder.current  # one read: a swap during this request does not affect it
        answer = Recommendations(
            request_id=request.state.request_id,
            user_id=user_id,
            k=k,
            model_version=champion.version,
            fallback=not champion.knows(user_id),
            items=to_items(*champion.recommend(user_id, k)),
        )
        if prediction_log is not None and not request.state.head:
            logged = LoggedRequest(
                request_id=answer.request_id,
                timestamp=int(time.time()) if simulated_time is None else simulated_time,
                status=200,
                latency_ms=(time.perf_counter() - request.state.started) * 1000,
                user_id=user_id,
                k=k,
                device=device,
                country=country,
                age_band=age_band,
                account_age_days=account_age_days,
                model_version=answer.model_version,
                fallback=answer.fallback,
            )
            items = [(item.rank, item.item_id, item.score) for item in answer.items]
            await run_in_threadpool(prediction_log.record_answer, logged, items)
        return answer

    @app.post("/feedback", responses=FEEDBACK_RESPONSES)
    def feedback(request: Request, batch: FeedbackBatch) -> FeedbackReceipt:
        """Clicks and purchases on served items, joined to their requests in the prediction log.

        All events are stored, or none: an event about a request that is not in the log, or an
        item that request was not served, refuses the batch (422, naming each such event).
        """
        check_parameters(request)
        if prediction_log is None:
            raise HTTPException(
                503,
                "this service does not log predictions (serving.log_predictions is false), "
                "so it cannot take feedback",
            )
        result = prediction_log.record_feedback(
            [
                FeedbackEvent(event.request_id, event.item_id, event.event, event.timestamp)
                for event in batch.events
            ]
        )
        return FeedbackReceipt(accepted=result.accepted, duplicates=result.duplicates)

    @app.get("/health", responses=ERROR_RESPONSES)
    def health(request: Request) -> Health:
        """Alive and answering; degraded, with the reason, when not serving the champion.

        A registry outage or a champion that cannot be loaded is reported, not fatal: the model
        it has keeps serving.
        """
        check_parameters(request)
        problem = holder.problem
        return Health(
            status="degraded" if problem else "ok",
            model_version=holder.current.version,
            champion_version=holder.champion_version,
            problem=problem,
            load_failed_at=holder.load_failed_at,
            registry="reachable" if holder.registry_reachable else "unreachable",
            registry_checked_at=holder.last_checked_at,
        )

    @app.get("/model", responses=ERROR_RESPONSES)
    def model(request: Request) -> ModelInfo:
        """Which model answers: its registry version, training run and provenance."""
        check_parameters(request)
        champion = holder.current
        return ModelInfo(
            name=champion.name,
            version=champion.version,
            alias=champion.alias,
            run_id=champion.run_id,
            model_uri=champion.model_uri,
            source=champion.source,
            trained_at=champion.trained_at,
            registered_at=champion.registered_at,
            loaded_at=champion.loaded_at,
            users=champion.n_users,
            items=champion.n_items,
        )

    return app


def context_query(description: str) -> Any:
    """A context parameter of ``/recommend``: a short string, logged for monitoring only."""
    return Query(
        min_length=1,
        max_length=MAX_CONTEXT_LENGTH,
        description=f"{description} (logged for monitoring, not used by the model)",
    )


def to_items(item_ids: "np.ndarray", scores: "np.ndarray") -> list[Item]:
    """The recommender's ranked item ids and scores as response items (plain Python numbers)."""
    return [
        Item(item_id=item, rank=rank, score=score)
        for rank, (item, score) in enumerate(
            zip(item_ids.tolist(), scores.tolist(), strict=True), start=1
        )
    ]


def error_response(
    status: int, message: str, problems: list[Problem] | None = None
) -> JSONResponse:
    """The one error format: a stable code from the HTTP status, a sentence, the details."""
    code = ERROR_CODES.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_")
    body = ErrorBody(error=code, message=message, problems=problems or [])
    return JSONResponse(body.model_dump(), status_code=status)


def problems_response(problems: list[Problem], total: int) -> JSONResponse:
    """422 listing ``problems``, the first ``MAX_PROBLEMS`` of ``total``; the message says more."""
    message = "; ".join(f"{problem.parameter}: {problem.message}" for problem in problems)
    if total > len(problems):
        message += f" (and {total - len(problems)} more problems)"
    return error_response(422, message, problems)


async def invalid_request(request: Request, error: Exception) -> JSONResponse:
    """422 naming every bad parameter, instead of FastAPI's nested ``detail`` list.

    When FastAPI's own checks fail, the endpoint (and its stray-parameter check) never ran: the
    stray parameters are added here, so one answer lists every problem.
    """
    assert isinstance(error, RequestValidationError)
    found = list(error.errors())
    if not isinstance(error, StrayParameterError):
        found = [*parameter_problems(request), *found]
    problems = [as_problem(problem) for problem in found[:MAX_PROBLEMS]]
    return problems_response(problems, len(found))


def as_problem(found: dict[str, Any]) -> Problem:
    """One of FastAPI's validation errors as a problem: the parameter or body field, and what.

    A body that is not JSON gets a sentence saying what to send instead of pydantic's.
    """
    where, *path = found["loc"]
    parameter, message, sent = ".".join(str(part) for part in path) or where, found["msg"], None
    kind = found.get("type")  # the stray-parameter problems of parameter_problems have none
    if kind == "json_invalid":
        parameter = "body"
        message = f"not valid JSON at character {path[0]}: {found['ctx']['error']}"
    elif where == "body" and not path and not isinstance(found.get("input"), (dict, list)):
        message = "expected a JSON object, sent with Content-Type: application/json"
    if isinstance(found.get("input"), bytes):
        sent = found["input"].decode("utf-8", "replace")
    elif found.get("input") is not None and kind != "json_invalid":
        sent = str(found["input"])
    return Problem(parameter=clip(parameter), message=message, input=sent and clip(sent))


async def feedback_refused(_request: Request, error: Exception) -> JSONResponse:
    """422 naming each event about a request the log lacks or an item it did not serve."""
    assert isinstance(error, FeedbackRefusedError)
    problems = [
        Problem(parameter=problem.location, message=problem.message, input=clip(problem.value))
        for problem in error.problems[:MAX_PROBLEMS]
    ]
    return problems_response(problems, len(error.problems))


async def log_unavailable(request: Request, error: Exception) -> JSONResponse:
    """503 when the prediction log cannot be written: the answer is withheld, not sent unlogged."""
    log.error("%s %s: %s", request.method, request.url.path, error)
    return error_response(
        503, f"the prediction log cannot be written, so nothing is answered: {error}"
    )


def clip(text: str) -> str:
    """At most ``MAX_ECHO`` characters of something the client sent, to repeat in an error."""
    return text if len(text) <= MAX_ECHO else text[: MAX_ECHO - 1] + "…"


async def http_error(request: Request, error: Exception) -> JSONResponse:
    """404, 405 and the like as JSON, saying what the API has."""
    assert isinstance(error, HTTPException)
    message = str(error.detail)
    headers = dict(error.headers or {})
    if error.status_code == 404:
        message = (
            "no such endpoint; this API has GET /recommend, /health, /model, /docs and "
            "POST /feedback"
        )
    elif error.status_code == 405:
        allowed = allowed_methods(request)
        message = f"method {request.method} not allowed here; use {' or '.join(allowed)}"
        headers["Allow"] = ", ".join(allowed)
    response = error_response(error.status_code, message)
    response.headers.update(headers)
    return response


def allowed_methods(request: Request) -> list[str]:
    """The methods the routes of this path take, HEAD wherever GET is (``HeadAsGet``)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    if "GET" in methods:
        methods.add("HEAD")
    return [method for method in METHOD_ORDER if method in methods]


def query_refusal(query: bytes) -> JSONResponse | None:
    """The answer to a query string over the limits, or None; one pass over its bytes."""
    if len(query) > MAX_QUERY_BYTES:
        limit = f"this API reads at most {MAX_QUERY_BYTES} bytes"
        return error_response(414, f"query string of {len(query)} bytes; {limit}")
    count = sum(1 for piece in query.split(b"&") if piece)  # as the parser counts them
    if count > MAX_QUERY_PARAMETERS:
        problem = Problem(
            parameter="query",
            message=f"{count} parameters; this API takes at most {MAX_QUERY_PARAMETERS}",
        )
        return error_response(422, f"query: {problem.message}", [problem])
    return None


class QueryLimits:
    """Refuses a query string over the limits before it is parsed, routed or checked."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a query over the limits here; pass every other request on."""
        refusal = query_refusal(scope.get("query_string", b"")) if scope["type"] == "http" else None
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await refusal(scope, receive, send)


class BodyLimit:
    """Reads a POST body up to ``MAX_BODY_BYTES`` before the application sees it; 413 beyond.

    A declared ``content-length`` over the limit is refused before a byte is read; a body sent
    in chunks is refused as soon as it passes the limit. Either way the rest is never read.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand the application the whole body at once, or answer 413; pass other requests on."""
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            await body_refusal(f"a body of {int(declared)} bytes")(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nobody to answer
                return
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await body_refusal(f"a body of more than {MAX_BODY_BYTES} bytes")(
                    scope, receive, send
                )
                return
            if not message.get("more_body", False):
                break
        whole: Message | None = {"type": "http.request", "body": bytes(body), "more_body": False}

        async def replay() -> Message:
            nonlocal whole
            if whole is None:
                return await receive()
            message, whole = whole, None
            return message

        await self.app(scope, replay, send)


def body_refusal(what: str) -> JSONResponse:
    """The answer to a body over the limit: 413 saying the limit."""
    return error_response(413, f"{what}; this API reads at most {MAX_BODY_BYTES} bytes")


class RequestRecords:
    """Gives every ``/recommend`` request its id and start time; logs those refused with an error.

    The endpoint logs an answer itself, before returning it, with the id and the latency from
    here. An answer with an error status (a refused query, an unknown method, an internal error)
    is logged here as an error row, before it is sent, with the parameters that could be read.
    Every ``/recommend`` answer carries its id in the ``X-Request-ID`` header.
    """

    def __init__(self, app: ASGIApp, prediction_log: PredictionLog | None) -> None:
        self.app = app
        self.prediction_log = prediction_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with its id; log and label the answer on its way out."""
        if scope["type"] != "http" or scope["path"] != "/recommend":
            await self.app(scope, receive, send)
            return
        started, request_id = time.perf_counter(), uuid.uuid4().hex
        head = scope["method"] == "HEAD"  # answered as a GET, but nobody sees its items
        scope.setdefault("state", {}).update(request_id=request_id, started=started, head=head)

        async def labelled_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                if message["status"] >= 400 and self.prediction_log is not None:
                    latency = (time.perf_counter() - started) * 1000
                    refused = refused_request(scope, request_id, message["status"], latency)
                    await self._record_error(refused)
                headers = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, labelled_send)

    async def _record_error(self, refused: LoggedRequest) -> None:
        """Write the error row off the event loop; a failure to is logged, and the error sent."""
        assert self.prediction_log is not None
        try:
            await run_in_threadpool(self.prediction_log.record_error, refused)
        except PredictionLogError as error:
            log.error("cannot log the refused request %s: %s", refused.request_id, error)


def refused_request(scope: Scope, request_id: str, status: int, latency_ms: float) -> LoggedRequest:
    """The error row of a refused ``/recommend``: the parameters that can be read, as sent.

    Whole numbers count when they are plain decimal integers of 64 bits, context values when
    they are at most ``MAX_CONTEXT_LENGTH`` characters; a query over the limits is not read.
    """
    query = scope.get("query_string", b"")
    values: dict[str, str] = {}
    if len(query) <= MAX_QUERY_BYTES:
        try:
            values = dict(
                parse_qsl(
                    query.decode("latin-1"),
                    keep_blank_values=True,
                    max_num_fields=MAX_QUERY_PARAMETERS,
                )
            )
        except ValueError:  # more parameters than the limit
            values = {}
    clock = dict(scope["headers"]).get(SIMULATED_TIME_HEADER, b"").decode("latin-1")
    timestamp = whole_number(clock)
    if timestamp is None or not 0 <= timestamp <= LATEST_TIMESTAMP:
        timestamp = int(time.time())
    return LoggedRequest(
        request_id=request_id,
        timestamp=timestamp,
        status=status,
        latency_ms=latency_ms,
        user_id=whole_number(values.get("user_id")),
        k=whole_number(values.get("k")),
        device=short_text(values.get("device")),
        country=short_text(values.get("country")),
        age_band=short_text(values.get("age_band")),
        account_age_days=whole_number(values.get("account_age_days")),
    )


def whole_number(text: str | None) -> int | None:
    """``text`` as a 64-bit integer if it is written as a plain decimal one, else None."""
    if text is None or len(text) > 20 or not DECIMAL_INTEGER.fullmatch(text):
        return None
    value = int(text)
    return value if -MAX_ID - 1 <= value <= MAX_ID else None


def short_text(text: str | None) -> str | None:
    """``text`` if it is a context value of an allowed length, else None."""
    return text if text and len(text) <= MAX_CONTEXT_LENGTH else None


class HeadAsGet:
    """Answers HEAD as GET without the body, as HTTP asks of every server (RFC 9110, 9.3.2).

    FastAPI routes only the methods an endpoint declares, so HEAD would be 405. The headers,
    ``content-length`` included, are those the GET would send.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run a HEAD request as a GET and drop the body; pass every other request on."""
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


class AccessLog:
    """One log line per request (client, method, target, status, milliseconds).

    It also turns an exception that escaped an endpoint into a JSON 500, logged once with its
    traceback: a bug must never answer with HTML or drop the connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, then log its line, whatever happened to it on the way."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 0

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        except Exception:
            log.exception("unhandled error answering %s", request_line(scope))
            if status:  # the response has begun: nothing sensible can follow
                raise
            status = 500
            await error_response(500, "internal error; it has been logged")(scope, receive, send)
        finally:
            client = scope.get("client") or ("-", 0)
            elapsed = (time.perf_counter() - started) * 1000
            access_log.info("%s %s %d %.1fms", client[0], request_line(scope), status, elapsed)


def request_line(scope: Scope) -> str:
    """Method and target as sent (still percent-encoded, so a log line stays one line)."""
    target = scope.get("raw_path") or scope["path"].encode()
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    return f"{scope['method']} {target.decode('ascii', 'backslashreplace')[:300]}"


# ---- the command ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: the configuration file and ``--set`` overrides, nothing else."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or Ctrl-C, then exit 0; the module docstring lists the other codes."""
    args = parse_args(argv)
    try:
        config = load_config(args.config, parse_overrides(args.set))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    use_local_state(config.tracking.state_dir)
    for name, value in REGISTRY_CLIENT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    # uvicorn stops gracefully on either signal, then raises it again once it is done: let both
    # end as KeyboardInterrupt here, a requested stop rather than a crash.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return serve(config)
    except KeyboardInterrupt:
        log.info("stopped")
        return 0


def serve(config: Config) -> int:
    """Open the prediction log, load the champion, then answer and follow the alias till stopped."""
    settings = config.serving
    if not settings.log_predictions:
        log.info("not logging predictions (serving.log_predictions is false)")
        return serve_with_log(config, None)
    try:
        prediction_log = PredictionLog.open(log_path(config.tracking.state_dir))
    except PredictionLogError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    log.info("logging predictions to %s", prediction_log.path)
    with prediction_log:
        return serve_with_log(config, prediction_log)


def serve_with_log(config: Config, prediction_log: PredictionLog | None) -> int:
    """Load the champion, then answer requests, logging them to ``prediction_log`` if given."""
    import uvicorn

    from .champion import ChampionHolder, ChampionUnavailableError  # imports MLflow: env first

    holder = ChampionHolder(config.registry.model_name)
    log.info("loading models:/%s@champion from %s", holder.name, holder.registry_uri)
    try:
        champion = holder.load()
    except ChampionUnavailableError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    log.info("serving %s version %s (run %s)", champion.name, champion.version, champion.run_id)
    settings = config.serving
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(holder, settings.max_k, prediction_log),
            host=settings.host,
            port=settings.port,
            log_config=None,  # our logging format; uvicorn's own lines propagate to it
            access_log=False,  # AccessLog writes one line per request instead
            timeout_graceful_shutdown=10,
        )
    )
    with holder.polling(settings.refresh_seconds):
        server.run()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
