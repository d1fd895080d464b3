"""Client projection (issue 12): whatever the order, duplication and batching of client events,
every region ends with the same client, decided by the event ids alone.

Runs the real projector (decode -> reduce -> batch) on the in-memory store, then reads the
client back through the read model's own decoding (``services.core.clients``), as the token
endpoint would.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import names
from schemas.client_events import registration_order, update_order
from schemas.client_secrets import client_secret_matches
from services.core.clients import ClientRecord, record_from_fields
from streams.record import Record
from tests.unit import client_samples as cs
from tests.unit.test_projection_properties import NOW, _as_log, _project, deliveries
from tests.unit.test_reducers import make_record

MOMENTS = st.integers(-3600, 0).map(lambda s: NOW + timedelta(seconds=s))
CID = st.sampled_from(cs.CLIENT_IDS)
VARIANT = st.integers(0, 3)


def _client_record(payload: Any, at: datetime, region: str = "eu") -> Record:
    return make_record(
        payload, user_id=names.client_partition_key(payload.client_id), region=region, at=at
    )


registrations = st.builds(
    lambda c, n, at, region: _client_record(cs.client_registered(c, n), at, region),
    CID, VARIANT, MOMENTS, st.sampled_from(["eu", "us"]),
)  # fmt: skip
updates = st.builds(lambda c, n, at: _client_record(cs.client_updated(c, n), at),
                    CID, VARIANT, MOMENTS)  # fmt: skip
states = st.builds(
    lambda c, off, at: _client_record(cs.client_disabled(c) if off else cs.client_enabled(c), at),
    CID, st.booleans(), MOMENTS,
)  # fmt: skip
rotations = st.builds(lambda c, n, at: _client_record(cs.client_rotated(c, n), at),
                      CID, VARIANT, MOMENTS)  # fmt: skip
client_logs = st.lists(st.one_of(registrations, updates, states, rotations), min_size=1,
                       max_size=20)  # fmt: skip


def _clients(state: Any) -> dict[str, ClientRecord | None]:
    (_, hashes, _, _) = state
    return {cid: record_from_fields(cid, hashes.get(names.redis_client_key(cid), {}))
            for cid in cs.CLIENT_IDS}  # fmt: skip


def _of(records: list[Record], client_id: str, *types: str) -> list[Record]:
    return [r for r in records if r.envelope.payload.client_id == client_id
            and r.envelope.type in types]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(client_logs, st.data())
def test_any_order_duplicates_and_batching_converge(
    records: list[Any], data: st.DataObject
) -> None:
    log = _as_log(records, [])
    expected, _ = asyncio.run(_project([log]))
    got, _ = asyncio.run(_project(data.draw(deliveries(log))))
    assert got == expected


@settings(max_examples=150, deadline=None)
@given(client_logs, st.data())
def test_the_winners_are_decided_by_event_ids_alone(
    records: list[Record], data: st.DataObject
) -> None:
    state, _ = asyncio.run(_project(data.draw(deliveries(_as_log(records, [])))))
    for cid, client in _clients(state).items():
        regs = _of(records, cid, "client.registered")
        if not regs:
            assert client is None  # updates alone never make a usable client
            continue
        assert client is not None
        first = min(regs, key=lambda r: r.envelope.event_id).envelope.payload
        ups = _of(records, cid, "client.updated")
        config = max(ups, key=lambda r: r.envelope.event_id).envelope.payload if ups else first
        assert (client.name, client.scopes) == (config.name, frozenset(config.scopes))
        assert client.default_audience == config.default_audience
        assert dict(client.jwks) == dict(config.jwks)
        rots = _of(records, cid, "client.secret_rotated")
        secret = max(rots, key=lambda r: r.envelope.event_id).envelope.payload if rots else first
        assert client.secret_hash == secret.secret_hash
        flips = _of(records, cid, "client.disabled", "client.enabled")
        latest = max(flips, key=lambda r: r.envelope.event_id) if flips else None
        assert client.disabled == (latest is not None and latest.envelope.type == "client.disabled")


def test_a_registered_client_reads_back_with_its_configuration_and_secret() -> None:
    record = _client_record(cs.client_registered("app-0", 1), NOW)
    state, _ = asyncio.run(_project([_as_log([record], [])]))
    client = _clients(state)["app-0"]
    assert client == ClientRecord(
        client_id="app-0",
        name="app-0 v1",
        client_type="confidential",
        token_endpoint_auth_method="client_secret_basic",
        grant_types=frozenset({"client_credentials"}),
        scopes=frozenset({"read:1", "write"}),
        default_scopes=("read:1",),
        audiences=frozenset({"https://api.example"}),
        default_audience="https://api.example",
        can_introspect=True,
        secret_hash=cs.client_registered("app-0", 1).secret_hash,
        jwks={},
        disabled=False,
    )
    assert client_secret_matches(client.secret_hash, "secret-app-0-1")


def test_an_update_beats_a_registration_even_with_a_smaller_event_id() -> None:
    """A registration replayed from a region whose clock ran ahead still loses to an update."""
    update = _client_record(cs.client_updated("app-0", 2), NOW - timedelta(minutes=10))
    register = _client_record(cs.client_registered("app-0", 0), NOW - timedelta(minutes=5))
    state, _ = asyncio.run(_project([_as_log([update, register], [])]))
    client = _clients(state)["app-0"]
    assert client is not None
    assert client.name == "app-0 u2"
    assert update_order(update.envelope.event_id) > registration_order(register.envelope.event_id)


def test_the_earliest_of_two_racing_registrations_wins_whole() -> None:
    early = _client_record(cs.client_registered("app-0", 1), NOW - timedelta(seconds=2), "eu")
    late = _client_record(cs.client_registered("app-0", 2), NOW, region="us")
    state, _ = asyncio.run(_project([_as_log([late, early], [])]))
    client = _clients(state)["app-0"]
    assert client is not None
    assert client.name == "app-0 v1"
    assert client_secret_matches(client.secret_hash, "secret-app-0-1")
    assert not client_secret_matches(client.secret_hash, "secret-app-0-2")
    (tables, hashes, _, _) = state
    assert hashes[names.redis_client_key("app-0")]["origin_region"] == "eu"
    assert len(tables[names.TABLE_OAUTH_CLIENTS]) == 1


def test_a_disabled_client_reads_back_disabled_and_enabled_again() -> None:
    register = _client_record(cs.client_registered("app-0", 0), NOW)
    off = _client_record(cs.client_disabled("app-0"), NOW - timedelta(seconds=2))
    on = _client_record(cs.client_enabled("app-0"), NOW - timedelta(seconds=1))
    disabled, _ = asyncio.run(_project([_as_log([off, register], [])]))
    enabled, _ = asyncio.run(_project([_as_log([on, register, off], [])]))
    assert _clients(disabled)["app-0"].disabled  # type: ignore[union-attr]
    assert not _clients(enabled)["app-0"].disabled  # type: ignore[union-attr]
