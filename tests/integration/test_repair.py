"""Self-repair, measured with real processes: a volume server is lost for good and replaced by an empty one.

The prod topology on loopback with the shipped replication 010 (one copy in each of two zones) and the
masters' maintenance interval set to 1 minute. The health check must call the cluster "degraded" while
volumes lack a copy, naming them, and "healthy" once the leader's maintenance run has copied them back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from components.healthcheck import run_checks
from components.model.aegis.layout import volume_path
from components.model.topology import Role
from tests.support.cluster import (
    LocalCluster,
    health_target,
    running_prod,
    wait_for_report,
)
from tests.support.repair import (
    maintenance_runs_by_master,
    replace_volume_server,
    under_replicated,
    wait_for_full_copies,
    wait_for_maintenance_run,
)
from tests.support.stack_configs import prod

pytestmark = pytest.mark.integration

SUBNET = "127.0.61"
INTERVAL_MINUTES = 1
# A run starts `interval` after the previous one ended; copying a few small volumes takes seconds.
REPAIR_MARGIN_SECONDS = 60.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    cfg = prod(maintenanceIntervalMinutes=INTERVAL_MINUTES)
    with running_prod(cfg, tmp_path_factory.mktemp("repair"), SUBNET) as (started, _):
        yield started


def test_a_lost_volume_server_is_repaired_within_the_maintenance_interval(cluster: LocalCluster):
    topology = cluster.topology
    target = health_target(topology, cluster.values, upkeep=prod().upkeep)
    volume = volume_path("zaru-consumer", "00000000-0000-4000-8000-0000000e9a1c")

    # Files in an AEGIS volume (AEGIS's filer URL) and outside /aegis (the admin frontend, since AEGIS's URL
    # refuses such paths): two collections, each grows its own 010 volumes.
    for i in range(40):
        for url in (f"{target.filer_url}{volume}/f{i}", f"{target.admin_url}/repair/f{i}"):
            assert httpx.put(url, content=os.urandom(8192), timeout=60).status_code == 201
    master = topology.of(Role.MASTER)[0].http_address
    assert not under_replicated(master)
    before = wait_for_report(target, healthy=True, timeout=60)
    assert before.outcome == "healthy", before.table()
    # The capacity checks read the live /dir/status and each volume server's /status: raise the bar past
    # what this machine has, and every volume server is named as short.
    short = run_checks(replace(target, min_free_volume_slots=10_000, min_free_disk_percent=99))
    assert short.outcome == "degraded", short.table()
    for check in ("free slots", "free disk"):
        named = {r.where for r in short.failures() if r.check == check}
        assert named == {v.http_address for v in topology.of(Role.VOLUME)}, short.table()

    # Right after a run the next one is a whole interval away, so the degraded state is sure to be seen.
    wait_for_maintenance_run(cluster, timeout=INTERVAL_MINUTES * 60 + 60)
    victim = topology.of(Role.VOLUME)[1]
    killed = replace_volume_server(cluster, victim.name)
    missing = under_replicated(master)
    assert missing, "the lost server held no volume"

    degraded = run_checks(target)
    assert degraded.outcome == "degraded", degraded.table()
    named = " ".join(r.detail for r in degraded.failures())
    for vid in list(missing)[:3]:
        assert f"volume {vid} has 1 of 2 copies" in named, degraded.table()

    limit = INTERVAL_MINUTES * 60 + REPAIR_MARGIN_SECONDS
    wait_for_full_copies(master, timeout=limit)
    repaired_after = time.monotonic() - killed
    after = wait_for_report(target, healthy=True, timeout=30)
    assert after.outcome == "healthy", after.table()
    # Every master has the script; only the Raft leader (no election happened here) ever ran it.
    leader = httpx.get(f"http://{master}/cluster/status", timeout=10).json()["Leader"]
    ran = {name for name, runs in maintenance_runs_by_master(cluster).items() if runs}
    assert ran == {m.name for m in topology.of(Role.MASTER) if leader.startswith(m.http_address)}, ran
    print(f"\nwhile short of copies: {degraded.summary()}")
    print(f"{len(missing)} volume(s) lost a copy; full copies again {repaired_after:.1f} s after the SIGKILL")
    assert repaired_after <= limit
