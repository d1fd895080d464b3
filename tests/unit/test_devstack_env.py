"""``authplane env`` prints exports a POSIX shell can eval, naming every region."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from schemas.topology import RegionEndpoints, Topology, TopologyError
from services.devstack.env import exports, next_commands, render

# A secret with every character a shell cares about: quoting must survive eval.
SECRET = "a'b\"c $HOME `x` \\ ;&|"


def _topology() -> Topology:
    regions = {
        name: RegionEndpoints(
            name=name,
            redis_url="redis://127.0.0.1:1/0",
            postgres_dsn="postgresql://postgres@127.0.0.1:2/authplane",
            login_url=f"http://127.0.0.1:{port}",
            projector_metrics_url=f"http://127.0.0.1:{port + 1100}",
        )
        for name, port in (("eu", 8080), ("us", 8081))
    }
    return Topology("127.0.0.1:19092", regions, "rs-dev", SECRET)


def _eval(text: str, *names: str) -> list[str]:
    script = text + "".join(f'printf "%s\\n" "${name}"\n' for name in names)
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, check=True, timeout=10
    )
    return done.stdout.splitlines()


def test_eval_sets_every_region_url_and_the_introspection_client(tmp_path: Path) -> None:
    text = render(exports(_topology(), tmp_path / "stack.json"))
    got = _eval(
        text,
        "AUTHPLANE_EU_URL",
        "AUTHPLANE_US_URL",
        "AUTHPLANE_US_METRICS_URL",
        "AUTHPLANE_INTROSPECTION_CLIENT_ID",
        "AUTHPLANE_INTROSPECTION_CLIENT_SECRET",
        "AUTHPLANE_STACK_FILE",
    )
    assert got == [
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8081",
        "http://127.0.0.1:9181",
        "rs-dev",
        SECRET,
        str(tmp_path / "stack.json"),
    ]


def test_one_region_adds_its_url_as_the_default(tmp_path: Path) -> None:
    pairs = dict(exports(_topology(), tmp_path / "stack.json", "us"))
    assert pairs["AUTHPLANE_URL"] == pairs["AUTHPLANE_US_URL"] == "http://127.0.0.1:8081"
    assert pairs["AUTHPLANE_REGION"] == "us"
    assert "AUTHPLANE_EU_URL" not in pairs


def test_an_unknown_region_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="known: eu, us"):
        exports(_topology(), tmp_path / "stack.json", "ap")


def test_next_commands_carry_the_real_addresses() -> None:
    lines = next_commands(_topology())
    assert lines[0] == 'eval "$(.venv/bin/authplane env)"'
    assert "user create alice" in lines[1]
    assert lines[1].endswith("--password-stdin --wait")
    assert "curl -s http://127.0.0.1:8080/oauth2/token" in lines[2]
    assert "http://127.0.0.1:8081/oauth2/introspect" in lines[3]
    assert "--base-dir /tmp/x" in next_commands(_topology(), Path("/tmp/x"))[0]
