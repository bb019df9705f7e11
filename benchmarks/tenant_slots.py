"""Volume slots that AEGIS tenants use on the shipped prod sizing: every tenant a bucket, one collection.

`python -m benchmarks.tenant_slots [--tenants 500] [--subnet 127.0.41]` starts the prod topology
(Pulumi.prod.yaml, PostgreSQL via LocalPostgres) on loopback and creates TENANTS tenants through the
load balancer as AEGIS does: a volume directory (`.keep`) and a file in it, per tenant. It reads the
slots used from the master's `/dir/status` (Max - Free, over all volume servers) before and after, and
compares them with the shipped capacity (volumeServerCount x `-max`, from components/model/sizing.py).
The shipped mapping is the deployment page's `s3://<tenant>/...` (buckets folder /aegis/volumes) with the
filer rule's one collection. Then it starts the same topology with the rule's collection left out, where every
tenant's bucket is its own collection, and measures the slots that a few tenants take each. The tool is
separate from the timed suite (`python -m benchmarks`), whose 15-minute budget it does not fit. It stops
everything it started, and prints one table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from components.model.aegis import layout as aegis_layout
from components.model.config import StackConfig
from components.model.refs import Ref
from components.model.topology import Role, Topology, volume_slots
from tests.support.cluster import LocalCluster, fresh_values, health_target, loopback_topology, running
from tests.support.postgres import LocalPostgres
from tests.support.stack_configs import prod

TENANTS = 500
# Enough tenants to measure the per-bucket cost; the bucket-per-tenant mapping grows the same volumes for each.
BUCKET_PER_TENANT_SAMPLE = 6
CONCURRENCY = 16
WRITE_TIMEOUT = 60.0


@dataclass(frozen=True)
class Slots:
    """Volume slots of the whole cluster, as the master's /dir/status counts them."""

    total: int
    free: int
    collections: tuple[str, ...]

    @property
    def used(self) -> int:
        return self.total - self.free


def slots_from_dir_status(status: Mapping[str, Any]) -> Slots:
    topology = status["Topology"]
    names = sorted({layout["collection"] for layout in topology.get("Layouts") or []})
    return Slots(int(topology["Max"]), int(topology["Free"]), tuple(names))


def tenant_ids(count: int) -> list[str]:
    """Per-user tenants as AEGIS names them: `u-` and 32 hex digits."""
    return [f"u-{uuid.UUID(int=index + 1).hex}" for index in range(count)]


