"""Brokers and Redis servers for the integration tests that need one of their own (the session's
`kafka_bootstrap` and `region_stores` are shared by everything else), and a login endpoint on a
broker of the test's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.devstack.broker import start_broker
from services.devstack.process import ManagedProcess
from services.devstack.redis import start_redis
from tests.integration.login_harness import login_fixture


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[ManagedProcess]:
    """An empty broker for one test, which may stop it to play a broker outage."""
    process = start_broker(tmp_path / "broker", die_with_parent=True)
    yield process
    process.stop(timeout=0.2)


@pytest.fixture(scope="module")
def shared_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    """One broker for a whole module whose tests leave it running."""
    process = start_broker(tmp_path_factory.mktemp("broker"), die_with_parent=True)
    yield process
    process.stop(timeout=0.2)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[ManagedProcess]:
    """A Redis of this test alone, so the test can kill it or its clients."""
    process = start_redis(tmp_path / "redis", die_with_parent=True)
    yield process
    process.stop(timeout=2.0)


login = login_fixture(scope="function", broker="own")
"""A login endpoint (in-process ASGI) on fresh stores and a broker of its own; modules that
need another setup assign their own ``login_fixture(...)``."""
