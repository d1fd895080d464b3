"""The four disaster drills, each on a 3-region Kafka stack with proxied links under a small
steady load (the same code ``authplane drill NAME`` runs, with a shorter plan).

One stack for the module: each drill leaves the stack whole (links healed, delay removed, nodes
restarted, the crashed region restored); region-crash runs last all the same.
"""

from __future__ import annotations

import pytest

from services.devstack.drill.drills import Plan
from services.devstack.drill.runner import render, run_drill
from services.devstack.stack import Stack

# A drill outlasts the suite's 300 s default on a busy 2-core machine.
pytestmark = pytest.mark.timeout(900)
PLAN = Plan(rate_per_s=3.0, warm_s=3.0, fault_s=8.0, after_s=5.0, users=3, samples=8)


def _nothing_lost(figures: dict[str, object]) -> None:
    assert figures["acknowledged logins"], "the load must have logged someone in"
    assert figures["acknowledged logins lost (any region)"] == 0
    assert figures["revocations not in effect (any region)"] == 0
    assert figures["checksum equal in all regions"] is True, (
        f"{figures['checksums']}; kinds that differ: {figures.get('kinds that differ')}"
    )
    assert figures["503 answers without Retry-After"] == 0


def test_wan_latency_propagates_logins_and_revocations(drill_stack: Stack) -> None:
    figures = run_drill("wan-latency", drill_stack, PLAN)
    print(render("wan-latency", PLAN, figures))
    _nothing_lost(figures)


def test_region_partition_majority_keeps_working_and_all_converge(drill_stack: Stack) -> None:
    figures = run_drill("region-partition", drill_stack, PLAN)
    print(render("region-partition", PLAN, figures))
    _nothing_lost(figures)
    assert str(figures["majority logins during the cut"]).split("/")[0] != "0"
    # The cut-off side fails closed (503 + Retry-After), never a false "invalid_grant".
    assert set(str(figures["cut-off side login answers"]).split(", ")) <= {"200", "503", "0"}
    assert figures["cut-off side still verifies an earlier token"] is True


def test_rolling_restart_of_every_kafka_node_loses_nothing(drill_stack: Stack) -> None:
    figures = run_drill("rolling-restart", drill_stack, PLAN)
    print(render("rolling-restart", PLAN, figures))
    _nothing_lost(figures)


def test_region_crash_survivors_keep_working_and_the_region_comes_back_whole(
    drill_stack: Stack,
) -> None:
    figures = run_drill("region-crash", drill_stack, PLAN)
    print(render("region-crash", PLAN, figures))
    _nothing_lost(figures)
    assert str(figures["survivor logins during the crash"]).split("/")[0] != "0"
    assert int(str(figures["events replayed into its rebuilt Redis"])) > 0
