"""The prod topology (Pulumi.prod.yaml) run for real on loopback, and the faults it must survive.

3 masters, 3 volume servers (rack = zone), 3 filers on PostgreSQL over TLS, 2 HAProxy nodes and the S3
gateway, each on its own 127.0.2.x with the exact commands, env and files the AWS instances get.
Every fault test records the health check's verdict before and after, and leaves the cluster healthy.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import boto3
import httpx
import pytest
from botocore.client import Config as BotoConfig
from botocore.exceptions import ClientError

from components.model.refs import Ref
from components.model.topology import Role
from tests.support.cluster import (
    LocalCluster,
    health_target,
    running_prod,
    wait_for_report,
)
from tests.support.postgres import LocalPostgres
from tests.support.stack_configs import prod

pytestmark = pytest.mark.integration

SUBNET = "127.0.2"
TENANT = "zaru-consumer"


class HA:
    def __init__(self, cluster: LocalCluster, postgres: LocalPostgres) -> None:
        self.cluster = cluster
        self.postgres = postgres
        self.topology = cluster.topology
        self.target = health_target(cluster.topology, cluster.values)
        # The admin port: these tests write their own paths (`vol-lb`, ...) and read metadata, which AEGIS's filer
        # URL refuses; the admin frontend shares its filers backend, retries and checks.
        self.lb = self.target.native_url

    def put(self, path: str, body: bytes, timeout: float = 60.0) -> httpx.Response:
        return httpx.put(f"{self.lb}{path}", content=body, timeout=timeout)

    def leader(self) -> str:
        """The service name of the current Raft leader, by asking every live master."""
        for master in self.topology.of(Role.MASTER):
            if not self.cluster.processes[master.name].alive():
                continue
            try:
                leader = httpx.get(f"http://{master.http_address}/cluster/status", timeout=2).json()["Leader"]
            except (httpx.HTTPError, ValueError):
                continue
            for candidate in self.topology.of(Role.MASTER):
                if leader.startswith(candidate.http_address):
                    return candidate.name
        return ""

    def recover(self, name: str) -> None:
        self.cluster.restart(name)
        self.cluster.wait_healthy(name, timeout=90)
        report = wait_for_report(self.target, healthy=True, timeout=90)
        assert report.healthy, f"cluster did not recover after restarting {name}:\n{report.table()}"


@pytest.fixture(scope="module")
def ha(tmp_path_factory) -> Iterator[HA]:
    with running_prod(prod(), tmp_path_factory.mktemp("ha"), SUBNET) as (cluster, postgres):
        yield HA(cluster, postgres)


def assert_healthy(ha: HA, when: str) -> None:
    report = wait_for_report(ha.target, healthy=True, timeout=60)
    assert report.healthy, f"{when}:\n{report.table()}"


def test_write_through_the_load_balancer_reads_identically_through_every_filer(ha: HA):
    assert_healthy(ha, "before")
    body = os.urandom(64 * 1024)
    path = f"/aegis/volumes/{TENANT}/vol-lb/data.bin"
    assert ha.put(path, body).status_code == 201
    for filer in ha.topology.of(Role.FILER):
        got = httpx.get(f"http://{filer.http_address}{path}", timeout=30)
        assert got.status_code == 200 and got.content == body, filer.name
    assert_healthy(ha, "after")


def replica_locations(ha: HA, path: str) -> list[str]:
    """Volume server names holding the first chunk of `path`, per the master's lookup."""
    meta = httpx.get(f"{ha.lb}{path}?metadata=true", timeout=10).json()
    volume_id = meta["chunks"][0]["fid"]["volume_id"]
    master = ha.topology.of(Role.MASTER)[0].http_address
    lookup = httpx.get(f"http://{master}/dir/lookup?volumeId={volume_id}", timeout=10).json()
    by_address = {s.http_address: s.name for s in ha.topology.of(Role.VOLUME)}
    return sorted(by_address[loc["url"]] for loc in lookup["locations"])


