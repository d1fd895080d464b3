"""The worked upcaster: archived ``signing_key.published`` v1 records read as v2.

Inputs are v1 records as bytes on disk (tests/unit/golden/upcast/v1/); each must decode, through
the catalog that registers the upcaster, to exactly the v2 record of the same name in
tests/unit/golden/upcast/v2/. Without the registration every one of these tests fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import names
from schemas.catalog import CURRENT
from schemas.codec import DecodeError, decode, encode
from schemas.envelope import Envelope
from schemas.events import SigningKeyPublished
from schemas.upcasters import WITH_SIGNING_KEY_V2, SigningKeyPublishedV2
from streams.deadletter import DeadLetter
from streams.operations import Operation, PgInsertIgnore
from streams.projection import reduce
from streams.record import LogPosition, RawEvent, Record
from tests.unit.event_samples import JSON_VALUES

UPCAST = Path(__file__).parent / "golden" / "upcast"
V1_RECORDS = sorted((UPCAST / "v1").glob("*.json"))


def _v2_golden(v1: Path) -> bytes:
    return (UPCAST / "v2" / v1.name).read_bytes()


def test_every_archived_v1_record_has_its_golden_v2() -> None:
    assert V1_RECORDS
    assert {p.name for p in V1_RECORDS} == {p.name for p in (UPCAST / "v2").glob("*.json")}


@pytest.mark.parametrize("v1", V1_RECORDS, ids=lambda p: p.name)
def test_archived_v1_record_decodes_to_the_golden_v2_event(v1: Path) -> None:
    envelope = decode(v1.read_bytes(), WITH_SIGNING_KEY_V2)
    assert envelope.version == 2
    assert isinstance(envelope.payload, SigningKeyPublishedV2)
    assert encode(envelope) + b"\n" == _v2_golden(v1)
    assert decode(_v2_golden(v1), WITH_SIGNING_KEY_V2) == envelope


@pytest.mark.parametrize("v1", V1_RECORDS, ids=lambda p: p.name)
def test_the_upcast_jwk_names_its_key_as_rfc_7517_asks(v1: Path) -> None:
    payload = decode(v1.read_bytes(), WITH_SIGNING_KEY_V2).payload
    jwk = payload.public_jwk
    assert (jwk["kid"], jwk["alg"], jwk["use"]) == (payload.kid, payload.alg, "sig")


def test_todays_catalog_still_reads_v1_as_v1() -> None:
    """Producers write v1 and every region decodes it unchanged: the example changes nothing."""
    envelope = decode(V1_RECORDS[0].read_bytes())
    assert envelope.version == 1
    assert type(envelope.payload) is SigningKeyPublished
    assert "use" not in envelope.payload.public_jwk


def _dead_letter(data: bytes, **decode_with: Any) -> str:
    event = RawEvent(LogPosition(names.TOPIC_EVENTS, 0, 7), b"_system", data)
    with pytest.raises(DecodeError) as caught:
        decode(data, **decode_with)
    return DeadLetter(event, "decode", caught.value.reason).text


def test_todays_catalog_dead_letters_a_v2_record() -> None:
    """Why producers keep writing v1: a region not yet upgraded refuses v2 records."""
    text = _dead_letter(_v2_golden(V1_RECORDS[0]))
    assert text == "decode: signing_key.published version 2 is not readable by this code (latest 1)"


def test_a_version_from_the_future_is_dead_lettered_not_guessed() -> None:
    doc = orjson.loads(_v2_golden(V1_RECORDS[0]))
    doc["version"] = 3
    text = _dead_letter(orjson.dumps(doc), catalog=WITH_SIGNING_KEY_V2)
    assert text == "decode: signing_key.published version 3 is not readable by this code (latest 2)"


@pytest.mark.parametrize(
    ("member", "value"), [("kid", "kid-other"), ("alg", "RS256"), ("use", "enc")]
)
def test_a_v1_jwk_contradicting_its_payload_is_refused(member: str, value: str) -> None:
    doc = orjson.loads(V1_RECORDS[0].read_bytes())
    doc["payload"]["public_jwk"][member] = value
    with pytest.raises(DecodeError) as caught:
        decode(orjson.dumps(doc), WITH_SIGNING_KEY_V2)
    assert caught.value.reason == f"signing_key.published v1 public_jwk names another {member}"


@given(st.sampled_from(["kid", "alg", "region", "public_jwk", "issuer"]), JSON_VALUES)
def test_a_damaged_v1_payload_raises_only_decode_error(member: str, value: Any) -> None:
    """The upcaster sees unchecked JSON: whatever it holds, the outcome is a v2 event or a
    reason for the dead-letter entry, never another exception."""
    doc = orjson.loads(V1_RECORDS[1].read_bytes())
    doc["payload"][member] = value
    try:
        outcome: Envelope | str = decode(orjson.dumps(doc), WITH_SIGNING_KEY_V2)
    except DecodeError as exc:
        outcome = exc.reason
    assert outcome if isinstance(outcome, str) else outcome.version == 2


def _project(bodies: list[bytes]) -> list[Operation]:
    operations: list[Operation] = []
    for offset, body in enumerate(bodies):
        position = LogPosition(names.TOPIC_EVENTS, 0, offset)
        operations.extend(reduce(Record(decode(body, WITH_SIGNING_KEY_V2), position, body)))
    return operations


def _without_body(operation: Operation) -> Operation:
    if isinstance(operation, PgInsertIgnore) and operation.table == names.TABLE_EVENT_ARCHIVE:
        return PgInsertIgnore(operation.table, {**operation.row, "body": None})
    return operation


def test_replaying_an_archive_of_v1_records_projects_as_v2_records() -> None:
    """The same reducers the projector and the replay tool drive see one event either way; only
    the archive differs, and only in keeping each record's bytes as they were written."""
    v1_bodies = [p.read_bytes() for p in V1_RECORDS]
    from_v1, from_v2 = _project(v1_bodies), _project([_v2_golden(p) for p in V1_RECORDS])
    assert [_without_body(op) for op in from_v1] == [_without_body(op) for op in from_v2]
    archived = [
        op.row["body"]
        for op in from_v1
        if isinstance(op, PgInsertIgnore) and op.table == names.TABLE_EVENT_ARCHIVE
    ]
    assert archived == v1_bodies


def test_an_upcaster_only_goes_up_and_only_once_per_version() -> None:
    with pytest.raises(ValueError, match="must go up"):
        CURRENT.with_upcaster(SigningKeyPublished, 1, dict)
    with pytest.raises(ValueError, match="already has an upcaster"):
        WITH_SIGNING_KEY_V2.with_upcaster(SigningKeyPublishedV2, 1, dict)
