"""The decoder's byte screen may skip the exact refusal walk only when nothing unstorable can
be in the event: a NUL anywhere or an integer outside signed 64 bits must still be refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import codec
from schemas.codec import DecodeError, decode, encode
from schemas.envelope import wrap
from schemas.events import SessionStarted

_SCALARS = (
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
    | st.integers(min_value=-(2**64) + 1, max_value=2**64 - 1)
    | st.booleans()
    | st.none()
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _refused(value: Any) -> bool:
    try:
        codec.refuse_unstorable(value, "event")
    except DecodeError:
        return True
    return False


@settings(max_examples=200, deadline=None)
@given(_JSON, st.booleans())
def test_every_unstorable_document_is_caught_by_the_screen(value: Any, ascii_only: bool) -> None:
    # Any producer's JSON, not only orjson's (which cannot even write the widest integers).
    text = json.dumps(value, ensure_ascii=ascii_only).encode()
    if _refused(orjson.loads(text)):
        assert codec.UNSTORABLE_SCREEN.search(text) is not None
        assert codec.may_be_unstorable(text)


_NEAR_SCREEN = st.lists(
    st.sampled_from([b"\\u0000", b"\\u000", b"\x00", b"\\", b"u0000", b"1" * 18, b"9", b"0", b"a"])
    | st.binary(max_size=6),
    max_size=12,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(_NEAR_SCREEN)
def test_the_byte_search_screen_matches_exactly_what_the_regex_matches(data: bytes) -> None:
    # The decoder asks ``may_be_unstorable``; the regex is its specification, for any bytes.
    assert codec.may_be_unstorable(data) == (codec.UNSTORABLE_SCREEN.search(data) is not None)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"n": 1234567890123456789}', True),  # 19 digits
        (b'{"n": 123456789012345678}', False),  # 18 digits
        (b'{"n": "12345678901234567x89"}', False),
        (b'{"s": "a\\u0000b"}', True),
        (b'{"s": "a\x00b"}', True),
        (b'{"s": "\\u00000"}', True),
        (b'{"s": "u0000"}', False),
    ],
)
def test_the_screen_catches_long_digit_runs_and_nuls(data: bytes, expected: bool) -> None:
    assert codec.may_be_unstorable(data) is expected


def _session_started() -> dict[str, Any]:
    payload = SessionStarted(
        session_id="s1",
        client_id="c",
        access_jti="j1",
        refresh_token_hash="ab" * 32,
        signing_kid="k",
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    document: dict[str, Any] = orjson.loads(
        encode(wrap(payload, user_id="u1", origin_region="eu", correlation_id="c"))
    )
    return document


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("client_id", "a\u0000b", "U\\+0000"),
        ("session_id", "s" * 40 + "\u0000", "U\\+0000"),
        ("extra", 2**63, "signed 64 bits"),
        ("extra", [1, {"deep": 2**64 - 1}], "signed 64 bits"),
    ],
)
def test_an_unstorable_value_anywhere_is_still_refused(
    where: str, value: Any, message: str
) -> None:
    document = _session_started()
    document["payload"][where] = value
    with pytest.raises(DecodeError, match=message):
        decode(json.dumps(document).encode())


def test_a_clean_event_still_decodes() -> None:
    assert decode(orjson.dumps(_session_started())).payload.refresh_token_hash == "ab" * 32
