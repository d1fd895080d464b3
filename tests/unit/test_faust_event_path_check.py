"""faust's periodic stuck-partition check must not crash the projector while a partition
waits for its first read position (after a rebalance, before the seek to committed offsets).
faust read aiokafka's ``position`` there, which asserts it is set; the AssertionError stopped
the worker (seen in the emergency-channel drill after a region's links were cut and healed)."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition
from aiokafka.consumer.subscription_state import TopicPartitionState
from faust.transport.drivers import aiokafka as driver

from streams.faust_transport import ConsumerThread, has_read_position

TP = SimpleNamespace(topic="authplane.events.v1", partition=3)


def _consumer_holding(state: TopicPartitionState | None) -> Any:
    class Assignment:
        active = True

        def state_value(self, tp: TopicPartition) -> TopicPartitionState | None:
            assert tp == TopicPartition(TP.topic, TP.partition)
            return state

        def __bool__(self) -> bool:
            return True

    subscription = SimpleNamespace(assignment=Assignment())
    return SimpleNamespace(
        _fetcher=SimpleNamespace(_subscriptions=SimpleNamespace(subscription=subscription))
    )


def _thread_on(consumer: Any) -> ConsumerThread:
    """A ConsumerThread with just what faust's check reads: a fetch was sent a moment ago and
    the partition's stream is monitored, so the check goes on to the read position."""
    thread = object.__new__(ConsumerThread)
    app = SimpleNamespace(
        monitor=SimpleNamespace(stream_inbound_time={}),
        topics=SimpleNamespace(acks_enabled_for=lambda topic: True),
    )
    attributes = {
        "_ensure_consumer": lambda: consumer,
        "time_started": time.monotonic(),
        "tp_fetch_request_timeout_secs": 300.0,
        "tp_stream_timeout_secs": 300.0,
        "consumer": SimpleNamespace(app=app),
        "log": logging.getLogger("test"),
    }
    for name, value in attributes.items():
        object.__setattr__(thread, name, value)
    return thread


async def test_a_partition_awaiting_its_seek_is_not_checked_and_nothing_raises() -> None:
    state = TopicPartitionState(assignment=None)
    state.timestamp = time.time() * 1000  # a fetch request went out just now
    state.highwater = 10  # the broker's end of the partition is known
    thread = _thread_on(_consumer_holding(state))

    assert not has_read_position(thread._ensure_consumer(), TP)
    thread.verify_event_path(time.monotonic(), TP)  # faust's own check raised AssertionError


async def test_a_partition_with_a_position_is_still_checked(monkeypatch: Any) -> None:
    state = TopicPartitionState(assignment=None)
    state.timestamp = time.time() * 1000
    state.highwater = 10
    state.seek(4)
    consumer = _consumer_holding(state)
    checked: list[Any] = []
    monkeypatch.setattr(
        driver.AIOKafkaConsumerThread,
        "verify_event_path",
        lambda self, now, tp: checked.append(tp),
    )

    assert has_read_position(consumer, TP)
    _thread_on(consumer).verify_event_path(time.monotonic(), TP)
    assert checked == [TP]  # faust's whole check ran
    assert has_read_position(_consumer_holding(None), TP)  # not held: faust reports it itself


async def test_a_partition_without_a_position_still_gets_the_fetch_check(monkeypatch: Any) -> None:
    """A partition whose seek never completes is still reported by faust's fetch-level check
    (``SLOW_PROCESSING_NO_FETCH_SINCE_START``); only the position read is skipped."""
    state = TopicPartitionState(assignment=None)  # no position, no fetch request yet
    thread = _thread_on(_consumer_holding(state))
    fetch_checks: list[Any] = []
    monkeypatch.setattr(
        ConsumerThread, "_verify_aiokafka_event_path", lambda self, now, tp: fetch_checks.append(tp)
    )

    thread.verify_event_path(time.monotonic(), TP)

    assert fetch_checks == [TP]


async def test_a_position_cleared_between_the_two_reads_does_not_crash(monkeypatch: Any) -> None:
    state = TopicPartitionState(assignment=None)
    state.seek(4)
    thread = _thread_on(_consumer_holding(state))

    def rebalanced_meanwhile(self: Any, now: float, tp: Any) -> None:
        state._position = None  # a rebalance on the consumer's own thread
        assert state.position is not None  # what faust's read then hits

    monkeypatch.setattr(driver.AIOKafkaConsumerThread, "verify_event_path", rebalanced_meanwhile)

    thread.verify_event_path(time.monotonic(), TP)
