"""The storage rules verified on the data: files written as AEGIS writes them, on the real dev and HA topologies.

AEGIS creates a volume with `POST /dir/` and `PUT <volume>/.keep`, then PUTs whole files under it
(aegis-orchestrator `seaweedfs.rs`). Every such file must carry `aegisReplication` copies, as the
master's `/dir/lookup` shows, and no AEGIS path may carry a TTL: any volume may be persistent.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config as BotoConfig

from components.model.aegis.layout import COLLECTION, VOLUMES_PREFIX, volume_path
from components.model.config import StackConfig, parse
from components.model.topology import Role, Topology
from tests.support import aegis_client as aegis
from tests.support.cluster import LocalCluster, health_target, wait_for_report
from tests.support.stack_configs import prod
from tests.support.tiers import TIERS, running_tier

pytestmark = pytest.mark.integration

DEV_SUBNET = "127.0.41"
HA_SUBNET = "127.0.45"
TENANTS = ("zaru-consumer", "aegis-system", "u-0123456789abcdef0123456789abcdef")
# Over the filer's 4 MiB chunk size, so a file of several chunks is checked too.
LARGE_FILE_BYTES = 5 * 2**20 + 17


@dataclass
class Stack:
    cfg: StackConfig
    cluster: LocalCluster

    @property
    def topology(self) -> Topology:
        return self.cluster.topology

    @property
    def filer(self) -> str:
        """AEGIS's filer URL: AEGIS's calls only."""
        return health_target(self.topology, self.cluster.values).filer_url

    @property
    def admin(self) -> str:
        """The tier's admin frontend: the filer's native API (metadata, listings with a query, other paths)."""
        return health_target(self.topology, self.cluster.values).native_url

    @property
    def master(self) -> str:
        return f"http://{self.topology.of(Role.MASTER)[0].http_address}"


@pytest.fixture(scope="module", params=TIERS)
def stack(request, tmp_path_factory) -> Iterator[Stack]:
    """One stack at a time (the module-scoped parameter is torn down before the next starts)."""
    root: Path = tmp_path_factory.mktemp(f"aegis-{request.param}")
    if request.param == "dev":
        cfg, subnet = parse({"s3Enabled": True}, stack="dev"), DEV_SUBNET
    else:
        # The shipped prod config, except that the master default is one copy: then AEGIS's files can only
        # get their second copy from the filer rule, and a file outside /aegis/volumes/ shows the difference.
        cfg, subnet = prod(defaultReplication="000"), HA_SUBNET
        assert cfg.aws is not None and cfg.aegis_replication == "010"
    with running_tier(request.param, root, subnet, cfg) as cluster:
        yield Stack(cfg, cluster)


def create_volume_as_aegis(filer: str, volume: str) -> None:
    """AEGIS's create: `POST /dir/` (multipart `path`) for each ancestor, then the `.keep` marker."""
    with httpx.Client(timeout=aegis.TIMEOUT) as client:
        *mkdirs, keep = aegis.create_directory(client, filer, volume)
    for path, answer in zip(aegis.ancestors(volume), mkdirs, strict=True):
        assert answer.status_code in (200, 201), path
    assert keep.status_code == 201


def copies(stack: Stack, path: str) -> list[list[str]]:
    """For each chunk of `path`: the volume servers holding it, per the master's /dir/lookup."""
    meta = httpx.get(f"{stack.admin}{path}?metadata=true", timeout=10).json()
    assert meta.get("TtlSec", 0) == 0, f"{path} carries a TTL: {meta.get('TtlSec')} s"
    holders = []
    for chunk in meta["chunks"]:
        volume_id = chunk["fid"]["volume_id"]
        lookup = httpx.get(f"{stack.master}/dir/lookup", params={"volumeId": volume_id}, timeout=10).json()
        holders.append(sorted(location["url"] for location in lookup["locations"]))
    return holders


def volume_ttls(stack: Stack) -> dict[int, tuple[str, str, str]]:
    """Every volume the master knows: id -> (collection, replica placement, TTL), from /vol/status."""
    status = httpx.get(f"{stack.master}/vol/status", timeout=10).json()
    found = {}
    for racks in status["Volumes"]["DataCenters"].values():
        for nodes in racks.values():
            for volumes in nodes.values():
                for v in volumes or []:
                    # weed leaves zero counts out of the JSON.
                    placement = v["ReplicaPlacement"]
                    digits = "".join(str(placement.get(key, 0)) for key in ("dc", "rack", "node"))
                    found[v["Id"]] = (v["Collection"], digits, str(v["Ttl"]["Count"] or ""))
    return found


