"""What an operator may register as a client (issue 12): the protocol's rules, one line each."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from schemas import names, topology
from services.core.client_config import ClientSpec, InvalidClient, normalized, updated_event
from services.devstack.dev_clients import DEV_CLIENTS

SERVICE = ClientSpec(
    client_id="billing",
    client_type="confidential",
    token_endpoint_auth_method="client_secret_basic",
    grant_types=("client_credentials",),
    scopes=("invoices:read",),
    audiences=("https://api.example.com",),
)
JWKS = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": "k1"}]}


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"client_id": "has space"}, "client id"),
        ({"client_id": "x" * 129}, "client id"),
        ({"client_type": "trusted"}, "unknown client type"),
        ({"token_endpoint_auth_method": "tls_client_auth"}, "unknown auth method"),
        ({"token_endpoint_auth_method": "none"}, "public client uses auth method none"),
        ({"client_type": "public"}, "public client uses auth method none"),
        ({"grant_types": ()}, "needs a grant"),
        ({"audiences": ()}, "needs an audience"),
        ({"grant_types": ("implicit",)}, "unknown grant 'implicit'"),
        ({"client_type": "public", "token_endpoint_auth_method": "none"}, "RFC 6749 §4.4"),
        (
            {
                "client_type": "public",
                "token_endpoint_auth_method": "none",
                "grant_types": ("password",),
                "can_introspect": True,
            },
            "RFC 7662 §2.1",
        ),
        ({"scopes": ('bad"scope',)}, "not a scope token"),
        ({"default_scopes": ("invoices:write",)}, "default scope invoices:write"),
        ({"audiences": ("not-a-uri",)}, "RFC 8707"),
        ({"audiences": ("https://api.example.com#frag",)}, "RFC 8707"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "needs a JWK Set"),
        ({"jwks": {"kty": "RSA"}}, "JWK Set is an object"),
        ({"name": " "}, "client name"),
    ],
)
def test_a_broken_rule_is_refused_with_one_line(changes: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidClient, match=fragment):
        normalized(replace(SERVICE, **changes))


def test_normalizing_dedupes_names_and_makes_the_single_audience_the_default() -> None:
    spec = normalized(
        replace(SERVICE, scopes=("a", "b", "a"), grant_types=("client_credentials",) * 2)
    )
    assert spec.scopes == ("a", "b")
    assert spec.grant_types == ("client_credentials",)
    assert spec.name == "billing"
    assert spec.default_audience == "https://api.example.com"
    assert spec.needs_secret


def test_a_default_audience_is_also_allowed_and_a_jwks_client_needs_no_secret() -> None:
    spec = normalized(
        replace(SERVICE, token_endpoint_auth_method="private_key_jwt", jwks=JWKS,
                audiences=("https://a.example",), default_audience="https://b.example")
    )  # fmt: skip
    assert spec.audiences == ("https://a.example", "https://b.example")
    assert not spec.needs_secret
    assert updated_event(spec).jwks == JWKS


def test_the_dev_clients_follow_the_contract() -> None:
    specs = {s.client_id: normalized(s) for s in DEV_CLIENTS}
    cli = specs[names.DEV_PUBLIC_CLIENT_ID]
    service = specs[names.DEV_SERVICE_CLIENT_ID]
    api = specs[names.DEV_RESOURCE_SERVER_ID]
    assert (cli.client_type, cli.needs_secret) == ("public", False)
    assert set(cli.grant_types) == {"password", "refresh_token"}
    assert cli.scopes == ("openid", "profile", "offline_access")
    assert cli.default_scopes == ("openid",)
    assert (service.client_type, service.token_endpoint_auth_method) == (
        "confidential", "client_secret_basic")  # fmt: skip
    assert service.grant_types == ("client_credentials",)
    assert api.can_introspect
    assert api.needs_secret
    assert {s.default_audience for s in specs.values()} == {names.DEV_AUDIENCE}


def test_a_stack_file_is_owner_only_from_its_creation(tmp_path: Path) -> None:
    """It holds the dev clients' secrets: never readable by others, whatever the umask."""
    old = os.umask(0)
    try:
        topology.save(topology.Topology("127.0.0.1:9092", {}), tmp_path / "stack.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "stack.json").stat().st_mode) == 0o600
