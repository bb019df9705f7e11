"""What the scheduled health function measures, as CloudWatch metric values.

Beside the health check's own report, it reads what the alarms need and the report does not carry:
- the master's `/dir/status`: each data node's `Max` - `Volumes` is its free volume slots, and the
  fullest server is reported (a volume's copies need free slots on as many servers);
- the master's `/vol/status`: every volume copy by data center, rack and server, with its
  `ReplicaPlacement` ({"dc", "rack", "node"}, each left out when 0: `{}` is 000, one copy); copies
  below 1 + the placement's digits make a volume degraded;
- each volume server's `/status`: `DiskStatuses[].percent_free`, the lowest of which is reported;
- each HAProxy's stats CSV (`/stats;csv`): servers of the `filers` backend whose status starts with UP, and
  the backend's `rtime` (average response time of its last 1024 requests, ms), the slowest HAProxy's reported.
- the filers' metadata log (/topics/.system/log, listed through the tier's admin URL): its bytes and the age in
  days of its oldest day folder, which the purge keeps within `metadataLogRetentionDays` + 1.

For the dashboard (components/aws/dashboard.py) it also publishes the missing copies, the masters naming a
leader, the volume servers' disk bytes in total (the days until full follow from them), and per volume server
(dimension `Server` beside `Stack`) its free slots and free disk percent. The alarms read only the
Stack-only metrics; a metric with the extra dimension is another metric to CloudWatch.

From the usage service, through the health check's report (usage_probe.py): `UsageLagging` (1/0),
`TenantGrowthMaxBytesPerHour` (one Stack-wide metric, so one static alarm covers every tenant) and
`TenantBytes` per tenant (dimension `Tenant`) for the TOP_TENANTS largest only: each tenant published is a
custom metric billed by the month.

A value that cannot be read is left out rather than guessed: the alarms treat missing data as breaching,
so an unreadable cluster alarms instead of looking fine.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from components.healthcheck.checks import UNHEALTHY, Report
from components.healthcheck.metadata_log import read_metadata_log, utc_today
from components.healthcheck.target import Target
from components.healthcheck.usage_probe import TOP_TENANTS
from components.healthcheck.wire import (
    FILER_BACKEND,
    backend_row,
    backend_servers,
    data_nodes,
    json_object,
    lowest_percent_free,
    replica_counts,
)
from components.healthcheck.wire import disks as read_disks

NAMESPACE = "AEGIS/Storage"
# The dimension of the per-volume-server metrics, beside Stack.
SERVER_DIMENSION = "Server"
# Bytes of each of the TOP_TENANTS largest tenants' volumes, with the tenant as a dimension beside Stack.
TENANT_METRIC = "TenantBytes"
TENANT_DIMENSION = "Tenant"
# server ("host:port", as the master names it) -> metric name -> value
ServerMetrics = dict[str, dict[str, float]]


def report_metrics(report: Report) -> dict[str, float]:
    """Healthy (0 only when unhealthy: a degraded cluster shows in the replica and capacity metrics, each
    with its own alarm) and RaftLeader (1 when some master names a leader), read from the report."""
    leaders = [r for r in report.results if r.component == "master" and r.check == "leader"]
    metrics = {"Healthy": 0.0 if report.outcome == UNHEALTHY else 1.0}
    if leaders:
        metrics["RaftLeader"] = 1.0 if any(r.ok for r in leaders) else 0.0
        # The quorum as the dashboard shows it: how many masters answered naming a leader.
        metrics["MastersNamingLeader"] = float(sum(1 for r in leaders if r.ok))
    return metrics


def usage_metrics(report: Report) -> dict[str, float]:
    """UsageLagging: 1 when the check found the usage service catching up, lagging or down on any HAProxy (AEGIS
    reads usage 0 either way), else 0 (a tier without one included: nothing lags there, and a gap in the metric
    means the function did not run). TenantGrowthMaxBytesPerHour: the fastest-growing tenant's growth over the
    last hour, once known."""
    lagging = any(r.component == "usage" and not r.ok for r in report.results)
    metrics = {"UsageLagging": 1.0 if lagging else 0.0}
    growth = report.usage.max_growth if report.usage is not None else None
    if growth is not None:
        metrics["TenantGrowthMaxBytesPerHour"] = growth
    return metrics


def tenant_bytes(report: Report) -> dict[str, float]:
    """tenant -> bytes, for the TOP_TENANTS largest tenants; empty where no usage service answered."""
    top = report.usage.top(TOP_TENANTS) if report.usage is not None else ()
    return {t.tenant: float(t.bytes) for t in top}


def degraded_volumes(vol_status: Mapping[str, Any]) -> int:
    """Volumes with fewer copies than their replica placement asks for, from a master's /vol/status body."""
    counts = replica_counts(vol_status)
    if counts is None:
        raise ValueError("not a /vol/status body")
    return sum(1 for have, wanted in counts.values() if have < wanted)


def missing_copies(vol_status: Mapping[str, Any]) -> int:
    """Copies the volumes lack in all (a 010 volume with one copy lacks one), from a master's /vol/status body."""
    counts = replica_counts(vol_status)
    if counts is None:
        raise ValueError("not a /vol/status body")
    return sum(max(0, wanted - have) for have, wanted in counts.values())


