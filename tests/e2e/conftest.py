"""A whole two-region stack (broker, per region Redis, Postgres, login endpoint and projector),
started once for the e2e tests through the same launcher `make dev` uses."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from schemas.broker import TANSU
from schemas.settings import Settings
from services.devstack.drill.runner import start_drill_stack
from services.devstack.stack import Stack
from tests.e2e.drive import wait_ready


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


@contextmanager
def running_stack(
    base_dir: Path, broker: str = TANSU, within_s: float = 60.0, front_door: Path | None = None
) -> Iterator[Stack]:
    """A two-region stack on ``broker`` (with HAProxy ``front_door`` in front of it, when given),
    ready (every /readyz 200) until the block ends."""
    started = Stack.start(
        ["eu", "us"],
        base_dir,
        durable=False,
        inherited_env=dict(os.environ),
        # Every test logs in from 127.0.0.1: the per-IP lockout would otherwise couple tests.
        # Lockout itself is tested with its own stack and settings.
        base=Settings(login_ip_max_failures=10_000),
        broker=broker,
        ready_timeout=within_s,
        front_door=front_door,
    )
    try:
        wait_ready(started, within_s)
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def drill_stack(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    """The 3-region Kafka drill stack with proxied links, one per test module that asks."""
    started = start_drill_stack(tmp_path_factory.mktemp(request.module.__name__.split(".")[-1]))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack")) as started:
        yield started
