"""The readiness wait is bounded and names what is not ready (nothing listens here: every probe
is refused at once)."""

from __future__ import annotations

import socket

import pytest

from schemas.topology import RegionEndpoints, Topology
from services.devstack.process import InfraError
from services.devstack.ready import NotReady, wait_until_ready


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unreachable(*regions: str) -> Topology:
    port = _closed_port()
    endpoints = {
        name: RegionEndpoints(
            name=name,
            redis_url=f"redis://127.0.0.1:{port}/0",
            postgres_dsn=f"postgresql://postgres@127.0.0.1:{port}/authplane",
            login_url=f"http://127.0.0.1:{port}",
            projector_metrics_url=f"http://127.0.0.1:{port}",
        )
        for name in regions
    }
    return Topology(f"127.0.0.1:{port}", endpoints)


def test_a_stack_that_never_gets_ready_is_named_region_by_region() -> None:
    seen: list[dict[str, list[str]]] = []
    with pytest.raises(NotReady) as caught:
        wait_until_ready(_unreachable("eu", "us"), 0.5, on_pending=seen.append)
    message = str(caught.value)
    assert message.startswith("not ready after 0.5 s: eu: login /readyz unreachable")
    assert "us: login /readyz unreachable" in message
    assert "projector /metrics unreachable" in message
    assert "projector has not applied the signing keys of eu, us" in message
    assert seen
    assert set(seen[-1]) == {"eu", "us"}


def test_a_process_that_died_ends_the_wait_at_once() -> None:
    with pytest.raises(InfraError, match="eu-worker") as caught:
        wait_until_ready(_unreachable("eu"), 600, dead=lambda: ["eu-worker (log: x.log)"])
    assert not isinstance(caught.value, NotReady)
