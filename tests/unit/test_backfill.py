"""`vidasm backfill` / `vidasm reload` against a webserver that is down, asks for credentials or does not know the
project: one line naming the URL and the cause, exit code 2, no traceback (``backfill.graphql``)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from vidasm_assets.backfill import GraphQLError, launch_backfill
from vidasm_assets.media.errors import VidasmError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def webserver() -> Iterator[tuple[str, dict]]:
    """A stand-in for the webserver's GraphQL endpoint: ``state["status"]`` and the asset nodes it answers."""
    state: dict = {"status": 200, "nodes": [["alpha", "cut"], ["alpha", "timeline"], ["beta", "cut"]]}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            nodes = [{"assetKey": {"path": p}, "isObservable": False, "isPartitioned": False} for p in state["nodes"]]
            body = json.dumps({"data": {"assetNodes": nodes}}).encode()
            self.send_response(state["status"])
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def test_an_unknown_project_and_credentials_asked_for_are_said_in_one_line(webserver) -> None:
    url, state = webserver
    with pytest.raises(GraphQLError) as info:
        launch_backfill(url, ["gamma"])
    said = f"{url}: no project gamma in its code location (known: alpha, beta; a new project folder: `vidasm reload`"
    assert str(info.value) == said + " first)"
    assert isinstance(info.value, VidasmError)
    state["status"] = 401
    with pytest.raises(GraphQLError, match=r"/graphql: the server asks for credentials \(HTTP 401\)"):
        launch_backfill(url, ["alpha"])


@pytest.mark.parametrize("command", ["backfill", "reload"])
def test_the_cli_says_a_webserver_that_is_down_in_one_line(command: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    argv = [sys.executable, "-m", "vidasm_assets.cli", command, "--url", url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    said = (out.stdout + out.stderr).strip()
    assert out.returncode == 2, said
    assert "Traceback" not in said and len(said.splitlines()) == 1, said
    assert f"{url}/graphql: cannot reach the Dagster webserver (ConnectionError)" in said, said
