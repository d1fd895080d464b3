"""``authplane env``: shell exports that point a shell at a running stack.

``eval "$(authplane env)"`` sets, for every region R (upper-cased), ``AUTHPLANE_R_URL`` (its
login endpoint) and ``AUTHPLANE_R_METRICS_URL`` (its projector's metrics), the introspection
client's id and secret, and ``AUTHPLANE_STACK_FILE`` (absolute, so ``authctl`` finds the stack
from any directory). ``--region R`` narrows that to R and adds ``AUTHPLANE_REGION``,
``AUTHPLANE_URL`` and ``AUTHPLANE_METRICS_URL``. A stack with a front door adds
``AUTHPLANE_R_FRONT_DOOR_URL`` (and with ``--region``, ``AUTHPLANE_FRONT_DOOR_URL``). The secret
is printed on purpose: it is the dev stack's own, already in the (0600) stack file.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from schemas import names
from schemas.topology import Topology
from services.devstack.stackfile import front_door_urls

PREFIX = "AUTHPLANE_"


def exports(topo: Topology, stack_file: Path, region: str | None = None) -> list[tuple[str, str]]:
    """``(variable, value)`` pairs in print order; raises TopologyError for an unknown region."""
    chosen = [topo.region(region)] if region else list(topo.regions.values())
    doors = front_door_urls(topo)
    pairs = [(f"{PREFIX}STACK_FILE", str(stack_file.resolve()))]
    for r in chosen:
        pairs += [
            (f"{PREFIX}{r.name.upper()}_URL", r.login_url),
            (f"{PREFIX}{r.name.upper()}_METRICS_URL", r.projector_metrics_url),
        ]
        if r.name in doors:
            pairs.append((f"{PREFIX}{r.name.upper()}_FRONT_DOOR_URL", doors[r.name]))
    if region:
        r = chosen[0]
        pairs += [
            (f"{PREFIX}REGION", r.name),
            (f"{PREFIX}URL", r.login_url),
            (f"{PREFIX}METRICS_URL", r.projector_metrics_url),
        ]
        if r.name in doors:
            pairs.append((f"{PREFIX}FRONT_DOOR_URL", doors[r.name]))
    return [
        *pairs,
        (f"{PREFIX}INTROSPECTION_CLIENT_ID", topo.introspection_client_id),
        (f"{PREFIX}INTROSPECTION_CLIENT_SECRET", topo.introspection_client_secret),
        # The dev stack's first-party public client, allowed the password grant (issue 12).
        (f"{PREFIX}CLIENT_ID", names.DEV_PUBLIC_CLIENT_ID),
    ]


def render(pairs: list[tuple[str, str]]) -> str:
    """``export NAME=value`` lines, each value quoted for POSIX shells."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in pairs)


DEMO_USER = "alice"
DEMO_PASSWORD = "correct horse battery staple"  # noqa: S105 - the README's example password


def next_commands(
    topo: Topology, stack_dir: Path | None = None, bin_dir: str = ".venv/bin/"
) -> list[str]:
    """The three commands a newcomer runs next (create a user, log in in the first region,
    introspect in the last), with this stack's real addresses, after the ``eval`` of
    ``authplane env`` that sets the introspection credentials (``--base-dir stack_dir`` when
    the stack is not in the default place). The access token is a placeholder to paste."""
    first, last = topo.regions[next(iter(topo.regions))], list(topo.regions.values())[-1]
    client = '"$AUTHPLANE_INTROSPECTION_CLIENT_ID:$AUTHPLANE_INTROSPECTION_CLIENT_SECRET"'
    where = f" --base-dir {shlex.quote(str(stack_dir))}" if stack_dir else ""
    return [
        f'eval "$({bin_dir}authplane env{where})"',
        # --wait: the login that follows must not race the regions' projection (a failed login
        # counts toward the lockout).
        f"printf %s {shlex.quote(DEMO_PASSWORD)} | {bin_dir}authctl user create {DEMO_USER} "
        "--password-stdin --wait",
        f"curl -s {first.login_url}/oauth2/token -d grant_type=password -d username={DEMO_USER} "
        f"--data-urlencode {shlex.quote('password=' + DEMO_PASSWORD)} "
        '-d "client_id=$AUTHPLANE_CLIENT_ID"',
        f"curl -s -u {client} {last.login_url}/oauth2/introspect -d token=ACCESS_TOKEN",
    ]
