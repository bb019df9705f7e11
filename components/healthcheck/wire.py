"""Readers of what SeaweedFS and HAProxy answer, one per format, shared by the health check, the scheduled
watch and the rollout gates. Each takes a body as it came over the wire and answers None for one that is not
of its format; none raises on a bad body.

What they rely on was seen on a running weed 4.48 cluster:
- master `/cluster/status`: `Leader` is left out when there is none (during an election), and `Peers` lists
  the *other* masters with the built-in Raft (absent for a single `-peers=none` master) but every master,
  this one included, with hashicorp Raft. Addresses there read "host:port.grpcPort".
- master `/dir/status`: Topology -> DataCenters -> Racks -> DataNodes, a rack being a zone on AWS; empty
  levels are null, not [], e.g. "DataNodes": null once the last volume server left. A data node names its
  volume slots (`Max`), the volumes it holds (`Volumes`) and their ids (`VolumeIds`, " 1-3 5", cut with
  "..." after 100 per disk).
- master `/dir/status` also lists the volume layouts in use (`Topology.Layouts`), one per collection,
  replication and TTL, each naming its `replication` as three digits ("010").
- master `/vol/status`: Volumes -> DataCenters -> rack -> server -> [volume], one entry per copy; each
  volume names its ReplicaPlacement as {"dc": x, "rack": y, "node": z}, zero digits left out, so it wants
  1 + x + y + z copies, its sizes (`Size` of the .dat, `DeletedByteCount`, `FileCount`, `DeleteCount`) and
  its `Ttl` ({"Count": 0, "Unit": 0} without one).
- volume server `/status`: `DiskStatuses`, one entry per data directory naming its `dir`, its bytes (`all`,
  `used`, `free`) and `percent_free` (a float, e.g. 30.629843) beside `percent_used`; then `Version` and
  `Volumes` (null while it holds none).
- HAProxy's stats CSV (`show stat` on the admin socket, or the stats page's `;csv`): a header line starting
  with "# ", then one row per proxy and server, FRONTEND and BACKEND being the proxy's own rows. A server's
  `status` starts with UP or DOWN ("UP 1/2" while a failed check counts towards down), and `check_status` names
  the last check's outcome, "* " first while one runs: L4CON (refused), L4TOUT, L7STS (an HTTP status other
  than the expected one), L7TOUT, L7RSP, L7OK...
- the usage service's `/tenants` (components/usage/service.py `State.tenants`), through the tier's admin port:
  `caught_up`, `lagging`, `lag_s` and `tenants`, tenant -> {bytes, files, volumes, growth_bytes_per_hour (null
  until the service has sampled for an hour)}.

Kept free of anything but the standard library: the package ships to AWS Lambda.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The backend of HAProxy's config that holds the filers (components/model/haproxy.py renders it).
FILER_BACKEND = "filers"
# The backend and server AEGIS's usage calls go to; the server's check is the usage service's /healthz.
USAGE_BACKEND = USAGE_SERVER = "usage"
# Where the tier's admin port answers usage per tenant (components/model/haproxy.py USAGE_TENANTS_PATH).
TENANTS_PATH = "/.usage/tenants"


def json_object(body: str | bytes | None) -> dict[str, Any] | None:
    """A JSON object from a response body; None when there is no body or it is not a JSON object."""
    if body is None:
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def http_address(raft_address: str) -> str:
    """'127.0.9.1:9333.19333' (how masters name each other) -> '127.0.9.1:9333'."""
    return re.sub(r"(:\d+)\.\d+$", r"\1", raft_address)


@dataclass(frozen=True)
class ClusterStatus:
    """A master's `/cluster/status`, with the masters named by their Raft addresses."""

    leader: str  # "" while there is none
    is_leader: bool  # the master that answered leads
    peers: tuple[str, ...]

    @property
    def leader_address(self) -> str:
        """The leader's host:port, "" while there is none."""
        return http_address(self.leader)

    @property
    def peer_addresses(self) -> tuple[str, ...]:
        return tuple(http_address(peer) for peer in self.peers)


def cluster_status(body: Mapping[str, Any] | None) -> ClusterStatus | None:
    """The `/cluster/status` in a JSON body; None if the body is not one."""
    if body is None:
        return None
    leader = body.get("Leader") or ""
    peers = body.get("Peers") or []
    if not isinstance(leader, str) or not isinstance(peers, list):
        return None
    return ClusterStatus(leader, bool(body.get("IsLeader")), tuple(str(peer) for peer in peers))


