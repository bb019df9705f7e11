"""Changing the masters' Raft engine on a running cluster, goraft to hashicorp, on real processes.

The prod topology on loopback (3 masters, 3 volume servers, 3 filers on PostgreSQL) runs goraft and holds
files. Rolled as a rollout rolls, one master at a time, the first master on hashicorp finds no leader:
its peers speak the other protocol, so its health probe stays 503 and the rollout's gate would stop
there while the other two keep serving. `raftEngineMigration: restart-all-masters` is what works: every
master stopped, then all started on the new engine. The topology and MaxVolumeId come back from the
volume servers' heartbeats, every file reads back, and new volumes get ids above the old maximum.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from components.model.refs import Ref
from components.model.topology import Role, Topology
from tests.support.cluster import LocalCluster, fresh_values, loopback_topology, running, wait_http
from tests.support.postgres import LocalPostgres
from tests.support.repair import copies
from tests.support.stack_configs import prod

pytestmark = pytest.mark.integration

SUBNET = "127.0.83"
ROLLED_WAIT_SECONDS = 20.0


def without_load_balancers(cfg, root) -> Topology:
    topology, _ = loopback_topology(cfg, root, SUBNET)
    return replace(topology, load_balancers=())  # files go to a filer directly; HAProxy is not tested here


@pytest.fixture(scope="module")
def goraft(tmp_path_factory) -> Iterator[tuple[LocalCluster, object]]:
    cfg = prod(raftHashicorp=False)
    assert cfg.aws is not None
    root = tmp_path_factory.mktemp("raft-engine")
    values = fresh_values(f"{SUBNET}.60")
    db = cfg.aws.database
    postgres = LocalPostgres(f"{SUBNET}.60", db.port, db.name, db.user, values[Ref.DB_PASSWORD])
    try:
        postgres.init()
        with running(without_load_balancers(cfg, root), values, root) as started:
            yield started, root
    finally:
        postgres.remove()


def cluster_status(address: str) -> dict:
    return httpx.get(f"http://{address}/cluster/status", timeout=5).json()


def healthz(address: str) -> int:
    try:
        return httpx.get(f"http://{address}/cluster/healthz", timeout=3).status_code
    except httpx.HTTPError:
        return 0


def test_restart_all_masters_moves_a_cluster_with_data_from_goraft_to_hashicorp(goraft):
    cluster, root = goraft
    old = cluster.topology
    assert all("-raftHashicorp=false" in m.args for m in old.of(Role.MASTER))
    filer = f"http://{old.of(Role.FILER)[0].http_address}"
    written = {f"/engine/f{i}": os.urandom(4096) for i in range(40)}
    for path, body in written.items():
        assert httpx.put(f"{filer}{path}", content=body, timeout=60).status_code == 201
    masters = old.of(Role.MASTER)
    max_before = cluster_status(masters[0].http_address)["MaxVolumeId"]
    volumes_before = set(copies(masters[0].http_address))

    new = without_load_balancers(prod(raftHashicorp=True), root)
    assert all("-raftHashicorp=true" in m.args for m in new.of(Role.MASTER))
    # As a rollout would: the first follower alone on the new engine.
    leader = cluster_status(masters[0].http_address)["Leader"]
    rolled = next(m for m in new.of(Role.MASTER) if not leader.startswith(m.http_address))
    cluster.kill(rolled.name, 15)
    cluster.start_service(rolled)
    time.sleep(ROLLED_WAIT_SECONDS)
    assert healthz(rolled.http_address) == 503, "a lone master on the other engine found a leader"
    others = [m for m in masters if m.name != rolled.name]
    assert all(healthz(m.http_address) == 200 for m in others)
    assert httpx.put(f"{filer}/engine/while-rolled", content=b"x", timeout=60).status_code == 201

    # The documented migration: every master stopped, then all started on the new engine.
    for master in masters:
        cluster.kill(master.name, 15)
    started = time.monotonic()
    for master in new.of(Role.MASTER):
        cluster.start_service(master)
    for master in new.of(Role.MASTER):
        wait_http(f"http://{master.http_address}/cluster/healthz", timeout=60)
    elected = time.monotonic() - started
    deadline = time.monotonic() + 60
    while set(copies(masters[0].http_address)) != volumes_before:
        assert time.monotonic() < deadline, (volumes_before, copies(masters[0].http_address))
        time.sleep(1)
    assert cluster_status(masters[0].http_address)["MaxVolumeId"] >= max_before
    unreadable = [p for p, body in written.items() if httpx.get(f"{filer}{p}", timeout=30).content != body]
    assert not unreadable, unreadable
    # A new collection grows new volumes: their ids must not reuse one the cluster already has.
    assert httpx.put(f"{filer}/engine-new/f?collection=after", content=b"y" * 100, timeout=90).status_code == 201
    grown = set(copies(masters[0].http_address)) - volumes_before
    print(f"\nMaxVolumeId before {max_before}; all healthy {elected:.1f} s after the restart; new volumes {grown}")
    assert grown and min(grown) > max_before
