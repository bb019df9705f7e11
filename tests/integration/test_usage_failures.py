"""The usage service under failures and hostile input, on the HA loopback topology (3 masters, 3 filers on
PostgreSQL, 2 HAProxies each with its own usage service), through AEGIS's filer URL (the HAProxies).

- A filer SIGKILLed (filer-0, the first each service tails and stores through): AEGIS's usage and quota calls
  still answer on both tier nodes (200 or 404, never an error status), stale usage ends within the service's lag
  limit (weed holds every filer's stream while one is gone), a quota stored meanwhile holds, and once the filer
  is back both services equal a full listing.
- A tier node lost (its HAProxy and its usage service SIGKILLed): the other node keeps exact usage and keeps
  enforcing the quotas; a quota stored while the node is gone reaches it once it is back, and until it has caught
  up it answers 404 (AEGIS: usage 0), never another error status.
- Hostile or careless usage calls: each gets one line and never a 5xx, and none changes a stored quota or usage.
  test_tier_allow_list.py runs without usage services, so the calls that reach a running service are here.

Every wait has a deadline; the measured numbers are printed (run with -s to see them).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from components.model.haproxy import admin_url
from components.model.topology import LoadBalancer, Role
from components.model.usage import UsageService, usage_name
from components.usage.freshness import HEARTBEAT_EVERY_S, LAG_LIMIT_S
from components.usage.quotas import QUOTA_HEADER
from tests.support import aegis_client as aegis
from tests.support.cluster import LocalCluster, running_prod, wait_http
from tests.support.haproxy_stats import wait_server_status
from tests.support.stack_configs import prod
from tests.support.usage import listed_usage

pytestmark = pytest.mark.integration

SUBNET = "127.0.91"
KIB = 1024
MIB = 1024 * KIB
READ_ONLY_BOUND_S = 10.0  # a volume past its quota turns read-only within this (README: about 2 s)
CATCH_UP_BOUND_S = 30.0
# A stream that stops: the service lags after LAG_LIMIT_S (its oldest heartbeat, sent up to one beat before the
# stop) and HAProxy's check takes it out within about 2 s more.
STALE_BOUND_S = LAG_LIMIT_S + HEARTBEAT_EVERY_S + 3.0
# The answers AEGIS reads as usage 0: the service's own (catching up, no such volume) and HAProxy's fixed one.
ZERO_ANSWERS = ("usage not ready", "no such volume", "usage not tracked")


@dataclass(frozen=True)
class TierNode:
    lb: LoadBalancer
    usage: UsageService

    @property
    def url(self) -> str:
        """AEGIS's filer URL on this node."""
        return self.lb.filer_url(self.lb.host)


@dataclass
class Rig:
    cluster: LocalCluster
    nodes: list[TierNode]
    filers: list[str]  # each filer's own URL, asked directly
    filer_names: list[str]
    client: httpx.Client
    timings: dict[str, float] = field(default_factory=dict)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    root: Path = tmp_path_factory.mktemp("usage-failures")
    started = time.monotonic()
    with ExitStack() as stop:
        cluster, _ = stop.enter_context(running_prod(prod(), root, SUBNET, usage=True))
        client = stop.enter_context(httpx.Client(timeout=aegis.TIMEOUT))
        topology = cluster.topology
        nodes = [TierNode(lb, cluster.usage_service(usage_name(lb))) for lb in topology.load_balancers]
        filers = topology.of(Role.FILER)
        assert len(nodes) == 2 and len(filers) == 3, "the HA topology: 2 tier nodes, 3 filers"
        print(f"\nHA cluster with usage services up in {time.monotonic() - started:.1f} s")
        yield Rig(cluster, nodes, [f"http://{f.http_address}" for f in filers], [f.name for f in filers], client)


def served(rig: Rig, node: TierNode, volume: str) -> dict[str, int] | None:
    """AEGIS's usage call through `node`'s HAProxy: the usage, or None for a 404 (AEGIS: 0). Any other status
    would fail AEGIS's write, so it fails the test."""
    response = aegis.get_usage(rig.client, node.url, volume)
    if response.status_code == 404:
        assert response.text.startswith(ZERO_ANSWERS), response.text
        return None
    assert response.status_code == 200, (node.lb.name, response.status_code, response.text)
    return response.json()


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> float:
    """Seconds until `check()` holds; fails naming `what` after `timeout`."""
    start = time.monotonic()
    while not check():
        elapsed = time.monotonic() - start
        assert elapsed < timeout, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.05)
    return time.monotonic() - start


