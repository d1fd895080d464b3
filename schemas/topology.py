"""Where each region's stores and endpoints live: the stack file.

The dev launcher writes it (``.authplane/stack.json``); for a real deployment an operator writes
the same JSON by hand. ``authctl``, ``authplane`` and the replay tool read it to reach a region by
name (a contract between processes, hence here: streams/ and services/ both parse it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

from schemas.broker import BROKER_KINDS, TANSU, BrokerProfile, broker_profile

T = TypeVar("T")


class TopologyError(ValueError):
    """The stack file is missing, unreadable or names no such region."""


@dataclass(frozen=True)
class RegionEndpoints:
    name: str
    redis_url: str
    postgres_dsn: str
    login_url: str
    projector_metrics_url: str = ""
    pids: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Topology:
    kafka_bootstrap: str
    regions: dict[str, RegionEndpoints]
    introspection_client_id: str = ""
    introspection_client_secret: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def broker_kind(self) -> str:
        """``tansu`` or ``kafka``: what the stack runs on (``tansu`` when the file does not say)."""
        return str((self.extra.get("broker") or {}).get("kind") or TANSU)

    @property
    def broker(self) -> BrokerProfile:
        """How clients treat the stack's broker (``schemas.broker``)."""
        return broker_profile(self.broker_kind)

    def region(self, name: str) -> RegionEndpoints:
        """The endpoints of region ``name``; raises ``TopologyError`` naming the known ones."""
        return region_of(self.regions, name)

    def to_json(self) -> bytes:
        doc = {
            "kafka_bootstrap": self.kafka_bootstrap,
            "introspection_client": {
                "id": self.introspection_client_id,
                "secret": self.introspection_client_secret,
            },
            "regions": {
                name: {
                    "redis_url": r.redis_url,
                    "postgres_dsn": r.postgres_dsn,
                    "login_url": r.login_url,
                    "projector_metrics_url": r.projector_metrics_url,
                    "pids": r.pids,
                }
                for name, r in self.regions.items()
            },
            **self.extra,
        }
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2)


def region_of(regions: Mapping[str, T], name: str) -> T:
    """``regions[name]``; raises ``TopologyError`` naming the known regions."""
    try:
        return regions[name]
    except KeyError:
        known = ", ".join(sorted(regions)) or "none"
        raise TopologyError(f"unknown region {name!r} (known: {known})") from None


def load(path: Path) -> Topology:
    """The stack file at ``path``; raises ``TopologyError`` (missing, unreadable, malformed)."""
    try:
        doc = orjson.loads(path.read_bytes())
        regions = {
            name: RegionEndpoints(
                name=name,
                redis_url=r["redis_url"],
                postgres_dsn=r["postgres_dsn"],
                login_url=r.get("login_url", ""),
                projector_metrics_url=r.get("projector_metrics_url", ""),
                pids=dict(r.get("pids", {})),
            )
            for name, r in doc["regions"].items()
        }
        client = doc.get("introspection_client", {})
        extra = {
            k: v
            for k, v in doc.items()
            if k not in ("kafka_bootstrap", "regions", "introspection_client")
        }
        topology = Topology(
            kafka_bootstrap=doc["kafka_bootstrap"],
            regions=regions,
            introspection_client_id=client.get("id", ""),
            introspection_client_secret=client.get("secret", ""),
            extra=extra,
        )
        if topology.broker_kind not in BROKER_KINDS:
            raise KeyError(f"broker kind {topology.broker_kind!r}")
        return topology
    except FileNotFoundError:
        raise TopologyError(
            f"no stack file at {path} (start one with `make dev`, or set AUTHPLANE_STACK_FILE)"
        ) from None
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise TopologyError(f"stack file {path} is malformed: {exc!r}") from None


def save(topology: Topology, path: Path) -> None:
    """Write ``topology`` to ``path`` atomically (a temp file renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    # Owner-only from its creation: the file holds the dev clients' secrets (issue 12), so it is
    # never readable by others, not even between writing and a later chmod.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(topology.to_json())
    tmp.replace(path)
