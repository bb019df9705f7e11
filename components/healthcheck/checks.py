"""Post-deploy health check of a SeaweedFS cluster: the probes AEGIS depends on, run in parallel, and their report.

What each probe relies on was seen on a running weed 4.48 cluster:
- master `/cluster/status` answers 200 even without a leader, so the body decides: `Leader` is left out when
  there is none, and `Peers` lists the *other* masters (absent for a single `-peers=none` master), so the
  cluster size is len(Peers) + 1. Addresses there read "host:port.grpcPort".
- a follower proxies `/dir/status` to the leader and answers 502 while the leader it knows is gone, so the
  topology is read from the first master that answers 200.
- the S3 gateway's own /status and /healthz are always 200; only a signed request proves the filer path and
  the credentials.
- copies per volume come from the leader's `/vol/status` (followers proxy it): a volume server that is gone
  for good, or replaced by an empty one, leaves its volumes listed on fewer servers than their
  ReplicaPlacement asks for; that is "degraded", not "unhealthy", since every file is still served.
- a volume server's `/status` lists each data directory's disk use (`DiskStatuses`, `percent_free`); the
  masters' HTTP API has no disk figures, only volume slots (`Max`, `Volumes` in `/dir/status`).

Every network failure becomes a failed `CheckResult` with a short detail; nothing here raises on a bad cluster.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import httpx

from components.healthcheck.aegis_probe import aegis_probe
from components.healthcheck.filer_rules import RULES_PATH, rules_problem
from components.healthcheck.metadata_log import check_metadata_log
from components.healthcheck.probing import (
    CheckResult,
    Http,
    address,
    check_result,
    from_first_master,
    json_object,
    no_master_answered,
    since,
    sweep_stale,
)
from components.healthcheck.s3_view import PROBE_BUCKET, S3ViewProbe, listed_keys
from components.healthcheck.sigv4 import sign_get
from components.healthcheck.space import check_space
from components.healthcheck.target import Target
from components.healthcheck.usage_probe import TOP_TENANTS, usage_probe
from components.healthcheck.wire import DataNode, UsageReport, cluster_status, data_nodes, disks, replica_counts

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"
ROUNDTRIP_DIR = "/.aegis-healthcheck"
ROUNDTRIP_BYTES = 4096


@dataclass(frozen=True)
class Report:
    results: tuple[CheckResult, ...]
    wall_seconds: float
    usage: UsageReport | None = None  # usage per tenant, where a usage service answered

    @property
    def healthy(self) -> bool:
        return all(result.ok for result in self.results)

    @property
    def outcome(self) -> str:
        """healthy; degraded when every failure is a degraded one; else unhealthy."""
        failures = self.failures()
        if not failures:
            return HEALTHY
        return DEGRADED if all(result.degraded for result in failures) else UNHEALTHY

    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(result for result in self.results if not result.ok)

    def summary(self) -> str:
        lines = [f"{r.component} {r.where}: {r.detail}" for r in self.failures()]
        return "\n".join(lines) if lines else "healthy"

    def table(self) -> str:
        rows = [("component", "where", "check", "result", "latency", "detail")] + [
            (r.component, r.where, r.check, r.status, f"{r.latency_ms:.1f} ms", r.detail) for r in self.results
        ]
        # The free-text detail stays unpadded at the end; latency is right-aligned so the decimals line up.
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines = []
        for row in rows:
            cells = [f"{cell:{align}{width}}" for cell, align, width in zip(row[:5], "<<<<>", widths, strict=True)]
            lines.append("  ".join([*cells, row[5]]).rstrip())
        return "\n".join(lines)

    def to_json(self) -> str:
        document: dict[str, Any] = {
            "healthy": self.healthy,
            "outcome": self.outcome,
            "wall_seconds": self.wall_seconds,
            "results": [asdict(r) for r in self.results],
        }
        if self.usage is not None:
            # Most bytes first; `top_tenants` is what the watch publishes per tenant.
            document["tenants"] = [asdict(t) for t in self.usage.tenants]
            document["top_tenants"] = [asdict(t) for t in self.usage.top(TOP_TENANTS)]
        return json.dumps(document, indent=2)


def run_checks(
    target: Target,
    probe_timeout: float = 3.0,
    *,
    transport: httpx.BaseTransport | None = None,
    load_balancer_stats: Sequence[str] = (),
) -> Report:
    """Run every probe once, in parallel; `transport` replaces the network (tests pass an httpx.MockTransport).
    `load_balancer_stats` (HAProxy stats CSV URLs) lets the usage check see every HAProxy's usage service."""
    start = time.perf_counter()
    # The filer URL lets through AEGIS's calls only: every probe AEGIS would not send uses the native API.
    filers = dict.fromkeys(url.rstrip("/") for url in (target.native_url, *target.filer_addresses))
    probes: list[Callable[[Http], list[CheckResult]]] = [partial(_filer, url=url) for url in filers]
    probes += [partial(_master, url=url, expected_masters=target.expected_masters) for url in target.master_urls]
    probes.append(partial(_volume_servers, master_urls=target.master_urls, expected=target.expected_volume_servers))
    probes.append(partial(_replicas, master_urls=target.master_urls))
    # No server able to take a new volume is unhealthy whatever minFreeVolumeSlots says (0 turns off only
    # the degraded early warning below): writes needing a new volume fail.
    volume_urls = target.volume_server_urls or tuple(f"http://{s}" for s in target.expected_volume_servers)
    probes.append(partial(check_space, master_urls=target.master_urls, volume_urls=volume_urls))
    if target.min_free_volume_slots:
        probes.append(partial(_slots, master_urls=target.master_urls, minimum=target.min_free_volume_slots))
    if target.min_free_disk_percent:
        probes += [partial(_disk, url=url, minimum=target.min_free_disk_percent) for url in target.volume_server_urls]
    if target.s3_endpoint is not None:
        probes.append(partial(_s3, endpoint=target.s3_endpoint, target=target))
    probes.append(partial(_roundtrip, filer_url=target.native_url))
    if target.metadata_log_retention_days:
        retention = target.metadata_log_retention_days
        probes.append(partial(check_metadata_log, filer_url=target.native_url, retention_days=retention))
    # Imported here: the AEGIS probe is built on this module's Http and results.

    probes.append(partial(aegis_probe, filer_url=target.filer_url, admin_url=target.native_url))
    if target.filer_rules is not None:
        probes.append(partial(_rules, filer_url=target.native_url, rendered=target.filer_rules))
    with (
        httpx.Client(transport=transport, timeout=probe_timeout) as client,
        ThreadPoolExecutor(max_workers=len(probes) + 1) as pool,
    ):
        http = Http(client, probe_timeout)
        usage = pool.submit(usage_probe, http, target.admin_url, tuple(load_balancer_stats), target.usage_service)
        futures = [pool.submit(probe, http) for probe in probes]
        results = tuple(result for future in futures for result in future.result())
        usage_results, tenants = usage.result()
    return Report((*results, *usage_results), round(time.perf_counter() - start, 3), tenants)


