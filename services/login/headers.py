"""Bounded request heads on the login endpoint: a request line plus headers larger than
``AUTHPLANE_MAX_REQUEST_HEAD_BYTES`` is refused before the rest of it is read, and one header field
larger than ``AUTHPLANE_MAX_HEADER_BYTES`` gets 431 (RFC 6585 §5).

Two layers, because h11's cap only fires on a head that is still incomplete when that much has
arrived: a larger head that reaches the server in one read (up to uvicorn's 64 KiB read size) is
parsed whole. ``HeaderLimit`` therefore also measures the parsed head and answers 414 (request
line, RFC 9110 §15.5.15) or 431 (headers) past the same cap, so the documented limit holds for
every size, and the work for a head of any size stays bounded by the read size.

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
    """ASGI middleware for bounded heads (sizes in bytes, as on the wire):

    - a request line (method, target, version) over ``max_head_bytes``: 414;
    - a header field (name + value) over ``max_field_bytes``: 431;
    - a request line plus header fields (each with its ``": "`` and CRLF) over
      ``max_head_bytes``: 431.

    Every refusal is ``invalid_request`` JSON with ``Connection: close``. The check is one pass
    over what the server already parsed (at most one read of 64 KiB past h11's own cap)."""

    def __init__(self, app: ASGIApp, max_field_bytes: int, max_head_bytes: int) -> None:
        self.app = app
        self.max_field_bytes = max_field_bytes
        self.max_head_bytes = max_head_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._refusal(scope)
            if refusal is not None:
                await _refuse(send, *refusal)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") + 1
        line = len(scope.get("method", "")) + target + len("HTTP/1.1") + 4
        if line > self.max_head_bytes:
            return 414, "the request line is too long"
        head = line
        for name, value in scope.get("headers", ()):
            field = len(name) + len(value)
            if field > self.max_field_bytes:
                return 431, "a request header field is too large"
            head += field + 4
        if head > self.max_head_bytes:
            return 431, "the request headers are too large"
        return None


async def _refuse(send: Send, status: int, description: str) -> None:
    body = orjson.dumps({"error": "invalid_request", "error_description": description})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
