"""The projector's Prometheus endpoint (``AUTHPLANE_PROJECTOR_METRICS_PORT``) with bounded request
heads.

prometheus-client's own server (``start_http_server``, Python's ``http.server`` underneath) reads
up to 64 KiB per header line and 100 lines, about 6.4 MB per request, and waits for slow clients
forever, one thread each. Here the request line and headers are read through a reader that stops
at ``AUTHPLANE_MAX_HEADER_BYTES`` per line and ``AUTHPLANE_MAX_REQUEST_HEAD_BYTES`` in all, so a
larger head is answered 431 (RFC 6585 §5; 414 for the request line, RFC 9110 §15.5.15) after at
most that many bytes, and the connection is closed. Reads time out after ``READ_TIMEOUT_S``.
"""

from __future__ import annotations

import http.client
import socket
import threading
from http import HTTPStatus
from socketserver import ThreadingMixIn
from typing import Any, BinaryIO
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app

READ_TIMEOUT_S = 10.0
"""A client that sends nothing for this long loses its connection (and its thread)."""
_END_OF_HEAD = (b"\r\n", b"\n")


class BoundedHead:
    """The request's input stream with ``readline`` bounded until the head ends.

    Each line may hold ``max_line`` bytes plus its CRLF, all lines together ``max_head`` bytes;
    past either, ``http.client.LineTooLong`` is raised without reading further. After the empty
    line that ends the head, reads pass through unchanged (the body is the application's).
    """

    def __init__(self, raw: BinaryIO, *, max_line: int, max_head: int) -> None:
        self._raw = raw
        self._max_line = max_line
        self._room = max_head
        self._in_head = True

    def readline(self, size: int = -1) -> bytes:
        if not self._in_head:
            return self._raw.readline(size)
        limit = min(self._max_line + 2, self._room)
        line = self._raw.readline(limit + 1)
        if len(line) > limit:
            raise http.client.LineTooLong(f"request head line over {self._max_line} bytes")
        self._room -= len(line)
        self._in_head = line not in _END_OF_HEAD
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


class BoundedHandler(WSGIRequestHandler):
    """A quiet WSGI request handler that reads at most the configured head (see module doc)."""

    timeout = READ_TIMEOUT_S
    max_line = 8192
    max_head = 16384

    def setup(self) -> None:
        super().setup()
        raw: Any = self.rfile
        self.rfile = BoundedHead(raw, max_line=self.max_line, max_head=self.max_head)  # type: ignore[assignment]

    def handle(self) -> None:
        try:
            super().handle()
        except http.client.LineTooLong:
            # Only the request line gets here: parse_request answers 431 for header lines itself.
            self.requestline, self.request_version, self.command = "", "", ""
            self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def start_metrics_server(
    port: int,
    addr: str,
    *,
    max_header_bytes: int,
    max_request_head_bytes: int,
    registry: CollectorRegistry = REGISTRY,
) -> WSGIServer:
    """Serve ``registry`` on ``addr:port`` from a daemon thread; ``server.shutdown()`` stops it.

    Raises ``OSError`` if the port cannot be bound.
    """
    handler = type(
        "ProjectorMetricsHandler",
        (BoundedHandler,),
        {"max_line": max_header_bytes, "max_head": max_request_head_bytes},
    )
    family = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    server_class = type("ProjectorMetricsServer", (_ThreadingServer,), {"address_family": family})
    server: WSGIServer = make_server(addr, port, make_wsgi_app(registry), server_class, handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
