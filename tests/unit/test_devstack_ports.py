"""The dev stack's documented, stable ports (README "Ports"), and the error when one is taken."""

from __future__ import annotations

import socket

import pytest

from services.devstack import ports
from services.devstack.process import InfraError
from tests.launcher import free_offset


def test_default_ports_are_the_documented_ones() -> None:
    plan = ports.stable_plan(["eu", "us", "ap"])
    assert plan.broker == 19092
    assert plan.regions["eu"] == ports.RegionPorts(
        login=8080, metrics=9180, redis=16379, postgres=15432
    )
    assert plan.regions["us"] == ports.RegionPorts(
        login=8081, metrics=9181, redis=16380, postgres=15433
    )
    assert plan.regions["ap"].login == 8082


def test_the_plan_is_the_same_on_every_start_and_an_offset_shifts_every_port() -> None:
    assert ports.stable_plan(["eu", "us"]) == ports.stable_plan(["eu", "us"])
    base = ports.stable_plan(["eu", "us"]).start_order()
    shifted = ports.stable_plan(["eu", "us"], 100).start_order()
    assert shifted == [p + 100 for p in base]
    assert len(set(base)) == len(base) == 9


def test_ten_regions_never_share_a_port_and_an_eleventh_is_refused() -> None:
    regions = [f"r{n}" for n in range(ports.MAX_REGIONS)]
    order = ports.stable_plan(regions).start_order()
    assert len(set(order)) == len(order)
    with pytest.raises(InfraError, match="at most 10 regions"):
        ports.stable_plan([*regions, "r10"])


def test_an_offset_past_the_port_range_is_refused() -> None:
    with pytest.raises(InfraError, match="offset"):
        ports.stable_plan(["eu"], ports.MAX_OFFSET + 1)


def test_a_taken_port_is_named_with_the_ways_around_it() -> None:
    offset = free_offset(["eu", "us"])
    plan = ports.stable_plan(["eu", "us"], offset)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", plan.regions["us"].login))
        holder.listen()
        with pytest.raises(InfraError) as caught:
            ports.check_free(plan)
    message = str(caught.value)
    assert f"{plan.regions['us'].login} (us login)" in message
    assert "--port-offset" in message
    assert "--free-ports" in message
    ports.check_free(plan)  # released: free again
