"""What a client may get (services.login.client_policy) and how its credentials are read
(services.login.client_auth.presented_client): pure rules, no stores."""

from __future__ import annotations

import base64

import pytest

from services.core.clients import ClientRecord
from services.login.client_auth import JWT_BEARER, presented_client
from services.login.client_policy import (
    granted_audience,
    granted_scope,
    kept_audience,
    narrowed_scope,
    require_grant,
)
from services.login.errors import OAuthError
from services.login.introspect import require_introspector

API = "https://api.example"


def record(**fields: object) -> ClientRecord:
    values: dict[str, object] = {
        "client_id": "app",
        "name": "app",
        "client_type": "public",
        "token_endpoint_auth_method": "none",
        "grant_types": frozenset({"password", "refresh_token"}),
        "scopes": frozenset({"openid", "profile", "email"}),
        "default_scopes": ("openid",),
        "audiences": frozenset({API, "https://other.example"}),
        "default_audience": API,
        "can_introspect": False,
        "secret_hash": "",
        "jwks": {},
        "disabled": False,
    }
    return ClientRecord(**(values | fields))  # type: ignore[arg-type]


def error_of(call: object) -> str:
    with pytest.raises(OAuthError) as caught:
        call()  # type: ignore[operator]
    return caught.value.error


def test_a_grant_the_client_is_not_registered_for_is_unauthorized_client() -> None:
    require_grant(record(), "password")
    assert error_of(lambda: require_grant(record(), "client_credentials")) == "unauthorized_client"
    assert error_of(lambda: require_grant(record(grant_types=frozenset()), "password")) == (
        "unauthorized_client"
    )


def test_scopes_are_the_allowed_ones_or_the_defaults() -> None:
    assert granted_scope(record(), None) == "openid"
    assert granted_scope(record(), "profile openid profile") == "profile openid"
    assert error_of(lambda: granted_scope(record(), "openid admin")) == "invalid_scope"
    assert error_of(lambda: granted_scope(record(), 'a"b')) == "invalid_scope"


def test_a_refresh_keeps_or_narrows_the_original_scope() -> None:
    client = record()
    assert narrowed_scope(client, "openid profile", None) == "openid profile"
    assert narrowed_scope(client, "openid profile", "profile") == "profile"
    assert error_of(lambda: narrowed_scope(client, "openid", "openid email")) == "invalid_scope"
    # A scope the client has lost since the login is not granted again.
    assert narrowed_scope(record(scopes=frozenset({"openid"})), "openid profile", None) == "openid"


def test_the_audience_is_an_allowed_resource_or_the_default() -> None:
    assert granted_audience(record(), None) == API
    assert granted_audience(record(), "https://other.example") == "https://other.example"
    assert error_of(lambda: granted_audience(record(), "https://evil.example")) == (
        "invalid_target"
    )
    assert error_of(lambda: granted_audience(record(default_audience=""), None)) == (
        "invalid_target"
    )
    assert kept_audience("https://other.example", record(), None) == "https://other.example"
    assert kept_audience("", record(), None) == API  # a session logged before audiences
    assert error_of(lambda: kept_audience(API, record(), "https://other.example")) == (
        "invalid_target"
    )


def basic(pair: str) -> str:
    return "Basic " + base64.b64encode(pair.encode()).decode()


def test_basic_credentials_are_form_decoded_after_base64() -> None:
    """RFC 6749 §2.3.1: a ':' or '+' in a secret arrives percent- or plus-encoded."""
    presented = presented_client(basic("my%3Aapp:s%2Bcr+t"), {})
    assert (presented.client_id, presented.method, presented.credential) == (
        "my:app",
        "client_secret_basic",
        "s+cr t",
    )


@pytest.mark.parametrize(
    ("authorization", "form", "status", "error"),
    [
        (basic("app:s"), {"client_secret": "s"}, 400, "invalid_request"),
        (basic("app:s"), {"client_assertion": "a.b.c"}, 400, "invalid_request"),
        (basic("app:s"), {"client_id": "other"}, 400, "invalid_request"),
        (None, {"client_assertion": "a.b.c", "client_secret": "s"}, 400, "invalid_request"),
        (None, {"client_assertion": "a.b.c", "client_assertion_type": "x"}, 400, "invalid_request"),
        (None, {}, 401, "invalid_client"),
        (None, {"client_secret": "s"}, 401, "invalid_client"),
        ("Basic %%%", {}, 401, "invalid_client"),
        (basic("no-colon"), {}, 401, "invalid_client"),
    ],
)
def test_malformed_or_several_methods_are_refused(
    authorization: str | None, form: dict[str, str], status: int, error: str
) -> None:
    with pytest.raises(OAuthError) as caught:
        presented_client(authorization, form)
    assert (caught.value.status, caught.value.error) == (status, error)


def test_each_method_is_recognised() -> None:
    assert presented_client(None, {"client_id": "app"}).method == "none"
    post = presented_client(None, {"client_id": "app", "client_secret": "s"})
    assert (post.method, post.credential) == ("client_secret_post", "s")
    assertion = {"client_assertion": "a.b.c", "client_assertion_type": JWT_BEARER}
    assert presented_client(None, assertion).method == "private_key_jwt"


def test_a_public_client_never_introspects_whatever_its_registration_says() -> None:
    """RFC 7662 §2.1: introspection requires an authenticated caller; a public client sends only
    its id (found by a helper: `authctl` registered a public client with --introspect)."""
    with pytest.raises(OAuthError) as refused:
        require_introspector(record(can_introspect=True))
    assert refused.value.error == "unauthorized_client"
    require_introspector(
        record(
            client_type="confidential",
            token_endpoint_auth_method="client_secret_basic",
            can_introspect=True,
        )
    )
