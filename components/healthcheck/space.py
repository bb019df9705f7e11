"""Out of space: can the cluster still grow a volume where its replication needs one?

Writes need a writable volume of their collection and replication. When none is left, the master must grow
new ones: a volume of replication xyz takes a free slot (`Max` - `Volumes` in `/dir/status`) on 1 + x + y + z
servers: z + 1 in one rack, one in each of y other racks of that data center, one in each of x other data
centers (weed/topology/volume_growth.go). Where that placement cannot be found, every write needing a new
volume fails or stalls. Measured on the loopback prod topology (010, -max=4, volumeSizeLimitMB=1, weed
4.48): once every slot was taken, PUTs through HAProxy answered 500 "No writable volumes" within 0.04 s,
because the filers ask for volumes in their own rack and the master answers that at once; without a rack
the filer retries the master's "volume growth in progress" for up to its 30 s assign budget. When the
fill left 2 free slots in one zone only (0/2/0: no room for a 010 volume), PUTs got no answer within 60 s.

So "no server can take a new volume" is unhealthy whatever the per-server minimum says, and the check
names the free slots and disk left, read from each volume server's /status only then (it is heavy). It is
one of `run_checks`' probes, so both post-deploy gates, the CLI and the scheduled watch all judge it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from components.healthcheck.probing import (
    CheckResult,
    Http,
    address,
    check_result,
    from_first_master,
    json_object,
    no_master_answered,
    since,
)
from components.healthcheck.wire import DataNode, dir_status, disks

CHECK = "room for a new volume"
GIB = 1024**3


def nodes_of(body: Mapping[str, Any] | None) -> tuple[tuple[DataNode, ...], set[str]]:
    """(data nodes, replications of the volume layouts) from a master's /dir/status; ValueError if not one, or
    if a node's slots or a layout's replication are unreadable (no verdict on room from a guess)."""
    found = _readable(body)
    if found is None:
        raise ValueError("not a /dir/status body")
    return found


def _readable(body: Mapping[str, Any] | None) -> tuple[tuple[DataNode, ...], set[str]] | None:
    found = dir_status(body)
    if found is None or found.replications is None or any(node.free_slots is None for node in found.nodes):
        return None
    return found.nodes, set(found.replications)


def _free(node: DataNode) -> int:
    return max(0, node.free_slots or 0)


def can_place(nodes: Iterable[DataNode], replication: str) -> bool:
    """Whether weed can find the servers a new volume of `replication` ("010") needs, by free slots."""
    other_dcs, other_racks, same_rack = (int(digit) for digit in replication)
    free: dict[str, dict[str, int]] = {}
    for node in nodes:
        if _free(node):
            racks = free.setdefault(node.data_center, {})
            racks[node.rack] = racks.get(node.rack, 0) + 1
    if len(free) - 1 < other_dcs:
        return False
    return any(
        count >= same_rack + 1 and len(racks) - 1 >= other_racks for racks in free.values() for count in racks.values()
    )


def placement_problem(nodes: Sequence[DataNode], replications: Iterable[str]) -> str:
    """Why no new volume can be placed, naming the slots left; "" when every replication in use can grow."""
    stuck = sorted(r for r in set(replications) or {"000"} if not can_place(nodes, r))
    if not stuck:
        return ""
    total = sum(node.max_volumes or 0 for node in nodes)
    left = sum(_free(node) for node in nodes)
    per_server = ", ".join(f"{n.name} ({n.rack or 'no rack'}) {_free(n)} of {n.max_volumes}" for n in nodes)
    if not left:
        where = f"no free volume slots on any volume server (0 of {total})"
    else:
        where = f"no free volume slots where a new {'/'.join(stuck)} volume can go ({left} of {total} free)"
    needs = "; ".join(f"a {r} volume needs {_needs(r)}" for r in stuck)
    return f"{where}: writes that need a new volume fail; {needs}; free slots: {per_server or 'no volume server'}"


def _needs(replication: str) -> str:
    dcs, racks, same = (int(digit) for digit in replication)
    parts = [f"{same + 1} server(s) with a free slot in one rack"]
    if racks:
        parts.append(f"one in each of {racks} other rack(s)")
    if dcs:
        parts.append(f"one in each of {dcs} other data center(s)")
    return " and ".join(parts)


def disk_left(status: Mapping[str, Any]) -> str:
    """'/data 12.5% free (1.2 GiB of 9.8 GiB)' for each disk of a volume server's /status body; "unreadable"
    for a body of another shape (this runs inside the gates' probes, which must not raise)."""
    found = disks(status)
    if found is None or any(disk.percent_free is None for disk in found):
        return "unreadable"
    parts = []
    for disk in found:
        text = f"{'?' if disk.dir is None else disk.dir} {disk.percent_free:.1f}% free"
        if isinstance(disk.free, int) and isinstance(disk.total, int):
            text += f" ({disk.free / GIB:.1f} GiB of {disk.total / GIB:.1f} GiB)"
        parts.append(text)
    return ", ".join(parts)


def check_space(http: Http, master_urls: Sequence[str], volume_urls: Sequence[str]) -> list[CheckResult]:
    """Unhealthy when no new volume can be placed for a replication in use, naming the slots and disk left."""
    start = time.perf_counter()
    found = from_first_master(http, master_urls, "/dir/status", _readable)
    if isinstance(found, str):
        return no_master_answered("volume", CHECK, master_urls, since(start), found)
    where, (nodes, replications) = found
    if not nodes:
        return []  # the registered check already names every missing volume server
    problem = placement_problem(nodes, replications)
    if problem:
        problem += _disks(http, volume_urls)
    note = f"{sum(_free(n) for n in nodes)} free volume slot(s)"
    return [check_result("volume", where, CHECK, since(start), problem, note)]


def _disks(http: Http, volume_urls: Sequence[str]) -> str:
    found = []
    for url in volume_urls:
        answer = http.send("GET", f"{url.rstrip('/')}/status")
        body = json_object(answer.response) if answer.response is not None else None
        found.append(f"{address(url)} {disk_left(body) if body else 'unreadable'}")
    return f"; disk: {'; '.join(found)}" if found else ""
