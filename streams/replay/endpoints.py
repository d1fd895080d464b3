"""Where a region's stores are: read from the stack file the launcher (or an operator) writes.

Read here as plain JSON rather than through ``services.topology``: streams/ never imports
services/, and the replay tool needs only the broker and each region's two store addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson


class ReplayError(Exception):
    """An expected failure: the message is the one line the operator sees."""


@dataclass(frozen=True)
class RegionStores:
    name: str
    redis_url: str
    postgres_dsn: str


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    regions: dict[str, RegionStores]

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
        return Endpoints(str(doc["kafka_bootstrap"]), regions)
    except FileNotFoundError:
        raise ReplayError(f"no stack file at {path} (set AUTHPLANE_STACK_FILE)") from None
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ReplayError(f"stack file {path} is malformed: {exc!r}") from None
