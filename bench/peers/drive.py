"""One load-generator run against one side, with the login process's CPU measured around it."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.peers import pin
from bench.peers.side import Side, basic, logins
from bench.peers.wrk import WrkResult, run_wrk
from schemas.settings import Settings

ERROR_RATE_MAX = 0.01
"""A run whose unexpected answers and transport errors exceed this fraction of its requests
gives no figure (:func:`check_errors`); below it they are reported beside the figure."""


class TooManyErrors(RuntimeError):
    """A wrk run failed more than :data:`ERROR_RATE_MAX` of its requests; the message says
    which answers (per HTTP status) and which transport errors (per kind)."""


@dataclass(frozen=True)
class Run:
    """A wrk result and the CPU cores the side's login process used meanwhile."""

    wrk: WrkResult
    login_cores: float

    @property
    def per_core(self) -> float:
        """Good answers per second per core of the login process."""
        return self.wrk.rate / self.login_cores if self.login_cores else 0.0


def wrk_cores() -> str:
    return pin.DATA_PLANE_CORES if pin.two_cores() else pin.all_cores()


def _measured(
    side: Side,
    script: str,
    args: list[str],
    seconds: float,
    threads: int,
    conns: int,
    on_start: Callable[[], object] | None = None,
    error_limit: float = ERROR_RATE_MAX,
) -> Run:
    pids = side.login_pids()
    if on_start is not None:
        on_start()
    cpu0, wall0 = pin.cpu_seconds(pids), time.perf_counter()
    result = run_wrk(
        side.url,
        script,
        args,
        seconds=seconds,
        threads=threads,
        connections=conns,
        cores=wrk_cores(),
    )
    busy = (pin.cpu_seconds(pids) - cpu0) / (time.perf_counter() - wall0)
    check_errors(f"{side.name} {script}", result, error_limit)
    _settle(result)
    return Run(result, busy)


def _settle(result: WrkResult) -> None:
    """Wait out the requests wrk abandoned when its run ended: the server still finishes them
    (a login's argon2 cannot be called back), and the next run would otherwise start behind
    them. They were in flight for at most about the run's slowest answers."""
    time.sleep(min(10.0, max(0.2, 2 * result.p99_ms / 1000)))


def check_errors(label: str, result: WrkResult, limit: float = ERROR_RATE_MAX) -> None:
    """Raise TooManyErrors when more than ``limit`` (a fraction) of the run's requests got an
    unexpected answer or none at all; below it the errors are reported beside the figure."""
    if result.error_rate > limit:
        raise TooManyErrors(
            f"{label}: {result.describe_errors()} (above the {100 * limit:g} % a figure may "
            f"carry; {result.good} good answers)"
        )


def password_grants(
    side: Side,
    seconds: float,
    connections: int = 4,
    warmup: float = 0.0,
    error_limit: float = ERROR_RATE_MAX,
    on_start: Callable[[], object] | None = None,
) -> Run:
    """wrk posting the password grant for one user; an answer counts if it has a token.
    ``warmup`` seconds of the same load first, not counted (the JVM compiles hot paths).
    TooManyErrors past ``error_limit`` (a fraction of the requests); ``on_start`` is called
    just before the counted run (a profiler starts there)."""
    args = [side.token_path, side.password_body(), "", '"access_token"']
    if warmup:
        _measured(side, "form.lua", args, warmup, 1, connections, error_limit=error_limit)
    return _measured(side, "form.lua", args, seconds, 1, connections, on_start, error_limit)


def introspections(
    side: Side,
    seconds: float,
    connections: int = 32,
    warmup: float = 2.0,
    on_start: Callable[[], object] | None = None,
) -> Run:
    """wrk posting RFC 7662 introspection of one live access token; counts ``active: true``.
    ``warmup`` seconds of the same load first, not counted; ``on_start`` is called just
    before the counted run (a profiler starts there)."""
    token = logins(side, 1)[0]["access_token"]
    args = [
        side.introspect_path,
        side.introspect_body(token),
        basic(side.introspection_auth),
        '"active":true',
    ]
    if warmup:
        _measured(side, "form.lua", args, warmup, 1, connections)
    return _measured(side, "form.lua", args, seconds, 1, connections, on_start)


def refresh_grants(
    side: Side,
    seconds: float,
    threads: int = 8,
    per_thread: int = 8,
    warmup: float = 2.0,
    on_start: Callable[[], object] | None = None,
) -> Run:
    """wrk rotating ``threads * per_thread`` sessions' refresh tokens (one connection per
    thread, each thread round-robin over its own sessions). The warm-up rotates other
    sessions (one per thread): a token spent there and sent again would be reuse."""
    if warmup:
        _refresh_once(side, warmup, threads, 1)
    return _refresh_once(side, seconds, threads, per_thread, on_start)


def _refresh_once(
    side: Side,
    seconds: float,
    threads: int,
    per_thread: int,
    on_start: Callable[[], object] | None = None,
) -> Run:
    tokens = [t["refresh_token"] for t in logins(side, threads * per_thread)]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(tokens) + "\n")
    try:
        args = [side.token_path, side.refresh_prefix(), handle.name, str(per_thread)]
        return _measured(side, "refresh.lua", args, seconds, threads, threads, on_start)
    finally:
        Path(handle.name).unlink()


def argon2_ceiling(settings: Settings, cores: str, seconds: float) -> float:
    """authplane's argon2id-only verifications/s (its parameters and thread count) in a
    process pinned to ``cores``: what the login process could reach on those cores."""
    code = (
        "import sys; from bench.login import argon2_ceiling; from schemas.settings import "
        "Settings; print(argon2_ceiling(Settings(argon2_memory_kib=int(sys.argv[1]), "
        "argon2_time_cost=int(sys.argv[2]), argon2_parallelism=int(sys.argv[3]), "
        "argon2_threads=int(sys.argv[4])), float(sys.argv[5])))"
    )
    argv = [
        "taskset",
        "-c",
        cores,
        sys.executable,
        "-c",
        code,
        str(settings.argon2_memory_kib),
        str(settings.argon2_time_cost),
        str(settings.argon2_parallelism),
        str(settings.hashing_threads),
        str(seconds),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])
