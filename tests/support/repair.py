"""Losing a volume server for good on a loopback cluster, and watching the masters' maintenance repair it.

Shared by tests/integration/test_repair.py and the `repair` benchmark. Copies are counted here straight
from the leader's `/vol/status`, independently of the health check, whose verdicts are what is tested.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.cluster import LocalCluster

MAINTENANCE_DONE = "executing: unlock"  # the last line the leader logs for one maintenance run


@dataclass(frozen=True)
class Placement:
    """Where a master lists one volume's copies, and how many its replication asks for."""

    servers: tuple[str, ...]  # one entry per copy listed
    wanted: int


def placements(master_address: str) -> dict[int, Placement]:
    """volume id -> its placement, from a master's /vol/status."""
    body = httpx.get(f"http://{master_address}/vol/status", timeout=10).json()
    servers: dict[int, list[str]] = {}
    wanted: dict[int, int] = {}
    for racks in (body["Volumes"].get("DataCenters") or {}).values():
        for nodes in (racks or {}).values():
            for server, volumes in (nodes or {}).items():
                for volume in volumes or []:
                    placement = volume.get("ReplicaPlacement") or {}
                    servers.setdefault(volume["Id"], []).append(server)
                    wanted[volume["Id"]] = 1 + sum(placement.get(k, 0) for k in ("dc", "rack", "node"))
    return {vid: Placement(tuple(servers[vid]), wanted[vid]) for vid in servers}


def copies(master_address: str) -> dict[int, tuple[int, int]]:
    """volume id -> (copies registered, copies its replication asks for), from a master's /vol/status."""
    return {vid: (len(p.servers), p.wanted) for vid, p in placements(master_address).items()}


def under_replicated(master_address: str) -> dict[int, tuple[int, int]]:
    return {vid: count for vid, count in copies(master_address).items() if count[0] < count[1]}


def maintenance_runs_by_master(cluster: LocalCluster) -> dict[str, int]:
    """How many maintenance runs each master has finished so far."""
    return {
        name: process.log.read_text(errors="replace").count(MAINTENANCE_DONE)
        for name, process in cluster.processes.items()
        if name.startswith("master-")
    }


def maintenance_runs(cluster: LocalCluster) -> int:
    """How many maintenance runs have finished so far, on whichever master led them."""
    return sum(maintenance_runs_by_master(cluster).values())


def wait_for_maintenance_run(cluster: LocalCluster, timeout: float) -> float:
    """Seconds until the next maintenance run finishes: right after it, a whole interval lies ahead."""
    start = time.monotonic()
    before = maintenance_runs(cluster)
    while maintenance_runs(cluster) == before:
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"no maintenance run finished within {timeout:.0f}s")
        time.sleep(0.5)
    return time.monotonic() - start


def replace_volume_server(cluster: LocalCluster, name: str) -> float:
    """SIGKILL `name` for good and start an empty replacement on its address; returns the kill's monotonic time."""
    service = cluster.topology.service(name)
    cluster.kill(name)
    killed = time.monotonic()
    shutil.rmtree(service.data_dir)
    Path(service.data_dir).mkdir(parents=True)
    cluster.start_service(service)
    cluster.wait_healthy(name, timeout=60)
    return killed


def wait_for_full_copies(
    master_address: str, timeout: float, each_poll: Callable[[dict[int, tuple[int, int]]], None] = lambda _: None
) -> float:
    """Seconds until no volume has fewer copies than its replication asks for; `each_poll` sees each count."""
    start = time.monotonic()
    while True:
        missing = under_replicated(master_address)
        each_poll(missing)
        if not missing:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"still under-replicated after {timeout:.0f}s: {missing}")
        time.sleep(1.0)