def wait_served(rig: Rig, nodes: list[TierNode], volume: str, expected: dict[str, int] | None) -> dict[str, float]:
    """Seconds until each node answers `expected` for `volume`, all measured from the same start."""
    start = time.monotonic()
    pending = {node.lb.name: node for node in nodes}
    seen: dict[str, float] = {}
    while pending:
        for name, node in list(pending.items()):
            if served(rig, node, volume) == expected:
                seen[name] = time.monotonic() - start
                del pending[name]
        if pending:
            answers = {name: served(rig, node, volume) for name, node in pending.items()}
            assert time.monotonic() - start < CATCH_UP_BOUND_S, f"{volume}: {answers}, expected {expected}"
            time.sleep(0.02)
    return seen


def wait_write_status(rig: Rig, url: str, status: int, timeout: float = READ_ONLY_BOUND_S) -> float:
    """Seconds until a small write to `url` answers `status` (507: the volume is read-only)."""
    return wait_for(
        f"PUT {url} answering {status}",
        lambda: rig.client.put(url, content=b"z").status_code == status,
        timeout,
    )


def wait_equal_to_listing(rig: Rig, nodes: list[TierNode], filer: str, volumes: list[str]) -> float:
    """Seconds until every node's answer for every volume equals a full listing on `filer`."""

    def equal() -> bool:
        listed = {v: listed_usage(filer, v) for v in volumes}
        return all({v: served(rig, node, v) for v in volumes} == listed for node in nodes)

    return wait_for(f"usage through {[n.lb.name for n in nodes]} equal to a listing on {filer}", equal, 15.0)


def put(rig: Rig, url: str, size: int) -> None:
    response = rig.client.put(url, content=b"u" * size)
    assert response.status_code == 201, (url, response.status_code, response.text)


def report(title: str, numbers: dict[str, float]) -> None:
    print(f"\n{title}:")
    for label, value in numbers.items():
        print(f"  {label}: {value:.2f} s")


# --- hostile and careless usage calls ---------------------------------------------------------------------------

TENANT = "victim"
VICTIM_ID = "5eed0000-0000-4000-8000-00000000f00d"
OTHER_ID = "5eed0000-0000-4000-8000-00000000beef"
VICTIM = aegis.volume_path(TENANT, VICTIM_ID)
VICTIM_QUOTA = 5 * MIB
VICTIM_FILE = 1000
QUOTA_CALLS_SENT = 64 * KIB  # the service reads at most this much of a quota body


@dataclass(frozen=True)
class QuotaCall:
    fields: dict[str, str]
    pad: int = 0  # bytes of an extra form field after the others: a body over 64 KiB
    form: bool = True  # False: the fields as application/x-www-form-urlencoded, not multipart


