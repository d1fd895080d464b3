"""Golden client events (issue 12): what ``tests/unit/golden/client.*.v1.json`` must decode to."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.client_events import (
    ClientDisabled,
    ClientEnabled,
    ClientRegistered,
    ClientSecretRotated,
    ClientUpdated,
)
from schemas.envelope import Envelope

_KEY = "client:billing-api"
_JWKS = {
    "keys": [
        {
            "kty": "EC",
            "crv": "P-256",
            "kid": "billing-1",
            "x": "Q2xpZW50LWFzc2VydGlvbi1nb2xkZW4tZXhhbXBsZS14",
            "y": "Q2xpZW50LWFzc2VydGlvbi1nb2xkZW4tZXhhbXBsZS15",
        }
    ]
}


def _envelope(event_id: str, second: int, payload: object) -> Envelope:
    return Envelope(
        event_id=event_id,
        type=payload.TYPE,  # type: ignore[attr-defined]
        version=payload.VERSION,  # type: ignore[attr-defined]
        user_id=_KEY,
        origin_region="eu",
        occurred_at=datetime(2026, 11, 30, 9, 0, second, tzinfo=UTC),
        correlation_id="authctl-client",
        payload=payload,
    )


CLIENT_GOLDEN = {
    "client.registered.v1.json": _envelope(
        "019ad3f0-8a00-7c01-8a11-0123456789ab",
        0,
        ClientRegistered(
            client_id="billing-api",
            name="billing-api",
            client_type="confidential",
            token_endpoint_auth_method="client_secret_basic",
            grant_types=("client_credentials",),
            scopes=("invoices:read", "invoices:write"),
            default_scopes=("invoices:read",),
            audiences=("https://api.example.com",),
            default_audience="https://api.example.com",
            can_introspect=False,
            secret_hash="sha256:" + "5e" * 32,
            jwks={},
        ),
    ),
    "client.updated.v1.json": _envelope(
        "019ad3f0-8a01-7c02-8a12-0123456789ab",
        1,
        ClientUpdated(
            client_id="billing-api",
            name="Billing API",
            client_type="confidential",
            token_endpoint_auth_method="private_key_jwt",
            grant_types=("client_credentials", "refresh_token"),
            scopes=("invoices:read",),
            default_scopes=(),
            audiences=("https://api.example.com", "https://billing.example.com"),
            default_audience="https://billing.example.com",
            can_introspect=True,
            jwks=_JWKS,
        ),
    ),
    "client.disabled.v1.json": _envelope(
        "019ad3f0-8a02-7c03-8a13-0123456789ab",
        2,
        ClientDisabled(client_id="billing-api", reason="leaked secret"),
    ),
    "client.enabled.v1.json": _envelope(
        "019ad3f0-8a03-7c04-8a14-0123456789ab",
        3,
        ClientEnabled(client_id="billing-api", reason="secret rotated"),
    ),
    "client.secret_rotated.v1.json": _envelope(
        "019ad3f0-8a04-7c05-8a15-0123456789ab",
        4,
        ClientSecretRotated(client_id="billing-api", secret_hash="sha256:" + "a7" * 32),
    ),
}
