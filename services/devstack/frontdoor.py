"""The front door: HAProxy in front of the regions' login endpoints (``authplane up --front-door``).

One frontend per region, on its own port, with the same endpoint paths as a login endpoint. Its
backend sends every request to that region's login endpoint (the client's *home* region) while
the region's ``GET /readyz`` answers 200, and to another region's (a ``backup`` server) when it
does not. A region whose emergency login channel is open answers 200 ``degraded`` and keeps its
clients; one that answers 503 (it cannot log anyone in) or nothing loses them until it is back.
The backups are listed in region order and HAProxy sends everything to the first one that is up
(the next one only when that one is down too).

Failover figures (written into the config below, and the reasoning behind them):

- health check ``GET /readyz`` every ``CHECK_INTERVAL_MS`` (200 ms); ``FALL`` = 2 failed checks
  mark a server down, ``RISE`` = 2 good ones bring it back: a region that refuses connections or
  answers 503 is out within ~0.4 s, one that hangs within ~2 x ``CHECK_TIMEOUT_MS`` (2 s), and
  it is back ~0.4 s after it answers 200 again (``downinter``: a down server is checked as
  often);
- ``observe layer4`` with ``on-error mark-down``: a refused connection seen by live traffic marks
  the server down at once, without waiting for the checks;
- ``retries`` 2 with ``option redispatch 1``: a request whose connection failed is sent again,
  to another server, after at most ``min(timeout connect, 1 s)`` = 0.5 s.

HAProxy comes from the distribution's packages; when it is not on PATH the stack starts without a
front door (``install_hint`` says how to get it).
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from schemas import names
from services.devstack.process import HOST, ManagedProcess, spawn, wait_ready

HAPROXY = "haproxy"
INSTALL_HINT = (
    "no front door: haproxy is not on PATH (install it: `sudo apt-get install haproxy`, "
    "or `make front-door-tools`); starting the stack without one"
)
SBIN_DIRS: tuple[str, ...] = ("/usr/local/sbin", "/usr/sbin")
"""Where Debian installs haproxy; not on a normal user's PATH."""
CHECK_INTERVAL_MS = 200
FALL = 2
RISE = 2
CONNECT_TIMEOUT_MS = 500
CHECK_TIMEOUT_MS = 2000
"""How long a /readyz check may take. Not shorter: on a loaded machine a healthy region's /readyz
took over 500 ms, and a 500 ms limit took every region out at once (HAProxy then has no server
and answers 503 itself). A killed login endpoint is still out at once (a refused connection does
not wait for this); a hung one is out after about ``FALL`` x this."""
RETRIES = 2
SERVER_TIMEOUT_S = 15
"""How long a request may wait for a region's answer before the front door answers 504. A login
endpoint's slowest honest answer is bounded by its produce timeout (5 s) plus the outbox write
and an argon2id verification; 15 s leaves room for a loaded machine. A region that hangs (it
still accepts connections but answers nothing) leaves the front door's checks within about
0.4 s, but a request already inside it waits this long: it may have been carried out, so it is
never sent to another region."""
SOURCE_ADDRESS = "127.0.0.2"
"""The address HAProxy connects to the login endpoints from. It is loopback like ``HOST`` (Linux
routes all of 127.0.0.0/8 to ``lo``), but distinct, so a login endpoint can trust
``X-Forwarded-For`` from the front door alone (``FORWARDED_ALLOW_IPS``) and not from any other
local client."""
RETRY_AFTER_S = 1
"""Retry-After (s) of the front door's own 503, the same as a login endpoint's."""
UNAVAILABLE_BODY = (
    '{"error":"temporarily_unavailable","error_description":"no region can answer now"}'
)
FAILED_BODY = (
    '{"error":"temporarily_unavailable","error_description":'
    '"the region failed while answering; the request may have been carried out"}'
)
"""The body of the front door's own 502/504 (the region's login endpoint died or hung while the
request was with it). Not retried by the front door for token requests (a login or a refresh
may already be done); a client may retry after Retry-After like after a 503 (a second login is
a second session; a refresh repeated within the grace window gets a sibling pair)."""
IDEMPOTENT_POSTS = ("/oauth2/introspect", "/oauth2/revoke")
"""POST endpoints whose replay changes nothing: RFC 7662 introspection reads, and RFC 7009 §2.2
revocation of an already revoked (or unknown) token answers 200 and does nothing more."""


def haproxy_binary() -> Path | None:
    """HAProxy on PATH (or in ``SBIN_DIRS``), or None: the stack then starts without a front
    door."""
    found = shutil.which(HAPROXY) or shutil.which(HAPROXY, path=os.pathsep.join(SBIN_DIRS))
    return Path(found) if found else None


@dataclass(frozen=True)
class FrontDoorPlan:
    """Where each region's frontend listens and where each region's login endpoint answers.

    ``ports``: region -> the frontend's TCP port on ``HOST``; ``logins``: region -> the login
    endpoint's ``host:port``. Both in region order (the first region is nobody's fallback first).
    """

    ports: dict[str, int]
    logins: dict[str, str]

    def url(self, region: str) -> str:
        """``http://host:port`` of ``region``'s frontend."""
        return f"http://{HOST}:{self.ports[region]}"

    def urls(self) -> dict[str, str]:
        """region -> frontend URL (what the stack file records)."""
        return {region: self.url(region) for region in self.ports}


