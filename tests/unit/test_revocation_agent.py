"""The projector worker consumes revocations with their own agent, so a revocation is never
queued behind a batch of other events (a login burst) being written."""

from __future__ import annotations

from schemas import names
from schemas.settings import Settings
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
