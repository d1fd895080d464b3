"""The projector worker consumes revocations with their own agent, so a revocation is never
queued behind a batch of other events (a login burst) being written."""

from __future__ import annotations

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
