"""deploy/compose.yaml and deploy/Dockerfile: the stack's production shape, checked without Docker.

No Docker engine runs here, so nothing is built or started: the files are checked for what would
make them fail, or mislead, once one does. The compose file is validated against the Compose
Specification's JSON schema (vendored in check-jsonschema, a locked dev dependency); the checks
below read the parsed file for what a schema cannot see: images pinned (Prefect's to the locked
version), a healthcheck on every long-running service, dependencies on existing services with a
condition, every URL naming a service and a port it listens on, the serving replicas, ports
published on 127.0.0.1 only, no password written in the file. The Dockerfile is read for uv's
version, the dependency groups and pins it installs, the files it copies and the modules it runs.

Each check is a function of the parsed file that returns the problems it finds, so each test also
shows it a broken copy and asserts the problem is reported: a check that cannot fail checks nothing.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from stack.layout import WORK_POOL

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / "deploy" / "Dockerfile.dockerignore"
# check-jsonschema is installed beside the interpreter running the tests (the project's .venv).
BIN = Path(sys.executable).parent

Compose = dict[str, Any]

#: ``${NAME}``, ``${NAME:-default}``, ``${NAME:?message}`` and the like (compose's substitution).
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<operator>:?[-?+])(?P<argument>[^}]*))?\}")
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"]+")
#: A URL's password, written out or as a variable (whose message may hold spaces).
URL_PASSWORD = re.compile(r"://[^/\s:@]+:(\$\{[^}]*\}|[^@\s/]+)@")
REQUIRED_VARIABLE = re.compile(r"\$\{\w+:\?[^}]+\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|ACCESS_KEY")
#: Schemes whose "host" is not a machine on the network (a bucket, a file, the registry).
NOT_NETWORK = {"s3", "file", "sqlite", "models", "runs", "mlflow-artifacts"}
DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432}
LOOPBACK = {"localhost", "127.0.0.1", "0.0.0.0", "::1"}
#: What a command says it listens on: ``--port 5000``, ``--address :9000``, ``serving.port=8004``.
COMMAND_PORTS = [
    re.compile(r"--port[= ](\d+)"),
    re.compile(r"-address[= ][^\s:]*:(\d+)"),
    re.compile(r"\.port=(\d+)"),
]
BUCKET_CREATION = re.compile(r"\bmc mb (?:--\S+ )*\S+/([\w.-]+)")
#: ``python -m X`` on a command line, in a JSON array or in a YAML list.
PYTHON_MODULE = re.compile(r"\bpython3?[\"',\s-]+-m[\"',\s-]+([A-Za-z_][\w.]*)")
SERVING = "serving"
MIN_REPLICAS = 2


# --- reading the files --------------------------------------------------------------------------


def load_compose() -> Compose:
    """The compose file as compose reads it (anchors and ``<<`` merges resolved)."""
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def locked_versions() -> dict[str, str]:
    """Every package uv.lock pins, by name."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    return {package["name"]: package["version"] for package in lock["package"]}


def uv_version() -> str:
    """The uv version mk/common.mk bootstraps."""
    match = re.search(
        r"^UV_VERSION\s*:?=\s*(\S+)", (ROOT / "mk" / "common.mk").read_text(), re.MULTILINE
    )
    assert match, "mk/common.mk sets no UV_VERSION"
    return match.group(1)


def dependency_groups() -> set[str]:
    """The dependency groups pyproject.toml defines."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(pyproject["dependency-groups"])


def substitute(text: str) -> str:
    """``text`` after compose's substitution, with a stand-in for every variable without default."""

    def value(match: re.Match[str]) -> str:
        operator = match["operator"] or ""
        return match["argument"] if operator.endswith(("-", "+")) else "value"

    return VARIABLE.sub(value, text.replace("$$", "\0")).replace("\0", "$")


def as_list(value: Any) -> list[str]:
    """A command, entrypoint or healthcheck test (a string or a list) as a list of strings."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(part) for part in value]


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, given as a mapping or as a list of ``NAME=value``."""
    given = service.get("environment") or {}
    if isinstance(given, list):
        return dict(entry.partition("=")[::2] for entry in given)
    return {name: "" if value is None else str(value) for name, value in given.items()}


def texts(service: dict[str, Any]) -> Iterator[str]:
    """Every string of a service a URL or a password could hide in (not its healthcheck)."""
    yield from environment(service).values()
    yield from as_list(service.get("command"))
    yield from as_list(service.get("entrypoint"))


