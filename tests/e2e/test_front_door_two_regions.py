"""The front door (`authplane up --front-door`): HAProxy routes each client to its home region,
passes the client's address (and only that) to the login lockout, and fails over to the other
region while the home region's login endpoint is down (the region-down-behind-front-door drill).

One two-region Tansu stack with a front door for the module; the drill runs last (it kills and
restarts eu's login endpoint).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import jwt
import pytest
from redis import Redis

from schemas import names
from schemas.identity import user_id_for
from services.devstack import stackfile
from services.devstack.drill.drills import Plan
from services.devstack.drill.frontdoor import region_down_behind_front_door
from services.devstack.frontdoor import SOURCE_ADDRESS, haproxy_binary
from services.devstack.stack import Stack
from tests.e2e.conftest import running_stack
from tests.e2e.drive import PASSWORD, authctl, eventually, login_url, password_login

pytestmark = pytest.mark.timeout(600)
PLAN = Plan(rate_per_s=4.0, warm_s=3.0, fault_s=6.0, after_s=4.0, users=2, converge_s=60.0)
SPOOFED = "203.0.113.7"


@pytest.fixture(scope="module")
def door_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    haproxy = haproxy_binary()
    assert haproxy is not None, "haproxy must be on PATH (make front-door-tools)"
    with running_stack(tmp_path_factory.mktemp("front-door"), front_door=haproxy) as stack:
        yield stack


@pytest.fixture(scope="module")
def user(door_stack: Stack) -> str:
    name = "door-user"
    done = authctl(door_stack, "user", "create", name, "--password-stdin", stdin=PASSWORD)
    assert done.returncode == 0, done.stderr
    for region in door_stack.settings:
        redis = Redis.from_url(door_stack.settings[region].redis_url)
        try:
            eventually(lambda: redis.exists(names.redis_user_key(user_id_for(name))))  # noqa: B023
        finally:
            redis.close()
    return name


def test_the_stack_file_records_a_front_door_per_region(door_stack: Stack) -> None:
    from schemas.topology import load

    urls = stackfile.front_door_urls(load(door_stack.stack_file))
    assert urls == door_stack.front_door_urls
    assert set(urls) == {"eu", "us"}
    assert len(set(urls.values())) == 2
    assert not set(urls.values()) & {login_url(door_stack, r) for r in door_stack.settings}


def test_each_front_door_sends_its_client_to_its_home_region(door_stack: Stack, user: str) -> None:
    for region, door in door_stack.front_door_urls.items():
        answer = password_login(door_stack, region, user, PASSWORD, via=door)
        assert answer.status_code == 200, answer.text
        claims = jwt.decode(answer.json()["access_token"], options={"verify_signature": False})
        assert claims["region"] == region
        assert answer.headers[names.HEADER_SERVED_BY] == region
        keys = httpx.get(f"{door}/.well-known/jwks.json")  # the same paths as a region's
        assert keys.status_code == 200
        assert keys.headers[names.HEADER_SERVED_BY] == region


def test_metadata_read_through_a_front_door_sends_clients_back_through_it(
    door_stack: Stack,
) -> None:
    """RFC 8414: a client configured from the metadata must keep using the front door (and its
    failover), not the region's own address it happened to be routed to."""
    for region, door in door_stack.front_door_urls.items():
        document = httpx.get(f"{door}/.well-known/oauth-authorization-server").json()
        for member in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
            assert document[member].startswith(door + "/"), (member, document[member])
        assert document["jwks_uri"].startswith(door + "/")
        assert login_url(door_stack, region) not in str(document)


def _ip_failures(stack: Stack, ip: str) -> int:
    redis = Redis.from_url(stack.settings["eu"].redis_url)
    try:
        return int(redis.zcard(names.redis_login_failures_ip_key(ip)))
    finally:
        redis.close()


def test_the_lockout_counts_the_client_behind_the_front_door_not_a_spoofed_address(
    door_stack: Stack, user: str
) -> None:
    before = _ip_failures(door_stack, "127.0.0.1")
    door = door_stack.front_door_urls["eu"]
    spoof = {names.HEADER_FORWARDED_FOR: SPOOFED}
    answer = password_login(door_stack, "eu", user, "wrong password", via=door, headers=spoof)
    assert answer.status_code == 400
    # The client (127.0.0.1) is counted: not the front door's own address, not what it claimed.
    eventually(lambda: _ip_failures(door_stack, "127.0.0.1") == before + 1)
    assert _ip_failures(door_stack, SOURCE_ADDRESS) == 0
    assert _ip_failures(door_stack, SPOOFED) == 0


def test_a_client_that_bypasses_the_front_door_cannot_choose_its_address(
    door_stack: Stack, user: str
) -> None:
    before = _ip_failures(door_stack, "127.0.0.1")
    spoof = {names.HEADER_FORWARDED_FOR: SPOOFED}
    answer = password_login(door_stack, "eu", user, "wrong password", headers=spoof)
    assert answer.status_code == 400
    eventually(lambda: _ip_failures(door_stack, "127.0.0.1") == before + 1)
    assert _ip_failures(door_stack, SPOOFED) == 0


def test_region_down_behind_front_door_fails_over_and_back(door_stack: Stack) -> None:
    figures = region_down_behind_front_door(door_stack, PLAN, "eu", dict(os.environ))
    print("\n".join(f"  {k}: {v}" for k, v in figures.items()))
    # The client kept working through its front door, answered by the other region...
    assert isinstance(figures["s from the kill to the first success from another region"], float)
    assert "us=" in str(figures["successes while down, by answering region"])
    # ...and was sent home again once eu's login endpoint was back.
    assert isinstance(figures["s from the restart to the first success from home"], float)
    # Nothing acknowledged through the front door was lost, wherever it was answered.
    assert figures["acknowledged logins"]
    assert figures["acknowledged logins lost (any region)"] == 0
    assert figures["revocations not in effect (any region)"] == 0
    assert figures["checksum equal in all regions"] is True, (
        f"{figures['checksums']}; kinds that differ: {figures.get('kinds that differ')}"
    )