QUOTA_CALLS = [
    pytest.param(QuotaCall({"path": "/aegis/volumes/t/v/../../x", "bytes": "1"}), id="path-climbs-out"),
    pytest.param(QuotaCall({"path": f"{VICTIM}/../{OTHER_ID}", "bytes": "1"}), id="path-climbs-to-a-sibling"),
    pytest.param(
        QuotaCall({"path": f"/aegis/volumes/{TENANT}/../.usage/quotas/{TENANT}/{VICTIM_ID}", "bytes": "1"}),
        id="path-climbs-into-the-quota-files",
    ),
    pytest.param(
        QuotaCall(
            {"path": f"%2Faegis%2Fvolumes%2F{TENANT}%2F..%2F.usage%2Fquotas%2F{TENANT}%2F{VICTIM_ID}", "bytes": "1"}
        ),
        id="encoded-slashes-into-the-quota-files",
    ),
    pytest.param(QuotaCall({"path": f"{VICTIM}%2F..%2F{OTHER_ID}", "bytes": "1"}), id="encoded-slashes-to-a-sibling"),
    pytest.param(QuotaCall({"path": f"{VICTIM}%252F..%252F..%252F.usage", "bytes": "1"}), id="doubly-encoded-slashes"),
    pytest.param(
        QuotaCall({"path": f"/aegis/volumes/.usage/quotas/{TENANT}/{VICTIM_ID}", "bytes": "1"}), id="quota-file-itself"
    ),
    pytest.param(QuotaCall({"path": "/aegis/volumes/.usage/sync/lb-0", "bytes": "1"}), id="catch-up-marker"),
    pytest.param(QuotaCall({"path": "/aegis/volumes/.usage", "bytes": "1"}), id="usage-root"),
    pytest.param(QuotaCall({"path": VICTIM, "bytes": "-1"}), id="negative"),
    pytest.param(QuotaCall({"path": VICTIM, "bytes": "-5242880"}), id="negative-quota-size"),
    pytest.param(QuotaCall({"path": VICTIM, "bytes": "12abc"}), id="trailing-letters"),
    pytest.param(QuotaCall({"path": VICTIM, "bytes": "1e3"}), id="exponent"),
    pytest.param(QuotaCall({"path": VICTIM, "bytes": "0x10"}), id="hex"),
    pytest.param(QuotaCall({"path": VICTIM, "bytes": " 5"}), id="leading-space"),
    pytest.param(QuotaCall({"path": VICTIM, "bytes": ""}), id="empty-bytes"),
    pytest.param(QuotaCall({"path": VICTIM}), id="no-bytes"),
    pytest.param(QuotaCall({}), id="no-fields"),
    pytest.param(QuotaCall({"path": VICTIM, "bytes": "1"}, form=False), id="not-multipart"),
    pytest.param(QuotaCall({"path": VICTIM, "bytes": "1²"}), id="superscript-digit"),
    pytest.param(QuotaCall({"path": VICTIM, "bytes": "9" * 5000}), id="number-of-5000-digits"),
    pytest.param(QuotaCall({"path": VICTIM, "bytes": "1" * (100 * KIB)}), id="huge-body-of-digits"),
    pytest.param(QuotaCall({"path": VICTIM, "bytes": "1"}, pad=MIB), id="huge-body-padded"),
    pytest.param(QuotaCall({"path": f"{VICTIM} x", "bytes": "1"}), id="space-in-path"),
    pytest.param(QuotaCall({"path": f"{VICTIM}?x", "bytes": "1"}), id="question-mark-in-path"),
    pytest.param(QuotaCall({"path": f"{VICTIM}%23x", "bytes": "1"}), id="encoded-hash-in-path"),
]

# `path=` values of GET /dir/status as sent (already encoded where the label says so): none is exactly a volume.
STATUS_QUERIES = {
    "path-climbs-out": "/aegis/volumes/t/v/../../x",
    "path-climbs-to-a-sibling": f"{VICTIM}/../{OTHER_ID}",
    "encoded-slashes": f"%2Faegis%2Fvolumes%2F{TENANT}%2F{VICTIM_ID}%2F..%2F{OTHER_ID}",
    "doubly-encoded-slashes": f"{VICTIM}%252F..%252F{OTHER_ID}",
    "quota-files": f"/aegis/volumes/.usage/quotas/{TENANT}/{VICTIM_ID}",
    "usage-root": "%2Faegis%2Fvolumes%2F.usage",
    "semicolon": f"{VICTIM};x",
    "encoded-nul": f"{VICTIM}%00",
    # HAProxy and the service must both read the first one: here neither may answer for the victim.
    "second-path": f"/aegis/volumes/.usage&path={VICTIM}",
}


def stored_state(rig: Rig) -> dict[str, tuple[int, str]]:
    """Every file below /aegis/volumes (path -> size, quota header), read from a filer; the services' catch-up
    markers are left out, since they come and go by themselves."""
    found: dict[str, tuple[int, str]] = {}
    pending = ["/aegis/volumes"]
    while pending:
        listing = rig.client.get(
            f"{rig.filers[1]}{pending.pop()}/", params={"limit": 10_000}, headers={"Accept": "application/json"}
        )
        assert listing.status_code == 200, listing.text
        for entry in listing.json().get("Entries") or []:
            if entry["FullPath"].startswith("/aegis/volumes/.usage/sync"):
                continue
            if entry["Mode"] & (1 << 31):  # os.ModeDir
                pending.append(entry["FullPath"])
            else:
                quota = (entry.get("Extended") or {}).get(QUOTA_HEADER, "")
                found[entry["FullPath"]] = (entry["FileSize"], base64.b64decode(quota).decode() if quota else "")
    return found


def usage_everywhere(rig: Rig) -> list[dict[str, int] | None]:
    return [served(rig, node, volume) for node in rig.nodes for volume in (VICTIM, aegis.volume_path(TENANT, OTHER_ID))]