def health_test(service: dict[str, Any]) -> list[str]:
    """The healthcheck's command, empty when there is none or it is disabled."""
    check = service.get("healthcheck") or {}
    test = as_list(check.get("test"))
    if check.get("disable") in (True, "true") or test[:1] == ["NONE"]:
        return []
    return test


def port_range(value: Any) -> list[int]:
    """``"8004-8005"`` → ``[8004, 8005]``; ``5000`` → ``[5000]``; nothing → ``[]``."""
    if value in (None, ""):
        return []
    first, _, last = str(value).partition("-")
    return list(range(int(first), int(last or first) + 1))


def published(service: dict[str, Any]) -> list[tuple[str | None, list[int], int]]:
    """Each published port as (host address or None, host ports, container port)."""
    entries = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            host_ip, host_ports, target = (
                entry.get("host_ip"),
                entry.get("published"),
                entry["target"],
            )
        else:
            parts = str(entry).split("/")[0].split(":")
            host_ip = parts[0] if len(parts) == 3 else None
            host_ports = parts[-2] if len(parts) >= 2 else None
            target = parts[-1]
        entries.append((host_ip, port_range(host_ports), int(target)))
    return entries


def listening_ports(service: dict[str, Any]) -> set[int]:
    """The ports a service listens on: those it exposes or publishes, on its side."""
    exposed = {port for entry in service.get("expose") or [] for port in port_range(entry)}
    return exposed | {target for _, _, target in published(service)}


def one_shot_services(compose: Compose) -> set[str]:
    """Services others wait on to *complete*: jobs, not servers."""
    return {
        name
        for service in compose["services"].values()
        if isinstance(service.get("depends_on"), dict)
        for name, dependency in service["depends_on"].items()
        if (dependency or {}).get("condition") == "service_completed_successfully"
    }


def image_is_pinned(image: str) -> bool:
    """Whether ``image`` names a version: a digest, or a tag (not latest) with a number in it."""
    if "@sha256:" in image:
        return True
    name = image.rsplit("/", 1)[-1]
    tag = name.partition(":")[2]
    return bool(tag) and tag != "latest" and any(character.isdigit() for character in tag)


# --- the checks on the compose file -------------------------------------------------------------


