"""Building the two :class:`Side` descriptions from a running authplane stack and Keycloak."""

from __future__ import annotations

from urllib.parse import urlparse

import httpx

from bench.login import PASSWORD, create_user
from bench.peers import pin
from bench.peers.keycloak import CLIENT_ID, Keycloak
from bench.peers.keycloak import REALM as REALM_KC
from bench.peers.side import Side
from schemas.names import DEV_PUBLIC_CLIENT_ID
from services.devstack.stack import INTROSPECTION_CLIENT_ID, Stack

USERNAME = "bench-user"
CHEAP_USERNAME = "bench-cheap"
CHEAP_REALM = "bench-cheap"
CHEAP_POLICY = "hashAlgorithm(pbkdf2-sha256) and hashIterations(1)"
REGION = "eu"


def login_pid(stack: Stack, region: str = REGION) -> int:
    return next(
        p.pid
        for p in stack.apps
        if p.details.get("service") == "login" and p.details.get("region") == region
    )


def data_plane_pids(stack: Stack) -> list[int]:
    """Every process of the stack except the login endpoints, with their children."""
    logins = {p.pid for p in stack.apps if p.details.get("service") == "login"}
    return [
        pid for proc in stack.processes() if proc.pid not in logins for pid in pin.spread(proc.pid)
    ]


def create_cheap_user(stack: Stack, username: str) -> None:
    """A user whose stored hash is argon2id at the minimum cost (8 KiB, t=1): logins verify
    with the hash's own parameters, so sessions for the memory figure are quick to make."""
    cheap = {"AUTHPLANE_ARGON2_MEMORY_KIB": "8", "AUTHPLANE_ARGON2_TIME_COST": "1"}
    create_user(stack, username, cheap)


def authplane_side(stack: Stack, username: str = USERNAME) -> Side:
    settings = stack.settings[REGION]

    def logout(client: httpx.Client, tokens: dict[str, str]) -> None:
        answer = client.post(
            f"http://{settings.http_host}:{settings.http_port}/v1/logout",
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        )
        answer.raise_for_status()

    return Side(
        name="authplane",
        url=f"http://{settings.http_host}:{settings.http_port}",
        token_path="/oauth2/token",
        introspect_path="/oauth2/introspect",
        password_form={"username": username, "password": PASSWORD},
        client_form={"client_id": DEV_PUBLIC_CLIENT_ID},
        introspection_auth=(INTROSPECTION_CLIENT_ID, stack.introspection_secret),
        login_pids=lambda: [login_pid(stack)],
        logout=logout,
    )


def keycloak_side(keycloak: Keycloak, realm: str = REALM_KC, username: str = USERNAME) -> Side:
    client_form = {"client_id": CLIENT_ID, "client_secret": keycloak.client_secret}

    def logout(client: httpx.Client, tokens: dict[str, str]) -> None:
        # OIDC RP-initiated logout by refresh token (Keycloak's back-channel form): 204.
        answer = client.post(
            f"{keycloak.url}{keycloak.logout_path(realm)}",
            data={**client_form, "refresh_token": tokens["refresh_token"]},
        )
        answer.raise_for_status()

    return Side(
        name="Keycloak",
        url=keycloak.url,
        token_path=keycloak.token_path(realm),
        introspect_path=keycloak.introspect_path(realm),
        password_form={"username": username, "password": PASSWORD},
        client_form=client_form,
        introspection_auth=(CLIENT_ID, keycloak.client_secret),
        login_pids=lambda: [keycloak.jvm_pid],
        logout=logout,
    )


def database_of(dsn: str) -> str:
    """The database name at the end of a postgresql:// DSN."""
    return urlparse(dsn).path.lstrip("/")
