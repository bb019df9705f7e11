"""The usage service against a real filer on loopback: its answers equal a full listing after any sequence of
writes, overwrites, truncations, deletes, recursive deletes and renames; quotas hold, AEGIS's own check refuses
the write that would pass one and the storage turns the volume read-only past it; a restart resumes from
its checkpoint and answers 404 (AEGIS: 0) until it has caught up, and a stream that stops makes it lag (404
again, HAProxy's check takes it out); usage per tenant is on the admin port only. The service runs as the model
renders it, beside the dev topology's HAProxy, and AEGIS's calls go through AEGIS's filer URL (the HAProxy)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.model.aegis.calls import QUOTA_NOT_ENFORCED, USAGE_NOT_TRACKED
from components.model.config import parse
from components.model.haproxy import USAGE_TENANTS_PATH, admin_url
from components.model.topology import Role
from components.model.usage import UsageService
from tests.support import aegis_client as aegis
from tests.support.cluster import LocalCluster, fresh_values, loopback_topology, running, running_prod
from tests.support.stack_configs import prod
from tests.support.usage import listed_usage, listed_volumes

pytestmark = pytest.mark.integration

DEV_SUBNET = "127.0.44"
HA_SUBNET = "127.0.46"
MIB = 1024 * 1024


@dataclass
class Rig:
    cluster: LocalCluster
    url: str  # AEGIS's filer URL: the HAProxy, which routes usage and quota calls to the service beside it
    admin: str  # the same HAProxy's admin URL
    usage: UsageService
    filer: str  # a filer, asked directly (the listing the index is held to)
    client: httpx.Client


@pytest.fixture(scope="module", params=["dev", "ha"])
def rig(request, tmp_path_factory) -> Iterator[Rig]:
    root: Path = tmp_path_factory.mktemp(f"usage-{request.param}")
    with ExitStack() as stop:
        if request.param == "dev":
            topology, _ = loopback_topology(parse({}, stack="dev"), root, DEV_SUBNET)
            cluster = stop.enter_context(running(topology, fresh_values(), root, usage=True))
        else:  # three filers on PostgreSQL, two HAProxies, each with its own usage service
            cluster, _ = stop.enter_context(running_prod(prod(), root, HA_SUBNET, usage=True))
        client = stop.enter_context(httpx.Client(timeout=aegis.TIMEOUT))
        topology = cluster.topology
        lb = topology.load_balancers[0]
        filer = f"http://{topology.of(Role.FILER)[0].http_address}"
        yield Rig(cluster, lb.filer_url(lb.host), admin_url(lb.host), cluster.usage_services[0], filer, client)


def answer(rig: Rig, volume: str, url: str = "") -> dict[str, int] | None:
    """AEGIS's usage call, through AEGIS's filer URL unless `url` names another (the service itself)."""
    response = aegis.get_usage(rig.client, url or rig.url, volume)
    assert response.status_code in (200, 404), response.text
    return response.json() if response.status_code == 200 else None


def wait_equal(rig: Rig, volumes: list[str], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        listed = {v: listed_usage(rig.filer, v) for v in volumes}
        # Asked directly: the volumes here are not UUIDs, and HAProxy routes only AEGIS's volume paths.
        served = {v: answer(rig, v, rig.usage.url) for v in volumes}
        if listed == served:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"index {served} != listing {listed}")
        time.sleep(0.1)


NAMES = st.sampled_from(["a", "b", "d/a", "d/b", "d/e/a", "f/a"])
DIRS = st.sampled_from(["d", "d/e", "f"])
VOLUME = st.sampled_from(["v0", "v1"])
OPERATION = st.one_of(
    st.tuples(st.just("put"), VOLUME, NAMES, st.integers(0, 6000)),
    st.tuples(st.just("delete"), VOLUME, NAMES),
    st.tuples(st.just("rmdir"), VOLUME, DIRS),
    st.tuples(st.just("rmvolume"), VOLUME),
    st.tuples(st.just("mvfile"), VOLUME, NAMES, VOLUME, NAMES),
    st.tuples(st.just("mvdir"), VOLUME, DIRS, VOLUME, st.sampled_from(["", "g", "d"])),
)


def run(rig: Rig, base: str, operation: tuple) -> None:
    """One filer call; whatever the filer makes of it (a rename onto a directory, a delete of nothing), the
    index must end up equal to the listing."""
    kind, volume, *rest = operation
    target = f"{base}/{volume}"
    if kind == "put":
        rig.client.put(f"{rig.filer}{target}/{rest[0]}", content=b"x" * rest[1])
    elif kind == "delete":
        rig.client.delete(f"{rig.filer}{target}/{rest[0]}")
    elif kind == "rmdir":
        rig.client.delete(f"{rig.filer}{target}/{rest[0]}", params={"recursive": "true"})
    elif kind == "rmvolume":
        rig.client.delete(f"{rig.filer}{target}", params={"recursive": "true"})
    elif kind == "mvfile":
        rig.client.post(f"{rig.filer}{base}/{rest[1]}/{rest[2]}", params={"mv.from": f"{target}/{rest[0]}"})
    else:  # mvdir: into a directory of the other (or the same) volume
        parent = f"{base}/{rest[1]}/{rest[2]}".rstrip("/") + "/"
        rig.client.post(f"{rig.filer}{parent}", params={"mv.from": f"{target}/{rest[0]}"})


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(OPERATION, min_size=1, max_size=12))
def test_usage_equals_a_full_listing_after_any_operations(rig: Rig, operations: list[tuple]) -> None:
    base = f"/aegis/volumes/p-{uuid.uuid4().hex[:12]}"
    for operation in operations:
        run(rig, base, operation)
    wait_equal(rig, [f"{base}/v0", f"{base}/v1"])


def aegis_write(rig: Rig, usage_url: str, volume: str, name: str, size: int, limit: int) -> bool:
    """fsal.rs `write`: usage first, refuse past the limit, else the write. True when the write happened."""
    response = aegis.get_usage(rig.client, usage_url, volume)
    assert response.status_code in (200, 404), response.text
    current = response.json()["TotalSize"] if response.status_code == 200 else 0
    if current + size > limit:
        return False
    assert rig.client.put(f"{usage_url}{volume}/{name}", content=b"q" * size).status_code == 201
    return True


def wait_usage(rig: Rig, volume: str, total: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (answer(rig, volume) or {}).get("TotalSize") != total:
        assert time.monotonic() < deadline, f"usage of {volume} never reached {total}: {answer(rig, volume)}"
        time.sleep(0.05)


def wait_write_status(rig: Rig, url: str, status: int, timeout: float = 15.0) -> float:
    start = time.monotonic()
    while (code := rig.client.put(url, content=b"z").status_code) != status:
        assert time.monotonic() - start < timeout, f"PUT {url} still answers {code}, not {status}"
        time.sleep(0.2)
    return time.monotonic() - start


def test_quota_replay_as_aegis_and_the_storage_holds_it(rig: Rig) -> None:
    volume = aegis.volume_path()
    url = rig.url
    assert all(a.status_code == 201 for a in aegis.create_directory(rig.client, url, volume))
    stored = aegis.set_quota(rig.client, url, volume, MIB)
    assert (stored.status_code, stored.text) == (200, f"quota stored: {volume} {MIB} bytes")
    assert aegis_write(rig, url, volume, "a", 600 * 1024, MIB)
    wait_usage(rig, volume, 600 * 1024)
    assert not aegis_write(rig, url, volume, "b", 600 * 1024, MIB), "AEGIS's own check must refuse this write"
    assert rig.client.delete(f"{rig.filer}{volume}/a").status_code == 204
    wait_usage(rig, volume, 0)
    assert aegis_write(rig, url, volume, "b", 600 * 1024, MIB)
    # A second writer that skips the check (another orchestrator, a race) passes the quota: the storage refuses.
    assert rig.client.put(f"{rig.filer}{volume}/c", content=b"c" * 600 * 1024).status_code == 201
    read_only_after = wait_write_status(rig, f"{rig.filer}{volume}/d", 507)
    assert rig.client.get(f"{rig.filer}{volume}/b").status_code == 200
    assert rig.client.delete(f"{rig.filer}{volume}/c").status_code == 204
    lifted_after = wait_write_status(rig, f"{rig.filer}{volume}/d", 201)
    assert read_only_after < 10 and lifted_after < 10, (read_only_after, lifted_after)


def test_restart_resumes_from_the_checkpoint_and_answers_404_until_caught_up(rig: Rig) -> None:
    volume = aegis.volume_path()
    rig.client.put(f"{rig.filer}{volume}/a", content=b"a" * 1000)
    wait_usage(rig, volume, 1000)
    rig.cluster.kill(rig.usage.name, signal.SIGTERM)
    assert (Path(rig.usage.data_dir) / "checkpoint.json").exists()
    rig.client.put(f"{rig.filer}{volume}/b", content=b"b" * 500)  # while the service is down
    # Down: HAProxy answers AEGIS's calls itself, as it did before the service existed.
    assert (aegis.get_usage(rig.client, rig.url, volume).status_code, answer_text(rig, volume)) == (
        404,
        USAGE_NOT_TRACKED,
    )
    down = aegis.set_quota(rig.client, rig.url, volume, MIB)
    assert (down.status_code, down.text) == (200, QUOTA_NOT_ENFORCED)
    rig.cluster.restart(rig.usage.name)
    seen = set()
    deadline = time.monotonic() + 30
    while (status := aegis.get_usage(rig.client, rig.url, volume).status_code) != 200:
        seen.add(status)
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert seen <= {404}, seen  # never an error status AEGIS would fail a write on
    assert answer(rig, volume) == {"TotalSize": 1500, "FileCount": 2}


def test_a_first_start_without_a_checkpoint_walks_the_filer_and_is_exact(rig: Rig) -> None:
    """A replaced tier node starts with no checkpoint; its streams reach back only a margin (the filers purge
    their metadata log), so every volume the earlier tests wrote must come from the walk."""
    volume = aegis.volume_path()
    rig.client.put(f"{rig.filer}{volume}/a", content=b"a" * 700)
    wait_usage(rig, volume, 700)
    rig.cluster.kill(rig.usage.name, signal.SIGTERM)
    (Path(rig.usage.data_dir) / "checkpoint.json").unlink()
    rig.client.put(f"{rig.filer}{volume}/b", content=b"b" * 300)
    started = time.monotonic()
    rig.cluster.restart(rig.usage.name)
    seen = set()
    while (status := aegis.get_usage(rig.client, rig.url, volume).status_code) != 200:
        seen.add(status)
        assert time.monotonic() - started < 60, "the first start never caught up"
        time.sleep(0.05)
    print(f"first start caught up in {time.monotonic() - started:.1f} s")
    assert seen <= {404}, seen
    assert answer(rig, volume) == {"TotalSize": 1000, "FileCount": 2}
    volumes = listed_volumes(rig.filer)
    assert len(volumes) >= 3, volumes  # this test's and the earlier tests' volumes
    wait_equal(rig, volumes)


def answer_text(rig: Rig, volume: str) -> str:
    return aegis.get_usage(rig.client, rig.url, volume).text


def test_usage_per_tenant_is_on_the_admin_port_only(rig: Rig) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    volume = aegis.volume_path(tenant)
    rig.client.put(f"{rig.filer}{volume}/a", content=b"a" * 300)
    wait_usage(rig, volume, 300)
    deadline = time.monotonic() + 10  # HAProxy's connect check may not have seen a restarted service yet
    while (tenants := rig.client.get(f"{rig.admin}{USAGE_TENANTS_PATH}")).status_code != 200:
        assert time.monotonic() < deadline, (tenants.status_code, tenants.text)
        time.sleep(0.2)
    body = tenants.json()
    assert (body["caught_up"], body["lagging"]) == (True, False)
    assert body["tenants"][tenant] == {"bytes": 300, "files": 1, "volumes": 1, "growth_bytes_per_hour": None}
    refused = rig.client.get(f"{rig.url}{USAGE_TENANTS_PATH}")
    assert refused.status_code == 403 and refused.text.startswith("refused: "), refused.text


def children(pid: int) -> list[int]:
    """The processes `pid` started (the service's `weed filer.meta.tail`s), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_a_stopped_stream_makes_the_service_lag_and_aegis_still_reads_404(rig: Rig) -> None:
    if len(rig.cluster.topology.load_balancers) > 1:
        pytest.skip("one topology is enough: this waits out the lag limit")
    volume = aegis.volume_path()
    rig.client.put(f"{rig.filer}{volume}/a", content=b"a" * 10)
    wait_usage(rig, volume, 10)
    tails = children(rig.cluster.processes[rig.usage.name].popen.pid)
    assert tails, "the service runs its tails as child processes"
    for pid in tails:
        os.kill(pid, signal.SIGSTOP)  # hung, as a tail whose filer stopped answering
    try:
        statuses, deadline = set(), time.monotonic() + 45
        while (health := rig.client.get(f"{rig.usage.url}/healthz")).status_code == 200:
            statuses.add(aegis.get_usage(rig.client, rig.url, volume).status_code)
            assert time.monotonic() < deadline, "the service never noticed its stream had stopped"
            time.sleep(0.5)
        assert health.status_code == 503 and health.text.startswith("lagging: the metadata stream brought nothing")
        time.sleep(3)  # HAProxy's check (every 1 s, 2 failures) takes it out
        lagging = aegis.get_usage(rig.client, rig.url, volume)
        assert (lagging.status_code, lagging.text) == (404, USAGE_NOT_TRACKED)
        assert aegis.get_usage(rig.client, rig.usage.url, volume).status_code == 404  # asked directly: not ready
        assert rig.client.get(f"{rig.admin}{USAGE_TENANTS_PATH}").json()["lagging"] is True
        # A quota AEGIS sends meanwhile is still stored: it needs only a filer, and AEGIS never sends it again.
        stored = aegis.set_quota(rig.client, rig.url, volume, MIB)
        assert (stored.status_code, stored.text) == (200, f"quota stored: {volume} {MIB} bytes")
        assert statuses <= {200, 404}, statuses  # never an error status AEGIS would fail a write on
    finally:
        for pid in tails:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    rig.cluster.wait_usage_routed(rig.usage)
