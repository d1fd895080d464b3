"""The pure parts of `python -m bench peers`: reading wrk's and jcmd's output, the ratios and
aims of the side-by-side table, the profile summary, and Keycloak's argon2 options."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from bench.login import bench_settings
from bench.peers.compare import Row, load, render, render_markdown, save
from bench.peers.drive import TooManyErrors, check_errors
from bench.peers.keycloak import Argon2, build_fingerprint
from bench.peers.memory import parse_heap_used
from bench.peers.profile import summarise
from bench.peers.wrk import parse_wrk
from services.login.lockout import policy_from_settings

WRK_STDOUT = (
    "Running 5s test @ http://127.0.0.1:8080\n  1 threads and 32 connections\n"
    "Requests/sec:   1203.33\n"
    'AUTHPLANE-WRK {"good": 6000, "bad": 2, "retry": 15, "duration_us": 5000000, '
    '"p50_us": 2500, "p99_us": 12000, "bad_statuses": {"429": 2}, '
    '"errors": {"connect": 0, "read": 3, "write": 0, "timeout": 1}}\n'
)


def test_wrk_result_line_is_read_into_rates_and_milliseconds() -> None:
    result = parse_wrk(WRK_STDOUT)
    assert (result.good, result.bad, result.retry) == (6000, 2, 15)
    assert result.rate == pytest.approx(1200.0)
    assert (result.p50_ms, result.p99_ms) == (2.5, 12.0)
    assert result.bad_statuses == {429: 2}  # a failed run says which answers it did not expect
    assert result.errors == {"connect": 0, "read": 3, "write": 0, "timeout": 1}
    assert result.error_rate == pytest.approx(6 / 6021)  # 503 retries are sent, not failed
    assert result.describe_errors() == "0.10 % errors: HTTP 429 x2, read x3, timeout x1"


def test_a_run_above_the_error_limit_gives_no_figure_and_one_below_it_does() -> None:
    result = parse_wrk(WRK_STDOUT)
    check_errors("authplane form.lua", result)  # 0.1 %: under the 1 % limit, reported
    with pytest.raises(TooManyErrors, match=r"HTTP 429 x2, read x3.*above the 0.05 %"):
        check_errors("authplane form.lua", result, limit=0.0005)


def test_a_figure_not_produced_has_no_ratio_and_says_so_in_the_table() -> None:
    row = Row("introspection", "req/s", float("nan"), 300, "wrk", aim=3.0, errors="no figure")
    assert row.ratio is None
    assert row.meets_aim is None
    text = render([row])
    assert "n/a" in text
    assert "- introspection: wrk [no figure]" in text


def test_readme_table_gives_each_figure_its_ratio_aim_verdict_method_and_errors() -> None:
    rows = [
        Row("refresh grant per login core", "grants/s/core", 900, 100, "wrk", aim=5.0,
            errors="authplane: no errors; Keycloak: 0.20 % errors: read x2"),
        Row("introspection", "requests/s", float("nan"), 50, "wrk", errors="authplane: no figure"),
    ]  # fmt: skip
    table = render_markdown(rows, "26.5.6").splitlines()
    assert table[0].startswith("| figure | authplane | Keycloak 26.5.6 | ratio | aim | method |")
    assert table[2] == (
        "| refresh grant per login core | 900.0 grants/s/core | 100.0 | 9.00 | ≥ 5x (met) | wrk "
        "Errors: authplane: no errors; Keycloak: 0.20 % errors: read x2. |"
    )
    assert table[3].startswith("| introspection | n/a requests/s | 50.0 | n/a | - |")


def test_benchmark_stacks_let_overlapping_wrk_runs_log_one_user_in() -> None:
    # wrk ends a run with its connections' logins still in flight; each holds a lockout
    # reservation until its argon2 ends, while the next run's connections log in: at the
    # default limit (5) two 4-connection runs overlapped into 429s.
    policy = policy_from_settings(bench_settings())
    overlapping = 2 * (8 + 8)  # the memory probe's 8 connections, twice, with margin
    assert policy.max_failures > overlapping
    assert policy.ip_max_failures > overlapping


def test_wrk_output_without_a_result_line_is_an_error() -> None:
    with pytest.raises(ValueError, match="no result line"):
        parse_wrk("unable to connect to 127.0.0.1:8080 Connection refused\n")


@pytest.mark.parametrize(
    ("row", "ratio", "met"),
    [
        (Row("introspection", "req/s", 900, 300, "m", aim=3.0), 3.0, True),
        (Row("introspection", "req/s", 899, 300, "m", aim=3.0), 899 / 300, False),
        (Row("memory", "B", 1000, 5000, "m", higher_is_better=False, aim=0.2), 0.2, True),
        (Row("memory", "B", 1001, 5000, "m", higher_is_better=False, aim=0.2), 0.2002, False),
        (Row("logout", "ms", 5, 1, "m", higher_is_better=False), 5.0, None),
        (Row("refresh", "g/s", 10, 0, "m", aim=5.0), None, None),
    ],
)
def test_ratio_is_authplane_over_keycloak_and_aims_point_the_right_way(
    row: Row, ratio: float | None, met: bool | None
) -> None:
    assert row.ratio == (None if ratio is None else pytest.approx(ratio))
    assert row.meets_aim is met


def test_table_names_each_figure_its_ratio_verdict_and_method() -> None:
    rows = [
        Row("introspection per login core", "req/s/core", 1200, 600, "wrk, 32 conns", aim=3.0),
        Row("memory per session", "bytes", 800, 0, "used_memory delta", higher_is_better=False),
    ]
    text = render(rows)
    intro_line = next(line for line in text.splitlines() if line.startswith("introspection"))
    assert "2.00" in intro_line
    assert ">= 3x" in intro_line
    assert intro_line.endswith("MISSED")
    assert "n/a" in next(line for line in text.splitlines() if line.startswith("memory"))
    assert "- introspection per login core: wrk, 32 conns" in text


def test_results_round_trip_through_json(tmp_path: Path) -> None:
    rows = [Row("refresh", "grants/s", 700.5, 120.25, "wrk", aim=5.0)]
    save(rows, {"keycloak": "26.5.6", "note": "noisy"}, tmp_path / "r.json")
    assert load(tmp_path / "r.json") == (rows, {"keycloak": "26.5.6", "note": "noisy"})


@pytest.mark.parametrize(
    ("output", "used"),
    [
        (
            "24950:\ngarbage-first heap   total reserved 1048576K, committed 524288K, "
            "used 343694K [0x00000000c0000000, 0x0000000100000000)\n",
            343694 * 1024,
        ),
        (
            " garbage-first heap   total 524288K, used 120000K [0x00000000e0000000, 0x0)\n",
            120000 * 1024,
        ),
    ],
)
def test_heap_used_is_read_from_jcmd_heap_info(output: str, used: int) -> None:
    assert parse_heap_used(output) == used


def test_heap_info_without_a_total_is_an_error() -> None:
    with pytest.raises(ValueError, match="no heap total"):
        parse_heap_used("24950:\nCommand executed successfully\n")


def test_profile_summary_counts_a_function_once_per_stack_and_its_own_time() -> None:
    collapsed = "\n".join(
        [
            "main (app.py:1);handle (routes.py:10);verify (jwt.py:5) 6",
            "main (app.py:1);handle (routes.py:12);handle (routes.py:30) 2",
            "main (app.py:1);loop (asyncio/base_events.py:600) 2",
            "garbage line",
        ]
    )
    shares = {name: (inc, own) for name, inc, own in summarise(collapsed)}
    assert shares["main (app.py)"] == (1.0, 0.0)
    assert shares["handle (routes.py)"] == (0.8, 0.2)
    assert shares["verify (jwt.py)"] == (0.6, 0.6)
    assert shares["loop (base_events.py)"] == (0.2, 0.2)


def test_keycloak_argon2_options_match_authplane_parameters() -> None:
    equal = Argon2(memory_kib=19456, iterations=2, parallelism=1)
    assert equal.server_options() == [
        "--spi-password-hashing--argon2--memory=19456",
        "--spi-password-hashing--argon2--parallelism=1",
    ]
    assert equal.password_policy() == "hashAlgorithm(argon2) and hashIterations(2)"
    assert Argon2().server_options() == []
    assert Argon2().password_policy() == "hashAlgorithm(argon2)"


def test_refresh_form_prefix_ends_where_the_token_goes() -> None:
    from bench.peers.side import Side

    side = Side(
        "Keycloak",
        "http://x",
        "/t",
        "/i",
        {"username": "u", "password": "p w"},
        {"client_id": "bench", "client_secret": "s&=cret"},
        ("bench", "s"),
        list,
        lambda c, t: None,
    )
    body = side.refresh_prefix() + "tok.en"
    assert parse_qs(body) == {
        "grant_type": ["refresh_token"],
        "client_id": ["bench"],
        "client_secret": ["s&=cret"],
        "refresh_token": ["tok.en"],
    }
    assert parse_qs(side.password_body())["password"] == ["p w"]


def test_a_distribution_unpacked_again_over_a_built_one_is_built_again(tmp_path: Path) -> None:
    """Seen: the cache was unpacked again after a build; the marker still matched, and Keycloak
    refused its ``--optimized`` start ("first ever server start")."""
    app = tmp_path / "lib" / "quarkus" / "quarkus-application.dat"
    app.parent.mkdir(parents=True)
    app.write_bytes(b"built")
    built = build_fingerprint(tmp_path)
    os.utime(app, ns=(1, 1))  # what unpacking the zip again does: the file's original time
    assert build_fingerprint(tmp_path) != built
    app.unlink()
    assert build_fingerprint(tmp_path) == ""
