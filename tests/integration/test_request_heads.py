"""Every HTTP surface caps the request line and headers: an oversized head is answered 400/431
and the connection closed without the server reading the rest (no timing assertions: the proof is
that the client could not even send it all before the server hung up)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from wsgiref.simple_server import WSGIServer

import httpx
import orjson
import pytest

from schemas.settings import Settings
from schemas.topics import ensure_topics
from services.devstack.process import free_port
from streams.metrics_server import start_metrics_server
from tests.integration.login_harness import login_settings
from tests.integration.test_login_process import _spawn, _wait_healthy

MIB = 1024 * 1024
CHUNK = b"a" * 65536


@dataclass
class Exchange:
    sent: int
    total: int
    response: bytes

    @property
    def status(self) -> int:
        return int(self.response.split(b" ", 2)[1]) if self.response else 0


def send_head(host: str, port: int, start: bytes, filler: int) -> Exchange:
    """Send ``start`` + ``filler`` bytes of one header value + the end of the head, from a thread,
    while reading what the server answers; stop sending when the server closes."""
    total = len(start) + filler + 4
    sock = socket.create_connection((host, port), timeout=15)
    sent = 0

    def pump() -> None:
        nonlocal sent
        try:
            sock.sendall(start)
            sent += len(start)
            while sent < total - 4:
                sent += sock.send(CHUNK[: total - 4 - sent])
            sock.sendall(b"\r\n\r\n")
            sent += 4
        except OSError:
            return  # the server hung up: what we care about

    sender = threading.Thread(target=pump, daemon=True)
    sender.start()
    response = b""
    try:
        while data := sock.recv(65536):
            response += data
    except OSError:
        pass  # a reset after the answer (we were still sending)
    sender.join(30)
    sock.close()
    return Exchange(sent, total, response)


@pytest.fixture
def login_server(
    tmp_path: Path, kafka_bootstrap: str, fresh_redis_url: str, fresh_postgres_dsn: str
) -> Iterator[str]:
    settings = login_settings(
        tmp_path, kafka_bootstrap, fresh_redis_url, fresh_postgres_dsn, http_port=free_port()
    )
    asyncio.run(ensure_topics(settings.kafka_bootstrap, settings.topic_partitions, 1))
    proc = _spawn(settings, tmp_path / "login.log")
    try:
        base = f"http://{settings.http_host}:{settings.http_port}"
        _wait_healthy(base, proc)
        yield base
    finally:
        proc.kill()
        proc.wait(5)


def _host_port(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").split(":")
    return host, int(port)


def test_a_40mb_authorization_header_is_refused_unread_and_healthz_answers_meanwhile(
    login_server: str,
) -> None:
    host, port = _host_port(login_server)
    start = b"POST /v1/logout HTTP/1.1\r\nHost: eu\r\nAuthorization: Bearer "
    results: list[Exchange] = []
    attacker = threading.Thread(
        target=lambda: results.append(send_head(host, port, start, 40 * MIB))
    )
    attacker.start()
    assert httpx.get(f"{login_server}/healthz", timeout=10).status_code == 200
    attacker.join(60)
    [exchange] = results
    assert exchange.status in (400, 431), exchange.response[:200]
    assert exchange.sent < exchange.total // 2  # the server hung up long before the end


def test_an_8mib_header_on_healthz_is_refused(login_server: str) -> None:
    start = b"GET /healthz HTTP/1.1\r\nHost: eu\r\nX-Filler: "
    exchange = send_head(*_host_port(login_server), start, 8 * MIB)
    assert exchange.status in (400, 431), exchange.response[:200]
    assert exchange.sent < exchange.total


def test_one_header_field_over_the_cap_gets_431_and_a_normal_one_passes(
    login_server: str,
) -> None:
    big = httpx.get(f"{login_server}/healthz", headers={"X-Filler": "a" * 10_000}, timeout=10)
    assert big.status_code == 431
    assert big.json()["error"] == "invalid_request"
    fine = httpx.get(f"{login_server}/healthz", headers={"X-Filler": "a" * 4_000}, timeout=10)
    assert fine.status_code == 200


def test_a_head_over_the_cap_that_arrives_in_one_read_is_refused_too(login_server: str) -> None:
    # h11's own cap fires only on a head still incomplete at the cap; 80 KB of small fields or a
    # 40 KB query can arrive in one read and be parsed whole: the documented cap must hold anyway.
    many = {f"X-F{i}": "a" * 8000 for i in range(10)}
    for path in ("/healthz", "/readyz", "/.well-known/jwks.json", "/oauth2/introspect"):
        answer = httpx.get(f"{login_server}{path}", headers=many, timeout=10)
        assert answer.status_code == 431, (path, answer.status_code)
        assert answer.json()["error"] == "invalid_request"
    long_line = httpx.get(f"{login_server}/healthz?{'a' * 40_000}", timeout=10)
    assert long_line.status_code == 414
    under = {f"X-F{i}": "a" * 1000 for i in range(10)}  # 10 KB: within the 16 KiB default
    assert httpx.get(f"{login_server}/healthz", headers=under, timeout=10).status_code == 200


def _send_in_two_reads(address: tuple[str, int], head: bytes) -> tuple[int, bytes]:
    """Send ``head`` as two writes 0.3 s apart (so the server's cap fires on the first part) and
    read the answer to the end; returns (status, body)."""
    sock = socket.create_connection(address, timeout=15)
    try:
        sock.sendall(head[:20_000])
        time.sleep(0.3)
        with contextlib.suppress(OSError):  # the server may already have shut its side
            sock.sendall(head[20_000:])
        answer = b""
        while data := sock.recv(65536):
            answer += data
    finally:
        sock.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def test_a_head_over_the_cap_in_several_reads_gets_the_same_answer_not_a_reset(
    login_server: str,
) -> None:
    # CI saw "connection reset by peer" for a 40 KB request line: the head arrived in two reads,
    # h11 refused it, and closing with the rest unread reset the connection before the answer.
    line = b"GET /healthz?" + b"a" * 40_000 + b" HTTP/1.1\r\nHost: eu\r\n\r\n"
    status, body = _send_in_two_reads(_host_port(login_server), line)
    assert status == 414
    assert orjson.loads(body)["error"] == "invalid_request"
    fields = b"".join(b"X-F%d: %s\r\n" % (i, b"a" * 4000) for i in range(10))
    status, body = _send_in_two_reads(
        _host_port(login_server), b"GET /healthz HTTP/1.1\r\n" + fields + b"\r\n"
    )
    assert status == 431
    assert orjson.loads(body)["error"] == "invalid_request"


# -- the projector's Prometheus endpoint ---------------------------------------------------------
@pytest.fixture
def metrics() -> Iterator[tuple[str, int]]:
    defaults = Settings()
    port = free_port()
    server: WSGIServer = start_metrics_server(
        port,
        "127.0.0.1",
        max_header_bytes=defaults.max_header_bytes,
        max_request_head_bytes=defaults.max_request_head_bytes,
    )
    try:
        yield "127.0.0.1", port
    finally:
        server.shutdown()
        server.server_close()


def test_metrics_refuses_an_8mib_and_a_40mb_header_unread(metrics: tuple[str, int]) -> None:
    for size in (8 * MIB, 40 * MIB):
        exchange = send_head(*metrics, b"GET /metrics HTTP/1.1\r\nHost: p\r\nX-Filler: ", size)
        assert exchange.status == 431, exchange.response[:200]
        assert exchange.sent < exchange.total // 2
    host, port = metrics
    assert httpx.get(f"http://{host}:{port}/metrics", timeout=10).status_code == 200


def test_metrics_caps_the_whole_head_and_the_request_line(metrics: tuple[str, int]) -> None:
    host, port = metrics
    many = {f"X-F{i}": "a" * 1000 for i in range(60)}  # 60 KB in fields of 1 KB each
    assert httpx.get(f"http://{host}:{port}/metrics", headers=many, timeout=10).status_code == 431
    long_path = "/metrics?" + "a" * 20_000
    assert httpx.get(f"http://{host}:{port}{long_path}", timeout=10).status_code == 414


def test_metrics_answers_a_head_over_the_cap_in_several_reads_not_a_reset(
    metrics: tuple[str, int],
) -> None:
    # The same kind as the login endpoint's reset: here the stdlib server shuts its sending side
    # (FIN after the answer) before it closes, so the answer is read before any reset.
    line = b"GET /metrics?" + b"a" * 40_000 + b" HTTP/1.1\r\nHost: p\r\n\r\n"
    assert _send_in_two_reads(metrics, line)[0] == 414
    fields = b"".join(b"X-F%d: %s\r\n" % (i, b"a" * 1000) for i in range(40))
    assert _send_in_two_reads(metrics, b"GET /metrics HTTP/1.1\r\n" + fields + b"\r\n")[0] == 431


def test_the_projector_process_serves_metrics_through_the_bounded_server(
    tmp_path: Path, kafka_bootstrap: str, fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    """The worker wires the bounded server, not prometheus-client's own."""
    port = free_port()
    settings = login_settings(
        tmp_path,
        kafka_bootstrap,
        fresh_redis_url,
        fresh_postgres_dsn,
        projector_metrics_port=port,
    )
    env = settings.to_env() | {"PATH": "/usr/bin:/bin"}
    repo = Path(__file__).resolve().parents[2]
    with (tmp_path / "worker.log").open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streams.worker"], cwd=repo, env=env, stdout=sink, stderr=sink
        )
    try:
        _wait_metrics(port, proc)
        many = {f"X-F{i}": "a" * 1000 for i in range(60)}
        refused = httpx.get(f"http://127.0.0.1:{port}/metrics", headers=many, timeout=10)
        assert refused.status_code == 431
    finally:
        proc.kill()
        proc.wait(10)


def _wait_metrics(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the projector exited during start-up"
        try:
            httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the projector's metrics port never answered")
