"""The projector worker consumes revocations with their own agent, so a revocation is never
queued behind a batch of other events (a login burst) being written."""

from __future__ import annotations

import asyncio
import contextlib

from schemas import names
from schemas.settings import Settings
from streams.record import RawEvent
from streams.wiring import ProjectorRuntime
from streams.worker import ProjectorHost, create_app


def _topics_per_agent(settings: Settings) -> list[set[str]]:
    app = create_app(settings, ProjectorHost(settings))
    return [set(agent.channel.topics) for agent in app.agents.values()]


def test_revocations_have_an_agent_of_their_own() -> None:
    per_agent = _topics_per_agent(Settings())
    assert {names.TOPIC_REVOCATIONS} in per_agent
    assert all(names.TOPIC_REVOCATIONS not in topics for topics in per_agent if len(topics) > 1), (
        "revocations share an agent (and its batches) with other events"
    )


def test_every_event_topic_is_projected() -> None:
    per_agent = _topics_per_agent(Settings())
    assert set().union(*per_agent) == set(names.EVENT_TOPICS)


class _Message:
    def __init__(self, topic: str, offset: int) -> None:
        self.topic, self.partition, self.offset = topic, 0, offset
        self.key, self.value, self.timestamp = b"k", b"v", 1.0

    def incref(self) -> None:
        pass


class _Event:
    def __init__(self, topic: str, offset: int) -> None:
        self.message = _Message(topic, offset)

    def ack(self) -> None:
        pass


class _Recorder:
    def __init__(self) -> None:
        self.topics: list[set[str]] = []
        self.failing_since = None

    async def apply(self, batch: list[RawEvent]) -> None:
        self.topics.append({event.position.topic for event in batch})


class _NoPause:
    async def get(self, key: str) -> None:
        return None


async def test_revocation_batches_go_to_the_redis_first_projector() -> None:
    settings = Settings()
    host = ProjectorHost(settings)
    events, revocations = _Recorder(), _Recorder()
    runtime = ProjectorRuntime(events, revocations, None, _NoPause(), None)  # type: ignore[arg-type]
    host._runtime = runtime
    await host.apply([_Event(names.TOPIC_REVOCATIONS, 0)])
    await host.apply([_Event(names.TOPIC_EVENTS, 0)])
    assert revocations.topics == [{names.TOPIC_REVOCATIONS}]
    assert events.topics == [{names.TOPIC_EVENTS}]


class _Held:
    """A projector whose apply blocks until released (a slow Postgres, a retried outage)."""

    def __init__(self) -> None:
        self.failing_since = None
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def apply(self, batch: list[RawEvent]) -> None:
        self.entered.set()
        await self.release.wait()


class _PauseStore:
    """The pause lease keys in memory; records how many batches were in flight at each ack."""

    def __init__(self, region: str, host: ProjectorHost) -> None:
        self.pause_key = names.redis_projector_pause_key(region)
        self.paused_key = names.redis_projector_paused_key(region)
        self.values: dict[str, bytes] = {}
        self.in_flight_at_ack: list[int] = []
        self.acked = asyncio.Event()
        self.host = host

    async def get(self, key: str) -> bytes | None:
        return self.values.get(key)

    async def set(self, key: str, value: bytes, ex: int | None = None) -> None:
        if key == self.paused_key:
            self.in_flight_at_ack.append(self.host._applying)
            self.acked.set()
        self.values[key] = value


async def test_a_replays_pause_is_not_acknowledged_while_the_other_agent_writes() -> None:
    """With one agent per topic, the events agent may meet a replay's pause while the revocation
    agent's batch is still writing the stores: acknowledging then would let the replay rewrite
    them under that batch. The ack waits until no batch is in flight."""
    settings = Settings()
    host = ProjectorHost(settings)
    store = _PauseStore(settings.region, host)
    revocations = _Held()
    host._runtime = ProjectorRuntime(_Recorder(), revocations, None, store, None)  # type: ignore[arg-type]

    writing = asyncio.create_task(host.apply([_Event(names.TOPIC_REVOCATIONS, 0)]))
    await revocations.entered.wait()
    store.values[store.pause_key] = b"lease"  # a replay takes the region's pause lease
    held = asyncio.create_task(host.apply([_Event(names.TOPIC_EVENTS, 0)]))
    for _ in range(20):
        await asyncio.sleep(0)
    assert store.in_flight_at_ack == []  # not while the revocation batch is being written

    revocations.release.set()
    await writing
    # The held agent polls the lease (every PAUSE_POLL_S) and acknowledges now.
    await asyncio.wait_for(store.acked.wait(), timeout=30)
    assert set(store.in_flight_at_ack) == {0}
    held.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await held
