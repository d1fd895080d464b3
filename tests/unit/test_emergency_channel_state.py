"""The emergency channel's state in one login process: when it counts as open, its log lines and
its gauges (services.login.outbox.Channel)."""

from __future__ import annotations

import logging

import pytest

from services.login.metrics import Metrics
from services.login.outbox import Channel, OutboxStats


def _gauge(metrics: Metrics, name: str) -> float | None:
    return metrics.registry.get_sample_value(name)


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "services.login.outbox"]


def test_open_while_rows_are_pending_or_the_log_is_unreachable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    metrics = Metrics()
    channel = Channel(metrics, enabled=True)
    assert not channel.open
    channel.log_answered(reachable=False)
    channel.written("session.started", OutboxStats())
    assert channel.open
    assert _gauge(metrics, "authplane_emergency_channel_open") == 1
    assert _gauge(metrics, "authplane_outbox_depth") == 1
    channel.log_answered(reachable=True)
    assert channel.open  # a row is still pending
    channel.forwarded(1)
    channel.observe(OutboxStats(0, 0.0))
    assert not channel.open
    assert _gauge(metrics, "authplane_emergency_channel_open") == 0
    assert _gauge(metrics, "authplane_outbox_forwarded_total") == 1
    assert _lines(caplog) == ["emergency channel opened", "emergency channel closed"]
    closed = next(r for r in caplog.records if r.getMessage() == "emergency channel closed")
    assert closed.__dict__["forwarded"] == 1


def test_an_unreachable_log_alone_opens_it_and_a_reachable_one_closes_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    channel = Channel(Metrics(), enabled=True)
    for reachable in (False, False, True, True, False):
        channel.log_answered(reachable=reachable)
    assert channel.open
    assert _lines(caplog) == [
        "emergency channel opened",
        "emergency channel closed",
        "emergency channel opened",
    ]


async def test_the_relay_forgets_sends_of_rows_gone_from_the_outbox() -> None:
    """A send the relay kept for its next round (the log did not acknowledge it in time) is
    forgotten once its row is no longer in the outbox (forwarded, possibly by the region's
    other relay after a lock hand-over): a long-lived login process does not grow with every
    outage."""
    from asyncio import get_running_loop

    from schemas.broker import TANSU, broker_profile
    from services.login.events import LogLink
    from services.login.outbox import Outbox, OutboxRow
    from services.login.relay import Relay

    link = LogLink("127.0.0.1:1", 1.0, broker_profile(TANSU))  # never connected: nothing is sent
    channel = Channel(Metrics(), enabled=True)
    relay = Relay(None, Outbox(None, 10, 60.0), link, channel, 0.2, 1.0)  # type: ignore[arg-type]
    loop = get_running_loop()
    for seq in (3, 4, 9):
        relay._in_flight[seq] = (object(), loop.create_future())
    head = OutboxRow(9, "e9", "user", "topic", "session.started", b"")
    await relay.forward([head])  # rows 3 and 4 are gone: only 9 is still pending
    assert set(relay._in_flight) == {9}
    await relay.forward([])  # the outbox is empty
    assert relay._in_flight == {}
