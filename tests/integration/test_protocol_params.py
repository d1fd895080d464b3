"""Missing and repeated parameters on the token, revocation and introspection endpoints answer
the RFC 6749 §5.2 error ``invalid_request`` (RFC 7009 §2.2.1 and RFC 7662 §2.3 use the same
errors); only a present but unusable grant is ``invalid_grant``."""

from __future__ import annotations

import base64

import pytest

from tests.integration.client_seeding import SERVICE_ID, SERVICE_SECRET
from tests.integration.login_harness import (
    INTROSPECTION_ID,
    INTROSPECTION_SECRET,
    Login,
    login_fixture,
)

FORM = {"content-type": "application/x-www-form-urlencoded"}
BASIC = "Basic " + base64.b64encode(f"{INTROSPECTION_ID}:{INTROSPECTION_SECRET}".encode()).decode()
SERVICE = "Basic " + base64.b64encode(f"{SERVICE_ID}:{SERVICE_SECRET}".encode()).decode()
"""A client allowed every grant: the token and revocation cases authenticate as it."""
REFRESH = "0b7c2ad2-8f0e-4b5e-9d1e-2f8d5c1a9e33." + "A" * 43


login = login_fixture("params")


CASES: list[tuple[str, str, bytes, int, str]] = [
    ("refresh without refresh_token", "/oauth2/token", b"grant_type=refresh_token", 400,
     "invalid_request"),
    ("refresh with an empty refresh_token", "/oauth2/token",
     b"grant_type=refresh_token&refresh_token=", 400, "invalid_request"),
    ("refresh_token repeated", "/oauth2/token",
     f"grant_type=refresh_token&refresh_token={REFRESH}&refresh_token={REFRESH}".encode(), 400,
     "invalid_request"),
    ("grant_type repeated", "/oauth2/token",
     f"grant_type=refresh_token&grant_type=refresh_token&refresh_token={REFRESH}".encode(), 400,
     "invalid_request"),
    ("refresh with a malformed token", "/oauth2/token",
     b"grant_type=refresh_token&refresh_token=garbage", 400, "invalid_grant"),
    ("password grant without username", "/oauth2/token", b"grant_type=password&password=x", 400,
     "invalid_request"),
    ("revoke without token", "/oauth2/revoke", b"token_type_hint=access_token", 400,
     "invalid_request"),
    ("revoke with token repeated", "/oauth2/revoke", b"token=a&token=b", 400, "invalid_request"),
    ("introspect without token", "/oauth2/introspect", b"token_type_hint=access_token", 400,
     "invalid_request"),
    ("introspect with token repeated", "/oauth2/introspect", b"token=a&token=b", 400,
     "invalid_request"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body", "status", "error"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_missing_or_repeated_parameters_answer_the_rfc_error(
    login: Login, path: str, body: bytes, status: int, error: str
) -> None:
    headers = FORM | {"Authorization": BASIC if path == "/oauth2/introspect" else SERVICE}
    response = await login.client.post(path, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert "access_token" not in response.text
