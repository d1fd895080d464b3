"""Bounded request heads on the login endpoint: a request line plus headers larger than
``AUTHPLANE_MAX_REQUEST_HEAD_BYTES`` is refused before the rest of it is read, and one header field
larger than ``AUTHPLANE_MAX_HEADER_BYTES`` gets 431 (RFC 6585 §5).

Why uvicorn's h11 protocol and not httptools: httptools (llhttp) has no limit on a header's size,
and its Python binding concatenates a header value chunk by chunk until the value ends, so a 40 MB
``Authorization`` header is read and copied in full (seconds of the event loop) before any code of
ours sees it. h11 refuses a head whose unparsed bytes exceed ``max_incomplete_event_size`` as soon
as that much has arrived (uvicorn answers 400 and closes the connection), so the work per refused
request is bounded by the cap, whatever the client sends. This is a documented uvicorn setting,
not a patch of its internals. The price is h11's pure-Python parsing, tens of microseconds per
request against a login's ~20 ms of argon2 and an introspection's ~1 ms.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from schemas.settings import Settings

HTTP_IMPLEMENTATION = "h11"


def server_options(settings: Settings) -> dict[str, Any]:
    """The ``uvicorn.Config`` keyword arguments that bound every request head (bytes)."""
    return {
        "http": HTTP_IMPLEMENTATION,
        "h11_max_incomplete_event_size": settings.max_request_head_bytes,
    }


class HeaderLimit:
    """ASGI middleware: 431 ``invalid_request`` for a request with a header field (name + value)
    longer than ``max_field_bytes``. The whole head is already bounded by the server, so this
    check costs at most one pass over ``AUTHPLANE_MAX_REQUEST_HEAD_BYTES``."""

    def __init__(self, app: ASGIApp, max_field_bytes: int) -> None:
        self.app = app
        self.max_field_bytes = max_field_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._oversized(scope):
            await _refuse(send)
            return
        await self.app(scope, receive, send)

    def _oversized(self, scope: Scope) -> bool:
        limit = self.max_field_bytes
        return any(len(name) + len(value) > limit for name, value in scope.get("headers", ()))


async def _refuse(send: Send) -> None:
    body = orjson.dumps(
        {"error": "invalid_request", "error_description": "a request header field is too large"}
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 431, "headers": headers})
    await send({"type": "http.response.body", "body": body})
