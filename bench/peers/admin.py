"""Keycloak's admin REST API: the realm, client and users the benchmark needs, and the
session count it reads back."""

from __future__ import annotations

import httpx

from bench.peers.keycloak import ADMIN, CLIENT_ID, REALM, Keycloak

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


def create_realm(
    keycloak: Keycloak, password_policy: str, users: dict[str, str], realm: str = REALM
) -> None:
    """(Re)create ``realm`` with ``password_policy`` (e.g. ``hashAlgorithm(argon2)``), 15 min
    access tokens and brute-force detection off, a confidential client allowed direct grants
    (which can also introspect), and ``users`` ({username: password}). RuntimeError with
    Keycloak's answer on refusal."""
    with admin_client(keycloak) as api:
        if api.get(f"/{realm}").status_code == 200:
            api.delete(f"/{realm}").raise_for_status()
        representation = {
            "realm": realm,
            "enabled": True,
            "passwordPolicy": password_policy,
            "accessTokenLifespan": ACCESS_TOKEN_TTL_S,
            "bruteForceProtected": False,
        }
        _check(api.post("", json=representation))
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
        _check(api.post(f"/{realm}/clients", json=client))
        for username, password in users.items():
            _check(api.post(f"/{realm}/users", json=_user(username, password)))


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


def active_sessions(keycloak: Keycloak, realm: str = REALM) -> int:
    """Active user sessions of ``realm``'s clients (admin API client-session-stats)."""
    with admin_client(keycloak) as api:
        stats = api.get(f"/{realm}/client-session-stats")
        stats.raise_for_status()
        return sum(int(entry.get("active", 0)) for entry in stats.json())