@pytest.fixture(scope="module")
def victim(rig: Rig) -> str:
    """A volume with a quota and a file, as AEGIS made them, seen by both services."""
    stored = aegis.set_quota(rig.client, rig.nodes[0].url, VICTIM, VICTIM_QUOTA)
    assert (stored.status_code, stored.text) == (200, f"quota stored: {VICTIM} {VICTIM_QUOTA} bytes")
    put(rig, f"{rig.nodes[0].url}{VICTIM}/a", VICTIM_FILE)
    wait_served(rig, rig.nodes, VICTIM, {"TotalSize": VICTIM_FILE, "FileCount": 1})
    return VICTIM


def one_line(response: httpx.Response) -> bool:
    return bool(response.text) and "\n" not in response.text.rstrip("\n")


@pytest.mark.parametrize("call", QUOTA_CALLS)
def test_hostile_quota_call_gets_one_line_and_changes_nothing(rig: Rig, victim: str, call: QuotaCall) -> None:
    # The victim's own quota again, as AEGIS set it: a case that overwrote it must not hide the next one's damage.
    stored = aegis.set_quota(rig.client, rig.nodes[0].url, victim, VICTIM_QUOTA)
    assert (stored.status_code, stored.text) == (200, f"quota stored: {victim} {VICTIM_QUOTA} bytes")
    before, usage = stored_state(rig), usage_everywhere(rig)
    for node in rig.nodes:
        # A fresh connection each: the service closes one whose body it did not read to the end.
        with httpx.Client(timeout=aegis.TIMEOUT) as client:
            fields = {**call.fields, **({"pad": "p" * call.pad} if call.pad else {})}
            if call.form:
                response = client.post(f"{node.url}/quota", files={k: (None, v) for k, v in fields.items()})
            else:
                response = client.post(f"{node.url}/quota", data=fields)
        print(f"\n  {node.lb.name} POST /quota {str(call.fields)[:80]}: {response.status_code} {response.text[:100]!r}")
        assert response.status_code < 500, (node.lb.name, response.status_code, response.text)
        assert one_line(response), response.text
    # The service answers only after the filer took the quota file, so a stored quota is already visible here.
    assert stored_state(rig) == before
    assert usage_everywhere(rig) == usage


@pytest.mark.parametrize("query", list(STATUS_QUERIES.values()), ids=list(STATUS_QUERIES))
def test_hostile_usage_call_gets_one_line_404_and_changes_nothing(rig: Rig, victim: str, query: str) -> None:
    before, usage = stored_state(rig), usage_everywhere(rig)
    for node in rig.nodes:
        for method in ("GET", "HEAD"):
            response = rig.client.request(method, f"{node.url}/dir/status?path={query}")
            print(
                f"\n  {node.lb.name} {method} /dir/status?path={query[-60:]}: {response.status_code} {response.text!r}"
            )
            assert response.status_code == 404, (node.lb.name, method, response.status_code, response.text)
            assert method == "HEAD" or one_line(response), response.text
    assert stored_state(rig) == before
    assert usage_everywhere(rig) == usage


# --- a filer lost -----------------------------------------------------------------------------------------------


def restore_filer(rig: Rig, name: str, timings: dict[str, float]) -> None:
    """The filer started again, healthy, and taken back by both HAProxies."""
    rig.cluster.restart(name)
    timings["restarted filer healthy after"] = rig.cluster.wait_healthy(name)
    for node in rig.nodes:
        timings[f"{node.lb.name} marks it up after"] = wait_server_status(node.lb, "filers", name, "UP")


