"""Driving wrk (a native HTTP load generator) pinned to its own core, and reading its answer.

wrk comes from the distribution's packages (Debian: ``apt-get install wrk``); ``make
bench-peers`` installs it when missing and root. The Lua scripts beside this file post forms
and print one ``AUTHPLANE-WRK {json}`` line that :func:`parse_wrk` reads.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

SCRIPTS = Path(__file__).parent
MARKER = "AUTHPLANE-WRK "


class WrkMissing(RuntimeError):
    """wrk is not on PATH; the message says how to install it."""


TRANSPORT_ERRORS = ("connect", "read", "write", "timeout")
"""wrk's own error counters: a failed connect, a read error (a reset, or the server closing a
connection before a whole answer), a failed write, and a request past ``--timeout``. None of
these reaches a script's ``response()``, so none has an HTTP status."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: answers counted by the script, over ``seconds`` of wall time.

    ``good`` are 200 answers that passed the script's check, ``retry`` are 503s the script
    treats as "try again later", ``bad`` every other answer, counted per HTTP status in
    ``bad_statuses`` (200: a 200 without the expected text). ``errors`` are wrk's transport
    error counters by kind (:data:`TRANSPORT_ERRORS`). Latencies in ms. ``cpu_cores`` is wrk's
    own CPU (user + system seconds / wall seconds), so a reader can see it was not the
    bottleneck.
    """

    good: int
    bad: int
    retry: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_cores: float = 0.0
    bad_statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Good answers per second."""
        return self.good / self.seconds if self.seconds else 0.0

    @property
    def transport_errors(self) -> int:
        """Requests that got no HTTP answer at all (every kind of wrk error summed)."""
        return sum(self.errors.values())

    @property
    def error_rate(self) -> float:
        """Unexpected answers plus transport errors, over every request sent (0.0 to 1.0;
        503 retries count as sent, not as errors)."""
        failed = self.bad + self.transport_errors
        sent = self.good + self.retry + failed
        return failed / sent if sent else 0.0

    def describe_errors(self) -> str:
        """E.g. ``"0.02 % errors: HTTP 429 x2, read x1"``; ``"no errors"`` when clean."""
        parts = [f"HTTP {status} x{count}" for status, count in sorted(self.bad_statuses.items())]
        parts += [
            f"{kind} x{self.errors[kind]}" for kind in TRANSPORT_ERRORS if self.errors.get(kind)
        ]
        if not parts:
            return "no errors"
        return f"{100 * self.error_rate:.2f} % errors: " + ", ".join(parts)


def parse_wrk(stdout: str) -> WrkResult:
    """The result line our Lua scripts print; ValueError if wrk printed none (it failed)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            errors = data.get("errors", {})
            return WrkResult(
                good=int(data["good"]),
                bad=int(data["bad"]),
                retry=int(data["retry"]),
                seconds=data["duration_us"] / 1e6,
                p50_ms=data["p50_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                bad_statuses={int(k): int(v) for k, v in data.get("bad_statuses", {}).items()},
                errors={kind: int(errors.get(kind, 0)) for kind in TRANSPORT_ERRORS},
            )
    raise ValueError(f"wrk printed no result line:\n{stdout[-2000:]}")


def wrk_binary() -> str:
    """Path of wrk; WrkMissing (with the install command) when absent."""
    found = shutil.which("wrk")
    if found is None:
        raise WrkMissing(
            "wrk is not installed: run `apt-get install -y wrk` as root "
            "(`make bench-peers` does this when it runs as root)"
        )
    return found


def run_wrk(
    url: str,
    script: str,
    script_args: list[str],
    *,
    seconds: float,
    threads: int,
    connections: int,
    cores: str,
) -> WrkResult:
    """Run wrk against ``url`` for ``seconds`` with ``script`` (a file beside this module),
    pinned with taskset to ``cores`` (e.g. ``"1"``); raises RuntimeError if wrk fails."""
    argv = [
        "taskset",
        "-c",
        cores,
        wrk_binary(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(SCRIPTS / script),
        url,
        "--",
        *script_args,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}")
    result = parse_wrk(done.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # Every field of the parsed line kept: only wrk's CPU is added.
    return replace(result, cpu_cores=cpu / result.seconds if result.seconds else 0.0)
