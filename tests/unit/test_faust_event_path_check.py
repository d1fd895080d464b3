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


async def test_a_partition_with_a_position_is_still_checked() -> None:
    state = TopicPartitionState(assignment=None)
    state.timestamp = time.time() * 1000
    state.highwater = 10
    state.seek(4)
    consumer = _consumer_holding(state)

    assert has_read_position(consumer, TP)
    assert has_read_position(_consumer_holding(None), TP)  # not held: faust reports it itself