def test_files_written_as_aegis_writes_them_keep_their_copies_and_no_ttl(stack: Stack):
    wanted_copies = 1 + sum(int(d) for d in stack.cfg.aegis_replication)
    written: dict[str, bytes] = {}
    for tenant in TENANTS:
        volume = volume_path(tenant, str(uuid.uuid4()))
        create_volume_as_aegis(stack.filer, volume)
        for name, size in (("main.py", 1200), ("src/pkg/deep/data.bin", 64 * 1024)):
            written[f"{volume}/{name}"] = os.urandom(size)
    written[f"{volume}/large.bin"] = os.urandom(LARGE_FILE_BYTES)
    for path, body in written.items():
        assert httpx.put(f"{stack.filer}{path}", content=body, timeout=60).status_code == 201, path

    racks = {s.http_address: s.node.rack for s in stack.topology.of(Role.VOLUME)}
    for path, body in written.items():
        assert httpx.get(f"{stack.filer}{path}", timeout=30).content == body, path
        for holders in copies(stack, path):
            assert len(holders) == wanted_copies, (path, holders)
            # 010 means the second copy is on another rack (zone), not just another server.
            assert len({racks[h] for h in holders}) == wanted_copies, (path, holders)

    outside = f"/not-aegis/{uuid.uuid4()}.bin"
    assert httpx.put(f"{stack.filer}{outside}", content=b"x", timeout=60).status_code == 403, "not AEGIS's"
    assert httpx.put(f"{stack.admin}{outside}", content=b"x", timeout=60).status_code == 201
    assert [len(holders) for holders in copies(stack, outside)] == [1 + sum(map(int, stack.cfg.default_replication))]

    held = volume_ttls(stack)
    assert held, "the master reports no volumes"
    aegis_volumes = {
        chunk["fid"]["volume_id"]
        for path in written
        for chunk in httpx.get(f"{stack.admin}{path}?metadata=true", timeout=10).json()["chunks"]
    }
    for volume_id in aegis_volumes:
        collection, placement, ttl = held[volume_id]
        assert placement == stack.cfg.aegis_replication and ttl == "", (volume_id, held[volume_id])
        # Every tenant's bucket shares the rule's one collection.
        assert collection == COLLECTION, (volume_id, held[volume_id])
    assert all(ttl == "" for _c, _p, ttl in held.values()), held


def test_no_entry_under_the_aegis_prefix_carries_a_ttl(stack: Stack):
    pending, seen = [VOLUMES_PREFIX.rstrip("/")], 0
    with httpx.Client(base_url=stack.admin, timeout=10, headers={"Accept": "application/json"}) as client:
        while pending and seen < 10_000:
            listing = client.get(f"{pending.pop()}/", params={"limit": 10_000}).json()
            for entry in listing.get("Entries") or []:
                seen += 1
                assert not entry.get("TtlSec"), entry["FullPath"]
                if entry.get("Mode", 0) & 0o20000000000:  # os.ModeDir
                    pending.append(entry["FullPath"])
    assert seen > 0


def test_the_cluster_is_healthy_and_its_s3_gateway_sees_aegis_data(stack: Stack):
    report = wait_for_report(health_target(stack.topology, stack.cluster.values), healthy=True, timeout=60)
    assert report.healthy, report.table()
    # The S3 gateway listed a file the probe wrote through the filer under /aegis/volumes/.
    [s3_view] = [r for r in report.results if (r.component, r.check) == ("s3", "lists AEGIS data")]
    assert s3_view.detail.startswith("s3://aegis-healthcheck/"), report.table()
    probe_volume = s3_view.detail.removeprefix("s3://").rsplit("/", 1)[0]
    assert httpx.get(f"{stack.admin}/aegis/volumes/{probe_volume}/", timeout=10).status_code == 404, "probe left data"


def s3_client(stack: Stack):
    target = health_target(stack.topology, stack.cluster.values)
    assert target.s3_endpoint is not None
    return boto3.client(
        "s3",
        endpoint_url=target.s3_endpoint,
        aws_access_key_id=target.s3_access_key,
        aws_secret_access_key=target.s3_secret_key,
        region_name=target.s3_region,
        config=BotoConfig(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )


def test_each_tenant_is_a_bucket_and_deleting_one_tenant_spares_the_shared_collection(stack: Stack):
    tenants = ("s3-view-a", "s3-view-b")
    written: dict[str, dict[str, bytes]] = {}
    for tenant in tenants:
        volume_id = str(uuid.uuid4())
        volume = volume_path(tenant, volume_id)
        create_volume_as_aegis(stack.filer, volume)
        written[tenant] = {f"{volume_id}/.keep": b""}
        for name in ("main.py", "src/lib.py"):
            body = os.urandom(2048)
            assert httpx.put(f"{stack.filer}{volume}/{name}", content=body, timeout=60).status_code == 201
            written[tenant][f"{volume_id}/{name}"] = body

    # `aws s3 ls s3://<tenant>/<volume>/`: the tenant is the bucket, the volume the first key segment.
    s3 = s3_client(stack)
    for tenant, files in written.items():
        volume_id = next(iter(files)).split("/", 1)[0]
        listed = s3.list_objects_v2(Bucket=tenant, Prefix=f"{volume_id}/")
        assert sorted(o["Key"] for o in listed.get("Contents", [])) == sorted(files), tenant
        for key, body in files.items():
            assert s3.get_object(Bucket=tenant, Key=key)["Body"].read() == body, key

    # An operator deleting a whole tenant (admin port): the filer drops the collection named after that bucket,
    # never the one every tenant shares.
    gone, kept = tenants
    assert httpx.delete(f"{stack.admin}{VOLUMES_PREFIX}{gone}?recursive=true", timeout=60).status_code == 204
    assert COLLECTION in {collection for collection, _p, _t in volume_ttls(stack).values()}
    for key, body in written[kept].items():
        assert httpx.get(f"{stack.filer}{VOLUMES_PREFIX}{kept}/{key}", timeout=30).content == body, key
    assert httpx.get(f"{stack.admin}{VOLUMES_PREFIX}{gone}/", timeout=10).status_code == 404
