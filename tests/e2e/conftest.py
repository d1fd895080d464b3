"""A whole two-region stack (broker, per region Redis, Postgres, login endpoint and projector),
started once for the e2e tests through the same launcher `make dev` uses."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from schemas.settings import Settings
from services.devstack.stack import Stack
from tests.e2e.drive import wait_ready


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = Stack.start(
        ["eu", "us"],
        tmp_path_factory.mktemp("stack"),
        durable=False,
        inherited_env=dict(os.environ),
        # Every test logs in from 127.0.0.1: the per-IP lockout would otherwise couple tests.
        # Lockout itself is tested with its own stack and settings.
        base=Settings(login_ip_max_failures=10_000),
    )
    try:
        wait_ready(started)
        yield started
    finally:
        started.stop()
