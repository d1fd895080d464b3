"""Client event payloads for reducer, property and executor-contract tests (issue 12)."""

from __future__ import annotations

from schemas.client_events import (
    ClientDisabled,
    ClientEnabled,
    ClientRegistered,
    ClientSecretRotated,
    ClientUpdated,
)
from schemas.client_secrets import hash_client_secret

CLIENT_IDS = ("app-0", "app-1")


def client_registered(client_id: str = "app-0", n: int = 0) -> ClientRegistered:
    """Registration variant ``n``: its name, scopes and secret all name ``n``."""
    return ClientRegistered(
        client_id=client_id,
        name=f"{client_id} v{n}",
        client_type="confidential",
        token_endpoint_auth_method="client_secret_basic",
        grant_types=("client_credentials",),
        scopes=(f"read:{n}", "write"),
        default_scopes=(f"read:{n}",),
        audiences=("https://api.example",),
        default_audience="https://api.example",
        can_introspect=n % 2 == 1,
        secret_hash=hash_client_secret(f"secret-{client_id}-{n}"),
        jwks={},
    )


def client_updated(client_id: str = "app-0", n: int = 0) -> ClientUpdated:
    """Update variant ``n``: a public password client whose name and scopes name ``n``."""
    return ClientUpdated(
        client_id=client_id,
        name=f"{client_id} u{n}",
        client_type="public",
        token_endpoint_auth_method="none",
        grant_types=("password", "refresh_token"),
        scopes=(f"profile:{n}",),
        default_scopes=(),
        audiences=("https://api.example", f"https://{n}.example"),
        default_audience=f"https://{n}.example",
        can_introspect=False,
        jwks={"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": f"k{n}", "x": "AAAA"}]},
    )


def client_disabled(client_id: str = "app-0") -> ClientDisabled:
    return ClientDisabled(client_id=client_id, reason="leaked")


def client_enabled(client_id: str = "app-0") -> ClientEnabled:
    return ClientEnabled(client_id=client_id, reason="rotated")


def client_rotated(client_id: str = "app-0", n: int = 0) -> ClientSecretRotated:
    return ClientSecretRotated(
        client_id=client_id, secret_hash=hash_client_secret(f"rotated-{client_id}-{n}")
    )
