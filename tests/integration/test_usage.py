"""The usage service against a real filer on loopback: its answers equal a full listing after any sequence of
writes, overwrites, truncations, deletes, recursive deletes and renames; quotas hold, AEGIS's own check refuses
the write that would pass one and the storage turns the volume read-only past it; a restart resumes from
its checkpoint and answers 404 (AEGIS: 0) until it has caught up."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.model.config import parse
from components.model.topology import Role
from tests.support import aegis_client as aegis
from tests.support.cluster import LocalCluster, fresh_values, loopback_topology, running
from tests.support.usage import UsageProcess, listed_usage, running_usage, start_usage

pytestmark = pytest.mark.integration

SUBNET = "127.0.44"
USAGE_HOST = f"{SUBNET}.61"
USAGE_PORT = 8890
MIB = 1024 * 1024


@dataclass
class Rig:
    cluster: LocalCluster
    usage: UsageProcess
    filer: str  # a filer, asked directly (the listing the index is held to)
    client: httpx.Client
    state_dir: Path


@pytest.fixture(scope="module")
def rig(tmp_path_factory) -> Iterator[Rig]:
    root: Path = tmp_path_factory.mktemp("usage")
    topology, _ = loopback_topology(parse({}, stack="dev"), root, SUBNET)
    # The service and the filer are what is under test here; the tier's routing has its own test.
    topology = replace(topology, load_balancers=())
    with running(topology, fresh_values(), root) as cluster, httpx.Client(timeout=aegis.TIMEOUT) as client:
        state_dir = root / "usage-state"
        with running_usage(cluster, USAGE_HOST, USAGE_PORT, state_dir) as usage:
            filer = f"http://{cluster.topology.of(Role.FILER)[0].http_address}"
            yield Rig(cluster, usage, filer, client, state_dir)


def answer(usage: UsageProcess, volume: str) -> dict[str, int] | None:
    response = usage.status(volume)
    assert response.status_code in (200, 404), response.text
    return response.json() if response.status_code == 200 else None


def wait_equal(rig: Rig, volumes: list[str], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        listed = {v: listed_usage(rig.client, rig.filer, v) for v in volumes}
        served = {v: answer(rig.usage, v) for v in volumes}
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
    assert rig.client.put(f"{rig.filer}{volume}/{name}", content=b"q" * size).status_code == 201
    return True


def wait_usage(rig: Rig, volume: str, total: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (answer(rig.usage, volume) or {}).get("TotalSize") != total:
        assert time.monotonic() < deadline, f"usage of {volume} never reached {total}: {answer(rig.usage, volume)}"
        time.sleep(0.05)


def wait_write_status(rig: Rig, url: str, status: int, timeout: float = 15.0) -> float:
    start = time.monotonic()
    while (code := rig.client.put(url, content=b"z").status_code) != status:
        assert time.monotonic() - start < timeout, f"PUT {url} still answers {code}, not {status}"
        time.sleep(0.2)
    return time.monotonic() - start


def test_quota_replay_as_aegis_and_the_storage_holds_it(rig: Rig) -> None:
    volume = aegis.volume_path()
    url = rig.usage.url
    assert all(a.status_code == 201 for a in aegis.create_directory(rig.client, rig.filer, volume))
    assert aegis.set_quota(rig.client, url, volume, MIB).status_code == 200
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
    rig.usage.stop()
    assert (rig.state_dir / "checkpoint.json").exists()
    rig.client.put(f"{rig.filer}{volume}/b", content=b"b" * 500)  # while the service is down
    restarted = start_usage(rig.cluster, USAGE_HOST, USAGE_PORT, rig.state_dir)
    rig.usage = restarted
    seen = set()
    deadline = time.monotonic() + 30
    while (status := _status_or_none(restarted, volume)) != 200:
        seen.add(status)
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert seen <= {None, 404}, seen  # never an error status AEGIS would fail a write on
    assert answer(restarted, volume) == {"TotalSize": 1500, "FileCount": 2}


def _status_or_none(usage: UsageProcess, volume: str) -> int | None:
    try:
        return usage.status(volume).status_code
    except httpx.HTTPError:
        return None  # not listening yet: HAProxy answers its fixed 404 then
