"""The front door's HAProxy process on its own: it starts, listens on every frontend; when no
region can answer it refuses as a login endpoint does (503, the OAuth error JSON, Retry-After);
and it replays a request a dying server may have processed only when replay is harmless."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.devstack.frontdoor import RETRIES, FrontDoorPlan, haproxy_binary, start_front_door
from services.devstack.polling import until
from services.devstack.process import HOST, ManagedProcess, free_port


@pytest.fixture
def door_to_nowhere(tmp_path: Path) -> Iterator[FrontDoorPlan]:
    binary = haproxy_binary()
    assert binary is not None, "haproxy must be on PATH (make front-door-tools)"
    # Login endpoints on ports nobody listens on: every region is down.
    plan = FrontDoorPlan(
        ports={"eu": free_port(), "us": free_port()},
        logins={"eu": f"{HOST}:{free_port()}", "us": f"{HOST}:{free_port()}"},
    )
    proc: ManagedProcess = start_front_door(binary, plan, tmp_path, die_with_parent=True)
    try:
        yield plan
    finally:
        proc.stop()


def test_with_every_region_down_the_front_door_says_when_to_retry(
    door_to_nowhere: FrontDoorPlan,
) -> None:
    for region in door_to_nowhere.ports:
        answer = httpx.post(
            f"{door_to_nowhere.url(region)}/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": "x"},
            timeout=10,
        )
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "1"
        assert answer.json()["error"] == "temporarily_unavailable"


class DyingServer:
    """A stand-in login endpoint that answers ``GET /readyz`` 200 and resets every other
    request's connection without an answer, as a process killed mid-request does; it records
    each such request's path."""

    def __init__(self) -> None:
        self.port = free_port()
        self.paths: list[str] = []
        self._sock = socket.create_server((HOST, self.port))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            with conn:
                head = conn.recv(65536).decode(errors="replace")
                path = head.split(" ")[1] if " " in head else ""
                if head.startswith("GET /readyz"):
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                    )
                    continue
                self.paths.append(path)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


@pytest.fixture
def door_to_dying(tmp_path: Path) -> Iterator[tuple[str, list[DyingServer]]]:
    binary = haproxy_binary()
    assert binary is not None, "haproxy must be on PATH (make front-door-tools)"
    servers = [DyingServer(), DyingServer()]
    plan = FrontDoorPlan(
        ports={"eu": free_port()},
        logins={"eu": f"{HOST}:{servers[0].port}", "us": f"{HOST}:{servers[1].port}"},
    )
    proc = start_front_door(binary, plan, tmp_path, die_with_parent=True)
    try:
        assert until(lambda: _ready_through(plan.url("eu")), 10, 0.1)
        yield plan.url("eu"), servers
    finally:
        proc.stop()
        for server in servers:
            server.close()


def _ready_through(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_token_request_a_server_may_have_processed_is_never_sent_twice(
    door_to_dying: tuple[str, list[DyingServer]],
) -> None:
    url, servers = door_to_dying
    answer = httpx.post(f"{url}/oauth2/token", data={"grant_type": "password"}, timeout=10)
    assert answer.status_code == 502  # an answer, not a dropped connection
    assert answer.json()["error"] == "temporarily_unavailable"  # OAuth JSON, not HAProxy's HTML
    assert answer.headers["retry-after"] == "1"
    received = [p for s in servers for p in s.paths]
    assert received == ["/oauth2/token"]  # once: a replay could rotate a refresh token twice


def test_an_idempotent_request_is_sent_again_when_the_server_died_without_answering(
    door_to_dying: tuple[str, list[DyingServer]],
) -> None:
    url, servers = door_to_dying
    answer = httpx.post(f"{url}/oauth2/introspect", data={"token": "t"}, timeout=10)
    received = [p for s in servers for p in s.paths]
    assert received.count("/oauth2/introspect") == 1 + RETRIES
    assert answer.status_code == 502  # an answer, not a dropped connection
