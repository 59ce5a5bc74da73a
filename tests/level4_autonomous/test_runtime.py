"""Which Prefect API a run uses: a server already running at Prefect's own address is reused."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_API_PORT, temporary_settings

from level4_autonomous.runtime import (
    SERVER_RECORD,
    free_port,
    prefect_api,
    running_local_server,
    unreachable_server,
)


@contextmanager
def answering(body: bytes) -> Iterator[int]:
    """An HTTP server on a free port whose every GET answers ``body``; yields its port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_prefect_server_already_running_is_used_and_none_is_started(
    tmp_path, capsys, monkeypatch
):
    # No API configured (the session's Prefect test server may have set one).
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with (
        answering(b"true") as port,
        temporary_settings({PREFECT_SERVER_API_PORT: port}, restore_defaults={PREFECT_API_URL}),
        prefect_api(tmp_path, "--no-ui") as url,
    ):
        assert url == f"http://127.0.0.1:{port}/api"
        assert os.environ["PREFECT_API_URL"] == url  # what a schedule's flow runs inherit
        assert not (tmp_path / SERVER_RECORD).exists()  # nothing of its own to stop
    assert "PREFECT_API_URL" not in os.environ
    assert f"already running on {url}" in capsys.readouterr().out


def test_only_a_healthy_prefect_answer_counts_as_a_running_server():
    with (
        answering(b"<html>another service</html>") as port,
        temporary_settings({PREFECT_SERVER_API_PORT: port}),
    ):
        assert running_local_server() is None
    # The tests' own address is a closed port (conftest.py): nothing answers there.
    assert running_local_server() is None


def test_a_server_the_settings_name_but_that_does_not_answer_is_named_in_one_line(monkeypatch):
    port = free_port()  # free a moment ago: nothing answers there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        monkeypatch.delenv("PREFECT_API_URL", raising=False)
        message = unreachable_server()
    assert message is not None
    assert f"MLflow tracking server at http://127.0.0.1:{port} (MLFLOW_TRACKING_URI)" in message
    assert "\n" not in message

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///local.db")  # a local store: no server
    with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{port}/api"}):
        message = unreachable_server()
    assert message is not None
    assert f"Prefect API at http://127.0.0.1:{port}/api (PREFECT_API_URL)" in message


def test_servers_that_answer_pass_the_check(monkeypatch):
    with answering(b"true") as port:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
        with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{port}/api"}):
            assert unreachable_server() is None
