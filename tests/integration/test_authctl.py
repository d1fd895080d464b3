"""authctl as an operator runs it: a real process, a stack file, a broker and Postgres."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from argon2 import PasswordHasher

from schemas import tables, topology
from schemas.events import UserRegistered
from schemas.identity import user_id_for
from schemas.settings import Settings
from schemas.topics import ensure_topics
from services.core.readmodel import make_engine
from services.devstack.process import free_port
from tests.integration.login_harness import events_on_topic
from tests.integration.login_seeding import seed_user_postgres, seed_user_redis

REPO = Path(__file__).resolve().parents[2]


def _stack(tmp_path: Path, bootstrap: str, dsn: str) -> Path:
    region = topology.RegionEndpoints("eu", "redis://127.0.0.1:1/0", dsn, "")
    path = tmp_path / "stack.json"
    topology.save(topology.Topology(bootstrap, {"eu": region}), path)
    return path


def _authctl(stack_file: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = Settings(stack_file=stack_file).to_env() | {"PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "services.admin.authctl", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
        check=False,
    )


def _one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("authctl: ")
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


async def test_user_create_logs_a_verifiable_registration(
    tmp_path: Path, kafka_bootstrap: str, fresh_postgres_dsn: str
) -> None:
    await ensure_topics(kafka_bootstrap, 2, 1)
    stack = _stack(tmp_path, kafka_bootstrap, fresh_postgres_dsn)
    secret = "s3cret pass phrase"
    result = await asyncio.to_thread(
        _authctl, stack, "user", "create", " Ivan.Ops ", "--password-stdin", stdin=secret + "\n"
    )
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout + result.stderr
    assert "ivan.ops" in result.stdout

    events = await events_on_topic(
        kafka_bootstrap,
        lambda e: e.type == UserRegistered.TYPE and e.payload.username == "ivan.ops",
    )
    assert [e.user_id for e in events] == [user_id_for("ivan.ops")]
    password_hash = events[0].payload.password_hash
    assert password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PasswordHasher().verify(password_hash, secret)


@pytest.mark.parametrize(
    ("args", "stdin", "fragment"),
    [
        (("user", "create", "judy", "--password-stdin"), "\n", "password is empty"),
        (("user", "create", "judy", "--password-stdin"), "", "password is empty"),
        (("user", "create", "ju dy!", "--password-stdin"), "pw\n", "invalid username"),
        (("user", "create", "judy"), "pw\n", "--password-stdin"),
        (("user", "create"), "", "Missing argument"),
        (("sessions", "list", "judy"), "", "--region"),
        (("sessions", "list", "judy", "--region", "mars"), "", "unknown region 'mars'"),
        (("frobnicate",), "", "No such command"),
    ],
)
def test_bad_arguments_are_one_line(
    tmp_path: Path, args: tuple[str, ...], stdin: str, fragment: str
) -> None:
    stack = _stack(tmp_path, f"127.0.0.1:{free_port()}", "postgresql://x@127.0.0.1:1/authplane")
    _one_line_error(_authctl(stack, *args, stdin=stdin), fragment)


def test_unreachable_broker_is_one_line(tmp_path: Path) -> None:
    stack = _stack(tmp_path, f"127.0.0.1:{free_port()}", "postgresql://x@127.0.0.1:1/authplane")
    result = _authctl(stack, "user", "create", "kim", "--password-stdin", stdin="pw\n")
    _one_line_error(result, "cannot reach the broker")


def test_missing_stack_file_is_one_line(tmp_path: Path) -> None:
    result = _authctl(tmp_path / "none.json", "sessions", "list", "kim", "--region", "eu")
    _one_line_error(result, "no stack file")


def test_unreachable_postgres_is_one_line(tmp_path: Path) -> None:
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/authplane"
    stack = _stack(tmp_path, "127.0.0.1:1", dead)
    result = _authctl(stack, "sessions", "list", "kim", "--region", "eu")
    _one_line_error(result, "cannot read sessions from eu's Postgres")


async def _seed_sessions(dsn: str, user_id: str, count: int) -> list[str]:
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [
        {
            "session_id": f"sess-{i}",
            "user_id": user_id,
            "client_id": "web",
            "origin_region": "us" if i else "eu",
            "started_at": now + timedelta(seconds=i),
            "expires_at": now + timedelta(days=30),
            "refresh_token_hash": "0" * 64,
            "access_jti": f"jti-{i}",
            "signing_kid": "kid",
            "start_event_id": f"01900000-0000-7000-8000-00000000000{i}",
        }
        for i in range(count)
    ]
    engine = make_engine(dsn)
    try:
        async with engine.begin() as conn:
            await conn.execute(tables.sessions.insert(), rows)
            other = dict(rows[0], session_id="someone-elses", user_id="other-user")
            await conn.execute(tables.sessions.insert().values(**other))
    finally:
        await engine.dispose()
    return [str(r["session_id"]) for r in rows]


async def test_sessions_list_shows_the_users_sessions(
    tmp_path: Path, fresh_postgres_dsn: str
) -> None:
    ids = await _seed_sessions(fresh_postgres_dsn, user_id_for("liz"), 2)
    stack = _stack(tmp_path, "127.0.0.1:1", fresh_postgres_dsn)
    as_json = await asyncio.to_thread(
        _authctl, stack, "sessions", "list", "LIZ", "--region", "eu", "--json"
    )
    assert as_json.returncode == 0, as_json.stderr
    listed = orjson.loads(as_json.stdout)
    assert [s["session_id"] for s in listed] == ids
    assert set(listed[0]) == {
        "session_id", "user_id", "client_id", "origin_region", "started_at", "expires_at",
        "revoked", "revoked_at", "revoke_reason", "revoked_by", "revoke_region",
    }  # fmt: skip
    assert listed[0]["revoked"] is False
    assert listed[1]["origin_region"] == "us"
    table = await asyncio.to_thread(_authctl, stack, "sessions", "list", "liz", "--region", "eu")
    assert table.returncode == 0
    assert all(session_id in table.stdout for session_id in ids)
    assert "someone-elses" not in table.stdout


NOT_UTF8 = "\udcff"  # how Python holds the byte 0xff of a non-UTF-8 argument (surrogateescape)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("revoke", "user", "nina", "--reason", f"bad{NOT_UTF8}"), "--reason"),
        (("revoke", "user", "nina", f"--reason=bad{NOT_UTF8}"), "--reason"),
        (("revoke", "user", "nina", "--operator", f"ops{NOT_UTF8}"), "--operator"),
        (("revoke", "user", f"ni{NOT_UTF8}na"), "argument 3"),
        (("sessions", "list", "nina", "--region", f"e{NOT_UTF8}"), "--region"),
        (("user", "create", f"n{NOT_UTF8}", "--password-stdin"), "argument 3"),
    ],
)
async def test_arguments_that_are_not_utf8_are_one_line(
    tmp_path: Path,
    kafka_bootstrap: str,
    fresh_postgres_dsn: str,
    args: tuple[str, ...],
    fragment: str,
) -> None:
    await ensure_topics(kafka_bootstrap, 2, 1)
    await seed_user_postgres(Settings(), fresh_postgres_dsn, "nina", "pw-nina")
    stack = _stack(tmp_path, kafka_bootstrap, fresh_postgres_dsn)
    result = await asyncio.to_thread(_authctl, stack, *args, stdin="pw\n")
    _one_line_error(result, fragment)
    assert "not valid UTF-8" in result.stderr


def test_a_password_on_stdin_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    stack = _stack(tmp_path, f"127.0.0.1:{free_port()}", "postgresql://x@127.0.0.1:1/authplane")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.admin.authctl",
            "user",
            "create",
            "olga",
            "--password-stdin",
        ],
        input=b"pass\xffword\n",
        capture_output=True,
        cwd=REPO,
        env=Settings(stack_file=stack).to_env() | {"PATH": "/usr/bin:/bin"},
        timeout=60,
        check=False,
    )
    text = result.stderr.decode()
    assert result.returncode == 1, text
    assert text == "authctl: the password on stdin is not valid UTF-8\n"


def test_authplane_arguments_that_are_not_utf8_are_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.admin.authplane",
            "status",
            "--base-dir",
            f"{tmp_path}/{NOT_UTF8}",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "--base-dir is not valid UTF-8" in result.stderr


async def test_create_wait_names_the_region_that_does_not_confirm(
    tmp_path: Path, kafka_bootstrap: str, fresh_postgres_dsn: str
) -> None:
    await ensure_topics(kafka_bootstrap, 2, 1)
    stack = _stack(tmp_path, kafka_bootstrap, fresh_postgres_dsn)  # eu's Redis does not answer
    result = await asyncio.to_thread(
        _authctl, stack, "user", "create", "quinn", "--password-stdin", "--wait",
        "--timeout", "0.5", stdin="pw-quinn\n",
    )  # fmt: skip
    assert result.returncode == 1
    assert "registered quinn" in result.stdout
    assert result.stderr.startswith("authctl: not known within 0.5s in: eu (redis unreachable")
    assert result.stderr.count("\n") == 1


async def test_create_wait_says_when_a_concurrent_registration_won(
    tmp_path: Path, kafka_bootstrap: str, fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    # Another operator's registration of the same name, written before ours and projected after
    # our existence check read Postgres: the log keeps the earliest, so ours must not say "ok".
    await ensure_topics(kafka_bootstrap, 2, 1)
    earlier = await seed_user_redis(Settings(redis_url=fresh_redis_url), "zoe", "pw-other")
    region = topology.RegionEndpoints("eu", fresh_redis_url, fresh_postgres_dsn, "")
    stack = tmp_path / "stack.json"
    topology.save(topology.Topology(kafka_bootstrap, {"eu": region}), stack)
    result = await asyncio.to_thread(
        _authctl, stack, "user", "create", "zoe", "--password-stdin", "--wait", stdin="pw-zoe\n"
    )
    assert user_id_for("zoe") == earlier
    _one_line_error(result, "another registration of this user")
    assert "its password will not log in" in result.stderr


async def test_user_show_reads_postgres_when_redis_is_down(
    tmp_path: Path, fresh_postgres_dsn: str
) -> None:
    await seed_user_postgres(Settings(), fresh_postgres_dsn, "rita", "pw-rita")
    await _seed_sessions(fresh_postgres_dsn, user_id_for("rita"), 2)
    stack = _stack(tmp_path, "127.0.0.1:1", fresh_postgres_dsn)
    result = await asyncio.to_thread(_authctl, stack, "user", "show", "rita", "--json")
    assert result.returncode == 0, result.stderr
    [user] = orjson.loads(result.stdout)
    assert user["regions"] == [
        {
            "region": "eu", "registered": True, "disabled": False, "locked_until": None,
            "sessions": 2, "active_sessions": 2, "error": "",
        }
    ]  # fmt: skip


async def test_show_says_unknown_not_unregistered_for_a_region_it_could_not_read(
    tmp_path: Path, fresh_postgres_dsn: str
) -> None:
    """A script reading ``--json`` must tell "not registered there" from "that region did not
    answer", and "not found" is only as sure as the regions that answered."""
    await seed_user_postgres(Settings(), fresh_postgres_dsn, "rita", "pw-rita")
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/authplane"
    regions = {
        "eu": topology.RegionEndpoints("eu", "redis://127.0.0.1:1/0", fresh_postgres_dsn, ""),
        "us": topology.RegionEndpoints("us", "redis://127.0.0.1:1/0", dead, ""),
    }
    stack = tmp_path / "stack.json"
    topology.save(topology.Topology("127.0.0.1:1", regions), stack)

    shown = await asyncio.to_thread(_authctl, stack, "user", "show", "rita", "--json")
    assert shown.returncode == 0, shown.stderr
    [user] = orjson.loads(shown.stdout)
    eu, us = user["regions"]
    assert (eu["region"], eu["registered"]) == ("eu", True)
    assert (us["region"], us["registered"]) == ("us", None)
    assert us["error"].startswith("stores unreachable")

    for kind in ("user", "client"):
        missing = await asyncio.to_thread(_authctl, stack, kind, "show", "ghost", "--json")
        assert missing.returncode == 1
        assert f"no {kind} ghost in any region that answered (not read: us)" in missing.stderr
        [doc] = orjson.loads(missing.stdout)
        assert [r["registered"] for r in doc["regions"]] == [False, None]