def test_filer_loss_keeps_aegis_calls_answering_and_both_services_exact_after(rig: Rig) -> None:
    cluster, nodes, client = rig.cluster, rig.nodes, rig.client
    lost, lost_url = rig.filer_names[0], rig.filers[0]
    volume, quota_volume = aegis.volume_path(), aegis.volume_path()
    put(rig, f"{nodes[0].url}{volume}/before", 1000)
    wait_served(rig, nodes, volume, {"TotalSize": 1000, "FileCount": 1})
    timings: dict[str, float] = {}
    answers: dict[str, int] = {}

    cluster.kill(lost)  # SIGKILL, by PID
    killed = time.monotonic()
    try:
        for node in nodes:
            # AEGIS's write through each tier node at once: one that meets the dead filer is retried on another.
            put(rig, f"{node.url}{volume}/via-{node.lb.name}", 2000)
            # A quota stored while the filer the service stores through first is down.
            stored = aegis.set_quota(client, node.url, quota_volume, MIB)
            assert (stored.status_code, stored.text) == (200, f"quota stored: {quota_volume} {MIB} bytes")
        for filer_name, filer in zip(rig.filer_names[1:], rig.filers[1:], strict=True):
            put(rig, f"{filer}{volume}/on-{filer_name}", 3000)
            put(rig, f"{filer}{quota_volume}/on-{filer_name}", 600 * KIB)  # together past the quota
        # AEGIS's usage call keeps answering on both nodes: 200 or 404 (AEGIS: 0), never a status failing a write.
        while time.monotonic() - killed < 8.0:
            for node in nodes:
                label = "200" if served(rig, node, volume) is not None else "404"
                answers[f"{node.lb.name} {label}"] = answers.get(f"{node.lb.name} {label}", 0) + 1
            time.sleep(0.1)
    finally:
        timings["filer down for"] = time.monotonic() - killed
        restore_filer(rig, lost, timings)
    print(f"\nAEGIS's usage calls during the outage: {answers}")

    back = time.monotonic()
    # Both services against a full listing of the filer that came back: every write of the outage is counted.
    timings["both equal to a full listing after"] = wait_equal_to_listing(rig, nodes, lost_url, [volume, quota_volume])
    assert served(rig, nodes[0], volume) == {"TotalSize": 1000 + 2 * 2000 + 2 * 3000, "FileCount": 5}
    # The quota stored during the outage holds: the volume past it turns read-only.
    wait_write_status(rig, f"{lost_url}{quota_volume}/more", 507)
    timings["quota stored during the outage -> 507, after the filer is back"] = time.monotonic() - back
    report(f"{lost} SIGKILLed", timings)


def test_filer_loss_stale_usage_ends_within_the_lag_limit(rig: Rig) -> None:
    """weed 4.48 holds every surviving filer's metadata stream while a filer is gone (up to 2 minutes; nothing is
    lost: docs/decisions/2026-12-07-usage-lag-and-tenants.md), so a write made meanwhile reaches no service
    until the filer returns. What AEGIS must get meanwhile: the usage from before the write for at most the
    service's lag limit (plus HAProxy's check), then the tier's 404 (usage 0), never an error status; and the
    exact usage once the filer is back."""
    lost = rig.filer_names[0]
    volume = aegis.volume_path()
    put(rig, f"{rig.filers[1]}{volume}/before", 1000)
    wait_served(rig, rig.nodes, volume, {"TotalSize": 1000, "FileCount": 1})
    expected = {"TotalSize": 3000, "FileCount": 2}
    timings: dict[str, float] = {}
    rig.cluster.kill(lost)
    try:
        put(rig, f"{rig.filers[1]}{volume}/during", 2000)
        written = time.monotonic()
        stale_until: dict[str, float] = {}
        while len(stale_until) < len(rig.nodes) and time.monotonic() - written < STALE_BOUND_S + 5:
            for node in rig.nodes:
                # A 404 (AEGIS: 0) or the new usage ends the stale answers; `served` fails on any other status.
                if node.lb.name not in stale_until and served(rig, node, volume) in (None, expected):
                    stale_until[node.lb.name] = time.monotonic() - written
            time.sleep(0.05)
        timings |= {f"stale usage through {name} for": seconds for name, seconds in stale_until.items()}
    finally:
        restore_filer(rig, lost, timings)
        timings["equal to a listing after the filer is back"] = wait_equal_to_listing(
            rig, rig.nodes, rig.filers[0], [volume]
        )
        report(f"{lost} SIGKILLed, a write on {rig.filer_names[1]}", timings)
    assert len(stale_until) == len(rig.nodes), f"still stale after {STALE_BOUND_S + 5:.0f} s: {stale_until}"
    assert max(stale_until.values()) <= STALE_BOUND_S, stale_until
    assert served(rig, rig.nodes[0], volume) == expected


# --- a tier node lost -------------------------------------------------------------------------------------------


