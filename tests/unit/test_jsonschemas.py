"""The JSON Schemas in schemas/jsonschema/ and the Python event classes describe the same events.

Other languages and tools read the log through these schemas, so a field added to a dataclass
without its schema (or the reverse) is a contract break this file catches.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from schemas.codec import DecodeError, decode, encode
from schemas.envelope import Envelope, new_event_id
from schemas.events import REGISTRY
from tests.unit.event_samples import ANY_ENVELOPE, JSON_VALUES, TEXT

SCHEMA_DIR = Path(__file__).parents[2] / "schemas" / "jsonschema"
EVENT_SCHEMA_FILES = sorted(p for p in SCHEMA_DIR.glob("*.json") if p.name != "envelope.json")
FORMATS = Draft202012Validator.FORMAT_CHECKER


def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / name).read_text())  # type: ignore[no-any-return]


def _schema_for(event_type: str, version: int) -> dict[str, Any]:
    return _schema(f"{event_type}.v{version}.json")


def _validator(doc: Mapping[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(_schema_for(doc["type"], doc["version"]), format_checker=FORMATS)


def _expected_json_type(hint: Any) -> dict[str, Any]:
    if hint is str:
        return {"type": "string"}
    if hint is int:
        return {"type": "integer"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is datetime:
        return {"type": "string", "format": "date-time"}
    if typing.get_origin(hint) is Mapping and typing.get_args(hint)[1] is Any:
        return {"type": "object"}
    if typing.get_origin(hint) is Mapping:
        return {"type": "object", "additionalProperties": {"type": "string"}}
    if typing.get_origin(hint) is tuple and typing.get_args(hint) == (str, Ellipsis):
        return {"type": "array", "items": {"type": "string"}}
    raise AssertionError(f"no JSON type for {hint!r}: extend the schemas and this test")


def test_every_registered_event_has_a_schema_file_and_no_file_is_orphaned() -> None:
    assert {p.name for p in EVENT_SCHEMA_FILES} == {f"{t}.v{v}.json" for t, v in REGISTRY}


@pytest.mark.parametrize("path", [*EVENT_SCHEMA_FILES, SCHEMA_DIR / "envelope.json"], ids=str)
def test_schema_is_valid_draft_2020_12(path: Path) -> None:
    schema = json.loads(path.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(("event_type", "version"), sorted(REGISTRY))
def test_payload_schema_matches_the_dataclass(event_type: str, version: int) -> None:
    cls = REGISTRY[(event_type, version)]
    schema = _schema_for(event_type, version)
    payload = schema["properties"]["payload"]
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    without_default = {
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert schema["properties"]["type"] == {"const": event_type}
    assert schema["properties"]["version"] == {"const": version}
    assert set(payload["properties"]) == {f.name for f in fields}
    assert set(payload["required"]) == without_default
    for f in fields:
        assert payload["properties"][f.name] == _expected_json_type(hints[f.name]), f.name


@pytest.mark.parametrize("path", EVENT_SCHEMA_FILES, ids=str)
def test_event_schemas_share_the_envelope(path: Path) -> None:
    envelope, event = _schema("envelope.json"), json.loads(path.read_text())
    routing = ("type", "version", "payload")
    assert event["required"] == envelope["required"]
    for name, rule in envelope["properties"].items():
        if name not in routing:
            assert event["properties"][name] == rule, name


def test_format_checking_is_really_on() -> None:
    """jsonschema silently skips date-time unless rfc3339-validator is installed."""
    assert not FORMATS.conforms("2024-05-01 noon", "date-time")
    assert not FORMATS.conforms("not-a-uuid", "uuid")
    assert FORMATS.conforms("2024-05-01T12:00:00Z", "date-time")


@given(ANY_ENVELOPE)
def test_every_encoded_event_validates_against_its_schema(envelope: Envelope) -> None:
    doc = orjson.loads(encode(envelope))
    _validator(doc).validate(doc)
    Draft202012Validator(_schema("envelope.json"), format_checker=FORMATS).validate(doc)


def _valid_doc() -> dict[str, Any]:
    return {
        "event_id": new_event_id(),
        "type": "session.started",
        "version": 1,
        "user_id": "u-1",
        "origin_region": "eu",
        "occurred_at": "2024-05-01T12:00:00Z",
        "correlation_id": "",
        "payload": {
            "session_id": "s-1",
            "client_id": "web",
            "access_jti": "j-1",
            "refresh_token_hash": "h",
            "signing_kid": "k-1",
            "expires_at": "2024-05-31T12:00:00Z",
        },
    }


def _without(key: str, mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


REJECTED: dict[str, dict[str, Any]] = {
    "missing payload field": {"payload": _without("client_id", _valid_doc()["payload"])},
    "payload field of wrong type": {"payload": {**_valid_doc()["payload"], "client_id": 7}},
    "payload timestamp without offset": {
        "payload": {**_valid_doc()["payload"], "expires_at": "2024-05-31T12:00:00"}
    },
    "payload not an object": {"payload": ["s-1"]},
    "event id not a uuid": {"event_id": "evt-1"},
    "event id in upper case": {"event_id": new_event_id().upper()},
    "empty user id": {"user_id": ""},
    "occurred_at not a timestamp": {"occurred_at": "yesterday"},
    "version as a string": {"version": "1"},
    "correlation id not a string": {"correlation_id": None},
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_what_the_codec_rejects_the_schema_rejects(case: str) -> None:
    doc = {**_valid_doc(), **REJECTED[case]}
    with pytest.raises(DecodeError):
        decode(orjson.dumps(doc))
    assert not _validator(_valid_doc()).is_valid(doc)


def test_a_missing_envelope_member_is_rejected_by_both() -> None:
    doc = _without("origin_region", _valid_doc())
    with pytest.raises(DecodeError):
        decode(orjson.dumps(doc))
    assert not _validator(_valid_doc()).is_valid(doc)


def test_members_added_by_newer_code_are_accepted_by_both() -> None:
    """Fields are added with defaults without a version bump; old readers must not reject them."""
    doc = _valid_doc()
    doc["trace_id"] = "t-1"
    doc["payload"]["device"] = "phone"
    decode(orjson.dumps(doc))
    _validator(doc).validate(doc)


def _inexpressible(value: Any) -> bool:
    # JSON Schema's data model equates 1.0 with 1; the codec (like Python) tells them apart.
    return isinstance(value, float) and value.is_integer()


@given(ANY_ENVELOPE, st.data())
def test_damaged_events_the_codec_rejects_fail_the_schema(
    envelope: Envelope, data: st.DataObject
) -> None:
    doc = orjson.loads(encode(envelope))
    target = data.draw(st.sampled_from([doc, doc["payload"]]))
    key = data.draw(st.sampled_from(sorted(target)) | TEXT)
    if data.draw(st.booleans()):
        target.pop(key, None)
    else:
        target[key] = data.draw(JSON_VALUES.filter(lambda v: not _inexpressible(v)))
    try:
        decode(orjson.dumps(doc))
    except DecodeError:
        validator = Draft202012Validator(
            _schema_for(envelope.type, envelope.version), format_checker=FORMATS
        )
        assert not validator.is_valid(doc)
