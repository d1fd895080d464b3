"""``verify``: rebuild a region from the log into scratch stores and compare record by record."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from streams.executor import StoreExecutor
from streams.postgres import PostgresExecutor
from streams.projector import Projector
from streams.redis_ops import RedisExecutor
from streams.replay.endpoints import Endpoints
from streams.replay.log import LogReader
from streams.replay.replay import CollectedDeadLetters
from streams.replay.scratch import scratch_stores
from streams.replay.state import State, snapshot
from streams.replay.stores import OpenStores, open_stores

EXAMPLES = 10


@dataclass
class KindDiff:
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.missing) + len(self.extra) + len(self.different)


def compare(expected: State, actual: State) -> dict[str, KindDiff]:
    """``missing``: the log has it, the region does not; ``extra``: the other way round."""
    out: dict[str, KindDiff] = {}
    for kind in sorted(set(expected) | set(actual)):
        want, have = expected.get(kind, {}), actual.get(kind, {})
        out[kind] = KindDiff(
            missing=sorted(want.keys() - have.keys()),
            extra=sorted(have.keys() - want.keys()),
            different=sorted(k for k in want.keys() & have.keys() if want[k] != have[k]),
        )
    return out


def render(region: str, events: int, seconds: float, diffs: dict[str, KindDiff]) -> str:
    lines = [
        f"verify region {region}: rebuilt {events:,} events from the log in {seconds:.1f} s",
        f"  {'kind':<22} {'missing':>8} {'extra':>8} {'different':>10}",
    ]
    for kind, d in diffs.items():
        lines.append(f"  {kind:<22} {len(d.missing):>8} {len(d.extra):>8} {len(d.different):>10}")
    drift = sum(d.total for d in diffs.values())
    if not drift:
        lines.append("no drift: the region holds exactly what the log says")
        return "\n".join(lines)
    lines.append(f"drift: {drift} record(s) differ; first examples:")
    examples = [
        f"  {label:<9} {kind}  {key}"
        for kind, d in diffs.items()
        for label, keys in (("missing", d.missing), ("extra", d.extra), ("different", d.different))
        for key in keys
    ]
    lines.extend(examples[:EXAMPLES])
    return "\n".join(lines)


async def rebuild(endpoints: Endpoints, opened: OpenStores, batch_size: int) -> int:
    executor = StoreExecutor(PostgresExecutor(opened.engine), RedisExecutor(opened.redis))
    projector = Projector(executor, CollectedDeadLetters())
    exact = endpoints.broker.exact_end_offsets
    reader = LogReader(endpoints.kafka_bootstrap, batch_size, exact_end_offsets=exact)
    await reader.open({})
    try:
        async for batch in reader.batches():
            await projector.apply(batch)
    finally:
        await reader.close()
    return reader.counts.read


async def run(endpoints: Endpoints, region: str, batch_size: int) -> int:
    stores = endpoints.region(region)
    async with open_stores(stores) as opened:
        started = time.perf_counter()
        async with scratch_stores(stores) as scratch, open_stores(scratch, migrate=True) as built:
            events = await rebuild(endpoints, built, batch_size)
            expected = await snapshot(built.engine, built.redis)
        actual = await snapshot(opened.engine, opened.redis)
    diffs = compare(expected, actual)
    print(render(region, events, time.perf_counter() - started, diffs))
    return 2 if any(d.total for d in diffs.values()) else 0
