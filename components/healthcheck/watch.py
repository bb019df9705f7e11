"""What the scheduled health function measures, as CloudWatch metric values.

Beside the health check's own report, it reads what the alarms need and the report does not carry:
- the master's `/dir/status`: each data node's `Max` - `Volumes` is its free volume slots, and the
  fullest server is reported (a volume's copies need free slots on as many servers);
- the master's `/vol/status`: every volume copy by data center, rack and server, with its
  `ReplicaPlacement` ({"dc", "rack", "node"}, each left out when 0: `{}` is 000, one copy); copies
  below 1 + the placement's digits make a volume degraded;
- each volume server's `/status`: `DiskStatuses[].percent_free`, the lowest of which is reported;
- each HAProxy's stats CSV (`/stats;csv`): servers of the `filers` backend whose status starts with UP.

A value that cannot be read is left out rather than guessed: the alarms treat missing data as breaching,
so an unreadable cluster alarms instead of looking fine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from components.healthcheck.checks import UNHEALTHY, Report
from components.healthcheck.target import Target
from components.healthcheck.wire import FILER_BACKEND, backend_servers, data_nodes, json_object, replica_counts

NAMESPACE = "AEGIS/Storage"


def report_metrics(report: Report) -> dict[str, float]:
    """Healthy (0 only when unhealthy: a degraded cluster shows in the replica and capacity metrics, each
    with its own alarm) and RaftLeader (1 when some master names a leader), read from the report."""
    leaders = [r for r in report.results if r.component == "master" and r.check == "leader"]
    metrics = {"Healthy": 0.0 if report.outcome == UNHEALTHY else 1.0}
    if leaders:
        metrics["RaftLeader"] = 1.0 if any(r.ok for r in leaders) else 0.0
    return metrics


def degraded_volumes(vol_status: Mapping[str, Any]) -> int:
    """Volumes with fewer copies than their replica placement asks for, from a master's /vol/status body."""
    counts = replica_counts(vol_status)
    if counts is None:
        raise ValueError("not a /vol/status body")
    return sum(1 for have, wanted in counts.values() if have < wanted)


def min_free_slots(dir_status: Mapping[str, Any]) -> int:
    """The fewest free volume slots (Max - Volumes) of any volume server, from a master's /dir/status body."""
    nodes = data_nodes(dir_status)
    if not nodes:
        raise ValueError("no volume server in the /dir/status body")
    free = [slots for node in nodes if (slots := node.free_slots) is not None]
    if len(free) < len(nodes):
        raise ValueError("a volume server's slot counts in the /dir/status body are not integers")
    return min(free)


def healthy_filers(stats_csv: str) -> int:
    """Servers of HAProxy's filer backend that its checks see UP, from the stats page's CSV export."""
    servers = backend_servers(stats_csv, FILER_BACKEND).values()
    # "UP 1/2": up, with a failed check counting towards going down.
    return sum(1 for row in servers if (row.get("status") or "").startswith("UP"))


def cluster_metrics(
    target: Target,
    load_balancer_stats: Sequence[str],
    probe_timeout: float = 3.0,
    *,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, float]:
    """FreeVolumeSlots, DegradedVolumes, FreeDiskPercent and HealthyFilersBehindLB; each only when readable."""
    metrics: dict[str, float] = {}
    with httpx.Client(transport=transport, timeout=probe_timeout) as client:
        topology = _first_json(client, [f"{url.rstrip('/')}/dir/status" for url in target.master_urls])
        with contextlib.suppress(KeyError, TypeError, AttributeError, ValueError):
            metrics["FreeVolumeSlots"] = float(min_free_slots(topology or {}))
        volumes = _first_json(client, [f"{url.rstrip('/')}/vol/status" for url in target.master_urls])
        # No readable /vol/status: left out, and the alarm treats that as breaching.
        with contextlib.suppress(KeyError, TypeError, AttributeError, ValueError):
            metrics["DegradedVolumes"] = float(degraded_volumes(volumes or {}))
        disks = [json_object(_text(client, f"http://{server}/status")) for server in target.expected_volume_servers]
        free = [d["percent_free"] for body in disks if body for d in body.get("DiskStatuses") or []]
        if free and all(body is not None for body in disks):
            metrics["FreeDiskPercent"] = float(min(free))
        counts = [_text(client, url) for url in load_balancer_stats]
        if counts and all(text is not None for text in counts):
            # The weakest HAProxy decides: AEGIS may be sent to either.
            metrics["HealthyFilersBehindLB"] = float(min(healthy_filers(text or "") for text in counts))
    return metrics


def _text(client: httpx.Client, url: str) -> str | None:
    try:
        response = client.get(url)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


def _first_json(client: httpx.Client, urls: Sequence[str]) -> dict[str, Any] | None:
    # A follower proxies these to the leader and answers 502 without one; the next master may know better.
    for url in urls:
        body = json_object(_text(client, url))
        if body is not None:
            return body
    return None
