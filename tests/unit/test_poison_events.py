"""No single event can stop a partition: what the contract forbids is refused at decoding, what
cannot honestly happen (times from the future) is dead-lettered before any store sees it, and a
store error is blamed on an event only by evidence (the stores answer, the event fails alone)."""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from schemas import names
from schemas.codec import DecodeError, decode, encode
from schemas.envelope import Envelope, Payload, wrap
from schemas.events import REGISTRY, LoginFailed, SessionStarted, UserRegistered, UserRevoked
from schemas.settings import Settings, SettingsError
from streams.deadletter import DeadLetter
from streams.errors import StoreDown
from streams.operations import Operation, RedisWindowAdd
from streams.projector import CONVICTIONS, Backoff, Projector
from streams.record import LogPosition, RawEvent
from streams.worker import _raw_event
from tests.memory_store import MemoryStore

SCHEMA_DIR = Path(__file__).parents[2] / "schemas" / "jsonschema"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
FAST = Backoff(first_s=0.001, max_s=0.002)


def _sample_value(hint: Any) -> Any:
    if hint is str:
        return "x"
    if hint is int:
        return 0
    if hint is bool:
        return False
    if hint is datetime:
        return NOW + timedelta(minutes=5)
    if typing.get_origin(hint) is Mapping:
        return {"k": "v"}
    if typing.get_origin(hint) is tuple:
        return ("x",)
    raise AssertionError(f"extend _sample_value for {hint!r}")


def _sample(cls: type[Any]) -> Envelope:
    hints = typing.get_type_hints(cls)
    payload = cls(**{f.name: _sample_value(hints[f.name]) for f in dataclasses.fields(cls)})
    return wrap(payload, user_id="u-1", origin_region="eu", correlation_id="c", occurred_at=NOW)


def _text_fields() -> list[tuple[str, int, str]]:
    out: list[tuple[str, int, str]] = []
    for (event_type, version), cls in sorted(REGISTRY.items()):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if hints[f.name] is str or typing.get_origin(hints[f.name]) in (Mapping, tuple):
                out.append((event_type, version, f"payload.{f.name}"))
        out.extend((event_type, version, name) for name in ("user_id", "correlation_id"))
    return out


