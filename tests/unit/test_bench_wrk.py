"""`bench.peers.wrk.run_wrk` against a small local HTTP server: what a run reports about the
answers it did not expect (per HTTP status) and the requests that got no answer (per kind of
transport error). Needs wrk: `make test` installs it (`make wrk-tool`); without it these tests
fail saying so, never skip."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.peers.drive import TooManyErrors, check_errors
from bench.peers.wrk import run_wrk


@pytest.fixture(autouse=True)
def _wrk_installed() -> None:
    assert shutil.which("wrk"), "wrk is not installed: make wrk-tool (or sudo apt-get install wrk)"


EXPECTED = b'{"access_token": "x"}'


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    served = 0
    lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    """Every 10th request: 429; every 25th: the connection closed with no answer; else 200."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            self.server.served += 1
            n = self.server.served
        if n % 25 == 0:
            self.close_connection = True
            return
        status = 429 if n % 10 == 0 else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(EXPECTED)))
        self.end_headers()
        self.wfile.write(EXPECTED)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server_url() -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_run_reports_unexpected_answers_by_status_and_dropped_connections_by_kind(
    server_url: str,
) -> None:
    result = run_wrk(
        server_url,
        "form.lua",
        ["/token", "grant_type=password", "", '"access_token"'],
        seconds=1,
        threads=1,
        connections=2,
        cores="0",
    )
    assert result.good > 0
    assert set(result.bad_statuses) == {429}  # the status of each unexpected answer, not 0
    assert result.bad_statuses[429] == result.bad
    assert result.errors["read"] > 0  # a connection closed with no answer: wrk's read error
    assert 0 < result.error_rate < 1
    assert "HTTP 429 x" in result.describe_errors()
    assert "read x" in result.describe_errors()
    with pytest.raises(TooManyErrors, match="HTTP 429"):
        check_errors("local", result)  # ~14 % of requests failed: no figure
    check_errors("local", result, limit=0.5)  # under a stated limit: reported, not fatal
