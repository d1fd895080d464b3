"""OAuth client events (issue 12): registered, updated, disabled/enabled, secret rotated.

Every client event travels on ``names.TOPIC_EVENTS`` with the envelope's partition key
``names.client_partition_key(client_id)`` (``"client:" + client_id``): one client's events are
totally ordered, and clients belong to no user. Convergence rules (the projection
``streams.projection.clients`` applies them, whatever the delivery order):

- the earliest ``client.registered`` of a client id wins (two regions racing to register it);
- the configuration (a registration's or a ``client.updated``'s, always the full set, never a
  diff) with the greatest event id wins, and any update beats any registration;
- ``client.disabled`` / ``client.enabled``: the greatest event id of the two wins;
- the secret hash (a registration's or a ``client.secret_rotated``'s): the greatest event id wins,
  any rotation beating any registration.

Terms are RFC 6749 (§2.1 client types, §2.3 client authentication), RFC 7591 §2 (metadata
names: ``token_endpoint_auth_method``, ``grant_types``, ``jwks``) and RFC 8707 (audiences are
``resource`` values). Secrets never travel: only ``schemas.client_secrets`` hashes do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

CLIENT_TYPES = ("confidential", "public")
"""RFC 6749 §2.1."""
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
"""RFC 7591 §2 ``token_endpoint_auth_method`` values a client may be registered with."""
AUTH_CLIENT_SECRET_BASIC = AUTH_METHODS[0]
"""RFC 6749 §2.3.1 HTTP Basic: the default of a confidential client."""
AUTH_NONE = AUTH_METHODS[3]
"""The auth method of a public client: it sends only its ``client_id``."""
AUTH_PRIVATE_KEY_JWT = AUTH_METHODS[2]
"""RFC 7523 §2.2 client assertion signed with a key of the client's registered JWK Set."""
SECRET_AUTH_METHODS = (AUTH_METHODS[0], AUTH_METHODS[1])
"""RFC 6749 §2.3.1: the client secret in the Authorization header or in the form body."""
GRANT_TYPES = ("password", "refresh_token", "client_credentials")
"""The grants a client may be allowed (RFC 6749 §4.3, §6, §4.4)."""
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
"""RFC 6749 §3.3 ``scope-token``: a scope's characters (match with ``fullmatch``)."""
CLIENT_ID_PATTERN = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
"""What ``authctl client create`` accepts as a client id (the client's name)."""
_DIGITS = "0123456789abcdef"
_COMPLEMENT = str.maketrans(_DIGITS, _DIGITS[::-1])


def update_order(event_id: str) -> str:
    """Precedence of a ``client.updated`` / ``client.secret_rotated`` in its group of the
    projection: ``"1"`` + the event id's 32 hex digits, so it beats every registration and the
    greatest id wins among updates. 33 lower-case hex digits: the same order in Redis, Python
    and any Postgres collation."""
    return "1" + event_id.replace("-", "")


def registration_order(event_id: str) -> str:
    """Precedence of a ``client.registered``: ``"0"`` + the complemented hex digits, so it is
    below every update and the earliest registration is the greatest."""
    return "0" + event_id.replace("-", "").translate(_COMPLEMENT)


@dataclass(frozen=True, slots=True)
class ClientConfiguration:
    """The fields a client's configuration is made of (RFC 7591 §2 names); not an event: the
    payload fields ``client.registered`` and ``client.updated`` share."""

    client_id: str
    name: str
    client_type: str
    token_endpoint_auth_method: str
    grant_types: tuple[str, ...]
    scopes: tuple[str, ...]
    default_scopes: tuple[str, ...]
    audiences: tuple[str, ...]
    default_audience: str
    can_introspect: bool
    jwks: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ClientRegistered(ClientConfiguration):
    """An OAuth client was registered; the earliest registration of a client id wins.

    ``secret_hash`` is ``"sha256:<hex>"`` (``schemas.client_secrets``) or ``""`` for a client
    without a secret (public, or ``private_key_jwt``); ``jwks`` is an RFC 7517 JWK Set
    (``{}`` if none) whose keys verify the client's RFC 7523 assertions.
    """

    TYPE: ClassVar[str] = "client.registered"
    VERSION: ClassVar[int] = 1

    secret_hash: str  # a digest of a 256-bit random secret; never logged all the same


@dataclass(frozen=True, slots=True)
class ClientUpdated(ClientConfiguration):
    """A client's full new configuration (not a diff); the greatest event id wins."""

    TYPE: ClassVar[str] = "client.updated"
    VERSION: ClassVar[int] = 1


@dataclass(frozen=True, slots=True)
class ClientDisabled:
    """The client can no longer authenticate, obtain or refresh tokens anywhere; the latest of
    disabled/enabled (greatest event id) wins."""

    TYPE: ClassVar[str] = "client.disabled"
    VERSION: ClassVar[int] = 1

    client_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ClientEnabled:
    """The client may authenticate again; the latest of disabled/enabled wins."""

    TYPE: ClassVar[str] = "client.enabled"
    VERSION: ClassVar[int] = 1

    client_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ClientSecretRotated:
    """The client's secret was replaced (the old one stops working once this is applied)."""

    TYPE: ClassVar[str] = "client.secret_rotated"
    VERSION: ClassVar[int] = 1

    client_id: str
    secret_hash: str  # "sha256:<hex>"; never logged


CLIENT_EVENT_CLASSES: tuple[type[Any], ...] = (
    ClientRegistered,
    ClientUpdated,
    ClientDisabled,
    ClientEnabled,
    ClientSecretRotated,
)
"""Registered in ``schemas.events.EVENT_CLASSES`` (so in the catalog); all on the events topic."""
