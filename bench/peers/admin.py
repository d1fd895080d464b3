"""Keycloak's admin REST API: the realm, client and users the benchmark needs, and the
session count it reads back."""

from __future__ import annotations

import httpx

from bench.peers.keycloak import ADMIN, CLIENT_ID, REALM, Argon2, Keycloak

ACCESS_TOKEN_TTL_S = 900


def admin_client(keycloak: Keycloak) -> httpx.Client:
    """An httpx client carrying a master-realm admin token (admin-cli, password grant)."""
    answer = httpx.post(
        f"{keycloak.url}/realms/master/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": ADMIN,
            "password": keycloak.admin_password,
        },
        timeout=60,
    )
    answer.raise_for_status()
    token = answer.json()["access_token"]
    return httpx.Client(
        base_url=f"{keycloak.url}/admin/realms",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


def create_realm(keycloak: Keycloak, argon2: Argon2, users: dict[str, str]) -> None:
    """The realm (argon2 password policy, 15 min access tokens, brute-force detection off as
    in authplane's benchmark user), a confidential client allowed direct grants (which can
    also introspect), and ``users`` ({username: password}). HTTPStatusError on refusal."""
    with admin_client(keycloak) as api:
        existing = api.get(f"/{REALM}")
        if existing.status_code == 200:
            api.delete(f"/{REALM}").raise_for_status()
        realm = {
            "realm": REALM,
            "enabled": True,
            "passwordPolicy": argon2.password_policy(),
            "accessTokenLifespan": ACCESS_TOKEN_TTL_S,
            "bruteForceProtected": False,
        }
        _check(api.post("", json=realm))
        client = {
            "clientId": CLIENT_ID,
            "enabled": True,
            "protocol": "openid-connect",
            "publicClient": False,
            "clientAuthenticatorType": "client-secret",
            "secret": keycloak.client_secret,
            "directAccessGrantsEnabled": True,
            "standardFlowEnabled": False,
        }
        _check(api.post(f"/{REALM}/clients", json=client))
        for username, password in users.items():
            _check(api.post(f"/{REALM}/users", json=_user(username, password)))


def _check(answer: httpx.Response) -> None:
    if answer.is_error:
        raise RuntimeError(f"Keycloak admin API {answer.status_code}: {answer.text[:500]}")


def _user(username: str, password: str) -> dict[str, object]:
    # First/last name and email: Keycloak's default user profile requires them before a
    # direct grant succeeds ("account is not fully set up").
    return {
        "username": username,
        "enabled": True,
        "email": f"{username}@bench.invalid",
        "emailVerified": True,
        "firstName": "Bench",
        "lastName": "User",
        "credentials": [{"type": "password", "value": password, "temporary": False}],
    }


def active_sessions(keycloak: Keycloak) -> int:
    """Active user sessions of the benchmark client (admin API client-session-stats)."""
    with admin_client(keycloak) as api:
        stats = api.get(f"/{REALM}/client-session-stats")
        stats.raise_for_status()
        return sum(int(entry.get("active", 0)) for entry in stats.json())
