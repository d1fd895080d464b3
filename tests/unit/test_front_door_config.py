"""The front door's generated HAProxy config (services/devstack/frontdoor.py), its ports and
stack-file entry, and `authplane up --front-door` without haproxy on PATH."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from schemas import names
from schemas.topology import RegionEndpoints, Topology
from services.admin.authplane import app
from services.devstack import frontdoor, ports, stackfile
from services.devstack.env import exports
from services.devstack.process import InfraError

PLAN = frontdoor.FrontDoorPlan(
    ports={"eu": 18180, "us": 18181, "ap": 18182},
    logins={"eu": "127.0.0.1:18080", "us": "127.0.0.1:18081", "ap": "127.0.0.1:18082"},
)


def sections(config: str) -> dict[str, list[str]]:
    """``"kind name"`` (e.g. ``"backend eu_logins"``, ``"defaults"``) -> its lines, without
    comments and indentation."""
    out: dict[str, list[str]] = {}
    current: list[str] = []
    for raw in config.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not raw.startswith(" "):
            current = out.setdefault(line, [])
        else:
            current.append(line)
    return out


def servers(config: str, home: str) -> list[list[str]]:
    return [
        line.split()[1:]
        for line in sections(config)[f"backend {home}_logins"]
        if line.startswith("server ")
    ]


def test_each_region_has_a_frontend_on_its_own_port_routed_to_its_own_backend() -> None:
    parts = sections(frontdoor.render_config(PLAN))
    for region, port in PLAN.ports.items():
        frontend = parts[f"frontend {region}"]
        assert f"bind 127.0.0.1:{port}" in frontend
        assert f"default_backend {region}_logins" in frontend
    assert PLAN.url("us") == "http://127.0.0.1:18181"


def test_home_is_the_only_primary_and_every_other_region_is_a_backup() -> None:
    config = frontdoor.render_config(PLAN)
    for home in PLAN.ports:
        listed = servers(config, home)
        primaries = [s for s in listed if "backup" not in s]
        backups = [s for s in listed if "backup" in s]
        assert [s[:2] for s in primaries] == [[home, PLAN.logins[home]]]
        assert sorted(s[0] for s in backups) == sorted(r for r in PLAN.ports if r != home)
        assert all(s[1] == PLAN.logins[s[0]] for s in listed)
        assert all("check" in s for s in listed)


def test_servers_are_checked_on_readyz_expecting_200_with_short_intervals() -> None:
    parts = sections(frontdoor.render_config(PLAN))
    for home in PLAN.ports:
        backend = parts[f"backend {home}_logins"]
        assert "option httpchk GET /readyz" in backend
        assert "http-check expect status 200" in backend
        assert f"http-response set-header {names.HEADER_SERVED_BY} %[srv_name]" in backend
    defaults = " ".join(parts["defaults"]).split()
    for word in ("inter", "fastinter", "downinter"):
        assert defaults[defaults.index(word) + 1] == f"{frontdoor.CHECK_INTERVAL_MS}ms"
    assert defaults[defaults.index("fall") + 1] == str(frontdoor.FALL)
    assert defaults[defaults.index("rise") + 1] == str(frontdoor.RISE)
    assert f"timeout check {frontdoor.CHECK_TIMEOUT_MS}ms" in parts["defaults"]
    # Failover about a second: detection (fall x inter) well under it.
    assert frontdoor.FALL * frontdoor.CHECK_INTERVAL_MS <= 1000


def test_only_requests_that_never_reached_a_server_or_are_idempotent_are_retried() -> None:
    parts = sections(frontdoor.render_config(PLAN))
    retry_on = next(line for line in parts["defaults"] if line.startswith("retry-on "))
    assert retry_on.split()[1:] == ["conn-failure", "empty-response"]  # no status code, no 503
    assert "option redispatch 1" in parts["defaults"]
    for region in PLAN.ports:
        frontend = parts[f"frontend {region}"]
        assert "acl replay_safe path /oauth2/introspect /oauth2/revoke" in frontend
        assert "http-request disable-l7-retry if METH_POST !replay_safe" in frontend


def test_the_client_address_replaces_whatever_the_client_sent() -> None:
    parts = sections(frontdoor.render_config(PLAN))
    for region in PLAN.ports:
        assert (
            f"http-request set-header {names.HEADER_FORWARDED_FOR} %[src]"
            in parts[f"frontend {region}"]
        )
    assert not any("forwardfor" in line for lines in parts.values() for line in lines)
    assert f"source {frontdoor.SOURCE_ADDRESS}" in " ".join(parts["defaults"])


def test_haproxy_accepts_the_generated_config(tmp_path: Path) -> None:
    binary = frontdoor.haproxy_binary()
    assert binary is not None, "haproxy must be on PATH (make front-door-tools)"
    config = tmp_path / "haproxy.cfg"
    config.write_text(frontdoor.render_config(PLAN))
    done = subprocess.run(
        [str(binary), "-c", "-f", str(config)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning" not in (done.stdout + done.stderr).lower()


def test_front_door_ports_are_stable_and_only_planned_when_asked_for() -> None:
    without = ports.stable_plan(["eu", "us"])
    assert all("front door" not in what for what, _ in without.named())
    plan = ports.stable_plan(["eu", "us"], 10, front_door=True)
    assert [plan.regions[r].front_door for r in ("eu", "us")] == [8190, 8191]
    assert ("us front door", 8191) in plan.named()
    every = [
        port for _, port in ports.stable_plan([f"r{n}" for n in range(10)], front_door=True).named()
    ]
    assert len(set(every)) == len(every)


def test_the_stack_file_front_door_entry_reads_back() -> None:
    topo = Topology(kafka_bootstrap="x", regions={}, extra={})
    assert stackfile.front_door_urls(topo) == {}
    topo.extra["front_door"] = {"pid": 1, "config": "c", "regions": PLAN.urls()}
    assert stackfile.front_door_urls(topo) == PLAN.urls()


def test_up_with_front_door_but_no_haproxy_says_how_to_install_it_and_starts_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH: no haproxy
    monkeypatch.setattr(frontdoor, "SBIN_DIRS", ())
    started: dict[str, Any] = {}

    def record(*_args: object, **kwargs: Any) -> None:
        started.update(kwargs)
        raise InfraError("recorded the start; nothing started")

    monkeypatch.setattr("services.admin.authplane.stack.Stack.start", record)
    argv = ["up", "--front-door", "--broker", "tansu", "--base-dir", str(tmp_path / "s")]
    result = CliRunner().invoke(app, argv)
    hint = [line for line in result.output.splitlines() if "haproxy is not on PATH" in line]
    assert len(hint) == 1
    assert "apt-get install haproxy" in hint[0]
    assert "front_door" in started
    assert started["front_door"] is None  # the stack starts, without a front door


def test_env_exports_each_front_door_url(tmp_path: Path) -> None:
    region = RegionEndpoints("eu", "redis://r", "postgresql://p", "http://127.0.0.1:8080", "m")
    topo = Topology("b", {"eu": region}, "rs-dev", "s", extra={})
    assert not any("FRONT_DOOR" in name for name, _ in exports(topo, tmp_path / "stack.json"))
    topo.extra["front_door"] = {"pid": 1, "config": "c", "regions": {"eu": PLAN.url("eu")}}
    pairs = dict(exports(topo, tmp_path / "stack.json", "eu"))
    assert pairs["AUTHPLANE_EU_FRONT_DOOR_URL"] == PLAN.url("eu")
    assert pairs["AUTHPLANE_FRONT_DOOR_URL"] == PLAN.url("eu")


def test_the_front_doors_own_503_is_oauth_json_with_retry_after() -> None:
    defaults = sections(frontdoor.render_config(PLAN))["defaults"]
    line = next(line for line in defaults if line.startswith("http-error status 503"))
    assert "content-type application/json" in line
    assert f"'{frontdoor.UNAVAILABLE_BODY}'" in line
    assert line.endswith(f"hdr Retry-After {frontdoor.RETRY_AFTER_S}")


@pytest.mark.parametrize("status", [502, 504])
def test_the_front_doors_own_502_and_504_are_oauth_json_not_html(status: int) -> None:
    """A newcomer killed a region mid-login and got HAProxy's HTML 502 page."""
    defaults = sections(frontdoor.render_config(PLAN))["defaults"]
    line = next(line for line in defaults if line.startswith(f"http-error status {status}"))
    assert "content-type application/json" in line
    assert f"'{frontdoor.FAILED_BODY}'" in line
    assert line.endswith(f"hdr Retry-After {frontdoor.RETRY_AFTER_S}")