def schema_problems(path: Path) -> list[str]:
    """What check-jsonschema finds against the Compose Specification's schema (one problem)."""
    executable = BIN / "check-jsonschema"
    assert executable.exists(), f"{executable} is missing: run `uv sync` (dev dependencies)"
    result = subprocess.run(
        [str(executable), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return [] if result.returncode == 0 else [result.stdout + result.stderr]


def unpinned_images(compose: Compose) -> list[str]:
    """Images that float: no tag, ``latest``, or a tag without a version number."""
    return [
        f"{name}: image {service['image']!r} is not pinned to a version"
        for name, service in compose["services"].items()
        if "image" in service and not image_is_pinned(service["image"])
    ]


def prefect_image_problems(compose: Compose, locked: str) -> list[str]:
    """The Prefect server's image must be the Prefect version the clients are locked to."""
    images = [
        (name, service["image"])
        for name, service in compose["services"].items()
        if service.get("image", "").partition(":")[0] == "prefecthq/prefect"
    ]
    if not images:
        return ["no service runs the prefecthq/prefect image"]
    return [
        f"{name}: {image} is not Prefect {locked} (uv.lock)"
        for name, image in images
        if image.partition(":")[2].split("-")[0] != locked
    ]


def healthcheck_problems(compose: Compose) -> list[str]:
    """Every long-running service needs a healthcheck; a one-shot job must not be restarted."""
    jobs = one_shot_services(compose)
    problems = []
    for name, service in compose["services"].items():
        if name in jobs:
            if service.get("restart") in ("always", "unless-stopped"):
                problems.append(f"{name}: a one-shot job restarted {service['restart']}")
        elif not health_test(service):
            problems.append(f"{name}: a long-running service without a healthcheck")
    return problems


def dependency_problems(compose: Compose) -> list[str]:
    """``depends_on`` must name existing services, each with a condition it can meet."""
    services = compose["services"]
    problems = []
    for name, service in services.items():
        depends_on = service.get("depends_on") or {}
        if isinstance(depends_on, list):
            problems.append(f"{name}: depends_on {depends_on} without conditions")
            continue
        for target, dependency in depends_on.items():
            condition = (dependency or {}).get("condition")
            if target not in services:
                problems.append(f"{name}: depends on {target!r}, which is no service")
            elif condition is None:
                problems.append(f"{name}: depends on {target} without a condition")
            elif condition == "service_healthy" and not health_test(services[target]):
                problems.append(f"{name}: waits for {target} to be healthy; it has no healthcheck")
    return problems


def url_problems(compose: Compose) -> list[str]:
    """Every URL must name a service and a port it listens on.

    A loopback URL in a healthcheck is the service itself: one of its own ports. A loopback URL
    elsewhere is for a browser on the host: one of the ports the service publishes there.
    """
    services = compose["services"]
    problems = []
    for name, service in services.items():
        checked = [(text, False) for text in texts(service)]
        checked += [(text, True) for text in health_test(service)]
        for text, is_health in checked:
            for url in URL.findall(substitute(text)):
                parts = urlsplit(url)
                scheme = parts.scheme.split("+")[0]
                if scheme in NOT_NETWORK:
                    continue
                try:
                    host, port = parts.hostname, parts.port or DEFAULT_PORTS.get(scheme)
                except ValueError:  # a port that is not a number
                    problems.append(f"{name}: {url} has no port number")
                    continue
                if host in LOOPBACK:
                    ports = (
                        listening_ports(service)
                        if is_health
                        else {p for _, host_ports, _ in published(service) for p in host_ports}
                    )
                    if port not in ports:
                        problems.append(f"{name}: {url}: {name} has no port {port} there")
                elif host not in services:
                    problems.append(f"{name}: {url} names {host!r}, which is no service")
                elif port not in listening_ports(services[host]):
                    ports = sorted(listening_ports(services[host]))
                    problems.append(f"{name}: {url}: {host} listens on {ports}, not {port}")
    return problems


def command_port_problems(compose: Compose) -> list[str]:
    """A port a service's command or ``*_PORT`` setting listens on must be one it exposes."""
    problems = []
    for name, service in compose["services"].items():
        command = " ".join(as_list(service.get("command")))
        said = [int(port) for pattern in COMMAND_PORTS for port in pattern.findall(command)]
        said += [
            int(value)
            for variable, value in environment(service).items()
            if variable.endswith("_PORT") and value.isdigit()
        ]
        problems += [
            f"{name}: listens on {port}, which it does not expose"
            for port in said
            if port not in listening_ports(service)
        ]
    return problems


def bucket_problems(compose: Compose) -> list[str]:
    """Every ``s3://`` bucket a service uses must be one a service creates (``mc mb``)."""
    strings = [substitute(text) for s in compose["services"].values() for text in texts(s)]
    created = {bucket for text in strings for bucket in BUCKET_CREATION.findall(text)}
    used = {
        urlsplit(url).hostname
        for text in strings
        for url in URL.findall(text)
        if url.startswith("s3://")
    }
    if not used:
        return ["no service stores anything in an s3:// bucket"]
    return [f"bucket {bucket!r} is used but never created" for bucket in sorted(used - created)]


def replica_problems(compose: Compose) -> list[str]:
    """The serving API runs several replicas; a replicated service cannot share one host port."""
    problems = []
    for name, service in compose["services"].items():
        replicas = (service.get("deploy") or {}).get("replicas", 1)
        if name == SERVING and replicas < MIN_REPLICAS:
            problems.append(f"{name}: {replicas} replica(s), fewer than {MIN_REPLICAS}")
        for _, host_ports, target in published(service):
            if host_ports and len(host_ports) < replicas:
                problems.append(
                    f"{name}: {replicas} replicas cannot share {len(host_ports)} host port(s) "
                    f"for {target}: publish a range"
                )
    if SERVING not in compose["services"]:
        problems.append(f"no service is called {SERVING!r}")
    return problems


def exposure_problems(compose: Compose) -> list[str]:
    """Every published port binds to 127.0.0.1, never to every address of the host."""
    return [
        f"{name}: port {target} is published on {host_ip or 'every address'}, not 127.0.0.1"
        for name, service in compose["services"].items()
        for host_ip, _, target in published(service)
        if host_ip != "127.0.0.1"
    ]


def secret_problems(compose: Compose) -> list[str]:
    """Passwords and keys come from required variables, never from the file (nor a default)."""
    problems = []
    for name, service in compose["services"].items():
        for variable, value in environment(service).items():
            if SECRET_NAME.search(variable) and not REQUIRED_VARIABLE.fullmatch(value):
                problems.append(f"{name}: {variable} is not a required variable (${{X:?…}})")
        for text in texts(service):
            for password in URL_PASSWORD.findall(text):
                if not REQUIRED_VARIABLE.fullmatch(password):
                    problems.append(f"{name}: a URL's password is not a required variable")
    return problems


def declaration_problems(compose: Compose) -> list[str]:
    """Named volumes and configs a service uses must be declared at the top level."""
    problems = []
    volumes, configs = compose.get("volumes") or {}, compose.get("configs") or {}
    for name, service in compose["services"].items():
        for volume in service.get("volumes") or []:
            source = volume.get("source") if isinstance(volume, dict) else volume.split(":")[0]
            named = source and not source.startswith((".", "/", "~", "$"))
            if named and source not in volumes:
                problems.append(f"{name}: volume {source!r} is not declared")
        for config in service.get("configs") or []:
            source = config["source"] if isinstance(config, dict) else config
            if source not in configs:
                problems.append(f"{name}: config {source!r} is not declared")
    return problems


def work_pool_problems(compose: Compose) -> list[str]:
    """The worker polls the pool the levels send their flows to: the one `make stack` creates."""
    worker = compose["services"].get("worker")
    if worker is None:
        return ["no service is called 'worker'"]
    command = as_list(worker.get("command"))
    polled = command[command.index("--pool") + 1] if "--pool" in command else None
    named = environment(worker).get("PREFECT_DEPLOYMENTS_DEFAULT_WORK_POOL_NAME")
    problems = []
    if polled != WORK_POOL:
        problems.append(f"worker: polls {polled!r}, not the stack's pool {WORK_POOL!r}")
    if named != polled:
        problems.append(f"worker: the levels send their flows to {named!r}, it polls {polled!r}")
    if "--type process" not in " ".join(command):
        problems.append("worker: not a process worker")
    return problems


# --- the checks on the Dockerfile ---------------------------------------------------------------


def instructions(dockerfile: str) -> str:
    """The Dockerfile without its comments, each instruction on one line."""
    lines = [line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")]
    return re.sub(r"\\\n\s*", " ", "\n".join(lines))


def dockerfile_uv_problems(dockerfile: str, expected: str) -> list[str]:
    """The image's uv is the one mk/common.mk bootstraps."""
    dockerfile = instructions(dockerfile)
    versions = re.findall(r"ghcr\.io/astral-sh/uv:([\w.]+)", dockerfile)
    if not versions:
        return ["the Dockerfile installs no uv from ghcr.io/astral-sh/uv"]
    return [
        f"uv {version}, not {expected} (mk/common.mk)"
        for version in versions
        if version != expected
    ]


def base_image_problems(dockerfile: str) -> list[str]:
    """Every image the Dockerfile starts from (not one of its own stages) is pinned."""
    dockerfile = instructions(dockerfile)
    stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", dockerfile, re.MULTILINE | re.IGNORECASE))
    images = re.findall(r"^FROM\s+(\S+)", dockerfile, re.MULTILINE | re.IGNORECASE)
    return [
        f"FROM {image} is not pinned to a version"
        for image in images
        if image not in stages and not image_is_pinned(image)
    ]


def group_problems(dockerfile: str, groups: set[str]) -> list[str]:
    """The groups ``uv sync`` installs exist in pyproject.toml."""
    dockerfile = instructions(dockerfile)
    named = re.findall(r"--(?:only-)?group[= ](\S+)", dockerfile)
    if not named:
        return ["the Dockerfile names no dependency group: uv sync would install them all"]
    return [
        f"dependency group {group!r} is not in pyproject.toml"
        for group in named
        if group not in groups
    ]


def pin_problems(dockerfile: str, locked: dict[str, str]) -> list[str]:
    """A package pinned beyond the lock has uv.lock's version, when the lock has it at all."""
    dockerfile = instructions(dockerfile)
    problems = []
    for name, version in re.findall(r"\b([A-Za-z][\w.-]*)==([\w.]+)", dockerfile):
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in locked and locked[key] != version:
            problems.append(f"{name}=={version}, but uv.lock has {locked[key]}")
    return problems


def copy_problems(dockerfile: str, dockerignore: str, root: Path) -> list[str]:
    """What the Dockerfile copies exists, and the ignore file lets it into the build context."""
    dockerfile = instructions(dockerfile)
    allowed = {line[1:].rstrip("/") for line in dockerignore.splitlines() if line.startswith("!")}
    problems = []
    for line in re.findall(r"^COPY\s+(.+)$", dockerfile, re.MULTILINE):
        words = line.split()
        if any(word.startswith("--from") for word in words):
            continue
        for source in [word for word in words if not word.startswith("--")][:-1]:
            if not (root / source).exists():
                problems.append(f"COPY {source}: no such file in the repository")
            elif source.rstrip("/") not in allowed:
                problems.append(f"COPY {source}: the .dockerignore keeps it out of the context")
    return problems


def module_problems(text: str, root: Path) -> list[str]:
    """Every ``python -m X`` in ``text`` names a module of the repository."""
    problems = []
    for module in PYTHON_MODULE.findall(text):
        path = root.joinpath(*module.split("."))
        if not (path.with_suffix(".py").is_file() or (path / "__main__.py").is_file()):
            problems.append(f"python -m {module}: no such module in the repository")
    return problems


# --- mutating a copy ------------------------------------------------------------------------------

DELETE = object()


def mutated(compose: Compose, path: str, value: Any) -> Compose:
    """A copy of ``compose`` with the dotted ``path`` set to ``value`` (or deleted: DELETE)."""
    changed = copy.deepcopy(compose)
    *parents, last = path.split(".")
    node = changed
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if value is DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return changed


# --- the compose file -----------------------------------------------------------------------------


def test_the_compose_file_follows_the_compose_specification():
    assert schema_problems(COMPOSE) == []


def test_the_schema_check_reports_a_misspelt_key(tmp_path):
    broken = mutated(load_compose(), "services.mlflow.healthcheck.intervall", "15s")
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")

    (problem,) = schema_problems(path)
    assert "intervall" in problem


def test_every_image_is_pinned_to_a_version():
    assert unpinned_images(load_compose()) == []


@pytest.mark.parametrize("image", ["minio/minio", "minio/minio:latest", "postgres:bookworm"])
def test_a_floating_image_is_reported(image):
    broken = mutated(load_compose(), "services.minio.image", image)

    assert unpinned_images(broken) == [f"minio: image {image!r} is not pinned to a version"]


def test_the_prefect_server_runs_the_locked_prefect_version():
    assert prefect_image_problems(load_compose(), locked_versions()["prefect"]) == []


def test_a_prefect_server_of_another_version_is_reported():
    broken = mutated(load_compose(), "services.prefect-server.image", "prefecthq/prefect:3.4.0")

    (problem,) = prefect_image_problems(broken, locked_versions()["prefect"])
    assert "3.4.0" in problem


def test_every_long_running_service_has_a_healthcheck():
    compose = load_compose()
    assert healthcheck_problems(compose) == []
    assert one_shot_services(compose) == {"create-bucket"}


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("services.mlflow.healthcheck", DELETE, "mlflow: a long-running service without"),
        ("services.worker.healthcheck.disable", True, "worker: a long-running service without"),
        ("services.serving.healthcheck.test", ["NONE"], "serving: a long-running service without"),
        ("services.create-bucket.restart", "unless-stopped", "create-bucket: a one-shot job"),
    ],
)
def test_a_service_without_a_healthcheck_or_a_restarting_job_is_reported(path, value, expected):
    problems = healthcheck_problems(mutated(load_compose(), path, value))

    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_every_dependency_names_a_service_with_a_condition():
    assert dependency_problems(load_compose()) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("services.worker.depends_on.prefect", {"condition": "service_healthy"}, "no service"),
        ("services.worker.depends_on.mlflow", {}, "without a condition"),
        ("services.serving.depends_on", ["mlflow"], "without conditions"),
        ("services.mlflow.healthcheck", DELETE, "waits for mlflow to be healthy; it has no"),
    ],
)
def test_a_dependency_that_cannot_be_met_is_reported(path, value, expected):
    problems = dependency_problems(mutated(load_compose(), path, value))

    assert any(expected in problem for problem in problems), problems


