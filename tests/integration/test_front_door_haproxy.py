"""The front door's HAProxy process on its own: it starts, listens on every frontend and, when
no region can answer, refuses as a login endpoint does (503, the OAuth error JSON, Retry-After)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.devstack.frontdoor import FrontDoorPlan, haproxy_binary, start_front_door
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
