"""The RFC 8414 document each region serves (services/login/metadata.py), checked with authlib's
maintained validator and against the app's own routes."""

from __future__ import annotations

from typing import Any

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from schemas.settings import Settings, SettingsError
from services.login.app import create_app
from services.login.client_assertion import ASSERTION_ALGS
from services.login.metadata import server_metadata

ENDPOINTS = ("token_endpoint", "introspection_endpoint", "revocation_endpoint", "jwks_uri")


def _document(**kw: Any) -> dict[str, Any]:
    settings = Settings(**kw)
    return server_metadata(settings, create_app(settings).url_path_for, ASSERTION_ALGS)


def _validate(document: dict[str, Any]) -> None:
    """authlib's full ``validate()`` except ``response_types_supported``: authlib refuses an
    empty array there, which is the one true value for a server without an authorization
    endpoint (module docstring of services/login/metadata.py); that member is pinned apart."""
    metadata = AuthorizationServerMetadata(document)
    for key in metadata.REGISTRY_KEYS:
        if key != "response_types_supported":
            getattr(metadata, f"validate_{key}")()


@pytest.mark.parametrize("region", ["eu", "us"])
def test_each_region_publishes_a_valid_document_naming_its_own_issuer(region: str) -> None:
    document = _document(region=region)
    _validate(document)
    assert document["issuer"] == Settings(region=region).token_issuer
    assert document["token_endpoint"] == f"https://{region}.authplane.local/oauth2/token"


def test_the_document_declares_no_response_type_and_no_authorization_endpoint() -> None:
    document = _document()
    assert document["response_types_supported"] == []
    assert "authorization_endpoint" not in document
    assert "code_challenge_methods_supported" not in document


def test_authlib_treats_the_empty_response_types_as_missing() -> None:
    """Pins why ``_validate`` skips one member: if authlib starts accepting ``[]``, use its
    plain ``validate()``."""
    with pytest.raises(ValueError, match="response_types_supported"):
        AuthorizationServerMetadata(_document()).validate()


def test_grants_and_client_authentication_methods_are_advertised() -> None:
    document = _document()
    assert document["grant_types_supported"] == ["password", "refresh_token", "client_credentials"]
    assert set(document["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    }
    assert "none" not in document["introspection_endpoint_auth_methods_supported"]
    assert "none" in document["revocation_endpoint_auth_methods_supported"]
    for member in (
        "token_endpoint_auth_signing_alg_values_supported",
        "introspection_endpoint_auth_signing_alg_values_supported",
        "revocation_endpoint_auth_signing_alg_values_supported",
    ):
        assert document[member], member
        assert "none" not in document[member]  # RFC 8414 §2
        assert not any(alg.startswith("HS") for alg in document[member])


def test_endpoints_are_under_the_public_url_when_one_is_set() -> None:
    document = _document(issuer="https://login.example", public_url="https://eu.login.example/")
    _validate(document)
    assert document["issuer"] == "https://login.example"
    for member in ENDPOINTS:
        assert document[member].startswith("https://eu.login.example/"), member


def test_every_endpoint_is_a_route_the_app_serves() -> None:
    settings = Settings()
    served = set(create_app(settings).openapi()["paths"])
    document = _document()
    for member in ENDPOINTS:
        path = document[member].removeprefix(settings.token_issuer)
        assert path in served, member


def test_scopes_are_advertised_only_when_configured() -> None:
    assert "scopes_supported" not in _document()
    document = _document(scopes_supported="openid  profile offline_access")
    _validate(document)
    assert document["scopes_supported"] == ["openid", "profile", "offline_access"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("scopes_supported", 'read "write"'),
        ("public_url", "ftp://login.example"),
        ("public_url", "https://login.example/?x=1"),
        ("public_url", "login.example"),
    ],
)
def test_malformed_metadata_settings_are_refused(field: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"AUTHPLANE_{field.upper()}"):
        Settings(**{field: value})