def not_healthy_message(report: Report, waited: float) -> str:
    """Why a post-deploy gate fails: the outcome after `waited` seconds, the whole table and each problem."""
    return f"SeaweedFS is {report.outcome} after {waited:g} s:\n{report.table()}\n{report.summary()}"


def wait_until_healthy(
    target: Target,
    timeout: float,
    interval: float = 2.0,
    probe_timeout: float = 3.0,
    *,
    transport: httpx.BaseTransport | None = None,
    load_balancer_stats: Sequence[str] = (),
) -> Report:
    """Repeat `run_checks` until the cluster is healthy or `timeout` seconds have passed; return the last report."""
    deadline = time.monotonic() + timeout
    while True:
        report = run_checks(target, probe_timeout, transport=transport, load_balancer_stats=load_balancer_stats)
        remaining = deadline - time.monotonic()
        if report.healthy or remaining <= 0:
            return report
        time.sleep(min(interval, remaining))


def _filer(http: Http, url: str) -> list[CheckResult]:
    answer = http.send("GET", f"{url}/healthz")
    problem = answer.error
    if answer.response is not None and answer.response.status_code != 200:
        code = answer.response.status_code
        # The filer's /healthz is its metadata store's health: 503 is the only way it reports that store gone.
        # HAProxy answers 503 too when no filer behind it is up, and says so in its page.
        problem = "metadata store unreachable (503)" if code == 503 else f"HTTP {code}"
        if code == 503 and "No server is available" in answer.response.text:
            problem = "no filer is up behind the load balancer (503)"
    return [check_result("filer", address(url), "/healthz", answer.latency_ms, problem)]


