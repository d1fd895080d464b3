"""An operator sees a user's state in every region without SQL (`authctl user show|list`), and
`authctl user create --wait` returns once every region can log the user in."""

from __future__ import annotations

from typing import Any

import orjson

from services.devstack.stack import Stack
from tests.e2e.drive import PASSWORD, authctl, eventually, password_login

REGIONS = ["eu", "us"]


def _show(stack: Stack, username: str) -> dict[str, dict[str, Any]]:
    result = authctl(stack, "user", "show", username, "--json")
    assert result.returncode == 0, result.stderr
    [user] = orjson.loads(result.stdout)
    assert user["username"] == username
    return {r["region"]: r for r in user["regions"]}


def test_create_wait_returns_once_every_region_can_log_the_user_in(stack: Stack) -> None:
    result = authctl(stack, "user", "create", "wanda", "--password-stdin", "--wait", stdin=PASSWORD)
    assert result.returncode == 0, result.stderr
    assert "registered wanda" in result.stdout
    for region in REGIONS:
        assert f"│ {region}" in result.stdout
        # No polling: --wait already saw the user in every region.
        assert password_login(stack, region, "wanda", PASSWORD).status_code == 200


def test_show_follows_sessions_lockout_and_disable_in_every_region(stack: Stack) -> None:
    created = authctl(stack, "user", "create", "xavi", "--password-stdin", "--wait", stdin=PASSWORD)
    assert created.returncode == 0, created.stderr
    fresh = _show(stack, "xavi")
    assert sorted(fresh) == REGIONS
    for state in fresh.values():
        assert state["registered"] is True
        assert (state["disabled"], state["locked_until"], state["sessions"]) == (False, None, 0)
        assert state["error"] == ""

    assert password_login(stack, "eu", "xavi", PASSWORD).status_code == 200
    eventually(lambda: all(s["active_sessions"] == 1 for s in _show(stack, "xavi").values()))

    for _ in range(5):  # the default per-user limit
        password_login(stack, "us", "xavi", "wrong password")
    eventually(lambda: all(s["locked_until"] for s in _show(stack, "xavi").values()))

    assert authctl(stack, "user", "disable", "xavi").returncode == 0
    settled = eventually(lambda: _disabled_everywhere(stack, "xavi"))
    assert all(s["sessions"] == 1 for s in settled.values())


def _disabled_everywhere(stack: Stack, username: str) -> dict[str, dict[str, Any]] | None:
    """The user's states once every region shows it disabled with no active session."""
    states = _show(stack, username)
    settled = all(s["disabled"] and not s["active_sessions"] for s in states.values())
    return states if settled else None


def test_show_of_an_unknown_user_says_so(stack: Stack) -> None:
    result = authctl(stack, "user", "show", "nobody-here")
    assert result.returncode == 1
    assert result.stderr == "authctl: no user nobody-here in any region\n"
    assert "│ eu" in result.stdout
    assert "│ us" in result.stdout


def test_list_shows_every_user_in_every_region(stack: Stack) -> None:
    created = authctl(stack, "user", "create", "yuki", "--password-stdin", "--wait", stdin=PASSWORD)
    assert created.returncode == 0, created.stderr
    result = authctl(stack, "user", "list", "--json")
    assert result.returncode == 0, result.stderr
    users = {u["username"]: u for u in orjson.loads(result.stdout)}
    assert [r["region"] for r in users["yuki"]["regions"]] == REGIONS
    assert all(r["registered"] for r in users["yuki"]["regions"])
    table = authctl(stack, "user", "list")
    assert table.returncode == 0
    assert "yuki" in table.stdout
    assert "registered" in table.stdout
