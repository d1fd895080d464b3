"""Every malformed request gets a 4xx with an RFC 6749 JSON error: never a 500, never a token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.login_harness import (
    Login,
    login_fixture,
    seeded,
)

FORM = "application/x-www-form-urlencoded"
GOOD = b"grant_type=password&username=grace&password=pw-grace&client_id=test-app"


login = login_fixture("inputs", seeded(("grace", "pw-grace")))


CASES: list[tuple[str, bytes, dict[str, str], int, str]] = [
    ("good request still works", GOOD, {"content-type": FORM}, 200, ""),
    ("missing grant_type", b"username=grace&password=pw-grace", {}, 400, "invalid_request"),
    ("unsupported grant", b"grant_type=authorization_code", {}, 400, "unsupported_grant_type"),
    ("missing password", b"grant_type=password&username=grace&client_id=test-app", {}, 400,
     "invalid_request"),
    ("missing username", b"grant_type=password&password=x&client_id=test-app", {}, 400,
     "invalid_request"),
    ("no client", b"grant_type=password&username=grace&password=pw-grace", {}, 401,
     "invalid_client"),
    ("duplicate param", GOOD + b"&password=other", {}, 400, "invalid_request"),
    ("raw non-utf8", b"grant_type=password&username=\xff&password=x", {}, 400, "invalid_request"),
    ("encoded non-utf8", b"grant_type=password&username=%ff&password=x", {}, 400,
     "invalid_request"),
    ("nul byte", b"grant_type=password&username=gr%00ace&password=x", {}, 400, "invalid_request"),
    ("json body", b'{"grant_type":"password"}', {"content-type": "application/json"}, 400,
     "invalid_request"),
    ("no content type", GOOD, {"content-type": ""}, 400, "invalid_request"),
    ("latin-1 charset", GOOD, {"content-type": FORM + "; charset=latin-1"}, 400, "invalid_request"),
    ("empty body", b"", {}, 400, "invalid_request"),
    ("oversized body", GOOD + b"&x=" + b"a" * 9000, {}, 413, "invalid_request"),
    ("bad client_id", b"grant_type=password&username=grace&password=pw-grace"
     b"&client_id=%3Cscript%3E", {}, 401, "invalid_client"),
    ("bad scope", GOOD + b"&scope=%22quoted%22", {}, 400, "invalid_scope"),
    ("invalid username", b"grant_type=password&username=%F0%9F%98%80&password=x"
     b"&client_id=test-app", {}, 400, "invalid_grant"),
    ("garbage", b"&&&===%%%", {}, 400, "invalid_request"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "headers", "status", "error"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_token_endpoint_answers_bad_input_with_rfc_errors(
    login: Login, body: bytes, headers: dict[str, str], status: int, error: str
) -> None:
    response = await login.client.post(
        "/oauth2/token", content=body, headers={"content-type": FORM} | headers
    )
    assert response.status_code == status, response.text
    if status != 200:
        assert response.json()["error"] == error
        assert "access_token" not in response.text
        assert response.headers["cache-control"] == "no-store"


async def test_lying_content_length_is_rejected_before_reading(login: Login) -> None:
    response = await login.client.post(
        "/oauth2/token",
        content=GOOD,
        headers={"content-type": FORM, "content-length": "999999"},
    )
    assert response.status_code == 413


async def test_chunked_oversize_body_is_413(login: Login) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"a" * 1024

    response = await login.client.post(
        "/oauth2/token", content=chunks(), headers={"content-type": FORM}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/oauth2/token", 405), ("GET", "/nope", 404), ("DELETE", "/healthz", 405)],
)
async def test_unknown_routes_and_methods_are_json(
    login: Login, method: str, path: str, status: int
) -> None:
    response = await login.client.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert "error" in response.json()
