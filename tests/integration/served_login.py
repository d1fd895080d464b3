"""A login test endpoint on a real loopback port, for clients that make their own HTTP requests
(schemathesis, PyJWT's PyJWKClient): the ``login`` fixture's app served by uvicorn with the
endpoint's own bounded protocol (``services.login.headers.server_options``), in the test's
event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn

from services.devstack.process import free_port
from services.login.app import create_app
from services.login.headers import server_options
from tests.integration.login_harness import Login, set_heartbeat

HEARTBEAT_EVERY_S = 2.0


@contextlib.asynccontextmanager
async def serving(login: Login, port: int | None = None) -> AsyncIterator[str]:
    """Serve ``login`` on ``port`` (a free one if None) with a live projector heartbeat (so
    /readyz answers 200) until the block ends; yields the base URL ``http://127.0.0.1:PORT``."""
    port = port or free_port()
    config = uvicorn.Config(
        create_app(login.settings, login.wiring),
        host="127.0.0.1",
        port=port,
        **server_options(login.settings),
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    served = asyncio.create_task(server.serve())
    beating = asyncio.create_task(_heartbeat(login))
    try:
        for _ in range(500):  # up to ~10 s
            if server.started or served.done():
                break
            await asyncio.sleep(0.02)
        assert server.started, "the login endpoint did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        beating.cancel()
        server.should_exit = True
        await served


async def _heartbeat(login: Login) -> None:
    while True:
        await set_heartbeat(login.settings.redis_url, login.settings.region)
        await asyncio.sleep(HEARTBEAT_EVERY_S)
