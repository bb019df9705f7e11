"""`volume.deleteEmpty -apply` with a filer cut off from its PostgreSQL, on real processes.

Upstream reports data loss around this command (seaweedfs/seaweedfs#5794, after a filer lost its
PostgreSQL connection; #4559, a volume with data deleted). The prod topology runs on loopback with files
in three places: an AEGIS volume (collection `volumes`), the default collection, and a collection whose
files are all deleted before the cut. PostgreSQL is stopped, so every filer loses its store, and the
maintenance script's deleteEmpty runs with a quiet period of one second. Every file written must read
back afterwards, and only volumes without a live file may be gone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from components.model.aegis.layout import volume_path
from components.model.refs import Ref
from components.model.topology import Role
from tests.support.cluster import LocalCluster, fresh_values, loopback_topology, running, wait_http
from tests.support.postgres import LocalPostgres
from tests.support.stack_configs import prod
from tests.support.weed_shell import run as weed_shell

pytestmark = pytest.mark.integration

SUBNET = "127.0.82"
FILES_PER_PLACE = 30
GONE = "/deleted-later"  # every file here is deleted before the cut: its collection's volumes hold no live file
# Every file the tests wrote and did not delete, path -> content: each must still read back at the end.
LIVE: dict[str, bytes] = {}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[tuple[LocalCluster, LocalPostgres]]:
    # A day between maintenance runs: the leader's own script never runs during the test.
    cfg = prod(maintenanceIntervalMinutes=1440)
    assert cfg.aws is not None
    root = tmp_path_factory.mktemp("delete-empty")
    topology, _ = loopback_topology(cfg, root, SUBNET)
    # Files go to a filer directly: what is tested is the filers' store and the volumes, not HAProxy.
    topology = replace(topology, load_balancers=())
    values = fresh_values(f"{SUBNET}.60")
    db = cfg.aws.database
    postgres = LocalPostgres(f"{SUBNET}.60", db.port, db.name, db.user, values[Ref.DB_PASSWORD])
    try:
        postgres.init()
        with running(topology, values, root) as started:
            yield started, postgres
    finally:
        postgres.remove()


def volumes_by_collection(master: str) -> dict[int, tuple[str, int]]:
    """volume id -> (collection, live file count summed over its copies), from the master's /vol/status."""
    body = httpx.get(f"http://{master}/vol/status", timeout=10).json()
    found: dict[int, tuple[str, int]] = {}
    for racks in (body["Volumes"].get("DataCenters") or {}).values():
        for nodes in (racks or {}).values():
            for volumes in (nodes or {}).values():
                for v in volumes or []:
                    live = v.get("FileCount", 0) - v.get("DeleteCount", 0)
                    found[v["Id"]] = (v.get("Collection", ""), found.get(v["Id"], ("", 0))[1] + live)
    return found


def test_delete_empty_with_postgres_cut_off_keeps_every_file(cluster):
    started, postgres = cluster
    topology = started.topology
    filer = f"http://{topology.of(Role.FILER)[0].http_address}"
    masters = ",".join(topology.master_addresses)
    aegis = volume_path("zaru-consumer", "00000000-0000-4000-8000-00000000de1e")
    written: dict[str, bytes] = {}
    for i in range(FILES_PER_PLACE):
        for path in (f"{aegis}/f{i}", f"/kept/f{i}", f"{GONE}/f{i}?collection=gone"):
            body = os.urandom(4096)
            assert httpx.put(f"{filer}{path}", content=body, timeout=60).status_code == 201
            written[path.split("?")[0]] = body
    assert httpx.delete(f"{filer}{GONE}/?recursive=true", timeout=60).status_code in (200, 204)
    kept = {path: body for path, body in written.items() if not path.startswith(GONE)}
    master = topology.of(Role.MASTER)[0].http_address
    # The filer deletes a removed file's chunks in the background; the masters learn it from heartbeats.
    deadline = time.monotonic() + 60
    while any(live for c, live in volumes_by_collection(master).values() if c == "gone"):
        assert time.monotonic() < deadline, volumes_by_collection(master)
        time.sleep(1)
    before = volumes_by_collection(master)

    postgres.stop()
    try:
        for node in topology.of(Role.FILER):
            wait_http(f"http://{node.http_address}/healthz", timeout=30, expect=503)
        # A write during the cut fails (its chunks may already be on a volume server when the store refuses it).
        failed = httpx.put(f"{filer}/kept/during-cut", content=os.urandom(4096), timeout=60).status_code
        time.sleep(2)  # every volume has been quiet for longer than -quietFor
        output = weed_shell(masters, "lock\nvolume.deleteEmpty -quietFor=1s -apply\nunlock\n")
    finally:
        postgres.start()
    for node in topology.of(Role.FILER):
        wait_http(f"http://{node.http_address}/healthz", timeout=30)
    time.sleep(6)  # volume servers' next heartbeats tell the masters what was deleted
    after = volumes_by_collection(master)

    unreadable = [p for p, body in kept.items() if httpx.get(f"{filer}{p}", timeout=30).content != body]
    deleted = sorted(set(before) - set(after))
    with_data = [vid for vid in deleted if before[vid][1] > 0]
    print(f"\nwrite during the cut: HTTP {failed}; volumes before {len(before)}, deleted {deleted}")
    print({vid: before[vid] for vid in deleted})
    print(output[-3000:])
    assert not unreadable, unreadable
    assert not with_data, {vid: before[vid] for vid in with_data}
    # Volumes whose every file was deleted count as empty: deleteEmpty frees their slots.
    assert {vid for vid, (c, _) in before.items() if c == "gone"} <= set(deleted)
    # Writes still grow new volumes where the deleted ones were.
    for i in range(5):
        assert httpx.put(f"{filer}{GONE}/again{i}?collection=gone", content=b"x" * 100, timeout=60).status_code == 201
        LIVE[f"{GONE}/again{i}"] = b"x" * 100
    LIVE.update(kept)


def test_a_write_into_an_emptied_volume_just_before_the_run_survives(cluster):
    """The race behind #4559: the master's view of a volume (file count, last write) comes from heartbeats,
    so a volume emptied long ago looks empty and quiet for a moment after a new write lands in it."""
    started, _ = cluster
    topology = started.topology
    filer = f"http://{topology.of(Role.FILER)[0].http_address}"
    masters = ",".join(topology.master_addresses)
    master = topology.of(Role.MASTER)[0].http_address
    for i in range(FILES_PER_PLACE):
        assert httpx.put(f"{filer}/raced/f{i}?collection=raced", content=b"x" * 1000, timeout=60).status_code == 201
    assert httpx.delete(f"{filer}/raced/?recursive=true", timeout=60).status_code in (200, 204)
    deadline = time.monotonic() + 60
    while any(live for c, live in volumes_by_collection(master).values() if c == "raced"):
        assert time.monotonic() < deadline, volumes_by_collection(master)
        time.sleep(1)
    time.sleep(2)
    late = {f"/raced/late{i}": os.urandom(2048) for i in range(6)}  # one per volume of the collection, likely
    for path, body in late.items():
        assert httpx.put(f"{filer}{path}?collection=raced", content=body, timeout=60).status_code == 201
    output = weed_shell(masters, "lock\nvolume.deleteEmpty -quietFor=1s -apply\nunlock\n")
    time.sleep(6)
    LIVE.update(late)
    # The late files, and those of the first test: the run also went over the volumes grown after its cut.
    lost = [p for p, body in LIVE.items() if httpx.get(f"{filer}{p}", timeout=30).content != body]
    print(f"\n{output[-2000:]}\nfiles lost: {lost}")
    assert not lost, output