def render_config(plan: FrontDoorPlan) -> str:
    """The complete ``haproxy.cfg`` for ``plan`` (text)."""
    parts = [_GLOBAL_AND_DEFAULTS.format(**_numbers())]
    for region, port in plan.ports.items():
        parts.append(_frontend(region, port))
        parts.append(_backend(region, plan.logins))
    return "\n".join(parts)


def _json_error(status: int, body: str) -> str:
    """An ``http-error`` line: HAProxy's own answer ``status`` as RFC 6749 §5.2 error JSON with
    Retry-After, like every 5xx of a login endpoint (not HAProxy's HTML page)."""
    return (
        f"http-error status {status} content-type application/json string '{body}' "
        f"hdr Retry-After {RETRY_AFTER_S}"
    )


def _numbers() -> dict[str, object]:
    return {
        "inter": CHECK_INTERVAL_MS,
        "fall": FALL,
        "rise": RISE,
        "connect": CONNECT_TIMEOUT_MS,
        "check": CHECK_TIMEOUT_MS,
        "retries": RETRIES,
        "server": SERVER_TIMEOUT_S,
        "source": SOURCE_ADDRESS,
        "unavailable": _json_error(503, UNAVAILABLE_BODY),
        "bad_gateway": _json_error(502, FAILED_BODY),
        "gateway_timeout": _json_error(504, FAILED_BODY),
    }


_GLOBAL_AND_DEFAULTS = """\
# Generated by `authplane up --front-door` (services/devstack/frontdoor.py); rewritten each start.
global
    log stderr format raw local0 info
    maxconn 2048

defaults
    mode http
    log global
    option dontlognull
    # The log (logs/front-door.log) gets server state changes and the requests that went wrong
    # (a 5xx, an aborted or retried request), with HAProxy's termination state; not the rest.
    option httplog
    option dontlog-normal
    # The whole request is read before a server gets it, and sent in one go: a server that died
    # while HAProxy was still sending (termination state SD) left the client with a closed
    # connection instead of a 502, and was never retried (seen in the drill).
    option http-buffer-request
    # HAProxy's own 503 (no region can answer now), 502 (the region died while answering) and 504
    # read like a login endpoint's: the RFC 6749 error JSON, and Retry-After as on every 503 of
    # ours, never HAProxy's HTML page.
    {unavailable}
    {bad_gateway}
    {gateway_timeout}
    timeout connect {connect}ms
    timeout client 30s
    timeout server {server}s
    timeout check {check}ms
    # A failed connection is tried again, on another server (`redispatch 1`: every retry).
    retries {retries}
    option redispatch 1
    # conn-failure: the connection to the server was never made, so the request never reached
    # it: retrying cannot repeat anything a server did. empty-response (the server closed the
    # connection without answering) is NOT that safe: a server killed while processing may have
    # acted already (published the login, rotated the refresh token). So the frontends turn it
    # off (disable-l7-retry) for every POST but the idempotent ones; no status code (e.g. 503)
    # is ever retried.
    retry-on conn-failure empty-response
    # inter/downinter: check every {inter} ms, up or down; fall/rise: {fall} failed checks mark a
    # server down, {rise} good ones bring it back. observe layer4 + on-error mark-down: a refused
    # connection from live traffic marks it down at once. source: the address the login
    # endpoints trust X-Forwarded-For from (and from nothing else).
    default-server inter {inter}ms fastinter {inter}ms downinter {inter}ms fall {fall} rise {rise}
    default-server observe layer4 error-limit 1 on-error mark-down source {source}
"""


def _frontend(region: str, port: int) -> str:
    return f"""\
frontend {region}
    bind {HOST}:{port}
    # The lockout counts the client's address: replace (never append to) whatever the client
    # sent, so the login endpoint sees exactly one entry, written by us.
    http-request set-header {names.HEADER_FORWARDED_FOR} %[src]
    # Replay is safe only for GET/HEAD and these POSTs (read-only, or idempotent per RFC 7009).
    acl replay_safe path {" ".join(IDEMPOTENT_POSTS)}
    http-request disable-l7-retry if METH_POST !replay_safe
    default_backend {region}_logins
"""


def _backend(home: str, logins: Mapping[str, str]) -> str:
    lines = [
        f"backend {home}_logins",
        "    option httpchk GET /readyz",
        "    http-check expect status 200",
        # Which region answered: clients and drills can tell a failover apart from home.
        f"    http-response set-header {names.HEADER_SERVED_BY} %[srv_name]",
        f"    server {home} {logins[home]} check",
    ]
    lines += [f"    server {r} {a} check backup" for r, a in logins.items() if r != home]
    return "\n".join(lines) + "\n"


def start_front_door(
    binary: Path, plan: FrontDoorPlan, base_dir: Path, *, die_with_parent: bool
) -> ManagedProcess:
    """Write ``base_dir/front-door/haproxy.cfg`` and run HAProxy on it in the foreground.

    Returns once every frontend port accepts connections. Raises InfraError (with HAProxy's log
    tail) if it exits or does not listen within 10 s.
    """
    config = base_dir / "front-door" / "haproxy.cfg"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(render_config(plan))
    proc = spawn(
        "front-door",
        # -db: stay in the foreground, so the launcher supervises it like every other child.
        [str(binary), "-db", "-f", str(config)],
        log_path=base_dir / "logs" / "front-door.log",
        address=" ".join(f"{r}={u}" for r, u in plan.urls().items()),
        die_with_parent=die_with_parent,
    )
    proc.details.update(region="", service="front-door", config=str(config), urls=plan.urls())
    wait_ready(proc, lambda: all(_listening(p) for p in plan.ports.values()), 10.0)
    return proc


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((HOST, port)) == 0
