"""How authctl writes an event: one producer set up for the stack's broker, one send.

The producer follows the broker the stack file names (``acks=all``; idempotent on Kafka, not on
Tansu, which refuses the idempotent producer); the topic follows the event (revocations have
their own, ``services.login.events.topic_of``).
"""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas import topology
from schemas.broker import BrokerProfile, broker_profile
from schemas.codec import encode
from schemas.envelope import Envelope, Payload, wrap
from schemas.settings import Settings, SettingsError
from services.admin.errors import CliError
from services.admin.options import TIMEOUT_S
from services.login.events import topic_of


def correlation_id() -> str:
    """A fresh correlation id that names authctl as the origin of an event."""
    return f"authctl:{uuid.uuid4()}"


def envelope_of(event: Payload, user_id: str | None, origin_region: str) -> Envelope:
    """``event`` wrapped as authctl writes it: now, a new event id, a fresh correlation id."""
    return wrap(
        event, user_id=user_id, origin_region=origin_region, correlation_id=correlation_id()
    )


def broker_of(topo: topology.Topology) -> BrokerProfile:
    """The profile of the broker the stack file names (``tansu`` | ``kafka``); without one, the
    ``AUTHPLANE_BROKER_KIND`` setting. CliError for an unknown kind."""
    kind = topo.extra.get("broker", {}).get("kind")
    try:
        return broker_profile(str(kind)) if kind else Settings.from_env().broker
    except (ValueError, SettingsError) as exc:
        raise CliError(str(exc)) from None


def make_producer(topo: topology.Topology, bootstrap: str | None = None) -> AIOKafkaProducer:
    """An authctl producer for ``bootstrap`` (default: the stack file's) with the broker
    profile's options: ``acks=all``, idempotent where the broker supports it (Kafka)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap or topo.kafka_bootstrap,
        request_timeout_ms=int(TIMEOUT_S * 1000),
        **broker_of(topo).producer_options(),
    )


async def produce(
    topo: topology.Topology, envelope: Envelope, bootstrap: str | None = None
) -> None:
    """Write ``envelope`` to its topic and wait for the acknowledgement (each step within
    TIMEOUT_S). CliError naming the bootstrap servers when the broker cannot be reached."""
    servers = bootstrap or topo.kafka_bootstrap
    producer = make_producer(topo, servers)
    try:
        await asyncio.wait_for(producer.start(), TIMEOUT_S)
        sent = producer.send_and_wait(
            topic_of(envelope), value=encode(envelope), key=envelope.partition_key
        )
        await asyncio.wait_for(sent, TIMEOUT_S)
    except (KafkaError, TimeoutError, OSError) as exc:
        raise CliError(f"cannot reach the broker at {servers}: {type(exc).__name__}") from None
    finally:
        await producer.stop()
