"""Brokers for the integration tests that need one of their own (the session's `kafka_bootstrap`
is shared by everything else)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.devstack.broker import start_broker
from services.devstack.process import ManagedProcess


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
