"""Where a region's stores are: read from the stack file the launcher (or an operator) writes.

Parsed by ``schemas.topology`` (the one stack-file reader); the replay tool keeps only the broker
and each region's two store addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from schemas import topology
from schemas.broker import TANSU, BrokerProfile, broker_profile


class ReplayError(Exception):
    """An expected failure: the message is the one line the operator sees."""


@dataclass(frozen=True)
class RegionStores:
    name: str
    redis_url: str
    postgres_dsn: str


@dataclass(frozen=True)
class Endpoints:
    """The broker (``kafka_bootstrap``, and its kind as the stack file names it) and each
    region's stores."""

    kafka_bootstrap: str
    regions: dict[str, RegionStores]
    broker_kind: str = TANSU

    @property
    def broker(self) -> BrokerProfile:
        return broker_profile(self.broker_kind)

    def region(self, name: str) -> RegionStores:
        try:
            return topology.region_of(self.regions, name)
        except topology.TopologyError as exc:
            raise ReplayError(str(exc)) from None


def load(path: Path) -> Endpoints:
    try:
        stack = topology.load(path)
    except topology.TopologyError as exc:
        raise ReplayError(str(exc)) from None
    regions = {n: RegionStores(n, r.redis_url, r.postgres_dsn) for n, r in stack.regions.items()}
    return Endpoints(stack.kafka_bootstrap, regions, stack.broker_kind)