def test_sigkill_of_a_replica_holder_keeps_persistent_files_readable(ha: HA):
    assert_healthy(ha, "before")
    path = f"/aegis/volumes/{TENANT}/vol-holder/file.bin"
    body = os.urandom(32 * 1024)
    assert ha.put(path, body).status_code == 201
    holder = replica_locations(ha, path)[0]
    ha.cluster.kill(holder)
    for _ in range(20):
        got = httpx.get(f"{ha.lb}{path}", timeout=30)
        assert got.status_code == 200 and got.content == body
    report = wait_for_report(ha.target, healthy=False)
    dead = ha.topology.service(holder).http_address
    assert any(f.component == "volume" and dead in f.detail for f in report.failures()), report.table()
    ha.recover(holder)


def test_sigkill_of_the_raft_leader_elects_a_new_one_and_reads_never_fail(ha: HA):
    assert_healthy(ha, "before")
    existing = {f"/aegis/volumes/{TENANT}/vol-raft/{i}.txt": os.urandom(1024) for i in range(10)}
    for path, body in existing.items():
        assert ha.put(path, body).status_code == 201
    old_leader = ha.leader()
    assert old_leader

    stop_reading = threading.Event()
    read_failures: list[str] = []
    reads = 0

    def read_existing() -> None:
        nonlocal reads
        with httpx.Client(timeout=10) as client:
            while not stop_reading.is_set() and reads < 5000:
                for path, body in existing.items():
                    reads += 1
                    try:
                        got = client.get(f"{ha.lb}{path}")
                        if got.status_code != 200 or got.content != body:
                            read_failures.append(f"{path}: HTTP {got.status_code}")
                    except httpx.HTTPError as err:
                        read_failures.append(f"{path}: {type(err).__name__}")
                time.sleep(0.05)

    reader = threading.Thread(target=read_existing)
    reader.start()
    killed_at = time.monotonic()
    ha.cluster.kill(old_leader)
    new_leader, leader_seconds = "", None
    write_seconds = None
    attempt = 0
    while time.monotonic() - killed_at < 120 and write_seconds is None:
        if leader_seconds is None:
            new_leader = ha.leader()
            if new_leader and new_leader != old_leader:
                leader_seconds = time.monotonic() - killed_at
        attempt += 1
        try:
            if ha.put(f"/aegis/volumes/{TENANT}/vol-raft/after-{attempt}.txt", b"x", timeout=5).status_code == 201:
                write_seconds = time.monotonic() - killed_at
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop_reading.set()
    reader.join(timeout=60)
    print(
        f"\nleader SIGKILL: new leader after {leader_seconds}s, writes through the LB after {write_seconds}s, "
        f"{len(read_failures)} failed of {reads} reads of existing files"
    )
    assert leader_seconds is not None and new_leader != old_leader
    assert write_seconds is not None
    assert read_failures == []
    ha.recover(old_leader)


def test_sigkill_of_a_filer_under_load_through_the_load_balancer(ha: HA):
    assert_healthy(ha, "before")
    requests, concurrency = 1000, 16
    victim = ha.topology.of(Role.FILER)[1].name
    failures: list[str] = []
    done = 0
    lock = threading.Lock()

    def put_and_get(i: int) -> None:
        nonlocal done
        path = f"/aegis/volumes/{TENANT}/vol-load/{i}.bin"
        body = hashlib.sha256(str(i).encode()).digest() * 128
        try:
            put = httpx.put(f"{ha.lb}{path}", content=body, timeout=30)
            got = httpx.get(f"{ha.lb}{path}", timeout=30)
            if put.status_code != 201 or got.content != body:
                failures.append(f"{i}: PUT {put.status_code} GET {got.status_code}")
        except httpx.HTTPError as err:
            failures.append(f"{i}: {type(err).__name__}")
        with lock:
            done += 1
            if done == requests // 4:
                ha.cluster.kill(victim)

    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(put_and_get, range(requests)))
    print(
        f"\nfiler SIGKILL under load: {len(failures)} failed of {requests} PUT+GET in {time.monotonic() - started:.1f}s"
    )
    report = wait_for_report(ha.target, healthy=False)
    victim_address = ha.topology.service(victim).http_address
    assert any(f.component == "filer" and f.where == victim_address for f in report.failures()), report.table()
    assert len(failures) <= requests // 50, failures[:10]
    ha.recover(victim)


