"""Issue 12: an operator manages OAuth clients with `authctl client ...` on a two-region stack.
A client created in eu is known in us after propagation, disabling it in us shows it disabled in
eu, and its secret is printed once and stored only as a hash (in every region)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from schemas import topology
from schemas.client_secrets import client_secret_matches
from services.core.clients import ClientRecord, ClientRegistry
from services.core.readmodel import hgetall, make_engine, make_redis
from services.devstack.stack import Stack
from tests.e2e.drive import authctl, eventually, login_url

REGIONS = ["eu", "us"]
API = "https://api.example.com"


def _create(stack: Stack, name: str, *args: str) -> dict[str, Any]:
    result = authctl(stack, "client", "create", name, *args, "--json", "--wait")
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = orjson.loads(result.stdout)  # stdout is the JSON alone, with --wait too
    return doc


def _show(stack: Stack, client_id: str) -> dict[str, dict[str, Any]]:
    result = authctl(stack, "client", "show", client_id, "--json")
    assert result.returncode == 0, result.stderr
    [client] = orjson.loads(result.stdout)
    return {r["region"]: r for r in client["regions"]}


def _stored(
    stack: Stack, region: str, client_id: str
) -> tuple[ClientRecord | None, dict[str, str]]:
    """What the token endpoint of ``region`` reads, and the raw Redis hash."""
    endpoints = topology.load(stack.stack_file).region(region)

    async def read() -> tuple[ClientRecord | None, dict[str, str]]:
        redis, engine = make_redis(endpoints.redis_url), make_engine(endpoints.postgres_dsn)
        try:
            record = await ClientRegistry(redis, engine).get(client_id)
            return record, await hgetall(redis, f"client:v1:{client_id}")
        finally:
            await redis.aclose()
            await engine.dispose()

    return asyncio.run(read())


def test_a_client_created_in_eu_is_known_in_us_and_its_secret_is_kept_only_as_a_hash(
    stack: Stack,
) -> None:
    created = _create(stack, "billing", "--grant", "client_credentials",
                      "--scope", "invoices:read invoices:write", "--default-scope",
                      "invoices:read", "--audience", API)  # fmt: skip
    secret = created["client_secret"]

    shown = _show(stack, "billing")
    listed = authctl(stack, "client", "list", "--json")

    assert sorted(shown) == REGIONS
    for region in REGIONS:
        state = shown[region]
        assert state["registered"] is True
        assert state["disabled"] is False
        assert state["scopes"] == ["invoices:read", "invoices:write"]
        assert state["default_audience"] == API  # the only audience is the default
        assert state["has_secret"] is True
        record, fields = _stored(stack, region, "billing")
        assert record is not None
        assert client_secret_matches(record.secret_hash, secret)
        assert all(secret not in value for value in fields.values())
    assert secret not in authctl(stack, "client", "show", "billing").stdout
    assert "billing" in {c["client_id"] for c in orjson.loads(listed.stdout)}


def test_disabling_in_us_shows_disabled_in_eu_and_enabling_brings_it_back(stack: Stack) -> None:
    _create(stack, "reporting", "--grant", "client_credentials", "--audience", API)

    disabled = authctl(stack, "client", "disable", "reporting", "--region", "us",
                       "--reason", "leaked")  # fmt: skip
    assert disabled.returncode == 0, disabled.stderr
    eventually(lambda: _show(stack, "reporting")["eu"]["disabled"])
    enabled = authctl(stack, "client", "enable", "reporting", "--wait")

    assert enabled.returncode == 0, enabled.stderr
    assert not any(state["disabled"] for state in _show(stack, "reporting").values())


def test_rotate_secret_replaces_the_secret_everywhere(stack: Stack) -> None:
    old = _create(stack, "payroll", "--grant", "client_credentials", "--audience", API)[
        "client_secret"
    ]

    rotated = authctl(stack, "client", "rotate-secret", "payroll", "--json", "--wait")

    assert rotated.returncode == 0, rotated.stderr
    new = orjson.loads(rotated.stdout)["client_secret"]
    assert new != old
    for region in REGIONS:
        record, _ = _stored(stack, region, "payroll")
        assert record is not None
        assert client_secret_matches(record.secret_hash, new)
        assert not client_secret_matches(record.secret_hash, old)


def test_update_replaces_the_settings_given_in_every_region(stack: Stack) -> None:
    _create(stack, "mobile", "--type", "public", "--grant", "password refresh_token",
            "--scope", "openid profile", "--default-scope", "openid",
            "--audience", "https://old.example.com")  # fmt: skip

    updated = authctl(stack, "client", "update", "mobile", "--scope", "openid profile email",
                      "--audience", API, "--wait")  # fmt: skip

    assert updated.returncode == 0, updated.stderr
    for state in _show(stack, "mobile").values():
        assert state["scopes"] == ["email", "openid", "profile"]
        assert state["audiences"] == [API]
        assert state["default_scopes"] == ["openid"]  # not given: kept
        assert (state["client_type"], state["has_secret"]) == ("public", False)


def test_a_public_client_gets_no_secret_and_mistakes_are_one_line(stack: Stack) -> None:
    public = authctl(stack, "client", "create", "cli-app", "--type", "public",
                     "--grant", "password", "--audience", API, "--wait")  # fmt: skip
    again = authctl(stack, "client", "create", "cli-app", "--type", "public", "--grant", "password",
                    "--audience", API)  # fmt: skip
    no_audience = authctl(stack, "client", "create", "z", "--grant", "client_credentials")
    unknown = authctl(stack, "client", "disable", "no-such-client")
    bad_grant = authctl(stack, "client", "create", "x", "--grant", "implicit")
    public_cc = authctl(stack, "client", "create", "y", "--type", "public",
                        "--grant", "client_credentials")  # fmt: skip

    assert public.returncode == 0, public.stderr
    assert "client_secret" not in public.stdout
    assert again.stderr == "authctl: client cli-app already exists in region eu\n"
    assert unknown.stderr == "authctl: no client no-such-client in region eu\n"
    assert "unknown grant 'implicit'" in bad_grant.stderr
    assert "RFC 6749 §4.4" in public_cc.stderr
    assert no_audience.stderr.startswith("authctl: a client with a grant needs an audience")
    assert no_audience.returncode == 1
    assert {again.returncode, unknown.returncode, bad_grant.returncode} == {1}


def _token(stack: Stack, region: str, form: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{login_url(stack, region)}/oauth2/token", data=form, timeout=10)


def test_a_client_created_in_eu_logs_users_in_in_us_and_disabling_it_stops_its_refreshes(
    stack: Stack,
) -> None:
    """Issue 12's two-region check with real grants: the client is usable in the other region
    once propagated, and disabling it (in one region) stops its refresh tokens in every region."""
    _create(stack, "kiosk", "--type", "public", "--grant", "password", "--grant",
            "refresh_token", "--scope", "openid", "--audience", API)  # fmt: skip
    user = authctl(stack, "user", "create", "zora", "--password-stdin", "--wait", stdin="zora-pw-1")
    assert user.returncode == 0, user.stderr
    login = {"grant_type": "password", "username": "zora", "password": "zora-pw-1"}
    sessions = {}
    for region in REGIONS:  # us never saw the command, only the log
        answer = _token(stack, region, {**login, "client_id": "kiosk"})
        assert answer.status_code == 200, (region, answer.text)
        sessions[region] = answer.json()["refresh_token"]

    disabled = authctl(stack, "client", "disable", "kiosk", "--region", "eu", "--wait")
    assert disabled.returncode == 0, disabled.stderr

    for region, refresh_token in sessions.items():
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "kiosk"}

        def refresh(region: str = region, form: dict[str, str] = form) -> httpx.Response | None:
            return _refused(_token(stack, region, form))

        # a login endpoint reuses a client's registration for up to 5 s (README, "changes")
        refused = eventually(refresh, within_s=15)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"] == "invalid_client"
    assert _token(stack, "us", {**login, "client_id": "kiosk"}).status_code == 401


def _refused(answer: httpx.Response) -> httpx.Response | None:
    return answer if answer.status_code != 200 else None
