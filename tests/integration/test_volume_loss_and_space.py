"""A volume that lost every copy is named; full volume servers are unhealthy. Real processes on loopback.

1. The prod topology (010, one volume server per zone): write files, record the volumes, remove the empty
   ones with `volume.deleteEmpty` (not a loss), then SIGKILL both holders of a volume holding data, delete its
   .dat/.idx and restart them: the volume is gone from the master and the check names it.
2. The prod topology with `-max=4` per volume server and 1 MB volumes: fill it until writes fail, measure what
   a write then sees through HAProxy, and the check says unhealthy, "no free volume slots", with what is left.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from components.healthcheck import run_checks
from components.healthcheck.ledger import volumes_of
from components.healthcheck.volume_record import FileRecord, with_volume_record
from components.model.topology import Role, Topology
from tests.support.cluster import (
    LocalCluster,
    health_target,
    running,
    wait_http,
)
from tests.support.drill import unstarted_cluster
from tests.support.stack_configs import prod
from tests.support.tiers import running_tier
from tests.support.weed_shell import run as weed_shell_run

pytestmark = pytest.mark.integration

LOSS_SUBNET = "127.0.73"
FULL_SUBNET = "127.0.74"
SLOTS = 4
DELETE_EMPTY_RUNS = 4  # runs 5 s apart: each volume server reports its volumes in between


def vol_status(master: str) -> dict:
    return httpx.get(f"http://{master}/vol/status", timeout=10).json()


def weed_shell(master: str, commands: str) -> str:
    return weed_shell_run(master, f"lock\n{commands}\nunlock\n", timeout=60)


def destroy_every_copy(cluster: LocalCluster, vid: int, holders: tuple[str, ...]) -> None:
    """SIGKILL each holder, delete the volume's files from its data dir, start it again."""
    services = [s for s in cluster.topology.of(Role.VOLUME) if s.http_address in holders]
    for service in services:
        cluster.kill(service.name)
        for path in Path(service.data_dir).rglob(f"*{vid}.*"):
            if path.stem.split("_")[-1] == str(vid):
                path.unlink()
    for service in services:
        cluster.start_service(service)
    for service in services:
        cluster.wait_healthy(service.name, timeout=60)


def wait_for_volumes(master: str, wanted: set[int], timeout: float = 60.0) -> set[int]:
    """Poll until every id in `wanted` is listed again (volume servers re-register); the ids listed."""
    deadline = time.monotonic() + timeout
    while True:
        listed = {v.id for v in volumes_of(vol_status(master))}
        if wanted <= listed or time.monotonic() > deadline:
            return listed
        time.sleep(1.0)


@pytest.fixture(scope="module")
def prod_cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    with running_tier("ha", tmp_path_factory.mktemp("loss"), LOSS_SUBNET) as started:
        yield started