def test_every_url_names_a_service_and_a_port_it_listens_on():
    assert url_problems(load_compose()) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            "services.worker.environment.PREFECT_API_URL",
            "http://prefect:4200/api",
            "names 'prefect', which is no service",
        ),
        ("services.serving.environment.MLFLOW_TRACKING_URI", "http://mlflow:5001", "not 5001"),
        ("services.mlflow.environment.MLFLOW_S3_ENDPOINT_URL", "http://s3:9000", "no service"),
        (
            "services.prefect-server.environment.PREFECT_API_DATABASE_CONNECTION_URL",
            "postgresql+asyncpg://prefect:${P:?set P}@db:5432/prefect",
            "names 'db'",
        ),
        (
            "services.mlflow.environment.MLFLOW_BACKEND_STORE_URI",
            "postgresql+psycopg://mlflow:${P:?set P}@postgres/mlflow",
            "",  # the default port, 5432, is right
        ),
        (
            "services.prefect-server.environment.PREFECT_UI_API_URL",
            "http://127.0.0.1:4300/api",
            "prefect-server has no port 4300",
        ),
        (
            "services.mlflow.healthcheck.test.3",
            "import urllib.request as r; r.urlopen('http://127.0.0.1:5001/health')",
            "mlflow has no port 5001",
        ),
    ],
)
def test_a_url_to_a_missing_service_or_port_is_reported(path, value, expected):
    problems = url_problems(mutated(load_compose(), path, value))

    if expected:
        assert any(expected in problem for problem in problems), problems
    else:
        assert problems == []


