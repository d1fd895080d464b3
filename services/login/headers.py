"""Bounded request heads on the login endpoint: a request line plus headers larger than
``AUTHPLANE_MAX_REQUEST_HEAD_BYTES`` is refused before the rest of it is read, and one header field
larger than ``AUTHPLANE_MAX_HEADER_BYTES`` gets 431 (RFC 6585 §5).

Two layers. The protocol (``BoundedHttpToolsProtocol``) counts the bytes it hands the parser while
a head is still incomplete, and refuses once they pass the cap: 414 (the request line alone is
over it, RFC 9110 §15.5.15) or 431, ``invalid_request`` JSON, then closes by lingering. A head
that reaches the server whole in one read (up to the event loop's read size) is parsed whole;
``HeaderLimit`` then measures the parsed head and answers 414/431 past the same caps. So the
documented limits hold for every size, and the work for a head of any size stays bounded by the
cap plus one read.

Why the count is ours: httptools (llhttp) has no limit on a header's size, and its Python
binding concatenates a header value chunk by chunk until the value ends, so unbounded, a 40 MB
``Authorization`` header would be read and copied in full (seconds of the event loop, quadratic
in the number of reads) before any code of ours sees it. Counting before the parser is fed again
stops that at the cap. A head that starts inside a read (keep-alive, pipelining) is counted
from the next read on: the bound stays the cap plus one read. Trailer fields of a chunked body
(the other place llhttp concatenates) get the same bound.

Why httptools and not h11 (chosen before for its built-in cap): h11 parses in pure Python.
Measured per request, protocol plus a trivial app, on the shared 2-core box: h11 156-200 µs,
this protocol 33-44 µs; py-spy put h11 at ~20 % of an introspection's CPU (issue 13).
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

import httptools
import orjson
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from schemas.settings import Settings

LINGER_S = 2.0
"""How long a refused connection keeps reading (and discarding) before it closes, seconds."""
LINGER_MAX_BYTES = 256 * 1024
"""How much a refused connection reads (and discards) at most before it closes, bytes."""


def server_options(settings: Settings) -> dict[str, Any]:
    """The ``uvicorn.Config`` keyword arguments that bound every request head (bytes)."""
    return {"http": bounded_protocol(settings.max_request_head_bytes)}


def bounded_protocol(max_head_bytes: int) -> type[BoundedHttpToolsProtocol]:
    """``BoundedHttpToolsProtocol`` refusing heads over ``max_head_bytes`` (bytes)."""
    attributes = {"max_head_bytes": max_head_bytes}
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), attributes)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the work per request head bounded (module docstring):
    the bytes fed to the parser while a head is incomplete are counted, and once they pass
    ``max_head_bytes`` the request is answered 414 (its request line alone is over the cap) or
    431, as ``invalid_request`` JSON, and the connection closed by lingering, so the answer
    reaches the client instead of a reset. Trailer fields of a chunked body get the same bound
    (past it the connection is closed: the answer, if any, has gone already). Other malformed
    requests keep uvicorn's 400."""

    max_head_bytes = 16 * 1024
    _lingering = False
    _discarded = 0
    _in_head = True  # waiting for, or inside, a request head
    _head_bytes = 0  # bytes of the current head counted so far (module docstring)
    _heads_ended = 0  # on_headers_complete calls, to tell when a head ended within a read
    _awaiting_chunk = False  # a chunk header arrived and none of its data yet: maybe trailers
    _chunk_events = 0
    _trailer_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._discarded += len(data)
            if self._discarded > LINGER_MAX_BYTES:
                self.transport.close()
            return
        in_head, heads_ended = self._in_head, self._heads_ended
        awaiting_chunk, chunk_events = self._awaiting_chunk, self._chunk_events
        super().data_received(data)
        if self._lingering or self.transport.is_closing():
            return
        if self._in_head:
            # A head that began inside this read is not counted: its start is not known, and
            # leaving out less than one read keeps the bound (one read past the cap).
            same_head = in_head and heads_ended == self._heads_ended
            self._head_bytes = self._head_bytes + len(data) if same_head else 0
            if self._head_bytes > self.max_head_bytes:
                self._refuse_head()
        elif self._awaiting_chunk:
            same = awaiting_chunk and chunk_events == self._chunk_events
            self._trailer_bytes = self._trailer_bytes + len(data) if same else 0
            if self._trailer_bytes > self.max_head_bytes:
                self.transport.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        # Trailer fields of a chunked body come through here too: uvicorn would append them to
        # the running request's headers, past HeaderLimit's checks. They are dropped, as h11
        # dropped them (RFC 9110 §6.5: a recipient may discard trailers it does not use).
        if self._in_head:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        self._heads_ended += 1
        super().on_headers_complete()

    def on_chunk_header(self) -> None:
        self._awaiting_chunk, self._trailer_bytes = True, 0
        self._chunk_events += 1

    def on_body(self, body: bytes) -> None:
        self._awaiting_chunk = False
        self._chunk_events += 1
        super().on_body(body)

    def on_chunk_complete(self) -> None:
        self._awaiting_chunk = False

    def on_message_complete(self) -> None:
        self._in_head, self._awaiting_chunk = True, False
        super().on_message_complete()

    def _refuse_head(self) -> None:
        try:
            method = len(self.parser.get_method())
        except httptools.HttpParserError:
            method = 0
        # The request line with its two spaces, version and CRLF, counted as HeaderLimit does.
        line = method + len(getattr(self, "url", b"")) + len(" HTTP/1.1") + 3
        if line > self.max_head_bytes:
            status, description = 414, "the request line is too long"
        else:
            status, description = 431, "the request headers are too large"
        body = _refusal_body(description)
        head = b"HTTP/1.1 %d %s\r\n" % (status, HTTPStatus(status).phrase.encode())
        for name, value in _refusal_headers(body):
            head += b"%s: %s\r\n" % (name, value)
        self.transport.write(head + b"\r\n" + body)
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
    over what the server already parsed (at most one read of 64 KiB past the protocol's own
    count)."""

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


def _refusal_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),
    ]


async def _refuse(send: Send, status: int, description: str) -> None:
    body = _refusal_body(description)
    headers = _refusal_headers(body)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