def _master(http: Http, url: str, expected_masters: int) -> list[CheckResult]:
    base, where = url.rstrip("/"), address(url)
    health = http.send("GET", f"{base}/cluster/healthz")
    if health.response is None:
        # One line for an unreachable master, not one per check that could not run.
        return [check_result("master", where, "/cluster/healthz", health.latency_ms, health.error)]
    code = health.response.status_code
    problem = "" if code == 200 else "no quorum or leader (503)" if code == 503 else f"HTTP {code}"
    results = [check_result("master", where, "/cluster/healthz", health.latency_ms, problem)]

    status = http.send("GET", f"{base}/cluster/status")
    if status.response is None:
        return [*results, check_result("master", where, "leader", status.latency_ms, status.error)]
    if status.response.status_code != 200:
        problem = f"/cluster/status answered HTTP {status.response.status_code}"
        return [*results, check_result("master", where, "leader", status.latency_ms, problem)]
    cluster = cluster_status(json_object(status.response))
    if cluster is None:
        return [
            *results,
            check_result("master", where, "leader", status.latency_ms, "unexpected /cluster/status answer"),
        ]

    if not cluster.leader:
        results.append(check_result("master", where, "leader", status.latency_ms, "no leader"))
    else:
        note = "this master leads" if cluster.is_leader else f"leader {cluster.leader_address}"
        results.append(check_result("master", where, "leader", status.latency_ms, "", note))
    # The built-in Raft lists only the other masters in Peers, hashicorp Raft lists this one too: count
    # the distinct addresses together with the probed master itself.
    this_master = cluster.leader_address if cluster.is_leader and cluster.leader else where
    known = len({this_master, *cluster.peer_addresses})
    if known == expected_masters:
        results.append(check_result("master", where, "peers", status.latency_ms, "", f"{known} master(s)"))
    else:
        others = ", ".join(sorted(cluster.peer_addresses)) or "none"
        problem = f"cluster has {known} master(s), expected {expected_masters} (peers: {others})"
        results.append(check_result("master", where, "peers", status.latency_ms, problem))
    return results


def _volume_servers(http: Http, master_urls: tuple[str, ...], expected: tuple[str, ...]) -> list[CheckResult]:
    start = time.perf_counter()
    topology = _topology(http, master_urls)
    latency = since(start)
    if isinstance(topology, str):
        return no_master_answered("volume", "registered", master_urls, latency, topology)

    where, nodes = topology
    registered = {name.lower() for node in nodes for name in node.names}
    wanted = {server.lower() for server in expected}
    results = [
        check_result("volume", server, "registered", latency, "", f"via master {where}")
        if server.lower() in registered
        else check_result("volume", server, "registered", latency, f"volume server {server} not registered")
        for server in expected
    ]
    results += [
        check_result("volume", node.name, "registered", latency, "", "registered but not expected")
        for node in nodes
        if not wanted.intersection(name.lower() for name in node.names)
    ]
    return results


def _topology(http: Http, master_urls: tuple[str, ...]) -> tuple[str, tuple[DataNode, ...]] | str:
    """(master that answered, its data nodes) from the first master with a topology, else why none had one."""
    return from_first_master(http, master_urls, "/dir/status", data_nodes)


MAX_NAMED_VOLUMES = 20  # a lost server can leave hundreds of volumes short; the first ones tell the story


def _degraded(component: str, where: str, check: str, latency_ms: float, problem: str) -> CheckResult:
    return CheckResult(component, where, check, False, latency_ms, problem, degraded=True)


