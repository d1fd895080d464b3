"""Create the event, revocation and dead-letter topics explicitly, before anything uses them.

Brokers that auto-create unknown topics (Tansu does, with 4 partitions) would otherwise pick the
partition count for us, and the count decides which user's events share a partition.

    python -m schemas.topics      # Settings from AUTHPLANE_* env vars
"""

from __future__ import annotations

import asyncio
import sys

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from schemas import names
from schemas.settings import Settings

TOPICS = (names.TOPIC_EVENTS, names.TOPIC_REVOCATIONS, names.TOPIC_DEADLETTER)
_ALREADY_EXISTS = TopicAlreadyExistsError.errno


def replication_for(nodes: int) -> int:
    """Replication factor for a cluster of ``nodes`` brokers: three copies at most."""
    return min(3, nodes)


def min_insync_for(replication: int) -> int:
    """``min.insync.replicas`` for a topic with ``replication`` copies.

    Two must acknowledge once there are three, so one lost region never loses an acknowledged
    write (acks=all) and never stops writes; with fewer copies every copy must.
    """
    return 2 if replication >= 3 else 1


def topic_configs(replication: int) -> dict[str, str]:
    """Per-topic settings: ``min.insync.replicas`` and no unclean leader election (a replica
    that missed acknowledged writes must never become leader and silently drop them)."""
    return {
        "min.insync.replicas": str(min_insync_for(replication)),
        "unclean.leader.election.enable": "false",
    }


class TopicError(RuntimeError):
    """The broker refused to create a topic for a reason other than "it already exists"."""


async def ensure_topics(bootstrap: str, partitions: int, replication: int) -> None:
    """Create the topics that do not exist yet; existing topics are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in TOPICS if t not in existing]
        if not missing:
            return
        new = [
            NewTopic(
                t,
                num_partitions=partitions,
                replication_factor=replication,
                topic_configs=topic_configs(replication),
            )
            for t in missing
        ]
        response = await admin.create_topics(new)
        _raise_on_errors(response.to_object())
    finally:
        await admin.close()


def _raise_on_errors(response: dict[str, object]) -> None:
    # Another process may create the same topic between our list and create: that is fine.
    for result in response.get("topic_errors", []):  # type: ignore[attr-defined]
        code = result["error_code"]
        if code not in (0, _ALREADY_EXISTS):
            raise TopicError(f"cannot create topic {result['topic']}: {for_code(code).__name__}")


def main() -> int:
    settings = Settings.from_env()
    asyncio.run(
        ensure_topics(
            settings.kafka_bootstrap, settings.topic_partitions, settings.topic_replication
        )
    )
    print(f"topics ready on {settings.kafka_bootstrap}: {', '.join(TOPICS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
