"""``authplane up --detach`` on stable ports returns only once a newcomer's first login works."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from schemas import names, topology
from schemas.client_secrets import client_secret_matches
from services.core.clients import ClientRecord, ClientRegistry
from services.core.readmodel import make_engine, make_redis
from services.devstack import ports
from tests.launcher import free_offset, run_module

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def detached(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[topology.Topology, dict[str, str], int]]:
    """One ``up --detach`` for the module (each test only reads it, or adds its own user):
    starting and stopping a stack per test cost ~50 s each."""
    tmp_path = tmp_path_factory.mktemp("detached")
    offset = free_offset(["eu", "us"])
    env = {
        **os.environ,
        "AUTHPLANE_DEV_PORT_OFFSET": str(offset),
        "AUTHPLANE_STACK_FILE": str(tmp_path / "stack.json"),
    }
    up = run_module("services.admin.authplane", "up", "--detach", env=env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield topology.load(tmp_path / "stack.json"), env, offset
    finally:
        if (tmp_path / "stack.json").exists():
            run_module("services.admin.authplane", "down", env=env)


def test_up_returns_with_every_region_ready_on_the_documented_ports(
    detached: tuple[topology.Topology, dict[str, str], int],
) -> None:
    topo, _, offset = detached
    plan = ports.stable_plan(["eu", "us"], offset)
    for name, region in topo.regions.items():
        assert region.login_url == f"http://127.0.0.1:{plan.regions[name].login}"
        assert region.projector_metrics_url == f"http://127.0.0.1:{plan.regions[name].metrics}"
        # One request each, no retry: "ready" must already be true when `up` returns.
        readyz = httpx.get(region.login_url + "/readyz", timeout=5)
        assert readyz.status_code == 200, readyz.text
    # Tansu, or the first region's Kafka node: the bootstrap list starts at the stable port.
    assert topo.kafka_bootstrap.split(",")[0] == f"127.0.0.1:{plan.broker}"


def test_a_login_right_after_up_and_user_create_succeeds_first_time(
    detached: tuple[topology.Topology, dict[str, str], int],
) -> None:
    topo, env, _ = detached
    created = run_module(
        "services.admin.authctl",
        *("user", "create", "alice", "--password-stdin", "--wait"),
        env=env,
        stdin=PASSWORD,
    )
    # --wait returned 0: every region confirmed the user, so no login below may race it.
    assert created.returncode == 0, created.stderr
    for region in topo.regions.values():
        login = httpx.post(
            region.login_url + "/oauth2/token",
            data={
                "grant_type": "password",
                "username": "alice",
                "password": PASSWORD,
                "client_id": names.DEV_PUBLIC_CLIENT_ID,
            },
            timeout=10,
        )
        assert login.status_code == 200, login.text
    # The stack file lists the registered dev clients with their credentials (issue 12).
    clients = topo.extra["clients"]
    service = clients[names.DEV_SERVICE_CLIENT_ID]
    first = next(iter(topo.regions.values()))
    issued = httpx.post(
        first.login_url + "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(service["client_id"], service["client_secret"]),
        timeout=10,
    )
    assert issued.status_code == 200, issued.text
    assert clients[names.DEV_RESOURCE_SERVER_ID]["can_introspect"] is True


def test_a_taken_stable_port_stops_up_before_anything_starts(tmp_path: Path) -> None:
    offset = free_offset(["eu", "us"])
    env = {**os.environ, "AUTHPLANE_DEV_PORT_OFFSET": str(offset)}
    busy = ports.stable_plan(["eu", "us"], offset).regions["eu"].redis
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", busy))
        holder.listen()
        up = run_module(
            "services.admin.authplane", "up", "--detach", "--base-dir", str(tmp_path), env=env
        )
    assert up.returncode == 1
    assert f"{busy} (eu redis)" in up.stderr
    assert "Traceback" not in up.stderr
    assert not (tmp_path / "stack.json").exists()
    assert not (tmp_path / "logs").exists()  # nothing was started


def test_up_registers_the_dev_clients_in_every_region_and_lists_their_secrets(
    detached: tuple[topology.Topology, dict[str, str], int],
) -> None:
    """Issue 12: the stack file lists the dev clients with their secrets, every region already
    knows them when `up` returns (no retry below), and `status` shows them."""
    topo, env, _ = detached
    clients = topo.extra["clients"]
    status = run_module("services.admin.authplane", "status", env=env)

    assert sorted(clients) == sorted(
        [names.DEV_PUBLIC_CLIENT_ID, names.DEV_SERVICE_CLIENT_ID, names.DEV_RESOURCE_SERVER_ID]
    )
    assert "client_secret" not in clients[names.DEV_PUBLIC_CLIENT_ID]
    for region in topo.regions.values():
        for client_id, listed in clients.items():
            record = asyncio.run(_registered(region, client_id))
            assert record is not None, (region.name, client_id)
            assert not record.disabled
            if "client_secret" in listed:
                assert client_secret_matches(record.secret_hash, listed["client_secret"])
            else:
                assert record.secret_hash == ""
    assert status.returncode == 0, status.stderr
    assert clients[names.DEV_SERVICE_CLIENT_ID]["client_secret"] in status.stdout


async def _registered(region: topology.RegionEndpoints, client_id: str) -> ClientRecord | None:
    redis, engine = make_redis(region.redis_url), make_engine(region.postgres_dsn)
    try:
        return await ClientRegistry(redis, engine).get(client_id)
    finally:
        await redis.aclose()
        await engine.dispose()
