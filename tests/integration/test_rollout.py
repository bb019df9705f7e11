"""A rolling upgrade of the prod topology on loopback, from the previous weed release to the pinned one.

The cluster (3 masters, 3 volume servers, 3 filers on PostgreSQL, 2 HAProxy, S3) starts on
`.weed/4.47`; the rollout driver the AWS stack uses rolls it to the pinned weed, one node at a time.
The first test breaks one filer's new command line and sees the rollout stop there; the second re-runs
the rollout with the fixed config, which resumes after the nodes already done and finishes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from components.model.topology import Role
from components.rollout.driver import Rollout
from tests.support.cluster import (
    LocalCluster,
    health_target,
    wait_for_report,
)
from tests.support.loopback_rollout import loopback_rollout, running_previous_prod
from tests.support.rollout_local import (
    Release,
    binary_version,
    loopback_gates,
    loopback_haproxy,
    pinned_releases,
    previous_weed,
    releases,
    rollout_targets,
    running_version,
)

pytestmark = pytest.mark.integration

SUBNET = "127.0.51"
BROKEN = "filer-1"
# What the first test's stopped rollout finished, for the second test's resume (empty when run alone).
FINISHED: list[str] = []


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    with running_previous_prod(tmp_path_factory.mktemp("rollout"), SUBNET) as started:
        yield started


def rollout(cluster: LocalCluster, targets: dict[str, Release], events: list[str], gate_timeout: float) -> Rollout:
    old = releases(cluster.topology, previous_weed())
    return loopback_rollout(
        cluster, old, targets, gate_timeout, on_event=lambda node, what: events.append(f"{node} {what}")
    )


def versions(cluster: LocalCluster) -> dict[str, str]:
    return {s.name: running_version(cluster, s) for s in cluster.topology.services}


def test_a_node_whose_new_config_fails_stops_the_rollout_there(cluster: LocalCluster):
    old, new = binary_version(previous_weed()), binary_version(pinned_releases(cluster.topology)["master-0"].weed)
    assert set(versions(cluster).values()) == {old}, versions(cluster)
    targets = pinned_releases(cluster.topology)
    broken = targets[BROKEN]
    targets[BROKEN] = replace(broken, service=replace(broken.service, args=(*broken.service.args, "-noSuchFlag=1")))
    events: list[str] = []

    result = rollout(cluster, targets, events, gate_timeout=20).run(rollout_targets(targets))

    assert result.failed == BROKEN, result.summary()
    assert result.rolled == ["volume-0", "volume-1", "volume-2", "filer-0"], result.summary()
    FINISHED.extend(result.rolled)
    expected = {"volume-0": new, "volume-1": new, "volume-2": new, "filer-0": new, "filer-2": old, "s3-0": old}
    expected |= {m.name: old for m in cluster.topology.of(Role.MASTER)}
    got = versions(cluster)
    assert {name: got[name] for name in expected} == expected
    gates = loopback_gates(cluster.topology)
    for node in rollout_targets(targets):
        if node.name != BROKEN:
            assert gates.problem(node) is None, node.name
    assert loopback_haproxy(cluster.topology).problem("filer-0") is None


def test_a_rerun_resumes_after_the_nodes_done_and_rolls_the_leader_last(cluster: LocalCluster):
    targets = pinned_releases(cluster.topology)
    nodes = rollout_targets(targets)
    events: list[str] = []
    driver = rollout(cluster, targets, events, gate_timeout=90)
    leader = loopback_gates(cluster.topology).leader()

    result = driver.run(nodes)

    assert result.ok, result.summary()
    # What the stopped rollout finished is skipped; the broken filer (recorded at its broken target) is rolled.
    assert result.skipped == FINISHED, result.summary()
    assert BROKEN in result.rolled
    masters_rolled = [name for name in result.rolled if name.startswith("master-")]
    assert masters_rolled[-1] == leader, (leader, result.rolled)
    assert result.rolled.index(masters_rolled[0]) > max(result.rolled.index(n) for n in result.rolled if "filer" in n)
    assert set(versions(cluster).values()) == {targets["master-0"].version}, versions(cluster)
    target = health_target(cluster.topology, cluster.values)
    report = wait_for_report(target, healthy=True, timeout=60)
    assert report.healthy, report.table()
    again = driver.run(nodes)
    assert again.ok and again.rolled == [] and sorted(again.skipped) == sorted(targets), again.summary()