def test_every_command_listens_on_a_port_its_service_exposes():
    assert command_port_problems(load_compose()) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("services.mlflow.command.8", "5001", "mlflow: listens on 5001"),
        ("services.serving.command.6", "serving.port=8000", "serving: listens on 8000"),
        ("services.minio.command.5", ":9091", "minio: listens on 9091"),
        ("services.worker.environment.PREFECT_WORKER_WEBSERVER_PORT", "8081", "worker: listens"),
    ],
)
def test_a_command_listening_elsewhere_is_reported(path, value, expected):
    problems = command_port_problems(mutated(load_compose(), path, value))

    assert any(problem.startswith(expected) for problem in problems), problems


def test_the_artifact_bucket_is_the_one_the_bucket_job_creates():
    assert bucket_problems(load_compose()) == []


def test_an_artifact_bucket_nobody_creates_is_reported():
    broken = mutated(load_compose(), "services.mlflow.command.3", "s3://artifacts/mlflow")

    assert bucket_problems(broken) == ["bucket 'artifacts' is used but never created"]


def test_the_serving_api_runs_replicas_each_on_a_port_of_its_own():
    assert replica_problems(load_compose()) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("services.serving.deploy.replicas", 1, "serving: 1 replica(s), fewer than 2"),
        ("services.serving.deploy", DELETE, "serving: 1 replica(s), fewer than 2"),
        ("services.serving.ports.0", "127.0.0.1:8004:8004", "cannot share 1 host port(s)"),
    ],
)
def test_too_few_replicas_or_host_ports_are_reported(path, value, expected):
    problems = replica_problems(mutated(load_compose(), path, value))

    assert any(expected in problem for problem in problems), problems