def filer_response_ms(stats_csv: str) -> float | None:
    """The filers backend's average response time over its last 1024 requests (HAProxy's `rtime`, ms)."""
    row = backend_row(stats_csv, FILER_BACKEND)
    try:
        return float((row or {})["rtime"])
    except (KeyError, TypeError, ValueError):
        return None


def server_metrics(
    dir_status: Mapping[str, Any] | None, disks: Mapping[str, Mapping[str, Any] | None]
) -> ServerMetrics:
    """Per volume server: FreeVolumeSlots from /dir/status and FreeDiskPercent (its fullest disk) from its
    /status, each only when readable."""
    found: ServerMetrics = {}
    for node in data_nodes(dir_status) or ():
        if node.free_slots is not None:
            found.setdefault(node.name, {})["FreeVolumeSlots"] = float(node.free_slots)
    for server, body in disks.items():
        lowest = lowest_percent_free(read_disks(body) or ())
        if lowest is not None:
            found.setdefault(server, {})["FreeDiskPercent"] = lowest
    return found


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
    """The Stack-wide metrics of `cluster_readings`."""
    return cluster_readings(target, load_balancer_stats, probe_timeout, transport=transport)[0]


def cluster_readings(
    target: Target,
    load_balancer_stats: Sequence[str],
    probe_timeout: float = 3.0,
    *,
    transport: httpx.BaseTransport | None = None,
) -> tuple[dict[str, float], ServerMetrics]:
    """(FreeVolumeSlots, DegradedVolumes, MissingCopies, FreeDiskPercent, UsedDiskBytes, FreeDiskBytes,
    HealthyFilersBehindLB, FilerResponseTimeMs, MetadataLogBytes, MetadataLogOldestDays; the per-server
    metrics), each only when readable."""
    metrics: dict[str, float] = {}
    with httpx.Client(transport=transport, timeout=probe_timeout) as client:
        topology = _first_json(client, [f"{url.rstrip('/')}/dir/status" for url in target.master_urls])
        with contextlib.suppress(KeyError, TypeError, AttributeError, ValueError):
            metrics["FreeVolumeSlots"] = float(min_free_slots(topology or {}))
        volumes = _first_json(client, [f"{url.rstrip('/')}/vol/status" for url in target.master_urls])
        # No readable /vol/status: left out, and the alarm treats that as breaching.
        with contextlib.suppress(KeyError, TypeError, AttributeError, ValueError):
            metrics["DegradedVolumes"] = float(degraded_volumes(volumes or {}))
            metrics["MissingCopies"] = float(missing_copies(volumes or {}))
        disks = {
            server: json_object(ok_text(client, f"http://{server}/status")) for server in target.expected_volume_servers
        }
        metrics.update(_disk_metrics(list(disks.values())))
        counts = [ok_text(client, url) for url in load_balancer_stats]
        if counts and all(text is not None for text in counts):
            # The weakest HAProxy decides: AEGIS may be sent to either.
            metrics["HealthyFilersBehindLB"] = float(min(healthy_filers(text or "") for text in counts))
            times = [filer_response_ms(text or "") for text in counts]
            if all(t is not None for t in times):
                metrics["FilerResponseTimeMs"] = max(t or 0.0 for t in times)
        metrics.update(metadata_log_metrics(client, target.native_url))
    return metrics, server_metrics(topology, disks)


def metadata_log_metrics(client: httpx.Client, filer_url: str, today: datetime.date | None = None) -> dict[str, float]:
    """MetadataLogBytes and MetadataLogOldestDays (0 for an empty log), read through the filer's native API;
    none when the log cannot be listed."""
    try:
        log = read_metadata_log(filer_url, client=client)
    except (httpx.HTTPError, AttributeError, KeyError, TypeError, ValueError):
        return {}
    return {"MetadataLogBytes": float(log.bytes), "MetadataLogOldestDays": float(log.age_days(today or utc_today()))}


def _disk_metrics(bodies: Sequence[dict[str, Any] | None]) -> dict[str, float]:
    """FreeDiskPercent (the fullest disk), UsedDiskBytes and FreeDiskBytes (every disk): only when every volume
    server answered, since a total without one server would read as space freed."""
    per_server = [read_disks(body) for body in bodies]
    if not per_server or any(found is None for found in per_server):
        return {}
    every = [disk for found in per_server for disk in found or ()]
    metrics: dict[str, float] = {}
    lowest = lowest_percent_free(every)
    if lowest is not None:
        metrics["FreeDiskPercent"] = lowest
    sizes = [size for disk in every if (size := disk.used_and_free) is not None]
    if sizes and len(sizes) == len(every):
        metrics["UsedDiskBytes"] = float(sum(used for used, _ in sizes))
        metrics["FreeDiskBytes"] = float(sum(free for _, free in sizes))
    return metrics


def ok_text(client: httpx.Client, url: str) -> str | None:
    """The body of a 200 answer from `url`; None for any other answer or no answer."""
    try:
        response = client.get(url)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


def _first_json(client: httpx.Client, urls: Sequence[str]) -> dict[str, Any] | None:
    # A follower proxies these to the leader and answers 502 without one; the next master may know better.
    for url in urls:
        body = json_object(ok_text(client, url))
        if body is not None:
            return body
    return None
