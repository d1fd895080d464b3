"""Replay progress kept in the region's own Postgres (``replay_checkpoints_v1``).

It lives next to the data it describes: dropping the database drops the checkpoint too, so a
rebuilt-from-nothing region never resumes half-way. A finished replay deletes its checkpoint,
so only an interrupted one is ever resumed.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import names
from streams.replay.log import Offsets

_TABLE = names.TABLE_REPLAY_CHECKPOINTS
_LOAD = text(f"SELECT topic, log_partition, next_offset FROM {_TABLE} WHERE target = :target")  # noqa: S608
_SAVE = text(
    f"INSERT INTO {_TABLE} (target, topic, log_partition, next_offset) "  # noqa: S608
    "SELECT :target, * FROM unnest(CAST(:topics AS text[]), CAST(:parts AS int[]), "
    "CAST(:offsets AS bigint[])) "
    "ON CONFLICT (target, topic, log_partition) DO UPDATE "
    "SET next_offset = EXCLUDED.next_offset, updated_at = now()"
)
_CLEAR = text(f"DELETE FROM {_TABLE} WHERE target = :target")  # noqa: S608


async def load(engine: AsyncEngine, target: str) -> Offsets:
    async with engine.connect() as conn:
        rows = (await conn.execute(_LOAD, {"target": target})).all()
    return {(str(topic), int(part)): int(offset) for topic, part, offset in rows}


async def save(engine: AsyncEngine, target: str, positions: Offsets) -> None:
    if not positions:
        return
    keys = sorted(positions)
    params = {
        "target": target,
        "topics": [topic for topic, _ in keys],
        "parts": [part for _, part in keys],
        "offsets": [positions[key] for key in keys],
    }
    async with engine.begin() as conn:
        await conn.execute(_SAVE, params)


async def clear(engine: AsyncEngine, target: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(_CLEAR, {"target": target})
