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
- master `/vol/status`: Volumes -> DataCenters -> rack -> server -> [volume]; each volume names its
  ReplicaPlacement as {"dc": x, "rack": y, "node": z}, zero digits left out, so it wants 1 + x + y + z copies.
- HAProxy's stats CSV (`show stat` on the admin socket, or the stats page's `;csv`): a header line starting
  with "# ", then one row per proxy and server, FRONTEND and BACKEND being the proxy's own rows.

Kept free of anything but the standard library: the package ships to AWS Lambda.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


# The backend of HAProxy's config that holds the filers (components/model/haproxy.py renders it).
FILER_BACKEND = "filers"


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


def data_nodes(body: Mapping[str, Any] | None) -> tuple[DataNode, ...] | None:
    """Every data node of a `/dir/status` body; None if the body is not a topology."""
    topology = (body or {}).get("Topology")
    if not isinstance(topology, dict):
        return None
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


def replica_counts(body: Mapping[str, Any] | None) -> dict[int, tuple[int, int]] | None:
    """volume id -> (copies registered, copies wanted) from a master's `/vol/status` body; None if it is not one."""
    volumes = body.get("Volumes") if isinstance(body, dict) else None
    centers = volumes.get("DataCenters") if isinstance(volumes, dict) else None
    if not isinstance(volumes, dict) or not isinstance(centers, dict | None):
        return None
    counts: dict[int, tuple[int, int]] = {}
    try:
        for racks in (centers or {}).values():
            for servers in (racks or {}).values():
                for held in (servers or {}).values():
                    for volume in held or []:
                        placement = volume.get("ReplicaPlacement") or {}
                        wanted = 1 + sum(int(placement.get(key, 0)) for key in ("dc", "rack", "node"))
                        have = counts.get(int(volume["Id"]), (0, wanted))[0]
                        counts[int(volume["Id"])] = (have + 1, wanted)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return counts


def backend_servers(stats_csv: str, backend: str) -> dict[str, dict[str, str]]:
    """HAProxy's stats CSV: server name -> its row (column -> value), for the servers of `backend`."""
    rows = csv.DictReader(io.StringIO(stats_csv.lstrip("# ")))
    return {
        row["svname"]: row
        for row in rows
        if row.get("pxname") == backend and row.get("svname") not in ("FRONTEND", "BACKEND")
    }
