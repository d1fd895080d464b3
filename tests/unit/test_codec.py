"""The codec: what goes on the log comes back identical; bad bytes become a clear DecodeError."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.codec import MAX_EVENT_BYTES, DecodeError, decode, encode, envelope_to_dict
from schemas.envelope import Envelope, new_event_id
from schemas.events import (
    REGISTRY,
    IpLockoutLifted,
    LockoutLifted,
    LoginFailed,
    PasswordChanged,
    PasswordRehashed,
    RefreshTokenReused,
    SessionRevoked,
    SessionStarted,
    SigningKeyPublished,
    SigningKeyRetired,
    SigningKeyRevoked,
    TokenRefreshed,
    TokenRevoked,
    UserDisabled,
    UserEnabled,
    UserRegistered,
    UserRevoked,
)
from tests.unit.client_golden import CLIENT_GOLDEN
from tests.unit.event_samples import ANY_ENVELOPE, JSON_VALUES, TEXT

GOLDEN = Path(__file__).parent / "golden"


@given(ANY_ENVELOPE)
def test_every_event_survives_a_round_trip(envelope: Envelope) -> None:
    assert decode(encode(envelope)) == envelope


@given(st.binary(max_size=512))
def test_arbitrary_bytes_raise_only_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode(data)


@given(JSON_VALUES)
def test_arbitrary_json_raises_only_decode_error(value: Any) -> None:
    outcome = _decode_or_reason(orjson.dumps(value))
    assert outcome  # a decoded event, or a non-empty reason for the dead-letter entry


def _decode_or_reason(data: bytes) -> Envelope | str:
    """Any exception other than DecodeError propagates and fails the test."""
    try:
        return decode(data)
    except DecodeError as exc:
        return exc.reason


def _dict_of(envelope: Envelope) -> dict[str, Any]:
    return orjson.loads(encode(envelope))  # type: ignore[no-any-return]


@given(ANY_ENVELOPE, st.data())
def test_a_damaged_event_raises_only_decode_error(envelope: Envelope, data: st.DataObject) -> None:
    """Replace or drop one member of a real event, at the top level or in the payload."""
    doc = _dict_of(envelope)
    target = data.draw(st.sampled_from([doc, doc["payload"]]))
    key = data.draw(st.sampled_from(sorted(target)) | TEXT)
    if data.draw(st.booleans()):
        target.pop(key, None)
    else:
        target[key] = data.draw(JSON_VALUES)
    outcome = _decode_or_reason(orjson.dumps(doc))
    assert outcome if isinstance(outcome, str) else outcome.type == doc["type"]


def _sample(**changes: Any) -> bytes:
    doc = {
        "event_id": new_event_id(),
        "type": "user.registered",
        "version": 1,
        "user_id": "u-1",
        "origin_region": "eu",
        "occurred_at": "2024-05-01T12:00:00Z",
        "correlation_id": "req-1",
        "payload": {"username": "alice", "password_hash": "$argon2id$v=19$fake"},
        **changes,
    }
    return orjson.dumps(doc)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_sample(type="user.deleted"), "unknown event type 'user.deleted'"),
        (_sample(version=2), "user.registered version 2 is not readable by this code (latest 1)"),
        (b"[1, 2]", "event is not a JSON object"),
        (b'"user.registered"', "event is not a JSON object"),
        (_sample(payload=[]), "payload is not a JSON object"),
        (_sample(payload={"username": "alice"}), "user.registered payload lacks password_hash"),
        (_sample(version="1"), "envelope type must be a string and version an integer"),
        (_sample(version=True), "envelope type must be a string and version an integer"),
        (_sample(event_id="42"), "event_id must be a canonical lowercase UUID"),
        (_sample(event_id=new_event_id().upper()), "event_id must be a canonical lowercase UUID"),
        (_sample(user_id=""), "user_id must be a non-empty string"),
        (_sample(occurred_at="2024-05-01T12:00:00"), "occurred_at lacks a UTC offset"),
        (_sample(occurred_at="yesterday"), "occurred_at is not an RFC 3339 timestamp"),
        (_sample(occurred_at="0001-01-01T00:00:00+01:00"), "occurred_at is out of range in UTC"),
    ],
)
def test_rejections_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(data)
    assert caught.value.reason == reason


def _uuid_spellings(value: uuid.UUID) -> list[str]:
    text = str(value)
    return [
        text,
        text.upper(),
        value.hex,
        "{" + text + "}",
        "urn:uuid:" + text,
        text + "\n",
        " " + text,
        text.replace("-", "", 1),
        text[:8] + text[8:].replace("-", "_"),
        text[:-1] + "g",
        text[:-1] + "\u0663",  # a non-ASCII digit
    ]


_NO_NUL = st.characters(
    codec="utf-8", exclude_characters="\x00"
)  # a NUL is refused first, for another reason


@given(st.uuids(), st.integers(min_value=0, max_value=10), st.text(_NO_NUL, max_size=40))
def test_only_the_canonical_lowercase_uuid_spelling_is_an_event_id(
    value: uuid.UUID, pick: int, other: str
) -> None:
    # The rule, whatever checks it: the id must be exactly what uuid.UUID prints back.
    for candidate in (_uuid_spellings(value)[pick], other):
        try:
            canonical = str(uuid.UUID(candidate)) == candidate
        except ValueError:
            canonical = False
        outcome = _decode_or_reason(_sample(event_id=candidate))
        if canonical:
            assert isinstance(outcome, Envelope)
            assert outcome.event_id == candidate
        else:
            assert outcome == "event_id must be a canonical lowercase UUID"


def test_missing_envelope_members_are_named() -> None:
    doc = orjson.loads(_sample())
    del doc["user_id"], doc["occurred_at"]
    with pytest.raises(DecodeError, match="envelope lacks user_id, occurred_at"):
        decode(orjson.dumps(doc))


def test_oversize_event_is_rejected_before_parsing() -> None:
    data = _sample(correlation_id="x" * MAX_EVENT_BYTES)
    with pytest.raises(DecodeError, match=rf"{len(data)} bytes, over the {MAX_EVENT_BYTES} byte"):
        decode(data)


def test_unknown_members_are_ignored_so_fields_can_be_added_later() -> None:
    doc = orjson.loads(_sample())
    doc["trace"] = "abc"
    doc["payload"]["display_name"] = "Alice"
    assert decode(orjson.dumps(doc)).payload == UserRegistered("alice", "$argon2id$v=19$fake")


@given(st.integers(min_value=0, max_value=2**48 - 1))
def test_event_ids_are_uuid7_carrying_their_millisecond(ms: int) -> None:
    parsed = uuid.UUID(new_event_id(ms))
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 == ms


@given(st.integers(min_value=0, max_value=2**48 - 2), st.integers(min_value=1, max_value=10**6))
def test_event_ids_sort_by_time(ms: int, later_by: int) -> None:
    later = min(ms + later_by, 2**48 - 1)
    assert new_event_id(ms) < new_event_id(later)


def test_event_ids_in_one_millisecond_are_distinct() -> None:
    assert len({new_event_id(1_700_000_000_000) for _ in range(1000)}) == 1000


# -- golden files: bytes once written to the log, which every later version must still read ----
GOLDEN_EXPECTED = {
    "user.registered.v1.json": Envelope(
        event_id="018f3a6e-2c40-7a1b-8c3d-4e5f60718293",
        type="user.registered",
        version=1,
        user_id="1d6d2b5c-9a3e-5f01-8e4b-2a1c3d4e5f60",
        origin_region="eu",
        occurred_at=datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC),
        correlation_id="req-7f3a",
        payload=UserRegistered(
            username="alice",
            password_hash="$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$not-a-real-hash",
        ),
    ),
    "session.started.v1.json": Envelope(
        event_id="018f3a6e-2c41-7b2c-9d4e-5f6071829304",
        type="session.started",
        version=1,
        user_id="1d6d2b5c-9a3e-5f01-8e4b-2a1c3d4e5f60",
        origin_region="us",
        occurred_at=datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC),
        correlation_id="req-8a4b",
        payload=SessionStarted(
            session_id="s-5b1f0c",
            client_id="web",
            access_jti="j-9c2e7d",
            refresh_token_hash="sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            signing_kid="kid-us-1",
            expires_at=datetime(2024, 5, 31, 12, 0, 1, tzinfo=UTC),
        ),
    ),
    "signing_key.published.v1.json": Envelope(
        event_id="018f3a6e-2c42-7c3d-ae5f-607182930415",
        type="signing_key.published",
        version=1,
        user_id="_system",
        origin_region="us",
        occurred_at=datetime(2024, 5, 1, 11, 59, 0, tzinfo=UTC),
        correlation_id="",
        payload=SigningKeyPublished(
            kid="kid-us-1",
            region="us",
            alg="EdDSA",
            public_jwk={
                "kty": "OKP",
                "crv": "Ed25519",
                "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            },
        ),
    ),
    "session.revoked.v1.json": Envelope(
        event_id="018f3a6e-2c43-7d4e-8f60-718293041526",
        type="session.revoked",
        version=1,
        user_id="1d6d2b5c-9a3e-5f01-8e4b-2a1c3d4e5f60",
        origin_region="eu",
        occurred_at=datetime(2024, 5, 1, 12, 5, 0, tzinfo=UTC),
        correlation_id="req-9b5c",
        payload=SessionRevoked(
            session_id="s-5b1f0c",
            reason="device lost",
            revoked_by="operator:ops@example.com",
            affects_until=datetime(2024, 5, 31, 12, 0, 1, tzinfo=UTC),
        ),
    ),
    "token.revoked.v1.json": Envelope(
        event_id="018f3a6e-2c44-7e5f-9071-829304152637",
        type="token.revoked",
        version=1,
        user_id="1d6d2b5c-9a3e-5f01-8e4b-2a1c3d4e5f60",
        origin_region="us",
        occurred_at=datetime(2024, 5, 1, 12, 6, 0, tzinfo=UTC),
        correlation_id="req-ac6d",
        payload=TokenRevoked(
            jti="j-9c2e7d",
            session_id="s-5b1f0c",
            reason="leaked in a log",
            revoked_by="client:web",
            affects_until=datetime(2024, 5, 1, 12, 15, 1, tzinfo=UTC),
        ),
    ),
    "user.revoked.v1.json": Envelope(
        event_id="018f3a6e-2c45-7f60-a182-930415263748",
        type="user.revoked",
        version=1,
        user_id="1d6d2b5c-9a3e-5f01-8e4b-2a1c3d4e5f60",
        origin_region="eu",
        occurred_at=datetime(2024, 5, 1, 12, 7, 0, tzinfo=UTC),
        correlation_id="req-bd7e",
        payload=UserRevoked(
            not_before=datetime(2024, 5, 1, 12, 7, 0, tzinfo=UTC),
            reason="account compromised",
            revoked_by="operator:ops@example.com",
            affects_until=datetime(2024, 5, 31, 12, 7, 0, tzinfo=UTC),
        ),
    ),
    "token.refreshed.v1.json": Envelope(
        event_id="018f3a6e-2c46-7061-b293-041526374859",
        type="token.refreshed",
        version=1,
        user_id="1d6d2b5c-9a3e-5f01-8e4b-2a1c3d4e5f60",
        origin_region="us",
        occurred_at=datetime(2024, 5, 1, 13, 0, 0, tzinfo=UTC),
        correlation_id="req-c1",
        payload=TokenRefreshed(
            session_id="s-5b1f0c",
            spent_refresh_hash="4e0f" * 16,
            new_refresh_hash="9a1b" * 16,
            access_jti="j-aa01",
            signing_kid="kid-us-1",
        ),
    ),
    "refresh_token.reused.v1.json": Envelope(
        event_id="018f3a6e-2c47-7162-8394-15263748596a",
        type="refresh_token.reused",
        version=1,
        user_id="1d6d2b5c-9a3e-5f01-8e4b-2a1c3d4e5f60",
        origin_region="eu",
        occurred_at=datetime(2024, 5, 1, 13, 1, 0, tzinfo=UTC),
        correlation_id="req-c2",
        payload=RefreshTokenReused(
            session_id="s-5b1f0c",
            presented_refresh_hash="4e0f" * 16,
            affects_until=datetime(2024, 5, 31, 12, 0, 1, tzinfo=UTC),
        ),
    ),
    "signing_key.retired.v1.json": Envelope(
        event_id="018f3a6e-2c48-7263-9495-2637485960ab",
        type="signing_key.retired",
        version=1,
        user_id="_system",
        origin_region="us",
        occurred_at=datetime(2024, 5, 1, 13, 2, 0, tzinfo=UTC),
        correlation_id="",
        payload=SigningKeyRetired(kid="kid-us-0", region="us"),
    ),
    "signing_key.revoked.v1.json": Envelope(
        event_id="018f3a6e-2c49-7364-a596-37485960a1bc",
        type="signing_key.revoked",
        version=1,
        user_id="_system",
        origin_region="eu",
        occurred_at=datetime(2024, 5, 1, 13, 3, 0, tzinfo=UTC),
        correlation_id="req-c4",
        payload=SigningKeyRevoked(
            kid="kid-eu-1", reason="key leaked", revoked_by="operator:ops@example.com"
        ),
    ),
    "user.password_changed.v1.json": Envelope(
        event_id="018f3a6e-2c4a-7465-b697-485960a1b2cd",
        type="user.password_changed",
        version=1,
        user_id="1d6d2b5c-9a3e-5f01-8e4b-2a1c3d4e5f60",
        origin_region="eu",
        occurred_at=datetime(2024, 5, 1, 13, 4, 0, tzinfo=UTC),
        correlation_id="req-c5",
        payload=PasswordChanged(
            password_hash="$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$not-a-real-hash-2",
            changed_by="user",
        ),
    ),
    "user.password_rehashed.v1.json": Envelope(
        event_id="018f3a6e-2c4f-7a10-8b21-3c4d5e6f7081",
        type="user.password_rehashed",
        version=1,
        user_id="1d6d2b5c-9a3e-5f01-8e4b-2a1c3d4e5f60",
        origin_region="us",
        occurred_at=datetime(2024, 5, 1, 13, 6, 0, tzinfo=UTC),
        correlation_id="req-c9",
        payload=PasswordRehashed(
            password_hash="$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$not-a-real-hash-3",
            replaces_event_id="018f3a6e-2c4a-7465-b697-485960a1b2cd",
        ),
    ),
    "user.disabled.v1.json": Envelope(
        event_id="018f3a6e-2c4b-7566-8798-5960a1b2c3de",
        type="user.disabled",
        version=1,
        user_id="1d6d2b5c-9a3e-5f01-8e4b-2a1c3d4e5f60",
        origin_region="us",
        occurred_at=datetime(2024, 5, 1, 13, 5, 0, tzinfo=UTC),
        correlation_id="req-c6",
        payload=UserDisabled(reason="offboarded", changed_by="operator:ops@example.com"),
    ),
    "user.enabled.v1.json": Envelope(
        event_id="018f3a6e-2c4c-7667-9899-60a1b2c3d4ef",
        type="user.enabled",
        version=1,
        user_id="1d6d2b5c-9a3e-5f01-8e4b-2a1c3d4e5f60",
        origin_region="us",
        occurred_at=datetime(2024, 5, 1, 13, 6, 0, tzinfo=UTC),
        correlation_id="req-c7",
        payload=UserEnabled(changed_by="operator:ops@example.com"),
    ),
    "login.failed.v1.json": Envelope(
        event_id="018f3a6e-2c4d-7768-a99a-a1b2c3d4e5f6",
        type="login.failed",
        version=1,
        user_id="1d6d2b5c-9a3e-5f01-8e4b-2a1c3d4e5f60",
        origin_region="eu",
        occurred_at=datetime(2024, 5, 1, 13, 7, 0, tzinfo=UTC),
        correlation_id="req-c8",
        payload=LoginFailed(client_ip="203.0.113.7"),
    ),
    "user.unlocked.v1.json": Envelope(
        event_id="018f3a6e-2c4e-7869-ba9b-b2c3d4e5f607",
        type="user.unlocked",
        version=1,
        user_id="1d6d2b5c-9a3e-5f01-8e4b-2a1c3d4e5f60",
        origin_region="eu",
        occurred_at=datetime(2024, 5, 1, 13, 8, 0, tzinfo=UTC),
        correlation_id="req-c9",
        payload=LockoutLifted(unlocked_by="operator:ops@example.com"),
    ),
    "ip.unlocked.v1.json": Envelope(
        event_id="018f3a6e-2c4f-796a-8b9c-c3d4e5f60718",
        type="ip.unlocked",
        version=1,
        user_id="5e0f4a1b-2c3d-5e4f-8a9b-0c1d2e3f4a5b",
        origin_region="us",
        occurred_at=datetime(2024, 5, 1, 13, 9, 0, tzinfo=UTC),
        correlation_id="authctl:c10",
        payload=IpLockoutLifted(client_ip="203.0.113.7", unlocked_by="operator:ops@example.com"),
    ),
    **CLIENT_GOLDEN,  # issue 12
}


@pytest.mark.parametrize("name", sorted(GOLDEN_EXPECTED))
def test_golden_event_still_decodes_to_its_values(name: str) -> None:
    assert decode((GOLDEN / name).read_bytes()) == GOLDEN_EXPECTED[name]


def test_every_registered_version_has_a_golden_file() -> None:
    """A new event class or version needs a golden file before it ships; old ones stay forever."""
    on_disk = {p.name for p in GOLDEN.glob("*.json")}
    registered = {f"{t}.v{v}.json" for t, v in REGISTRY}
    assert registered <= on_disk
    assert set(GOLDEN_EXPECTED) == on_disk


def write_golden_files() -> None:
    """Run once when a new (type, version) is added; never rewrite an existing file."""
    for name, envelope in GOLDEN_EXPECTED.items():
        path = GOLDEN / name
        if not path.exists():
            path.write_bytes(encode(envelope))


def test_golden_files_are_plain_json_objects_of_the_full_envelope() -> None:
    for name, envelope in GOLDEN_EXPECTED.items():
        on_disk = orjson.loads((GOLDEN / name).read_bytes())
        assert set(on_disk) == set(envelope_to_dict(envelope))
