"""What differs between the brokers authplane runs on, in one place.

Every client (login producer, projector consumer, replay, reseed, authctl) asks this module how
to talk to the broker named by ``AUTHPLANE_BROKER_KIND`` instead of hard-coding Tansu's quirks.

- ``tansu``: the memory-only dev broker. A waiting fetch does not wake on new data (it sleeps
  half of ``fetch_max_wait_ms``), so consumers must ask with a short wait; aiokafka's
  InitProducerId v0 is refused, so no idempotent producer; ListOffsets answers a wrong end
  offset, so lag and progress can only be told in event time.
- ``kafka``: Apache Kafka (the dev KRaft cluster or any real one). A fetch returns as soon as data
  arrives, so a long wait costs nothing while idle; producers are idempotent (no duplicate from
  a retried send); end offsets are exact, so lag and replay progress can be counted in offsets.
"""

from __future__ import annotations

from dataclasses import dataclass

TANSU = "tansu"
KAFKA = "kafka"
BROKER_KINDS = (TANSU, KAFKA)

CONSUMER_METADATA_MAX_AGE_MS = 5_000
"""How old (ms) a consumer's cluster metadata may grow before it is fetched again, whatever
happens. aiokafka 0.14 does not refresh metadata when a ListOffsets (the offset reset of a
partition with no committed offset) is answered NotLeaderForPartition: it asks the stale leader
again every 100 ms until the periodic refresh, 300 s by default (the Java client had the same
fault, KAFKA-9535). After a region was cut off and its node lost leadership, a projector kept
asking that node for 3 minutes and projected nothing meanwhile. 5 s bounds that to seconds for one
small metadata request per consumer every 5 s."""


@dataclass(frozen=True)
class BrokerProfile:
    """How clients treat one kind of broker.

    ``fetch_max_wait_ms``: how long a consumer's fetch may wait for data (ms);
    ``idempotent_producer``: producers use ``enable_idempotence`` (needs ``acks=all``);
    ``exact_end_offsets``: ListOffsets is right, so offset lag and offset totals mean something.
    """

    kind: str
    fetch_max_wait_ms: int
    idempotent_producer: bool
    exact_end_offsets: bool

    def producer_options(self) -> dict[str, object]:
        """aiokafka ``AIOKafkaProducer`` keyword arguments every authplane producer uses."""
        return {"acks": "all", "enable_idempotence": self.idempotent_producer}


PROFILES = {
    TANSU: BrokerProfile(
        TANSU, fetch_max_wait_ms=10, idempotent_producer=False, exact_end_offsets=False
    ),
    KAFKA: BrokerProfile(
        KAFKA, fetch_max_wait_ms=500, idempotent_producer=True, exact_end_offsets=True
    ),
}


def broker_profile(kind: str) -> BrokerProfile:
    """The profile of ``kind`` (one of ``BROKER_KINDS``); ValueError for anything else."""
    try:
        return PROFILES[kind]
    except KeyError:
        raise ValueError(
            f"broker kind must be one of {', '.join(BROKER_KINDS)}, not {kind!r}"
        ) from None
