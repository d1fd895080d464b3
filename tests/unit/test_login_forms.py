"""What the token endpoint accepts as a form body, and the RFC 6749 error for everything else."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.login.forms import (
    OAuthError,
    check_declared_length,
    check_media_type,
    parse_form,
    read_capped,
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"grant_type=password&username=alice", {"grant_type": "password", "username": "alice"}),
        (b"password=p%40ss+word%26", {"password": "p@ss word&"}),
        (b"username=%C3%A9l%C3%A8ve", {"username": "\u00e9l\u00e8ve"}),
        (b"a=1&&b=2&", {"a": "1", "b": "2"}),
        (b"scope=&username=bob", {"username": "bob"}),  # an empty value counts as absent
        (b"", {}),
    ],
)
def test_well_formed_bodies(body: bytes, expected: dict[str, str]) -> None:
    assert parse_form(body) == expected


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"username=a&username=b", "repeated"),
        (b"username=\xff\xfe", "not UTF-8"),
        (b"username=%FF", "not UTF-8"),
        (b"username=a%00b", "control characters"),
        (b"&".join(b"p%d=1" % i for i in range(40)), "too many"),
    ],
)
def test_malformed_bodies_are_invalid_request(body: bytes, fragment: str) -> None:
    with pytest.raises(OAuthError, match=fragment) as caught:
        parse_form(body)
    assert (caught.value.error, caught.value.status) == ("invalid_request", 400)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
        'application/x-www-form-urlencoded; charset="utf-8"',
    ],
)
def test_form_media_types_accepted(content_type: str) -> None:
    check_media_type(content_type)


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "application/json",
        "multipart/form-data",
        "application/x-www-form-urlencoded; charset=latin-1",
    ],
)
def test_other_media_types_rejected(content_type: str | None) -> None:
    with pytest.raises(OAuthError) as caught:
        check_media_type(content_type)
    assert caught.value.error == "invalid_request"


def test_declared_oversize_is_413() -> None:
    with pytest.raises(OAuthError) as caught:
        check_declared_length({"content-length": "9000"}, 8192)
    assert caught.value.status == 413
    check_declared_length({"content-length": "8192"}, 8192)
    with pytest.raises(OAuthError, match="Content-Length"):
        check_declared_length({"content-length": "-1"}, 8192)


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_streamed_oversize_stops_at_the_cap() -> None:
    assert await read_capped(_chunks(b"a" * 10, b"b" * 10), 20) == b"a" * 10 + b"b" * 10
    with pytest.raises(OAuthError) as caught:
        await read_capped(_chunks(b"a" * 10, b"b" * 11), 20)
    assert caught.value.status == 413
