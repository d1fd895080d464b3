"""The token endpoint (RFC 6749 §3.2): authenticate the client, check its grant, dispatch.

Order of checks: the form and ``grant_type`` (400 ``invalid_request``/``unsupported_grant_type``),
then the client (401 ``invalid_client``, ``services.login.client_auth``), then whether that client
may use the grant (400 ``unauthorized_client``), then the grant itself. Every grant is issued to
the authenticated client only: a ``client_id`` parameter never names a client by itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.login.client_auth import ClientAuthenticator
from services.login.client_credentials import ClientCredentialsGrant
from services.login.client_policy import require_grant
from services.login.errors import OAuthError
from services.login.forms import require
from services.login.grant import PasswordGrant
from services.login.metrics import Metrics
from services.login.refresh import RefreshGrant

GRANT_TYPES = ("password", "refresh_token", "client_credentials")
"""The grant types this server supports (RFC 8414 ``grant_types_supported``)."""


@dataclass
class TokenEndpoint:
    """The parts the token endpoint needs, built once by the composition root."""

    clients: ClientAuthenticator
    password_grant: PasswordGrant
    refresh_grant: RefreshGrant
    client_credentials: ClientCredentialsGrant
    metrics: Metrics

    async def __call__(
        self,
        authorization: str | None,
        form: Mapping[str, str],
        endpoint_url: str,
        request_id: str,
        client_ip: str,
    ) -> dict[str, Any]:
        """The RFC 6749 §5.1 token response. Raises ``OAuthError`` (RFC 6749 §5.2 errors, 401
        ``invalid_client``, 429, 503) or ``PublishFailed`` (503)."""
        grant_type = require(form, "grant_type")
        if grant_type not in GRANT_TYPES:
            self.metrics.logins.labels("unsupported_grant_type").inc()
            raise OAuthError(
                "unsupported_grant_type",
                "grant_type must be password, refresh_token or client_credentials",
            )
        try:
            client = await self.clients.authenticate(authorization, form, endpoint_url)
            require_grant(client, grant_type)
        except OAuthError as exc:
            self.metrics.logins.labels(exc.error).inc()
            raise
        if grant_type == "refresh_token":
            return await self.refresh_grant(form, client, request_id)
        if grant_type == "client_credentials":
            return self.client_credentials(form, client)
        return await self.password_grant(form, client, request_id, client_ip)
