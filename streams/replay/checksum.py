"""``checksum``: one digest per kind of projected record, and one over them all."""

from __future__ import annotations

import hashlib

import orjson

from streams.replay.endpoints import Endpoints
from streams.replay.state import State, snapshot
from streams.replay.stores import open_stores

SHOWN_HEX = 16


def kind_digest(records: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for key in sorted(records):
        h.update(key.encode() + b"\0" + records[key])
    return h.hexdigest()


def digests(state: State) -> dict[str, tuple[int, str]]:
    return {kind: (len(records), kind_digest(records)) for kind, records in sorted(state.items())}


def overall(per_kind: dict[str, tuple[int, str]]) -> str:
    h = hashlib.sha256()
    for kind, (_, value) in sorted(per_kind.items()):
        h.update(f"{kind}={value}\n".encode())
    return h.hexdigest()


def render(region: str, per_kind: dict[str, tuple[int, str]]) -> str:
    lines = [f"checksum of region {region}"]
    for kind, (count, value) in per_kind.items():
        lines.append(f"  {kind:<22} {count:>9,}  {value[:SHOWN_HEX]}")
    lines.append(f"  {'overall':<22} {'':>9}  {overall(per_kind)[:SHOWN_HEX]}")
    return "\n".join(lines)


async def run(endpoints: Endpoints, region: str, as_json: bool) -> int:
    stores = endpoints.region(region)
    async with open_stores(stores) as opened:
        per_kind = digests(await snapshot(opened.engine, opened.redis))
    if as_json:
        doc = {
            "region": region,
            "overall": overall(per_kind),
            "kinds": {kind: {"count": n, "digest": d} for kind, (n, d) in per_kind.items()},
        }
        print(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(region, per_kind))
    return 0