def test_a_volume_that_lost_every_copy_is_named_and_delete_empty_is_not(prod_cluster: LocalCluster, tmp_path: Path):
    topology = prod_cluster.topology
    target = health_target(topology, prod_cluster.values)
    master = topology.master_addresses[0]
    for i in range(30):
        assert httpx.put(f"{target.native_url}/ledger/f{i}", content=os.urandom(8192), timeout=60).status_code == 201
    # The master learns volume sizes from the volume servers' heartbeats: wait until it counts the data.
    deadline = time.monotonic() + 30
    while not any(v.holds_data for v in volumes_of(vol_status(master))) and time.monotonic() < deadline:
        time.sleep(0.5)
    record = FileRecord(tmp_path / "volume-record.json")
    first = with_volume_record(run_checks(target), target.master_urls, record)
    assert first.outcome == "healthy", first.table()

    volumes = volumes_of(vol_status(master))
    empty = {v.id for v in volumes if not v.holds_data}
    assert empty, "the growth left no empty volume to delete"
    # weed judges each copy by what its volume server last reported (size, last write), so one run may take one
    # copy of a volume and leave the other; the check's own probes may also write into an empty volume
    # meanwhile ("volume not empty"). Only the ids with no copy left count as removed; a later run, after the
    # next reports, takes what an earlier one left.
    removed: set[int] = set()
    for _run in range(DELETE_EMPTY_RUNS):
        time.sleep(2)  # volume.deleteEmpty takes volumes quiet for longer than -quietFor
        print(weed_shell(master, "volume.deleteEmpty -quietFor=1s -apply"))
        time.sleep(3)
        removed = empty - {v.id for v in volumes_of(vol_status(master))}
        if removed:
            break
    assert removed, f"{DELETE_EMPTY_RUNS} runs of volume.deleteEmpty removed none of {empty}"
    after_delete = with_volume_record(run_checks(target), target.master_urls, record)
    assert not [r for r in after_delete.failures() if r.check == "every volume present"], after_delete.table()

    victim = next(v for v in volumes if v.holds_data)
    destroy_every_copy(prod_cluster, victim.id, victim.servers)
    others = {v.id for v in volumes if v.holds_data and v.id != victim.id}
    assert victim.id not in wait_for_volumes(master, others)
    report = with_volume_record(run_checks(target), target.master_urls, record)
    assert report.outcome == "unhealthy", report.table()
    [lost] = [r for r in report.failures() if r.check == "every volume present"]
    assert f"volume {victim.id} (default collection, 010) last on {', '.join(victim.servers)}" in lost.detail
    assert not [vid for vid in removed if f"volume {vid} " in lost.detail], lost.detail
    print(f"\n{lost.detail}")


def tiny_slots(topology: Topology) -> Topology:
    """Every volume server with -max=4: a handful of 010 volumes fill the cluster."""
    services = tuple(
        dataclasses.replace(s, args=tuple(f"-max={SLOTS}" if a.startswith("-max=") else a for a in s.args))
        if s.role is Role.VOLUME
        else s
        for s in topology.services
    )
    return dataclasses.replace(topology, services=services)


@pytest.fixture(scope="module")
def full_cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    root = tmp_path_factory.mktemp("full")
    unstarted, postgres = unstarted_cluster(prod(volumeSizeLimitMB=1), root, FULL_SUBNET)
    try:
        postgres.init()
        with running(tiny_slots(unstarted.topology), unstarted.values, root) as cluster:
            yield cluster
    finally:
        postgres.remove()


def timed_put(url: str, size: int, timeout: float = 60.0) -> tuple[float, str]:
    start = time.monotonic()
    try:
        answer = httpx.put(url, content=os.urandom(size), timeout=timeout)
        outcome = f"HTTP {answer.status_code} {answer.text[:120]}"
    except httpx.HTTPError as exc:
        outcome = type(exc).__name__
    return time.monotonic() - start, outcome


def test_full_volume_servers_are_unhealthy_with_the_space_left(full_cluster: LocalCluster):
    topology = full_cluster.topology
    target = health_target(topology, full_cluster.values)
    wait_http(f"{target.native_url}/healthz", 30)  # the admin port: AEGIS's filer URL admits AEGIS's calls only
    deadline, written = time.monotonic() + 120, 0
    while time.monotonic() < deadline:
        seconds, outcome = timed_put(f"{target.native_url}/fill/f{written}", 256 * 1024)
        if not outcome.startswith("HTTP 201"):
            break
        written += 1
    else:
        pytest.fail(f"{written} writes of 256 KiB never filled {SLOTS} slots per server")
    writes = [timed_put(f"{target.native_url}/full/f{i}", 4096) for i in range(3)]
    report = run_checks(target)  # the gates' own checks, the room for a new volume among them
    assert report.outcome == "unhealthy", report.table()
    [space] = [r for r in report.failures() if r.check == "room for a new volume"]
    assert "no free volume slots" in space.detail and "disk:" in space.detail, space.detail
    print(f"\nfilled after {written} writes of 256 KiB; then through HAProxy:")
    for seconds, outcome in writes:
        print(f"  PUT 4 KiB: {seconds:.2f} s, {outcome}")
    print(f"check: {space.detail}")