@dataclass(frozen=True)
class DataNode:
    """A volume server as the master's `/dir/status` lists it."""

    url: str
    public_url: str
    data_center: str
    rack: str  # the zone on AWS
    volumes: int | None  # None when the body's count is not an integer
    max_volumes: int | None
    volume_ids: tuple[int, ...] | None  # None when unreadable; at most 100 per disk, as weed cuts the list

    @property
    def names(self) -> tuple[str, ...]:
        """The addresses the volume server may be known by: its URL and public URL, each when not empty."""
        return tuple(name for name in (self.url, self.public_url) if name)

    @property
    def name(self) -> str:
        return self.url or self.public_url

    @property
    def free_slots(self) -> int | None:
        """Volume slots left (Max - Volumes); None when either count is unreadable."""
        if self.volumes is None or self.max_volumes is None:
            return None
        return self.max_volumes - self.volumes


@dataclass(frozen=True)
class DirStatus:
    """A master's `/dir/status`: its data nodes and the replications of the volume layouts in use."""

    nodes: tuple[DataNode, ...]
    replications: frozenset[str] | None  # "010", ...; None when the Layouts are unreadable


def dir_status(body: Mapping[str, Any] | None) -> DirStatus | None:
    """The `/dir/status` in a JSON body; None if the body is not a topology."""
    topology = (body or {}).get("Topology")
    if not isinstance(topology, dict):
        return None
    nodes = _data_nodes(topology)
    return None if nodes is None else DirStatus(nodes, _replications(topology.get("Layouts")))


def data_nodes(body: Mapping[str, Any] | None) -> tuple[DataNode, ...] | None:
    """Every data node of a `/dir/status` body; None if the body is not a topology."""
    found = dir_status(body)
    return None if found is None else found.nodes


def _replications(layouts: Any) -> frozenset[str] | None:
    # A layout with no readable replication is no answer at all: a guess would hide a layout that cannot grow.
    if layouts is None:
        return frozenset()
    if not isinstance(layouts, list) or not all(isinstance(layout, dict) for layout in layouts):
        return None
    found = [str(layout.get("replication")) for layout in layouts]
    return frozenset(found) if all(re.fullmatch(r"\d{3}", text) for text in found) else None


def _data_nodes(topology: Mapping[str, Any]) -> tuple[DataNode, ...] | None:
    placed = [
        (_text(dc, "Id"), _text(rack, "Id"), node)
        for dc in topology.get("DataCenters") or []
        for rack in (dc.get("Racks") if isinstance(dc, dict) else None) or []
        for node in (rack.get("DataNodes") if isinstance(rack, dict) else None) or []
    ]
    if not all(isinstance(node, dict) and isinstance(node.get("Url"), str) for _, _, node in placed):
        return None
    return tuple(
        DataNode(
            url=node["Url"],
            public_url=_text(node, "PublicUrl"),
            data_center=data_center,
            rack=rack,
            volumes=_count(node, "Volumes"),
            max_volumes=_count(node, "Max"),
            volume_ids=_volume_ids(node.get("VolumeIds")),
        )
        for data_center, rack, node in placed
    )


def _text(source: Any, key: str) -> str:
    value = source.get(key) if isinstance(source, dict) else None
    return value if isinstance(value, str) else ""