def test_published_ports_bind_to_127_0_0_1_only():
    compose = load_compose()
    assert exposure_problems(compose) == []
    assert {name for name, service in compose["services"].items() if service.get("ports")} == {
        "minio",
        "mlflow",
        "prefect-server",
        "serving",
        "evidently-ui",
    }


@pytest.mark.parametrize(
    ("port", "address"),
    [
        ("5000:5000", "every address"),
        ("5000", "every address"),
        ({"target": 5000, "published": 5000}, "every address"),
        ("0.0.0.0:5000:5000", "0.0.0.0"),
    ],
)
def test_a_port_published_beyond_127_0_0_1_is_reported(port, address):
    broken = mutated(load_compose(), "services.mlflow.ports.0", port)

    assert exposure_problems(broken) == [
        f"mlflow: port 5000 is published on {address}, not 127.0.0.1"
    ]


def test_no_password_or_key_is_written_in_the_file():
    assert secret_problems(load_compose()) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("services.postgres.environment.POSTGRES_PASSWORD", "postgres"),
        ("services.minio.environment.MINIO_ROOT_PASSWORD", "${MINIO_ROOT_PASSWORD:-minio123}"),
        ("services.mlflow.environment.AWS_SECRET_ACCESS_KEY", "${MLFLOW_S3_SECRET_KEY}"),
        (
            "services.prefect-server.environment.PREFECT_API_DATABASE_CONNECTION_URL",
            "postgresql+asyncpg://prefect:hunter2@postgres:5432/prefect",
        ),
    ],
)
def test_a_password_in_the_file_is_reported(path, value):
    problems = secret_problems(mutated(load_compose(), path, value))

    assert len(problems) == 1 and problems[0].startswith(path.split(".")[1]), problems


