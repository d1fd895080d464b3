"""authctl's producers follow the broker the stack file names: idempotent on Kafka (a retried
send is not written twice), not on Tansu (which refuses the idempotent producer)."""

from __future__ import annotations

import pytest

from schemas import topology
from schemas.broker import KAFKA, TANSU
from services.admin import publish
from services.admin.errors import CliError


def _topo(kind: str | None) -> topology.Topology:
    extra = {"broker": {"kind": kind}} if kind else {}
    return topology.Topology("127.0.0.1:9", {}, extra=extra)


def test_the_stack_files_broker_decides_idempotence() -> None:
    assert publish.broker_of(_topo(KAFKA)).producer_options()["enable_idempotence"]
    assert not publish.broker_of(_topo(TANSU)).producer_options()["enable_idempotence"]


def test_without_a_kind_the_setting_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHPLANE_BROKER_KIND", KAFKA)
    assert publish.broker_of(_topo(None)).kind == KAFKA


def test_an_unknown_kind_is_one_line_for_the_operator() -> None:
    with pytest.raises(CliError, match="broker kind"):
        publish.broker_of(_topo("redpanda"))
