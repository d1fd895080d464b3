"""``python -m services.login``: one region's login endpoint, Settings from AUTHPLANE_* env."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator

import uvicorn
import uvloop

from schemas.settings import Settings, SettingsError
from services.login.app import create_app
from services.login.headers import server_options
from services.login.logs import configure_logging
from services.login.wiring import StartupError, build_wiring


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after shutdown, killing the process before our clients close;
    here a signal just asks the server to stop, and the process exits 0 after a clean close."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


async def serve(settings: Settings) -> int:
    # Clients are built before uvicorn starts so a start-up failure (an exposed key file, an
    # unreachable broker) is one clear line and an exit code, not a lifespan traceback.
    try:
        wiring = await build_wiring(settings)
    except StartupError as exc:
        print(f"login[{settings.region}]: {exc}", file=sys.stderr)
        return 1
    config = uvicorn.Config(
        create_app(settings, wiring),
        host=settings.http_host,
        port=settings.http_port,
        **server_options(settings),
        log_config=None,
        access_log=False,
        server_header=False,
    )
    server = _Server(config)
    try:
        await server.serve()
    finally:
        await wiring.close()
    return 0 if server.started else 1


def main() -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"login: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.region, settings.log_level)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(serve(settings))


if __name__ == "__main__":
    sys.exit(main())