def test_postgres_restart_takes_filers_to_503_and_back_without_data_loss(ha: HA):
    assert_healthy(ha, "before")
    path = f"/aegis/volumes/{TENANT}/vol-pg/file.txt"
    assert ha.put(path, b"survives").status_code == 201
    filers = [f"http://{f.http_address}/healthz" for f in ha.topology.of(Role.FILER)]
    ha.postgres.stop()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(httpx.get(u, timeout=5).status_code != 503 for u in filers):
            time.sleep(0.3)
        assert all(httpx.get(u, timeout=5).status_code == 503 for u in filers)
        report = wait_for_report(ha.target, healthy=False)
        assert any("metadata store unreachable" in f.detail for f in report.failures()), report.table()
    finally:
        ha.postgres.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(httpx.get(u, timeout=5).status_code != 200 for u in filers):
        time.sleep(0.3)
    assert all(httpx.get(u, timeout=5).status_code == 200 for u in filers)
    assert httpx.get(f"{ha.lb}{path}", timeout=30).content == b"survives"
    assert_healthy(ha, "after")


def s3_client(ha: HA, access: Ref | None, secret: Ref | None):
    s3 = ha.topology.of(Role.S3)[0]
    kwargs = {}
    if access and secret:
        kwargs = {"aws_access_key_id": ha.cluster.values[access], "aws_secret_access_key": ha.cluster.values[secret]}
    return boto3.client(
        "s3",
        endpoint_url=f"http://{s3.http_address}",
        region_name="us-east-1",
        config=BotoConfig(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        **kwargs,
    )


def test_s3_gateway_access_rules_and_path_convention(ha: HA):
    """s3://<tenant>/<volume>/<path> is /aegis/volumes/<tenant>/<volume>/<path> on the filer: a tenant is a bucket."""
    assert_healthy(ha, "before")
    volume_id = str(uuid.uuid4())
    volume = f"{TENANT}/{volume_id}"
    assert ha.put(f"/aegis/volumes/{volume}/main.py", b"print('hi')\n").status_code == 201

    operator = s3_client(ha, Ref.S3_READONLY_ACCESS_KEY, Ref.S3_READONLY_SECRET_KEY)
    assert TENANT in [b["Name"] for b in operator.list_buckets()["Buckets"]]
    listed = operator.list_objects_v2(Bucket=TENANT, Prefix=f"{volume_id}/")["Contents"]
    assert [o["Key"] for o in listed] == [f"{volume_id}/main.py"]
    assert operator.get_object(Bucket=TENANT, Key=f"{volume_id}/main.py")["Body"].read() == b"print('hi')\n"
    with pytest.raises(ClientError) as denied:
        operator.put_object(Bucket=TENANT, Key=f"{volume_id}/evil.py", Body=b"x")
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError):
        operator.delete_object(Bucket=TENANT, Key=f"{volume_id}/main.py")
    assert operator.get_object(Bucket=TENANT, Key=f"{volume_id}/main.py")["Body"].read() == b"print('hi')\n"

    s3 = ha.topology.of(Role.S3)[0]
    assert httpx.get(f"http://{s3.http_address}/", timeout=10).status_code == 403
    assert httpx.get(f"http://{s3.http_address}/{volume}/main.py", timeout=10).status_code == 403

    admin = s3_client(ha, Ref.S3_ADMIN_ACCESS_KEY, Ref.S3_ADMIN_SECRET_KEY)
    admin.put_object(Bucket=TENANT, Key=f"{volume_id}/from-s3.txt", Body=b"via s3")
    assert httpx.get(f"{ha.lb}/aegis/volumes/{volume}/from-s3.txt", timeout=10).content == b"via s3"
    # A tenant's bucket holds its volumes: not even the admin key deletes it with its contents.
    with pytest.raises(ClientError):
        admin.delete_bucket(Bucket=TENANT)
    assert httpx.get(f"{ha.lb}/aegis/volumes/{volume}/main.py", timeout=10).content == b"print('hi')\n"
    assert_healthy(ha, "after")
