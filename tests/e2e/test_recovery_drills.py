"""Recovery drills on a real two-region stack: lose a region, lose the log, kill a replay.

The stack is this module's own (the drills wreck it on purpose) and the drills share it in
order; each drill ends with both regions converged again.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import pytest

from schemas.names import DEV_PUBLIC_CLIENT_ID
from services.devstack import recovery
from services.devstack.stack import Stack
from tests.e2e.drive import PASSWORD, authctl, eventually, introspect, login_url, wait_ready
from tests.e2e.recovery_support import (
    authplane,
    checkpoint_progress,
    checksum,
    converged,
    produce_bulk,
    replay_process,
    summary_number,
)

BULK_USERS = 2500  # 5,000 events: ten replay batches of 500, enough to interrupt one half-way
ENV = dict(os.environ)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = Stack.start(
        ["eu", "us"], tmp_path_factory.mktemp("drills"), durable=False, inherited_env=ENV
    )
    try:
        wait_ready(started)
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def people(stack: Stack) -> dict[str, Any]:
    """Users with sessions in both regions, one of them logged out (revoked), plus bulk."""
    tokens: dict[str, Any] = {}
    for name, region in (("alice", "eu"), ("bob", "us")):
        result = authctl(stack, "user", "create", name, "--password-stdin", stdin=PASSWORD)
        assert result.returncode == 0, result.stderr
        tokens[name] = eventually(partial(_login, stack, region, name))
    bearer = {"authorization": f"Bearer {tokens['bob']['access_token']}"}
    assert httpx.post(f"{login_url(stack, 'us')}/v1/logout", headers=bearer).status_code == 204
    produce_bulk(stack, BULK_USERS)
    converged(stack)
    return tokens


def _login(stack: Stack, region: str, username: str) -> dict[str, Any] | None:
    response = httpx.post(
        f"{login_url(stack, region)}/oauth2/token",
        data={
            "grant_type": "password",
            "username": username,
            "password": PASSWORD,
            "client_id": DEV_PUBLIC_CLIENT_ID,
        },
    )
    return response.json() if response.status_code == 200 else None


def _lose_region(stack: Stack, region: str) -> None:
    recovery.stop_app(stack, region, "worker")
    recovery.wipe_region(stack, region)
    assert checksum(stack, region)["kinds"]["pg users"]["count"] == 0  # type: ignore[index]


def _behaves_as_before(stack: Stack, people: dict[str, Any]) -> None:
    assert introspect(stack, "us", people["alice"]["access_token"])["active"] is True
    assert introspect(stack, "us", people["bob"]["access_token"])["active"] is False
    assert _login(stack, "us", "alice") is not None


def test_drill_1_a_wiped_region_is_rebuilt_from_the_log(
    stack: Stack, people: dict[str, Any]
) -> None:
    before = checksum(stack, "eu")
    _lose_region(stack, "us")

    result = authplane(stack, "replay", "--region", "us")

    assert result.returncode == 0, result.stdout + result.stderr
    assert summary_number(result.stdout, "events read") >= 2 * BULK_USERS
    assert summary_number(result.stdout, "dead-lettered") == 0
    assert checksum(stack, "us") == {**before, "region": "us"}
    _behaves_as_before(stack, people)
    recovery.start_app(stack, "us", "worker", ENV)
    converged(stack)


def test_drill_3_a_killed_replay_resumes_to_the_same_state(
    stack: Stack, people: dict[str, Any]
) -> None:
    reference = converged(stack)
    _lose_region(stack, "us")

    killed = replay_process(stack, "--region", "us", "--batch-size", "500")
    eventually(lambda: checkpoint_progress(stack, "us") > 0, within_s=30, every_s=0.02)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=10)
    assert killed.returncode == -signal.SIGKILL
    assert checkpoint_progress(stack, "us") < 2 * BULK_USERS  # genuinely half-way

    resumed = authplane(stack, "replay", "--region", "us", "--batch-size", "500")

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed from its checkpoint" in resumed.stdout
    assert summary_number(resumed.stdout, "skipped (duplicate)") <= 500  # at most one batch
    assert checksum(stack, "us") == {**reference, "region": "us"}
    assert authplane(stack, "verify", "--region", "us").returncode == 0
    recovery.start_app(stack, "us", "worker", ENV)
    _behaves_as_before(stack, people)


def test_drill_2_a_lost_log_is_reseeded_from_a_region_archive(
    stack: Stack, people: dict[str, Any]
) -> None:
    eu = converged(stack)
    archived = eu["kinds"]["pg archive"]["count"]  # type: ignore[index]
    old_broker = stack.kafka_bootstrap
    recovery.replace_broker(stack)
    assert stack.kafka_bootstrap != old_broker
    assert stack.kafka_bootstrap in stack.stack_file.read_text()

    seeded = authplane(stack, "reseed", "--from-region", "eu")
    again = authplane(stack, "reseed", "--from-region", "eu")

    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    assert summary_number(seeded.stdout, "events published") == archived
    assert again.returncode == 1
    assert "already hold" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1  # one clear line, no traceback
    recovery.wipe_region(stack, "us")
    rebuilt = authplane(stack, "replay", "--region", "us")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert summary_number(rebuilt.stdout, "events read") == archived  # none lost or doubled
    assert checksum(stack, "us") == {**checksum(stack, "eu"), "region": "us"}

    recovery.start_all_apps(stack, ENV)
    wait_ready(stack)
    _behaves_as_before(stack, people)
    converged(stack)
