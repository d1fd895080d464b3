"""Where a region's stores are: read from the stack file the launcher (or an operator) writes.

Read here as plain JSON rather than through ``services.core.topology``: streams/ never imports
services/, and the replay tool needs only the broker and each region's two store addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from schemas.broker import BROKER_KINDS, TANSU, BrokerProfile, broker_profile


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
            return self.regions[name]
        except KeyError:
            known = ", ".join(sorted(self.regions)) or "none"
            raise ReplayError(f"unknown region {name!r} (known: {known})") from None


def load(path: Path) -> Endpoints:
    try:
        doc = orjson.loads(path.read_bytes())
        regions = {
            name: RegionStores(name, str(r["redis_url"]), str(r["postgres_dsn"]))
            for name, r in doc["regions"].items()
        }
        kind = str((doc.get("broker") or {}).get("kind") or TANSU)
        if kind not in BROKER_KINDS:
            raise KeyError(f"broker kind {kind!r}")
        return Endpoints(str(doc["kafka_bootstrap"]), regions, kind)
    except FileNotFoundError:
        raise ReplayError(f"no stack file at {path} (set AUTHPLANE_STACK_FILE)") from None
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ReplayError(f"stack file {path} is malformed: {exc!r}") from None