def tenants_until_full(capacity: int, used_before: int, per_tenant: float) -> int:
    """How many more tenants fit before `capacity` slots are used, at `per_tenant` slots each."""
    return int((capacity - used_before) // per_tenant) if per_tenant > 0 else sys.maxsize


def shipped_capacity(cfg: StackConfig) -> int:
    return volume_slots(cfg) * cfg.volume_server_count


def without_rule_collection(topology: Topology) -> Topology:
    """The same topology, with the filer rule's `collection` left out (what the shipped rule prevents): each
    tenant's bucket is then its own collection. The rules job applies, and the health check expects, that file."""
    rules = json.loads(topology.filer_rules)
    for location in rules["locations"]:
        location.pop("collection", None)
    text = json.dumps(rules, indent=2) + "\n"
    jobs = tuple(
        dataclasses.replace(job, files=tuple(dataclasses.replace(f, content=text) for f in job.files))
        for job in topology.jobs
    )
    return dataclasses.replace(topology, filer_rules=text, jobs=jobs)


@contextmanager
def prod_cluster(workdir: Path, subnet: str, shared_collection: bool) -> Iterator[LocalCluster]:
    cfg = prod()
    assert cfg.aws is not None
    root = workdir / f"cluster-{secrets.token_hex(3)}"
    topology, _ = loopback_topology(cfg, root, subnet)
    if not shared_collection:
        topology = without_rule_collection(topology)
    db_host = f"{subnet}.60"
    values = fresh_values(db_host)
    aws = cfg.aws
    postgres = LocalPostgres(db_host, aws.database.port, aws.database.name, aws.database.user, values[Ref.DB_PASSWORD])
    try:
        postgres.init()
        with running(topology, values, root) as cluster:
            yield cluster
    finally:
        postgres.remove()


def read_slots(cluster: LocalCluster) -> Slots:
    for master in cluster.topology.of(Role.MASTER):
        try:
            return slots_from_dir_status(httpx.get(f"http://{master.http_address}/dir/status", timeout=10).json())
        except (httpx.HTTPError, ValueError, KeyError):
            continue
    raise RuntimeError("no master answered /dir/status")


def create_tenants(filer_url: str, tenants: Sequence[str], concurrency: int = CONCURRENCY) -> int:
    """A volume (`.keep` marker) and one file per tenant, as AEGIS writes them; returns the failed writes."""

    def create(tenant: str) -> int:
        volume = aegis_layout.volume_path(tenant, str(uuid.uuid4()))
        failed = 0
        with httpx.Client(base_url=filer_url, timeout=WRITE_TIMEOUT) as client:
            for path, body in ((f"{volume}/.keep", b""), (f"{volume}/workspace/main.py", b"print('hi')\n")):
                try:
                    failed += client.put(path, content=body).status_code != 201
                except httpx.HTTPError:
                    failed += 1
        return failed

    with ThreadPoolExecutor(concurrency) as pool:
        return sum(pool.map(create, tenants))


@dataclass(frozen=True)
class Run:
    """Slots before any AEGIS data, after the first tenant and after all of them, and the failed writes."""

    before: Slots
    first: Slots
    after: Slots
    tenants: int
    failed: int

    @property
    def per_tenant(self) -> float:
        """Slots each tenant after the first took."""
        return (self.after.used - self.first.used) / max(self.tenants - 1, 1)


def measure(workdir: Path, subnet: str, tenants: Sequence[str], shared_collection: bool) -> Run:
    """Create `tenants` on a fresh prod cluster, reading the slots used as it goes."""
    with prod_cluster(workdir, subnet, shared_collection) as cluster:
        filer_url = health_target(cluster.topology, cluster.values).filer_url
        before = read_slots(cluster)
        failed = create_tenants(filer_url, tenants[:1], concurrency=1)
        first = read_slots(cluster)
        # Buckets grow their volumes on first write: one at a time, so the growth is not what is measured.
        failed += create_tenants(filer_url, tenants[1:], concurrency=CONCURRENCY if shared_collection else 1)
        return Run(before, first, read_slots(cluster), len(tenants), failed)


def report(capacity: int, shipped: Run, per_bucket: Run) -> str:
    full = tenants_until_full(per_bucket.after.total, per_bucket.before.used, per_bucket.per_tenant)
    collections = ", ".join(name or "(default)" for name in shipped.after.collections)
    return "\n".join(
        [
            f"shipped capacity: {capacity} volume slots (volumeServerCount x -max, components/model/sizing.py)",
            f"shipped: s3://<tenant>/<volume>/<path> (buckets folder {aegis_layout.BUCKETS_FOLDER}), one collection:",
            f"  {shipped.tenants} tenants, {shipped.failed} failed writes; slots used: {shipped.before.used} before,"
            f" {shipped.first.used} after the first tenant, {shipped.after.used} after all, of {shipped.after.total}"
            f" ({shipped.per_tenant:.2f} per further tenant); collections: {collections}",
            "  tenants add no slots: new volumes grow as data fills the existing ones, and -max = disk / volume size,",
            "  so the slots run out when the disks fill, not before",
            "the same buckets without the rule's collection (each bucket its own collection):",
            f"  {per_bucket.tenants} tenants, {per_bucket.failed} failed writes; slots used: {per_bucket.before.used}"
            f" before, {per_bucket.after.used} after ({per_bucket.per_tenant:.1f} per tenant)",
            f"  the {per_bucket.after.total} slots would run out at about {full} tenants; {shipped.tenants} tenants"
            f" would need {per_bucket.before.used + per_bucket.per_tenant * shipped.tenants:.0f}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tenant_slots", description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=TENANTS, help=f"tenants to create (default {TENANTS})")
    parser.add_argument("--subnet", default="127.0.41", help="loopback /24 to run on, e.g. 127.0.41")
    args = parser.parse_args(argv)
    if args.tenants < 1:
        parser.error("--tenants must be at least 1")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="aegis-slots-") as tmp:
        shipped = measure(Path(tmp), args.subnet, tenant_ids(args.tenants), shared_collection=True)
        sample = tenant_ids(BUCKET_PER_TENANT_SAMPLE)
        per_bucket = measure(Path(tmp), args.subnet, sample, shared_collection=False)
    print(report(shipped_capacity(prod()), shipped, per_bucket))
    print(f"wall time {time.monotonic() - started:.0f}s")
    return 1 if shipped.failed or per_bucket.failed else 0


if __name__ == "__main__":
    sys.exit(main())