def _with_nul(doc: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    target = doc
    for name in parents:
        target = target[name]
    value = target[last]
    if isinstance(value, list):
        target[last] = ["a\x00b"]
    else:
        target[last] = {"k": "v\x00"} if isinstance(value, dict) else "a\x00b"


def _schema(event_type: str, version: int) -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{event_type}.v{version}.json").read_text())
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.mark.parametrize(("event_type", "version", "path"), _text_fields())
def test_nul_in_any_text_field_of_any_event_is_refused_by_codec_and_schema(
    event_type: str, version: int, path: str
) -> None:
    doc = orjson.loads(encode(_sample(REGISTRY[(event_type, version)])))
    _with_nul(doc, path)
    with pytest.raises(DecodeError, match="U\\+0000"):
        decode(orjson.dumps(doc))
    assert not _schema(event_type, version).is_valid(doc)


@pytest.mark.parametrize("where", ["envelope", "payload"])
def test_nul_in_a_member_added_by_newer_code_is_refused_too(where: str) -> None:
    doc = orjson.loads(encode(_sample(SessionStarted)))
    target = doc if where == "envelope" else doc["payload"]
    target["device\x00"] = "phone"
    with pytest.raises(DecodeError):
        decode(orjson.dumps(doc))
    assert not _schema("session.started", 1).is_valid(doc)


@pytest.mark.parametrize("value", [2**63, 2**64 - 1])
def test_integers_beyond_64_bits_are_refused_anywhere(value: int) -> None:
    doc = orjson.loads(encode(_sample(SessionStarted)))
    doc["payload"]["attempts"] = [value]  # orjson reads up to 2**64 - 1 as an int
    data = orjson.dumps(doc)
    with pytest.raises(DecodeError, match="64 bits"):
        decode(data)
    assert not _schema("session.started", 1).is_valid(json.loads(data))


def test_integers_within_64_bits_and_other_control_characters_are_kept() -> None:
    doc = orjson.loads(encode(_sample(SessionStarted)))
    doc["payload"]["attempts"] = [2**63 - 1, -(2**63)]
    doc["payload"]["client_id"] = "tab\there\x1f"
    assert decode(orjson.dumps(doc)).payload.client_id == "tab\there\x1f"
    assert _schema("session.started", 1).is_valid(doc)


# -- implausible times ----------------------------------------------------------------------------


def _raw(envelope: Envelope, offset: int, log_time_ms: int | None = NOW_MS) -> RawEvent:
    position = LogPosition(names.TOPIC_EVENTS, 0, offset)
    return RawEvent(position, b"k", encode(envelope), log_time_ms)


def _event(payload: Payload, at: datetime = NOW, user_id: str = "u-1") -> Envelope:
    return wrap(payload, user_id=user_id, origin_region="eu", correlation_id="c", occurred_at=at)


class Stores(MemoryStore):
    """MemoryStore plus the failure windows (members only: the window arithmetic is tested
    against real Redis)."""

    def _redis_window_add(self, op: RedisWindowAdd) -> None:
        self.zsets.setdefault(op.key, {})[op.member] = op.score


class Letters:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def publish(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)


async def _project(
    batch: list[RawEvent], clock_s: float | None = None
) -> tuple[MemoryStore, Letters]:
    stores, letters = Stores(NOW.timestamp()), Letters()
    now = NOW.timestamp() if clock_s is None else clock_s
    projector = Projector(stores, letters, FAST, max_skew_s=300, clock=lambda: now)
    await projector.apply(batch)
    return stores, letters


def _failures(stores: MemoryStore) -> int:
    return len(stores.rows.get(names.TABLE_LOGIN_FAILURES, []))


async def test_a_login_failure_dated_beyond_the_skew_is_dead_lettered_not_counted() -> None:
    future = _event(LoginFailed(client_ip="10.0.0.1"), NOW + timedelta(days=365))
    honest = _event(LoginFailed(client_ip="10.0.0.1"), NOW - timedelta(seconds=1))
    stores, letters = await _project([_raw(future, 0), _raw(honest, 1)])
    [letter] = letters.letters
    assert letter.reason_class == "implausible"
    assert "occurred_at" in letter.reason
    assert _failures(stores) == 1
    assert stores.rows[names.TABLE_DEADLETTERS][0]["reason"].startswith("implausible: ")


async def test_a_time_within_the_skew_is_accepted() -> None:
    ahead = _event(LoginFailed(client_ip="10.0.0.1"), NOW + timedelta(seconds=299))
    stores, letters = await _project([_raw(ahead, 0)])
    assert not letters.letters
    assert _failures(stores) == 1


async def test_the_log_time_decides_not_the_local_clock() -> None:
    """A region whose clock runs an hour ahead still refuses what the log says is from the
    future, and a region whose clock runs behind does not refuse what the log accepts."""
    event = _event(LoginFailed(client_ip="10.0.0.1"), NOW + timedelta(minutes=10))
    logged_earlier = _raw(event, 0, log_time_ms=NOW_MS)
    _, fast_clock = await _project([logged_earlier], clock_s=NOW.timestamp() + 3600)
    assert [letter.reason_class for letter in fast_clock.letters] == ["implausible"]
    logged_later = _raw(event, 0, log_time_ms=NOW_MS + 10 * 60 * 1000)
    stores, slow = await _project([logged_later], clock_s=NOW.timestamp() + 10 * 60)
    assert not slow.letters
    assert _failures(stores) == 1


async def test_a_log_time_from_the_future_is_capped_by_the_clock() -> None:
    event = _event(LoginFailed(client_ip="10.0.0.1"), NOW + timedelta(days=30))
    _, letters = await _project([_raw(event, 0, log_time_ms=NOW_MS + 30 * 86400 * 1000)])
    assert [letter.reason_class for letter in letters.letters] == ["implausible"]


async def test_without_a_log_time_the_clock_is_the_reference() -> None:
    event = _event(LoginFailed(client_ip="10.0.0.1"), NOW + timedelta(days=1))
    _, letters = await _project([_raw(event, 0, log_time_ms=None)])
    assert [letter.reason_class for letter in letters.letters] == ["implausible"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (UserRevoked(NOW + timedelta(days=1), "r", "op", NOW + timedelta(days=30)), "not_before"),
        (
            SessionStarted("s-1", "web", "j", "h", "k", datetime(9999, 12, 31, tzinfo=UTC)),
            "expires_at",
        ),
        (
            UserRevoked(NOW, "r", "op", datetime(9999, 12, 31, tzinfo=UTC)),
            "affects_until",
        ),
    ],
)
async def test_payload_times_beyond_what_the_contract_allows_are_dead_lettered(
    payload: Payload, field: str
) -> None:
    stores, letters = await _project([_raw(_event(payload), 0)])
    [letter] = letters.letters
    assert letter.reason_class == "implausible"
    assert letter.reason.startswith(field)
    assert not stores.rows.get(names.TABLE_SESSIONS)
    assert not stores.rows.get(names.TABLE_REVOCATIONS)


