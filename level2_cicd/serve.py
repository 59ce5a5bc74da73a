"""Level 2's serving API: the registry's champion model behind a small, strict HTTP API.

    python -m level2_cicd.serve [--config level2_cicd/config.toml] [--set serving.port=8001]

    GET /recommend?user_id=42&k=10   ranked items with scores (the popular items for a new user)
    GET /health                      200 while a model answers; "degraded" and why, when it is
                                     not the registry's champion or the registry is unreachable
    GET /model                       the version served: run, training time, source
    GET /docs                        the OpenAPI description (Swagger UI, served without a CDN)

HEAD is answered like GET, without the body.

It loads ``models:/<registry.model_name>@champion`` from the MLflow registry (the level's local
store unless ``MLFLOW_TRACKING_URI`` says otherwise) and checks the alias every
``serving.refresh_seconds``: a promotion reaches the service without a restart (``champion.py``).

Every error is JSON, ``{"error": "<code>", "message": "<sentence>", "problems": [...]}``, with
one problem per bad query parameter (unknown, repeated, malformed or out of range). A query of
more than ``MAX_QUERY_PARAMETERS`` parameters (422) or ``MAX_QUERY_BYTES`` bytes (414) is refused
before it is parsed: a hostile query costs no more than a normal one.

SIGTERM or SIGINT (Ctrl-C) stops it gracefully: requests in flight are answered, then it exits 0.
It exits 1 when no champion can be loaded at start (registry unreachable, no champion, model
unusable: one line on stderr says which), 2 for a bad configuration, 3 when the address cannot be
bound (uvicorn's message says why).
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
from collections import Counter
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import PACKAGE
from .config import Config, ConfigError, add_config_arguments, load_config, parse_overrides
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
#: The endpoints take at most two parameters; a query beyond these limits is refused unread, so
#: its cost is one pass over its bytes (thousands of parameters once took seconds and megabytes).
MAX_QUERY_PARAMETERS = 16
MAX_QUERY_BYTES = 8192
#: The longest parameter name or value an error repeats back.
MAX_ECHO = 100
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DECIMAL_INTEGER = re.compile(r"-?[0-9]+")
#: Error codes of the JSON error body; other statuses use their HTTP phrase ("not_found").
ERROR_CODES = {414: "uri_too_long", 422: "invalid_request", 500: "internal_error"}
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

    user_id: int
    k: int = Field(description="items asked for; fewer come back if the catalogue is smaller")
    model_version: str
    fallback: bool = Field(description="true when the model does not know the user")
    items: list[Item]


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


def create_app(holder: "ChampionHolder", max_k: int = 100) -> FastAPI:
    """The API around ``holder``'s current champion. ``max_k`` bounds ``k`` (and the work)."""
    app = FastAPIOffline(  # FastAPI with Swagger UI's files served from the package, no CDN
        title="Recommender",
        summary="Level 2: the registry's champion recommender, following the alias.",
        version="2",
    )
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    app.add_middleware(QueryLimits)
    app.add_middleware(HeadAsGet)
    app.add_middleware(AccessLog)  # the last added runs first: it sees every request
    default_k = min(DEFAULT_K, max_k)

    # ``async``: the answer is numpy work of tens of microseconds on arrays in memory, cheaper
    # on the event loop than the two hops to a worker thread and back a plain ``def`` costs.
    @app.get("/recommend", responses=ERROR_RESPONSES)
    async def recommend(
        request: Request,
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
    ) -> Recommendations:
        """The user's top-k unseen items; the most popular ones for a user the model lacks."""
        check_parameters(request)
        champion = holder.current  # one read: a swap during this request does not affect it
        return Recommendations(
            user_id=user_id,
            k=k,
            model_version=champion.version,
            fallback=not champion.knows(user_id),
            items=to_items(*champion.recommend(user_id, k)),
        )

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


async def invalid_request(request: Request, error: Exception) -> JSONResponse:
    """422 naming every bad parameter, instead of FastAPI's nested ``detail`` list.

    When FastAPI's own checks fail, the endpoint (and its stray-parameter check) never ran: the
    stray parameters are added here, so one answer lists every problem.
    """
    assert isinstance(error, RequestValidationError)
    found = list(error.errors())
    if not isinstance(error, StrayParameterError):
        found = [*parameter_problems(request), *found]
    problems = [
        Problem(
            parameter=clip(".".join(str(part) for part in problem["loc"][1:]) or "request"),
            message=problem["msg"],
            input=None if problem.get("input") is None else clip(str(problem["input"])),
        )
        for problem in found
    ]
    message = "; ".join(f"{problem.parameter}: {problem.message}" for problem in problems)
    return error_response(422, message, problems)


def clip(text: str) -> str:
    """At most ``MAX_ECHO`` characters of something the client sent, to repeat in an error."""
    return text if len(text) <= MAX_ECHO else text[: MAX_ECHO - 1] + "…"


async def http_error(request: Request, error: Exception) -> JSONResponse:
    """404, 405 and the like as JSON, saying what the API has."""
    assert isinstance(error, HTTPException)
    message = str(error.detail)
    headers = dict(error.headers or {})
    if error.status_code == 404:
        message = "no such endpoint; this API has GET /recommend, /health, /model and /docs"
    elif error.status_code == 405:
        message = f"method {request.method} not allowed here; use GET or HEAD"
        headers["Allow"] = "GET, HEAD"  # every route is a GET, and HeadAsGet answers HEAD
    response = error_response(error.status_code, message)
    response.headers.update(headers)
    return response


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
    """Load the champion, then answer requests and follow the alias until stopped."""
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
            create_app(holder, settings.max_k),
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
