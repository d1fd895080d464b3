"""``python -m bench.peers.appcpu``: CPU per request of the login app itself, for before/after
comparisons that a loaded machine does not swamp.

The app (``create_app`` over a ``build_wiring`` of a one-region dev stack's settings) is called
as an ASGI callable in this process, with no HTTP server and no sockets in front of it, one
request at a time. The figure is this process's CPU time (``time.process_time``, user + system)
per request, in µs: the middleware, routing, form parsing, JWT work, logging and the client side
of the Redis/Kafka round trips, but not uvicorn's HTTP parsing or its event-loop wake-ups (wrk
measures those, in ``python -m bench peers``). Waiting for Redis or the broker costs no CPU
here, so the figure moves with our code, not with how busy the other cores are. Each figure is
the best of ``--rounds`` rounds (the least disturbed one).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.login import PASSWORD, create_user, wait_user_everywhere
from bench.peers.systems import REGION, USERNAME
from schemas.names import DEV_PUBLIC_CLIENT_ID
from services.devstack.stack import INTROSPECTION_CLIENT_ID, Stack
from services.login.app import create_app
from services.login.wiring import build_wiring

FORM = b"application/x-www-form-urlencoded"


async def call(app: Any, path: str, body: bytes, auth: bytes = b"") -> tuple[int, bytes]:
    """One POST through the ASGI app: (status, body)."""
    headers = [(b"host", b"login"), (b"content-type", FORM), (b"content-length", b"%d" % len(body))]
    if auth:
        headers.append((b"authorization", auth))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
    }
    sent = False
    answer: dict[str, Any] = {"status": 0, "body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answer["status"], answer["body"]


async def measure(stack: Stack, count: int, rounds: int, mirror: bool) -> dict[str, float]:
    settings = stack.settings[REGION]
    if mirror:
        settings = settings.replace(introspection_mirror=True)
    wiring = await build_wiring(settings)
    app = create_app(settings, wiring)
    auth = b"Basic " + base64.b64encode(
        f"{INTROSPECTION_CLIENT_ID}:{stack.introspection_secret}".encode()
    )
    try:
        login = f"grant_type=password&username={USERNAME}&password={PASSWORD}".replace(" ", "+")
        login += f"&client_id={DEV_PUBLIC_CLIENT_ID}"
        status, raw = await call(app, "/oauth2/token", login.encode())
        if status != 200:
            raise RuntimeError(f"password grant answered {status}: {raw!r}")
        tokens = orjson.loads(raw)
        intro_body = f"token={tokens['access_token']}".encode()
        refresh_token = tokens["refresh_token"]

        async def introspect() -> None:
            status, raw = await call(app, "/oauth2/introspect", intro_body, auth)
            if status != 200 or b'"active":true' not in raw:
                raise RuntimeError(f"introspection answered {status}: {raw!r}")

        async def refresh() -> None:
            nonlocal refresh_token
            form = f"grant_type=refresh_token&client_id={DEV_PUBLIC_CLIENT_ID}"
            form += f"&refresh_token={refresh_token}"
            status, raw = await call(app, "/oauth2/token", form.encode())
            if status != 200:
                raise RuntimeError(f"refresh grant answered {status}: {raw!r}")
            refresh_token = orjson.loads(raw)["refresh_token"]

        best: dict[str, float] = {}
        for name, one in (("introspection", introspect), ("refresh grant", refresh)):
            for _ in range(count // 10):  # warm-up
                await one()
            for _ in range(rounds):
                cpu = time.process_time()
                for _ in range(count):
                    await one()
                per = (time.process_time() - cpu) / count * 1e6
                best[name] = min(best.get(name, per), per)
        return best
    finally:
        await wiring.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.appcpu")
    parser.add_argument("--count", type=int, default=1000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (the best one counts)")
    parser.add_argument(
        "--mirror", action="store_true", help="with AUTHPLANE_INTROSPECTION_MIRROR=true"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="authplane-appcpu-") as tmp:
        stack = Stack.start([REGION], Path(tmp) / "stack", inherited_env=dict(os.environ))
        try:
            create_user(stack, USERNAME)
            asyncio.run(wait_user_everywhere(stack, USERNAME))
            best = asyncio.run(measure(stack, args.count, args.rounds, args.mirror))
        finally:
            stack.stop()
    for name, micros in best.items():
        print(f"   {name:<14} {micros:7.0f} µs CPU per request in the app -> {1e6 / micros:7.0f}/s")


if __name__ == "__main__":
    main()