def test_named_volumes_and_configs_are_declared():
    assert declaration_problems(load_compose()) == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("volumes.state", "worker: volume 'state' is not declared"),
        ("configs.postgres-databases", "postgres: config 'postgres-databases' is not declared"),
    ],
)
def test_an_undeclared_volume_or_config_is_reported(path, expected):
    assert expected in declaration_problems(mutated(load_compose(), path, DELETE))


def test_the_worker_polls_the_pool_the_levels_send_their_flows_to():
    assert work_pool_problems(load_compose()) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("services.worker.command.4", "training", "worker: polls 'training'"),
        (
            "services.worker.environment.PREFECT_DEPLOYMENTS_DEFAULT_WORK_POOL_NAME",
            "default",
            "worker: the levels send their flows to 'default'",
        ),
        ("services.worker.command.6", "docker", "worker: not a process worker"),
    ],
)
def test_a_worker_on_another_pool_is_reported(path, value, expected):
    assert expected in " | ".join(work_pool_problems(mutated(load_compose(), path, value)))


# --- the Dockerfile -------------------------------------------------------------------------------


def test_the_image_installs_the_uv_of_common_mk():
    assert dockerfile_uv_problems(DOCKERFILE.read_text(), uv_version()) == []


def test_another_uv_is_reported():
    broken = DOCKERFILE.read_text().replace(f"uv:{uv_version()}", "uv:0.4.0")

    assert dockerfile_uv_problems(broken, uv_version()) == [
        f"uv 0.4.0, not {uv_version()} (mk/common.mk)"
    ]


def test_the_image_starts_from_pinned_images():
    assert base_image_problems(DOCKERFILE.read_text()) == []


def test_a_floating_base_image_is_reported():
    broken = DOCKERFILE.read_text().replace("python:3.11-slim", "python:slim")

    assert base_image_problems(broken) == ["FROM python:slim is not pinned to a version"]


def test_the_image_installs_existing_groups_at_the_locked_versions():
    dockerfile = DOCKERFILE.read_text()
    assert group_problems(dockerfile, dependency_groups()) == []
    assert pin_problems(dockerfile, locked_versions()) == []


def test_a_missing_group_or_a_pin_off_the_lock_is_reported():
    broken = (
        DOCKERFILE.read_text()
        .replace("--only-group level4", "--only-group level5")
        .replace("psycopg==3.3.9", "psycopg==3.2.0")
    )

    assert group_problems(broken, dependency_groups()) == [
        "dependency group 'level5' is not in pyproject.toml"
    ]
    assert pin_problems(broken, locked_versions()) == [
        f"psycopg==3.2.0, but uv.lock has {locked_versions()['psycopg']}"
    ]


def test_the_image_copies_files_that_exist_and_reach_the_build_context():
    assert copy_problems(DOCKERFILE.read_text(), DOCKERIGNORE.read_text(), ROOT) == []


def test_a_missing_or_ignored_copy_source_is_reported():
    dockerfile = DOCKERFILE.read_text()
    broken = dockerfile.replace("COPY data/ data/", "COPY data/ data/\nCOPY level5_x/ level5_x/")
    ignore = DOCKERIGNORE.read_text().replace("!level2_cicd\n", "")

    assert sorted(copy_problems(broken, ignore, ROOT)) == [
        "COPY level2_cicd/: the .dockerignore keeps it out of the context",
        "COPY level5_x/: no such file in the repository",
    ]


def test_every_python_module_the_files_run_exists():
    for path in (DOCKERFILE, COMPOSE):
        assert module_problems(path.read_text(), ROOT) == [], path


def test_a_module_that_does_not_exist_is_reported():
    broken = COMPOSE.read_text().replace("level4_autonomous.serve\n", "level4_autonomous.serving\n")

    assert module_problems(broken, ROOT) == [
        "python -m level4_autonomous.serving: no such module in the repository"
    ]