def _replicas(http: Http, master_urls: tuple[str, ...]) -> list[CheckResult]:
    """Every volume has as many copies registered as its replication asks for (from the leader's /vol/status)."""
    start = time.perf_counter()
    found = from_first_master(http, master_urls, "/vol/status", replica_counts)
    latency = since(start)
    if isinstance(found, str):
        return no_master_answered("replicas", "copies", master_urls, latency, found)
    where, counts = found
    short = sorted((vid, have, want) for vid, (have, want) in counts.items() if have < want)
    if not short:
        return [check_result("replicas", where, "copies", latency, "", f"{len(counts)} volume(s) with every copy")]
    named = ", ".join(f"volume {vid} has {have} of {want} copies" for vid, have, want in short[:MAX_NAMED_VOLUMES])
    more = f" and {len(short) - MAX_NAMED_VOLUMES} more" if len(short) > MAX_NAMED_VOLUMES else ""
    problem = f"{len(short)} of {len(counts)} volume(s) lack copies: {named}{more}"
    return [_degraded("replicas", where, "copies", latency, problem)]


def _slots(http: Http, master_urls: tuple[str, ...], minimum: int) -> list[CheckResult]:
    """Each volume server has at least `minimum` free volume slots (Max - Volumes in /dir/status)."""
    start = time.perf_counter()
    found = _topology(http, master_urls)
    latency = since(start)
    if isinstance(found, str):
        return no_master_answered("volume", "free slots", master_urls, latency, found)
    results = []
    for node in found[1]:
        free = node.free_slots
        if free is None:
            results.append(check_result("volume", node.url, "free slots", latency, "unexpected /dir/status answer"))
        elif free < minimum:
            problem = f"{free} free volume slot(s), below the minimum of {minimum}: new buckets cannot grow volumes"
            results.append(_degraded("volume", node.url, "free slots", latency, problem))
        else:
            results.append(check_result("volume", node.url, "free slots", latency, "", f"{free} free"))
    return results


def _disk(http: Http, url: str, minimum: int) -> list[CheckResult]:
    """The volume server's data directories have at least `minimum` percent of their disk free."""
    where = address(url)
    answer = http.send("GET", f"{url.rstrip('/')}/status")
    problem = answer.error
    if answer.response is not None and answer.response.status_code != 200:
        problem = f"/status answered HTTP {answer.response.status_code}"
    if answer.response is None or problem:
        return [check_result("volume", where, "free disk", answer.latency_ms, f"cannot read disk use: {problem}")]
    found = disks(json_object(answer.response)) or ()
    readable = [(d.dir, d.percent_free) for d in found if d.dir is not None and d.percent_free is not None]
    free = dict(readable) if len(readable) == len(found) else {}
    if not free:
        return [check_result("volume", where, "free disk", answer.latency_ms, "unexpected /status answer")]
    low = {d: p for d, p in free.items() if p < minimum}
    if low:
        named = ", ".join(f"{d} {p:.1f}% free" for d, p in sorted(low.items()))
        return [_degraded("volume", where, "free disk", answer.latency_ms, f"{named}, below the minimum of {minimum}%")]
    note = ", ".join(f"{p:.0f}% free" for p in free.values())
    return [check_result("volume", where, "free disk", answer.latency_ms, "", note)]


def _s3(http: Http, endpoint: str, target: Target) -> list[CheckResult]:
    where = address(endpoint)
    if not (target.s3_access_key and target.s3_secret_key):
        return [check_result("s3", where, "ListBuckets", 0.0, "no S3 access/secret key given")]
    url = f"{endpoint.rstrip('/')}/"
    headers = sign_get(url, target.s3_access_key, target.s3_secret_key, target.s3_region)
    answer = http.send("GET", url, headers=headers)
    problem = answer.error
    if answer.response is not None and answer.response.status_code != 200:
        code = answer.response.status_code
        # The S3 error code tells a bad key from e.g. RequestTimeTooSkewed, which also answers 403.
        found = re.search(r"<Code>([^<]+)</Code>", answer.response.text)
        s3_code = f" ({found.group(1)})" if found else ""
        denied = f"signed ListBuckets denied (403): wrong S3 credentials{s3_code}"
        problem = denied if code == 403 else f"HTTP {code}{s3_code}"
    listed = check_result("s3", where, "ListBuckets", answer.latency_ms, problem)
    return [listed] if problem else [listed, _s3_sees_aegis_data(http, endpoint, target)]


