"""Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3).

What a request presents is read once (``presented_client``) and checked against the client's
registration (``ClientAuthenticator``):

- ``client_secret_basic`` (RFC 6749 §2.3.1): HTTP Basic with the client id and secret, each
  application/x-www-form-urlencoded before base64;
- ``client_secret_post`` (RFC 6749 §2.3.1): ``client_id`` and ``client_secret`` in the body;
- ``private_key_jwt`` (RFC 7523 §2.2 and §3, OpenID Connect Core §9): ``client_assertion_type``
  ``urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` and a ``client_assertion`` signed by
  a key of the client's registered JWK Set (``services.login.client_assertion``);
- ``none``: a public client sends only ``client_id``.

A request using more than one method (a secret in the header and the body, Basic and an
assertion) is 400 ``invalid_request`` (RFC 6749 §2.3: a client "MUST NOT use more than one
authentication method in each request"). Every failure to authenticate (unknown or disabled
client, wrong secret, a method the client is not registered for, a bad assertion) is the same
401 ``invalid_client`` with a ``WWW-Authenticate: Basic`` challenge (RFC 6749 §5.2 requires it
when Basic was used; RFC 9110 §15.5.2 wants a challenge on every 401). The two secret methods
prove the same secret, so a client registered for either may use either; ``private_key_jwt``
and ``none`` are accepted only for clients registered with them (a key-holding client can never
be downgraded to a guessable secret).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote_plus

from schemas.client_events import AUTH_NONE, AUTH_PRIVATE_KEY_JWT, SECRET_AUTH_METHODS
from schemas.client_secrets import client_secret_matches
from services.core.clients import ClientRecord
from services.core.readmodel import StoreUnavailable
from services.login.client_assertion import AssertionVerifier
from services.login.credentials import split_authorization
from services.login.errors import ClientAuthError, OAuthError, Unavailable
from services.login.forms import invalid_request

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SECRET_METHODS = frozenset(SECRET_AUTH_METHODS)
KEY_METHOD = AUTH_PRIVATE_KEY_JWT
NO_AUTH_METHOD = AUTH_NONE
NO_CLIENT = "client authentication is required"
CLIENT_AUTH_FIELDS = ("client_id", "client_secret", "client_assertion", "client_assertion_type")


class ClientLookup(Protocol):
    async def get(self, client_id: str) -> ClientRecord | None: ...


@dataclass(frozen=True, slots=True)
class Presented:
    """What a request presented: the claimed ``client_id``, the ``method`` (an RFC 7591
    ``token_endpoint_auth_method`` value) and its credential (a secret or an assertion)."""

    client_id: str
    method: str
    credential: str = ""


def presented_client(authorization: str | None, form: Mapping[str, str]) -> Presented:
    """The client credentials of a request. Raises ``OAuthError`` 400 ``invalid_request`` when
    more than one method is used, 401 ``invalid_client`` when none is or Basic is malformed."""
    scheme, credential = split_authorization(authorization)
    secret, assertion = form.get("client_secret"), form.get("client_assertion")
    if scheme == "basic":
        if secret is not None or assertion is not None:
            raise invalid_request("use one client authentication method, not several")
        client_id, basic_secret = _basic_pair(credential)
        if form.get("client_id", client_id) != client_id:
            raise invalid_request("client_id differs from the authenticated client")
        return Presented(client_id, "client_secret_basic", basic_secret)
    if assertion is not None:
        if secret is not None:
            raise invalid_request("use one client authentication method, not several")
        if form.get("client_assertion_type") != JWT_BEARER:
            raise invalid_request(f"client_assertion_type must be {JWT_BEARER}")
        return Presented(form.get("client_id", ""), KEY_METHOD, assertion)
    public_id = form.get("client_id")
    if public_id is None:
        raise ClientAuthError(description=NO_CLIENT)
    if secret is not None:
        return Presented(public_id, "client_secret_post", secret)
    return Presented(public_id, NO_AUTH_METHOD)


def _basic_pair(credential: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(credential, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise ClientAuthError() from None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        raise ClientAuthError()
    # RFC 6749 §2.3.1: both are application/x-www-form-urlencoded before base64 ('+' is a space).
    return unquote_plus(client_id), unquote_plus(secret)


class ClientAuthenticator:
    """Authenticates the calling client against its registration (``clients``, the read model)
    and, for ``private_key_jwt``, the assertion rules (``assertions``)."""

    def __init__(self, clients: ClientLookup, assertions: AssertionVerifier) -> None:
        self._clients = clients
        self._assertions = assertions

    async def authenticate(
        self, authorization: str | None, form: Mapping[str, str], endpoint_url: str
    ) -> ClientRecord:
        """The authenticated, enabled client. ``endpoint_url`` is the URL the request was sent
        to (an assertion's acceptable ``aud``, besides the issuer and its token endpoint).

        Raises ``OAuthError``: 400 ``invalid_request`` (several methods), 401 ``invalid_client``
        (``ClientAuthError``), 503 ``Unavailable`` when the client store or the replay store
        does not answer (fail closed)."""
        presented = presented_client(authorization, form)
        if presented.method == KEY_METHOD:
            claimed = self._assertions.claimed_client(presented.credential, presented.client_id)
            presented = Presented(claimed, presented.method, presented.credential)
        record = await self._find(presented)
        if presented.method == KEY_METHOD:
            await self._assertions.verify(presented.credential, record, endpoint_url)
        elif presented.method in SECRET_METHODS:
            ok = record.token_endpoint_auth_method in SECRET_METHODS
            if not client_secret_matches(record.secret_hash, presented.credential) or not ok:
                raise ClientAuthError()
        elif record.token_endpoint_auth_method != NO_AUTH_METHOD or record.client_type != "public":
            raise ClientAuthError()  # a confidential client must prove who it is
        return record

    async def _find(self, presented: Presented) -> ClientRecord:
        try:
            record = await self._clients.get(presented.client_id)
        except StoreUnavailable:
            raise Unavailable("client store unreachable, try again") from None
        if record is None or record.disabled:
            raise ClientAuthError()
        registered = record.token_endpoint_auth_method
        if presented.method == KEY_METHOD and registered != KEY_METHOD:
            raise ClientAuthError()
        return record


def refuse(error: str, description: str) -> OAuthError:
    """A 400 RFC 6749 §5.2 error about what the authenticated client asked for."""
    return OAuthError(error, description)