async def test_times_from_the_distant_past_are_applied_harmlessly() -> None:
    year_one = datetime(1, 1, 1, 12, tzinfo=UTC)
    old = _event(UserRegistered(username="old", password_hash="$argon2id$x"), year_one)
    failure = _event(LoginFailed(client_ip="10.0.0.1"), year_one)
    stores, letters = await _project([_raw(old, 0), _raw(failure, 1)])
    assert not letters.letters
    assert len(stores.rows[names.TABLE_USERS]) == 1
    assert _failures(stores) == 1  # recorded; long outside any counting window


def test_the_skew_is_a_bounded_setting() -> None:
    assert Settings().max_event_skew_s == 300
    assert Settings.from_env({"AUTHPLANE_MAX_EVENT_SKEW_S": "30"}).max_event_skew_s == 30
    for bad in ("0", "-1", "1e9"):
        with pytest.raises(SettingsError, match="MAX_EVENT_SKEW_S"):
            Settings.from_env({"AUTHPLANE_MAX_EVENT_SKEW_S": bad})


# -- refusal or outage: decided by evidence -------------------------------------------------------


class EvidenceStores(MemoryStore):
    """Raises ``error`` for any batch holding the poison username, for the first ``failures``
    such attempts (None: always); ``up`` answers the health probe until then, True after."""

    def __init__(
        self, poison: str, error: Exception, up: bool = True, failures: int | None = None
    ) -> None:
        super().__init__(NOW.timestamp())
        self.poison, self.error, self.up, self.failures = poison, error, up, failures
        self.poison_attempts = 0

    async def healthy(self) -> bool:
        return self.up

    async def apply(self, operations: Sequence[Operation]) -> None:
        if any(self.poison in repr(getattr(op, "row", "")) for op in operations if _user(op)):
            self.poison_attempts += 1
            if self.failures is None or self.poison_attempts <= self.failures:
                raise self.error
            self.up = True
        await super().apply(operations)


def _user(op: Operation) -> bool:
    return getattr(op, "table", "") == names.TABLE_USERS


def _registrations(*usernames: str) -> list[RawEvent]:
    return [
        _raw(_event(UserRegistered(username=u, password_hash="$argon2id$x"), user_id=u), i)
        for i, u in enumerate(usernames)
    ]


async def test_an_event_failing_alone_with_healthy_stores_is_dead_lettered_with_the_error() -> None:
    stores = EvidenceStores("bad", RuntimeError("driver said no"))
    letters = Letters()
    result = await Projector(stores, letters, FAST).apply(_registrations("ann", "bad", "cat"))
    assert (result.applied, result.deadlettered) == (2, 1)
    assert {r["username"] for r in stores.rows[names.TABLE_USERS]} == {"ann", "cat"}
    [letter] = letters.letters
    assert letter.event.position.offset == 1
    assert letter.reason_class == "rejected"
    assert "driver said no" in letter.reason
    assert stores.poison_attempts == 1 + CONVICTIONS  # the batch, then alone until convicted


async def test_the_same_error_with_a_store_down_is_waited_out_not_dead_lettered() -> None:
    stores = EvidenceStores("bad", RuntimeError("driver said no"), up=False, failures=10)
    letters = Letters()
    result = await Projector(stores, letters, FAST).apply(_registrations("ann", "bad"))
    assert (result.applied, result.deadlettered) == (2, 0)
    assert not letters.letters
    assert len(stores.rows[names.TABLE_USERS]) == 2


async def test_a_proven_outage_is_never_blamed_on_the_event() -> None:
    """Out of memory, read-only, no connection: waited out even if a probe answers."""
    stores = EvidenceStores(
        "bad", StoreDown("redis", "OOM command not allowed"), failures=2 * CONVICTIONS + 2
    )
    letters = Letters()
    result = await Projector(stores, letters, FAST).apply(_registrations("bad", "ann"))
    assert (result.applied, result.deadlettered) == (2, 0)
    assert not letters.letters


@pytest.mark.parametrize(
    ("faust_timestamp_s", "expected_ms"),
    [(NOW.timestamp(), NOW_MS), (-0.001, None), (None, None)],
)
def test_the_worker_hands_the_record_log_time_to_the_projector(
    faust_timestamp_s: float | None, expected_ms: int | None
) -> None:
    """faust gives the record timestamp in seconds (-1 ms when the record has none)."""
    message = SimpleNamespace(
        topic=names.TOPIC_EVENTS,
        partition=3,
        offset=9,
        key=b"k",
        value=b"{}",
        timestamp=faust_timestamp_s,
    )
    assert _raw_event(message).log_time_ms == expected_ms
