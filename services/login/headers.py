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

import asyncio
from typing import Any

import h11
import orjson
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from schemas.settings import Settings

LINGER_S = 2.0
"""How long a refused connection keeps reading (and discarding) before it closes, seconds."""
LINGER_MAX_BYTES = 256 * 1024
"""How much a refused connection reads (and discards) at most before it closes, bytes."""


def server_options(settings: Settings) -> dict[str, Any]:
    """The ``uvicorn.Config`` keyword arguments that bound every request head (bytes)."""
    return {
        "http": BoundedH11Protocol,
        "h11_max_incomplete_event_size": settings.max_request_head_bytes,
    }


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering a head that h11 refuses with the documented 414/431
    ``invalid_request`` JSON (other malformed requests keep uvicorn's 400) and closing by lingering
    (module docstring): the answer reaches the client instead of a reset."""

    _lingering = False
    _discarded = 0

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._discarded += len(data)
            if self._discarded > LINGER_MAX_BYTES:
                self.transport.close()
            return
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        pending, _ = self.conn.trailing_data
        cap = self.config.h11_max_incomplete_event_size  # always set by server_options
        if cap is not None and len(pending) > cap:
            line_ends = b"\n" in pending[:cap]
            status, description = (
                (431, "the request headers are too large")
                if line_ends
                else (414, "the request line is too long")
            )
        else:
            status, description = 400, msg
        body = _refusal_body(description) if status != 400 else msg.encode("ascii")
        kind = b"application/json" if status != 400 else b"text/plain; charset=utf-8"
        headers = [
            (b"content-type", kind),
            (b"content-length", b"%d" % len(body)),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=status, headers=headers),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
        self._linger()

    def _linger(self) -> None:
        self._lingering = True
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER_S, self.transport.close)


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


def _refusal_body(description: str) -> bytes:
    return orjson.dumps({"error": "invalid_request", "error_description": description})


async def _refuse(send: Send, status: int, description: str) -> None:
    body = _refusal_body(description)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