def test_tier_node_loss_keeps_the_other_exact_and_the_quotas(rig: Rig) -> None:
    cluster, client = rig.cluster, rig.client
    lost, survivor = rig.nodes
    filer = rig.filers[1]
    usage_volume, read_only, pushed, later = (aegis.volume_path() for _ in range(4))
    timings: dict[str, float] = {}

    # Before: a volume with usage, one already past its quota (read-only), one with a quota and room left.
    put(rig, f"{lost.url}{usage_volume}/a", 1500)
    for volume in (read_only, pushed):
        stored = aegis.set_quota(client, lost.url, volume, MIB)
        assert (stored.status_code, stored.text) == (200, f"quota stored: {volume} {MIB} bytes")
        put(rig, f"{filer}{volume}/a", 600 * KIB)
    put(rig, f"{filer}{read_only}/b", 600 * KIB)
    timings["read-only before the loss after"] = wait_write_status(rig, f"{filer}{read_only}/c", 507)
    wait_equal_to_listing(rig, rig.nodes, filer, [usage_volume, read_only, pushed])

    cluster.kill(lost.lb.name)
    cluster.kill(lost.usage.name)
    down = time.monotonic()
    try:
        # The surviving node: exact usage of writes made through it and on the filers meanwhile.
        put(rig, f"{survivor.url}{usage_volume}/b", 2500)
        put(rig, f"{rig.filers[2]}{usage_volume}/c", 3500)
        timings["survivor equal to a listing after"] = wait_equal_to_listing(rig, [survivor], filer, [usage_volume])
        # The quotas stored before hold: the read-only volume stays so, another one passing its quota now turns so.
        assert client.put(f"{rig.filers[2]}{read_only}/c", content=b"z").status_code == 507
        put(rig, f"{filer}{pushed}/b", 600 * KIB)
        timings["pushed past its quota -> 507 after"] = wait_write_status(rig, f"{filer}{pushed}/c", 507)
        # A quota stored through the survivor while the other node is gone.
        stored = aegis.set_quota(client, survivor.url, later, MIB)
        assert (stored.status_code, stored.text) == (200, f"quota stored: {later} {MIB} bytes")
        put(rig, f"{filer}{later}/a", 600 * KIB)
        wait_equal_to_listing(rig, [survivor], filer, [later])
        assert client.put(f"{rig.filers[0]}{read_only}/c", content=b"z").status_code == 507
    finally:
        cluster.restart(lost.lb.name)
        cluster.wait_healthy(lost.lb.name)
        wait_http(f"{admin_url(lost.lb.host)}/healthz", 30.0)
        timings["node down for"] = time.monotonic() - down

    # The restarted service: 404 (AEGIS: 0) while it catches up, never another status, then the exact usage.
    restarted = time.monotonic()
    cluster.restart(lost.usage.name)
    statuses: dict[str, int] = {}
    while (response := aegis.get_usage(client, lost.url, usage_volume)).status_code != 200:
        assert response.status_code == 404 and response.text.startswith(ZERO_ANSWERS), (
            response.status_code,
            response.text,
        )
        label = response.text.split(":", 1)[0]
        statuses[label] = statuses.get(label, 0) + 1
        assert time.monotonic() - restarted < CATCH_UP_BOUND_S, f"{lost.usage.name} never caught up: {statuses}"
        time.sleep(0.02)
    timings["restarted service answers 200 after"] = time.monotonic() - restarted
    print(f"\nanswers through {lost.lb.name} before its service caught up: {statuses}")
    assert served(rig, lost, usage_volume) == listed_usage(filer, usage_volume)
    wait_equal_to_listing(rig, rig.nodes, filer, [usage_volume, read_only, pushed, later])
    assert client.put(f"{filer}{read_only}/c", content=b"z").status_code == 507
    assert client.put(f"{filer}{pushed}/c", content=b"z").status_code == 507

    # The restarted node saw the quota stored while it was gone: with the survivor's service stopped, it alone
    # turns that volume read-only once it passes the quota.
    cluster.kill(survivor.usage.name)
    stopped = time.monotonic()
    try:
        put(rig, f"{filer}{later}/b", 600 * KIB)
        timings["quota stored while down, enforced by the restarted node after"] = wait_write_status(
            rig, f"{filer}{later}/c", 507
        )
    finally:
        cluster.restart(survivor.usage.name)
    cluster.wait_usage_routed(survivor.usage)
    timings["survivor's service down, then routed again, for"] = time.monotonic() - stopped
    wait_equal_to_listing(rig, rig.nodes, filer, [usage_volume, read_only, pushed, later])
    report(f"{lost.lb.name} and {lost.usage.name} SIGKILLed", timings)