def _s3_sees_aegis_data(http: Http, endpoint: str, target: Target) -> CheckResult:
    """Write a file through the filer where AEGIS writes, find it in a signed S3 listing, then delete it."""
    start, probe = time.perf_counter(), S3ViewProbe(str(uuid.uuid4()))
    filer = target.native_url.rstrip("/")

    def outcome(problem: str, note: str = "") -> CheckResult:
        return check_result("s3", address(endpoint), "lists AEGIS data", since(start), problem, note)

    try:
        put = http.send("PUT", f"{filer}{probe.filer_path}", content=b"s3 view probe")
        if put.response is None or not put.response.is_success:
            why = put.error if put.response is None else f"HTTP {put.response.status_code}"
            return outcome(f"probe write to {probe.filer_path} through the filer failed: {why}")
        url = probe.list_url(endpoint)
        listing = http.send(
            "GET", url, headers=sign_get(url, target.s3_access_key, target.s3_secret_key, target.s3_region)
        )
        where = f"signed ListObjectsV2 of s3://{PROBE_BUCKET}/{probe.prefix}"
        if listing.response is None:
            return outcome(f"{where} failed: {listing.error}")
        if listing.response.status_code != 200:
            return outcome(f"{where} answered HTTP {listing.response.status_code}")
        if probe.key not in listed_keys(listing.response.text):
            return outcome(f"{where} does not list the file the probe wrote through the filer: no AEGIS data in S3")
        # Probe volumes that timed-out runs left behind are swept once per run, by the AEGIS probe.
        return outcome("", f"s3://{PROBE_BUCKET}/{probe.key}")
    finally:
        # The filer's own recursive delete of the probe volume, whatever happened above.
        http.send("DELETE", f"{filer}{probe.volume_dir}", params={"recursive": "true"})


def _rules(http: Http, filer_url: str, rendered: str) -> list[CheckResult]:
    answer = http.send("GET", f"{filer_url.rstrip('/')}{RULES_PATH}")
    problem = answer.error
    if answer.response is not None:
        problem = rules_problem(answer.response.status_code, answer.response.content, rendered)
    return [check_result("rules", address(filer_url), "filer.conf", answer.latency_ms, problem)]


def _roundtrip(http: Http, filer_url: str) -> list[CheckResult]:
    start = time.perf_counter()
    base = filer_url.rstrip("/")
    url = f"{base}{ROUNDTRIP_DIR}/probe-{uuid.uuid4().hex}"
    payload = os.urandom(ROUNDTRIP_BYTES)

    def outcome(problem: str, note: str = "") -> list[CheckResult]:
        return [check_result("roundtrip", address(filer_url), "write/read/delete", since(start), problem, note)]

    # A PUT that times out can still complete later (the filer waits for a writable volume), leaving its probe
    # file behind; a DELETE sent now would race it, so a later healthy run sweeps it instead.
    put = http.send("PUT", url, content=payload, headers={"Content-Type": "application/octet-stream"})
    if put.response is None:
        return outcome(f"write failed: {put.error}")
    if not put.response.is_success:
        return outcome(f"write failed ({put.response.status_code})")

    problems = []
    read = http.send("GET", url)
    if read.response is None:
        problems.append(f"read failed: {read.error}")
    elif read.response.status_code != 200:
        problems.append(f"read failed ({read.response.status_code})")
    elif read.response.content != payload:
        problems.append(f"read back differs ({len(read.response.content)} bytes read, {len(payload)} written)")
    delete = http.send("DELETE", url)
    if delete.response is None:
        problems.append(f"delete failed: {delete.error}")
    elif not delete.response.is_success:
        problems.append(f"delete failed ({delete.response.status_code})")
    if problems:
        return outcome("; ".join(problems))
    latency = since(start)
    swept = sweep_stale(http, base, f"{ROUNDTRIP_DIR}/", "probe-")
    note = f"{len(payload)} bytes" + (f"; removed {swept} stale probe file(s)" if swept else "")
    return [check_result("roundtrip", address(filer_url), "write/read/delete", latency, "", note)]
