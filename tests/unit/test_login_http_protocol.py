"""The login endpoint's bounded httptools protocol (``services.login.headers``), fed byte strings
through a recording transport: the work per request head stays bounded whichever way the head is
cut into reads, and requests within the cap are answered as before."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from services.login.headers import LINGER_MAX_BYTES, bounded_protocol

CAP = 16 * 1024
READ = 1024
STATUS_LINE = re.compile(rb"HTTP/1\.1 (\d{3}) ")


async def _answer(scope: dict[str, Any], receive: Any, send: Any) -> None:
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = b'{"ok":true}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Transport(asyncio.Transport):
    """Records what the protocol writes, and whether it shut its side or closed."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.eof = False
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 80)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Fed:
    """A protocol on a recording transport, counting the bytes its parser was given."""

    def __init__(self) -> None:
        config = Config(_answer, http=bounded_protocol(CAP), log_config=None, access_log=False)
        config.load()
        self.protocol = bounded_protocol(CAP)(
            config=config, server_state=ServerState(), app_state={}
        )
        self.transport = Transport()
        self.protocol.connection_made(self.transport)
        self.parsed = 0
        feed = self.protocol.parser.feed_data

        def counting(data: bytes) -> None:
            self.parsed += len(data)
            feed(data)

        self.protocol.parser = _Parser(self.protocol.parser, counting)  # type: ignore[assignment]

    async def send(self, data: bytes, read: int = READ) -> None:
        for at in range(0, len(data), read):
            if self.transport.closed:
                return  # a closed transport delivers nothing more
            self.protocol.data_received(data[at : at + read])
            for _ in range(4):
                await asyncio.sleep(0)  # let the app task answer

    def statuses(self) -> list[int]:
        return [int(status) for status in STATUS_LINE.findall(self.transport.written)]

    def body(self) -> dict[str, Any]:
        parsed: dict[str, Any] = orjson.loads(self.transport.written.rpartition(b"\r\n\r\n")[2])
        return parsed


class _Parser:
    def __init__(self, parser: Any, feed: Any) -> None:
        self._parser = parser
        self.feed_data = feed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)


def _request(path: bytes = b"/healthz", fields: bytes = b"", body: bytes = b"") -> bytes:
    length = b"Content-Length: %d\r\n" % len(body) if body else b""
    return b"POST %s HTTP/1.1\r\nHost: eu\r\n%s%s\r\n%s" % (path, fields, length, body)


async def test_a_header_value_sent_in_small_reads_is_refused_431_once_past_the_cap() -> None:
    fed = Fed()
    await fed.send(
        b"GET /healthz HTTP/1.1\r\nHost: eu\r\nAuthorization: Bearer " + b"a" * 4_000_000
    )
    assert fed.statuses() == [431]
    assert fed.body()["error"] == "invalid_request"
    assert fed.transport.eof  # lingering: the answer is read before the connection closes
    assert fed.parsed <= CAP + READ  # 4 MB sent, not even 20 KB parsed


async def test_a_request_line_sent_in_small_reads_is_refused_414() -> None:
    fed = Fed()
    await fed.send(b"GET /healthz?" + b"a" * 100_000)
    assert fed.statuses() == [414]
    assert fed.parsed <= CAP + READ


async def test_a_refused_connection_stops_after_reading_at_most_the_linger_budget() -> None:
    fed = Fed()
    await fed.send(b"GET /healthz?" + b"a" * (CAP + LINGER_MAX_BYTES + 4 * READ))
    assert fed.statuses() == [414]
    assert fed.transport.closed


async def test_a_head_within_the_cap_in_many_reads_is_answered() -> None:
    fed = Fed()
    fields = b"".join(b"X-F%d: %s\r\n" % (i, b"a" * 1000) for i in range(14))  # ~14 KB
    await fed.send(_request(fields=fields), read=100)
    assert fed.statuses() == [200]


async def test_pipelined_requests_with_a_large_body_do_not_count_against_the_next_head() -> None:
    # The first request's 15 KB body and the start of the next head share a read: only the
    # next head's bytes count towards its cap.
    fed = Fed()
    fields = b"".join(b"X-F%d: %s\r\n" % (i, b"a" * 1000) for i in range(10))
    first = _request(body=b"b" * 15_000)
    second = _request(fields=fields)
    await fed.send(first + second[:2000], read=64 * 1024)
    await fed.send(second[2000:], read=READ)
    assert fed.statuses() == [200, 200]


async def test_keep_alive_requests_each_get_their_own_cap() -> None:
    fed = Fed()
    fields = b"".join(b"X-F%d: %s\r\n" % (i, b"a" * 1000) for i in range(10))
    for _ in range(3):
        await fed.send(_request(fields=fields), read=READ)
    assert fed.statuses() == [200, 200, 200]


async def test_chunked_trailers_past_the_cap_close_the_connection() -> None:
    fed = Fed()
    head = b"POST /healthz HTTP/1.1\r\nHost: eu\r\nTransfer-Encoding: chunked\r\n\r\n"
    await fed.send(head + b"5\r\nhello\r\n0\r\nX-Trailer: " + b"a" * 4_000_000)
    assert fed.transport.closed
    assert fed.parsed <= len(head) + CAP + 2 * READ


@pytest.mark.parametrize("chunk", [1, 100, 20_000])
async def test_chunked_bodies_in_any_reads_are_answered(chunk: int) -> None:
    fed = Fed()
    head = b"POST /healthz HTTP/1.1\r\nHost: eu\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"%x\r\n%s\r\n" % (chunk, b"c" * chunk) * (40_000 // chunk + 1)
    await fed.send(head + body + b"0\r\nX-Trailer: t\r\n\r\n", read=READ)
    assert fed.statuses() == [200]
    assert not fed.transport.closed


async def test_trailer_fields_never_become_request_headers() -> None:
    """A chunked body's trailer fields are dropped (as h11 dropped them): appended to the running
    request's headers they would reach code reading headers after the body, past HeaderLimit."""
    seen: list[list[tuple[bytes, bytes]]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        seen.append(list(scope["headers"]))
        await _answer(scope, _ended, send)

    config = Config(app, http=bounded_protocol(CAP), log_config=None, access_log=False)
    config.load()
    protocol = bounded_protocol(CAP)(config=config, server_state=ServerState(), app_state={})
    transport = Transport()
    protocol.connection_made(transport)
    head = b"POST /healthz HTTP/1.1\r\nHost: eu\r\nTransfer-Encoding: chunked\r\n\r\n"
    trailers = b"0\r\nAuthorization: Basic dHJhaWxlcjp4\r\nX-Injected: 1\r\n\r\n"
    for data in (head, b"5\r\nhello\r\n" + trailers):
        protocol.data_received(data)
        for _ in range(10):
            await asyncio.sleep(0)
    assert STATUS_LINE.findall(transport.written) == [b"200"]
    names = {name for name, _ in seen[0]}
    assert names == {b"host", b"transfer-encoding"}


async def _ended() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}
