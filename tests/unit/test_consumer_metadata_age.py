"""Every Kafka consumer of ours refreshes its cluster metadata within seconds, so a leader that
moved (a region cut off, then healed) is found again instead of being asked forever.

aiokafka 0.14 retries an offset reset against a stale leader without refreshing metadata until the
periodic refresh (300 s by default); a drill saw a projector stuck for 3 minutes that way.
"""

from __future__ import annotations

import ast
from pathlib import Path

from schemas.broker import CONSUMER_METADATA_MAX_AGE_MS
from schemas.settings import Settings
from streams.worker import ProjectorHost, create_app

REPO = Path(__file__).resolve().parents[2]


def test_the_projector_consumer_refreshes_metadata_within_seconds() -> None:
    settings = Settings()
    app = create_app(settings, ProjectorHost(settings))
    assert app.conf.consumer_metadata_max_age_ms == CONSUMER_METADATA_MAX_AGE_MS
    assert CONSUMER_METADATA_MAX_AGE_MS <= 10_000


def test_every_consumer_we_construct_bounds_its_metadata_age() -> None:
    unbounded = []
    for root in ("schemas", "streams", "services"):
        for path in (REPO / root).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                keywords = {k.arg for k in node.keywords}
                if name == "AIOKafkaConsumer" and "metadata_max_age_ms" not in keywords:
                    unbounded.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not unbounded, f"consumers without metadata_max_age_ms: {unbounded}"
