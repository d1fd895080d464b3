"""What an operator may register as an OAuth client (issue 12), checked once for every writer.

``authctl client create|update`` and the dev stack build a ``ClientSpec``, ``check`` it, and turn
it into the ``client.registered`` / ``client.updated`` payload. The rules are the protocol's:
RFC 6749 §2.1 (client types), §3.3 (scope tokens), §4.4 (client_credentials is for
confidential clients), RFC 7591 §2 (``token_endpoint_auth_method``), RFC 7523 §2.2 and RFC 7517
(``private_key_jwt`` needs a registered JWK Set), RFC 8707 §2 (resources are absolute URIs
without a fragment).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

from schemas.client_events import (
    AUTH_METHODS,
    AUTH_NONE,
    AUTH_PRIVATE_KEY_JWT,
    CLIENT_ID_PATTERN,
    CLIENT_TYPES,
    GRANT_TYPES,
    SCOPE_TOKEN,
    SECRET_AUTH_METHODS,
    ClientConfiguration,
    ClientRegistered,
    ClientUpdated,
)
from services.core.clients import ClientRecord

MAX_LIST = 64
"""At most this many grants, scopes or audiences per client (an event stays well under 64 KiB)."""


class InvalidClient(ValueError):
    """The configuration breaks a rule; the message is one line naming it."""


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """A client's full configuration as written to the log (every field of ``client.updated``).

    ``client_id`` doubles as ``name`` unless one is given; lists keep the operator's order with
    duplicates removed."""

    client_id: str
    client_type: str
    token_endpoint_auth_method: str
    grant_types: tuple[str, ...]
    scopes: tuple[str, ...] = ()
    default_scopes: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    default_audience: str = ""
    can_introspect: bool = False
    jwks: Mapping[str, Any] = field(default_factory=dict)
    name: str = ""

    @property
    def needs_secret(self) -> bool:
        """Whether the client authenticates with a client secret (basic or post)."""
        return self.token_endpoint_auth_method in SECRET_AUTH_METHODS


def normalized(spec: ClientSpec) -> ClientSpec:
    """``spec`` with duplicates dropped, ``name`` defaulted to the id, a default audience added
    to the allowed ones, and a single allowed audience made the default; then checked (raises
    ``InvalidClient``)."""
    audiences = _unique(spec.audiences)
    if spec.default_audience and spec.default_audience not in audiences:
        audiences = (*audiences, spec.default_audience)
    default_audience = spec.default_audience or (audiences[0] if len(audiences) == 1 else "")
    spec = replace(
        spec,
        default_audience=default_audience,
        name=spec.name or spec.client_id,
        grant_types=_unique(spec.grant_types),
        scopes=_unique(spec.scopes),
        default_scopes=_unique(spec.default_scopes),
        audiences=audiences,
        jwks=dict(spec.jwks),
    )
    check(spec)
    return spec


def check(spec: ClientSpec) -> None:
    """Raise ``InvalidClient`` (one line) unless ``spec`` is a client the token endpoint can
    serve consistently."""
    if not CLIENT_ID_PATTERN.fullmatch(spec.client_id):
        raise InvalidClient("a client id is 1-128 characters of A-Z a-z 0-9 . _ : @ -")
    _one_of("client type", spec.client_type, CLIENT_TYPES)
    _one_of("auth method", spec.token_endpoint_auth_method, AUTH_METHODS)
    public = spec.client_type == "public"
    if public != (spec.token_endpoint_auth_method == AUTH_NONE):
        raise InvalidClient("a public client uses auth method none, a confidential one never")
    if not spec.grant_types and not spec.can_introspect:
        raise InvalidClient("a client needs a grant, or the introspection permission")
    for grant in spec.grant_types:
        _one_of("grant", grant, GRANT_TYPES)
    if public and "client_credentials" in spec.grant_types:
        raise InvalidClient("client_credentials is for confidential clients (RFC 6749 §4.4)")
    if spec.grant_types and not spec.default_audience:
        raise InvalidClient(
            "a client with a grant needs an audience (--audience): every access token names the "
            "resource server it is for (RFC 9068 §2.2 aud)"
        )
    if public and spec.can_introspect:
        raise InvalidClient("only a confidential client may introspect (RFC 7662 §2.1)")
    _check_scopes(spec)
    _check_audiences(spec)
    _check_jwks(spec)
    if len(spec.name) > 200 or not spec.name.strip():
        raise InvalidClient("a client name is 1-200 characters")


def registered_event(spec: ClientSpec, secret_hash: str) -> ClientRegistered:
    """The ``client.registered`` payload of a normalized ``spec``; ``secret_hash`` "" if none."""
    return ClientRegistered(secret_hash=secret_hash, **_config(spec))


def updated_event(spec: ClientSpec) -> ClientUpdated:
    """The ``client.updated`` payload (the full new configuration) of a normalized ``spec``."""
    return ClientUpdated(**_config(spec))


def spec_of(record: ClientRecord) -> ClientSpec:
    """The configuration a projected client holds (sets in sorted order), to edit and update."""
    return ClientSpec(
        client_id=record.client_id,
        name=record.name,
        client_type=record.client_type,
        token_endpoint_auth_method=record.token_endpoint_auth_method,
        grant_types=tuple(sorted(record.grant_types)),
        scopes=tuple(sorted(record.scopes)),
        default_scopes=record.default_scopes,
        audiences=tuple(sorted(record.audiences)),
        default_audience=record.default_audience,
        can_introspect=record.can_introspect,
        jwks=dict(record.jwks),
    )


def _config(spec: ClientSpec) -> dict[str, Any]:
    config = {f.name: getattr(spec, f.name) for f in fields(ClientConfiguration)}
    return {**config, "jwks": dict(spec.jwks)}


def _check_scopes(spec: ClientSpec) -> None:
    for scope in (*spec.scopes, *spec.default_scopes):
        if not SCOPE_TOKEN.fullmatch(scope):
            raise InvalidClient(f"{scope!r} is not a scope token (RFC 6749 §3.3)")
    extra = [s for s in spec.default_scopes if s not in spec.scopes]
    if extra:
        raise InvalidClient(f"default scope {extra[0]} is not an allowed scope")
    if max(len(spec.scopes), len(spec.audiences), len(spec.grant_types)) > MAX_LIST:
        raise InvalidClient(f"at most {MAX_LIST} scopes, audiences or grants")


def _check_audiences(spec: ClientSpec) -> None:
    for audience in spec.audiences:
        parts = urlsplit(audience)
        if not parts.scheme or not (parts.netloc or parts.path) or "#" in audience:
            raise InvalidClient(
                f"audience {audience!r} is not an absolute URI without fragment (RFC 8707 §2)"
            )
    if spec.default_audience and spec.default_audience not in spec.audiences:
        raise InvalidClient("the default audience is not an allowed audience")


def _check_jwks(spec: ClientSpec) -> None:
    keys = spec.jwks.get("keys")
    has_keys = isinstance(keys, list) and bool(keys) and all(isinstance(k, dict) for k in keys)
    if spec.token_endpoint_auth_method == AUTH_PRIVATE_KEY_JWT and not has_keys:
        raise InvalidClient("private_key_jwt needs a JWK Set with keys (--jwks FILE)")
    if spec.jwks and not has_keys:
        raise InvalidClient('a JWK Set is an object {"keys": [...]} (RFC 7517 §5)')


def _one_of(what: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise InvalidClient(f"unknown {what} {value!r}: one of {', '.join(allowed)}")


def _unique(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))