def _count(node: Mapping[str, Any], key: str) -> int | None:
    # A count left out is 0; bool is an int subclass, but true/false is no count.
    value = node.get(key, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _volume_ids(text: Any) -> tuple[int, ...] | None:
    """' 1-3 5 ...' -> (1, 2, 3, 5): ranges and single ids, the trailing "..." of a cut list left out."""
    if text is None:
        return ()
    if not isinstance(text, str):
        return None
    ids: list[int] = []
    for token in text.split():
        found = re.fullmatch(r"(\d+)(?:-(\d+))?", token)
        if found:
            first = int(found.group(1))
            ids.extend(range(first, int(found.group(2) or first) + 1))
        elif token != "...":
            return None
    return tuple(ids)


@dataclass(frozen=True)
class VolumeCopy:
    """One copy of a volume, as a master's `/vol/status` lists it under the server that holds it."""

    id: int
    server: str
    data_center: str
    rack: str
    collection: str
    placement: tuple[int, int, int]  # ReplicaPlacement's dc, rack and node digits
    # None when the body's count is not an integer; a count left out is 0.
    size: int | None  # bytes of the copy's .dat
    deleted_bytes: int | None
    file_count: int | None
    delete_count: int | None
    ttl: bool | None  # whether the volume has a TTL; None when `Ttl` is unreadable

    @property
    def replication(self) -> str:
        """The placement as weed writes it: {"rack": 1} -> "010"."""
        return "".join(str(digit) for digit in self.placement)

    @property
    def copies_wanted(self) -> int:
        return 1 + sum(self.placement)


def volume_copies(body: Mapping[str, Any] | None) -> tuple[VolumeCopy, ...] | None:
    """Every volume copy of a master's `/vol/status` body, in the body's order; None if it is not one.

    A body without `DataCenters` is refused, not read as "no volume": weed always writes the key (null or {}
    when there is none), and the volume record would take an empty answer for the loss of every volume.
    """
    volumes = body.get("Volumes") if isinstance(body, dict) else None
    if not isinstance(volumes, dict) or "DataCenters" not in volumes:
        return None
    centers = volumes["DataCenters"]
    if not isinstance(centers, dict | None):
        return None
    try:
        return tuple(
            _volume_copy(volume, str(server), str(dc), str(rack))
            for dc, racks in (centers or {}).items()
            for rack, servers in (racks or {}).items()
            for server, held in (servers or {}).items()
            for volume in held or []
        )
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def _volume_copy(volume: Mapping[str, Any], server: str, data_center: str, rack: str) -> VolumeCopy:
    """Raises (KeyError, TypeError, ValueError, AttributeError) for a volume without a readable id or placement."""
    placement = volume.get("ReplicaPlacement") or {}
    ttl = volume.get("Ttl") or {}
    return VolumeCopy(
        id=int(volume["Id"]),
        server=server,
        data_center=data_center,
        rack=rack,
        collection=str(volume.get("Collection") or ""),
        placement=(int(placement.get("dc", 0)), int(placement.get("rack", 0)), int(placement.get("node", 0))),
        size=_count(volume, "Size"),
        deleted_bytes=_count(volume, "DeletedByteCount"),
        file_count=_count(volume, "FileCount"),
        delete_count=_count(volume, "DeleteCount"),
        ttl=bool(ttl.get("Count")) if isinstance(ttl, dict) else None,
    )


def replica_counts(body: Mapping[str, Any] | None) -> dict[int, tuple[int, int]] | None:
    """volume id -> (copies registered, copies wanted) from a master's `/vol/status` body; None if it is not one."""
    copies = volume_copies(body)
    if copies is None:
        return None
    counts: dict[int, tuple[int, int]] = {}
    for copy in copies:
        # The last copy listed names the copies wanted (they agree unless a replication change is under way).
        counts[copy.id] = (counts.get(copy.id, (0, 0))[0] + 1, copy.copies_wanted)
    return counts


@dataclass(frozen=True)
class Disk:
    """One data directory's disk as a volume server's `/status` lists it in `DiskStatuses`; each figure is None
    when the body leaves it out or it is not a number (a string is no figure, nor is true/false)."""

    dir: str | None
    percent_free: float | None
    total: int | float | None  # bytes, `all`
    used: int | float | None  # bytes
    free: int | float | None  # bytes; all - used when `free` is left out and both are numbers

    @property
    def used_and_free(self) -> tuple[int, int] | None:
        """(used, free) bytes; None when either is unreadable."""
        if self.used is None or self.free is None:
            return None
        return int(self.used), int(self.free)


def disks(body: Mapping[str, Any] | None) -> tuple[Disk, ...] | None:
    """The disks of a volume server's `/status` body, in the body's order; None if it is not one.

    A body without `DiskStatuses`, with one that is not a list, or with an entry that is not an object is
    refused; weed 4.48 always writes the key.
    """
    if not isinstance(body, dict) or "DiskStatuses" not in body:
        return None
    entries = body["DiskStatuses"]
    if not isinstance(entries, list | None) or not all(isinstance(entry, dict) for entry in entries or []):
        return None
    return tuple(_disk(entry) for entry in entries or [])


def lowest_percent_free(found: Sequence[Disk]) -> float | None:
    """The fullest disk's `percent_free`; None when there is no disk or one's is unreadable."""
    percents = [disk.percent_free for disk in found if disk.percent_free is not None]
    return min(percents) if percents and len(percents) == len(found) else None


def _disk(entry: Mapping[str, Any]) -> Disk:
    total, used = _number(entry.get("all")), _number(entry.get("used"))
    left = total - used if total is not None and used is not None else None
    percent = _number(entry.get("percent_free"))
    return Disk(
        dir=entry.get("dir") if isinstance(entry.get("dir"), str) else None,
        percent_free=None if percent is None else float(percent),
        total=total,
        used=used,
        free=_number(entry["free"]) if "free" in entry else left,
    )


def _number(value: Any) -> int | float | None:
    # Python's json reads NaN and Infinity too; neither is a figure.
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return value if is_number and math.isfinite(value) else None


def backend_servers(stats_csv: str, backend: str) -> dict[str, dict[str, str]]:
    """HAProxy's stats CSV: server name -> its row (column -> value), for the servers of `backend`."""
    rows = csv.DictReader(io.StringIO(stats_csv.lstrip("# ")))
    return {
        row["svname"]: row
        for row in rows
        if row.get("pxname") == backend and row.get("svname") not in ("FRONTEND", "BACKEND")
    }


def backend_row(stats_csv: str, backend: str) -> dict[str, str] | None:
    """HAProxy's stats CSV: the BACKEND row of `backend` (the proxy's totals, e.g. `rtime`, the average response
    time in ms over its last 1024 requests); None when the CSV has no such row."""
    rows = csv.DictReader(io.StringIO(stats_csv.lstrip("# ")))
    return next((row for row in rows if row.get("pxname") == backend and row.get("svname") == "BACKEND"), None)


def usage_server_down(stats_csv: str) -> str | None:
    """Why HAProxy has its usage server DOWN, e.g. "L7STS: HTTP status check returned code <503>" (the service
    answers but is catching up or lagging) or "L4CON: Connection refused" (no service takes connections); None
    when the server is UP or is not in the CSV (a config without it)."""
    row = backend_servers(stats_csv, USAGE_BACKEND).get(USAGE_SERVER)
    if row is None or not (row.get("status") or "").startswith("DOWN"):
        return None
    check = (row.get("check_status") or "").removeprefix("* ")
    detail = row.get("last_chk") or ""
    return f"{check}: {detail}" if detail else check


def answers_checks(down: str) -> bool:
    """Whether the usage server `usage_server_down` named DOWN answered its check (an L7 result: it runs)."""
    return down.startswith("L7")


@dataclass(frozen=True)
class TenantUsage:
    tenant: str
    bytes: int
    files: int
    volumes: int
    growth_bytes_per_hour: float | None  # over the last hour; None until the service has sampled for one


@dataclass(frozen=True)
class UsageReport:
    """The usage service's `/tenants`: whether its figures are current, and usage per tenant."""

    caught_up: bool
    lagging: bool
    lag_s: float
    tenants: tuple[TenantUsage, ...]  # most bytes first, then by name

    def top(self, n: int) -> tuple[TenantUsage, ...]:
        return self.tenants[:n]

    @property
    def max_growth(self) -> float | None:
        """The fastest-growing tenant's bytes per hour; None while no growth is known."""
        known = [t.growth_bytes_per_hour for t in self.tenants if t.growth_bytes_per_hour is not None]
        return max(known) if known else None


def usage_report(body: Mapping[str, Any] | None) -> UsageReport | None:
    """The `/tenants` in a JSON body; None if the body is not one."""
    if not isinstance(body, dict) or not isinstance(body.get("tenants"), dict):
        return None
    caught_up, lagging, lag = body.get("caught_up"), body.get("lagging"), _number(body.get("lag_s"))
    if not isinstance(caught_up, bool) or not isinstance(lagging, bool) or lag is None:
        return None
    tenants = []
    for name, entry in body["tenants"].items():
        counts = [_count(entry, key) if isinstance(entry, dict) else None for key in ("bytes", "files", "volumes")]
        growth = entry.get("growth_bytes_per_hour") if isinstance(entry, dict) else None
        if None in counts or (growth is not None and _number(growth) is None):
            return None
        tenants.append(TenantUsage(str(name), *counts, None if growth is None else float(growth)))  # type: ignore[arg-type]
    tenants.sort(key=lambda t: (-t.bytes, t.tenant))
    return UsageReport(caught_up, lagging, float(lag), tuple(tenants))
