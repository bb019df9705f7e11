"""The disaster-recovery drill, on loopback, with the prod topology and the runbook's backup order.

1. Start the HA topology, write files of mixed sizes to several tenants, remember their checksums.
2. Back up: the metadata (pg_dump) first, then a copy of every volume server's data directory.
3. Destroy every process, the database and every data and master directory.
4. Rebuild into fresh directories with fresh secrets (a new stack): restore the metadata, put each
   volume server's backup on its data disk, start the same rendered topology with empty masters.
5. Verify: every file reads back with its checksum, the health check is green, new writes succeed
   with file ids that never collide with restored ones, and `volume.fsck` finds no missing chunk.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import shutil
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from components.model.aegis.layout import volume_path
from components.model.config import StackConfig
from components.model.refs import Ref
from components.model.topology import Role, Topology
from tests.support.cluster import (
    LocalCluster,
    fresh_values,
    health_target,
    loopback_topology,
    wait_for_report,
    weed_binary,
)
from tests.support.postgres import LocalPostgres

TENANTS = ("zaru-consumer", "aegis-system", "u-0123456789abcdef0123456789abcdef")


@dataclass(frozen=True)
class StoredFile:
    path: str
    sha256: str
    size: int
    fids: tuple[tuple[int, int], ...]  # (volume id, file key) of each chunk


@dataclass
class DrillResult:
    files: int
    bytes_written: int
    backup_seconds: float
    recovery_seconds: float
    files_lost: list[str] = field(default_factory=list)
    checksum_mismatches: list[str] = field(default_factory=list)
    new_writes_failed: int = 0
    fid_collisions: list[str] = field(default_factory=list)
    fsck_missing: list[str] = field(default_factory=list)
    healthy_after: bool = False
    health_table: str = ""

    def summary(self) -> str:
        return (
            f"{self.files} files ({self.bytes_written / 2**20:.1f} MiB): backup {self.backup_seconds:.1f}s, "
            f"recovery (rebuild start -> healthy) {self.recovery_seconds:.1f}s, files lost {len(self.files_lost)}, "
            f"checksum mismatches {len(self.checksum_mismatches)}, new writes failed {self.new_writes_failed}, "
            f"file id collisions {len(self.fid_collisions)}, fsck missing {len(self.fsck_missing)}, "
            f"healthy after {self.healthy_after}"
        )


def _sizes(rng: random.Random, count: int) -> list[int]:
    """Mostly small files (git objects, node_modules), some medium, a few chunked (> 4 MiB) ones."""
    sizes = []
    for i in range(count):
        if i % 200 == 0:
            sizes.append(rng.randint(5 * 2**20, 6 * 2**20))
        elif i % 5 == 0:
            sizes.append(rng.randint(32 * 2**10, 512 * 2**10))
        else:
            sizes.append(rng.randint(1, 32 * 2**10))
    return sizes


def _fids(filer_url: str, path: str, client: httpx.Client) -> tuple[tuple[int, int], ...]:
    chunks = client.get(f"{filer_url}{path}?metadata=true").json().get("chunks") or []
    return tuple((c["fid"]["volume_id"], c["fid"]["file_key"]) for c in chunks)


def native_url(cluster: LocalCluster) -> str:
    """The filer's native API through the tier's admin frontend: AEGIS's filer URL refuses `?metadata=true`."""
    target = health_target(cluster.topology, cluster.values)
    return target.admin_url or target.filer_url


def write_files(filer_url: str, count: int, seed: int, prefix: str = "") -> list[StoredFile]:
    rng = random.Random(seed)
    jobs = []
    for i, size in enumerate(_sizes(rng, count)):
        tenant = TENANTS[i % len(TENANTS)]
        volume = volume_path(tenant, f"{prefix}{uuid.UUID(int=i % 10)}")
        jobs.append((f"{volume}/dir-{i % 13}/file-{i}.bin", rng.randbytes(size)))

    def put(job: tuple[str, bytes]) -> StoredFile:
        path, body = job
        with httpx.Client(timeout=60) as client:
            response = client.put(f"{filer_url}{path}", content=body)
            if response.status_code != 201:
                raise RuntimeError(f"PUT {path}: HTTP {response.status_code} {response.text[:200]}")
            return StoredFile(path, hashlib.sha256(body).hexdigest(), len(body), _fids(filer_url, path, client))

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(put, jobs))


def verify_files(filer_url: str, files: list[StoredFile]) -> tuple[list[str], list[str]]:
    """(lost, checksum mismatches)."""
    lost: list[str] = []
    mismatched: list[str] = []

    def check(stored: StoredFile) -> None:
        with httpx.Client(timeout=60) as client:
            try:
                response = client.get(f"{filer_url}{stored.path}")
            except httpx.HTTPError as err:
                lost.append(f"{stored.path}: {type(err).__name__}")
                return
        if response.status_code != 200:
            lost.append(f"{stored.path}: HTTP {response.status_code}")
        elif hashlib.sha256(response.content).hexdigest() != stored.sha256:
            mismatched.append(stored.path)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(check, files))
    return lost, mismatched


def fsck_missing(topology: Topology) -> list[str]:
    """Filer entries whose chunks no volume server has, per `volume.fsck -findMissingChunksInFiler -v`."""
    filer = topology.of(Role.FILER)[0].http_address
    result = subprocess.run(
        [weed_binary(), "shell", f"-master={','.join(topology.master_addresses)}", f"-filer={filer}"],
        input="lock\nvolume.fsck -findMissingChunksInFiler -cutoffTimeAgo=1s -v\nunlock\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0 or "total" not in result.stdout:
        raise RuntimeError(f"volume.fsck did not run: {result.stdout[-1500:]} {result.stderr[-1500:]}")
    # With -v every entry with a missing chunk is printed as its bare path, once per volume that lacks it.
    return sorted({line for line in result.stdout.splitlines() if line.startswith("/")})


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed_volume_delete(volume_address: str, file_id: str, signing_key: str) -> httpx.Response:
    """Delete one copy of a needle on a volume server, with the JWT SeaweedFS expects (HS256, claim fid)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = _b64(json.dumps({"exp": int(time.time()) + 60, "fid": file_id}).encode())
    signature = _b64(hmac.new(signing_key.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest())
    token = f"{header}.{claims}.{signature}"
    # type=replicate: delete this copy only; forwarding the token to the other copies needs HTTPS.
    return httpx.delete(
        f"http://{volume_address}/{file_id}?type=replicate", headers={"Authorization": f"BEARER {token}"}
    )


def unstarted_cluster(
    cfg: StackConfig, root: Path, subnet: str, volumes: Path | None = None
) -> tuple[LocalCluster, LocalPostgres]:
    """The topology of `cfg` under `root` on `subnet` with fresh secrets, and its PostgreSQL at `<subnet>.60`;
    neither started. With `volumes`, each volume server's data dir is first copied from `volumes/<name>`."""
    assert cfg.aws is not None
    db_host = f"{subnet}.60"
    values = fresh_values(db_host)
    topology, _ = loopback_topology(cfg, root, subnet)
    if volumes is not None:
        for volume in topology.of(Role.VOLUME):
            shutil.copytree(volumes / volume.name, volume.data_dir)
    db = cfg.aws.database
    postgres = LocalPostgres(db_host, db.port, db.name, db.user, values[Ref.DB_PASSWORD])
    return LocalCluster(topology, values, root), postgres


@dataclass
class Rebuilt:
    """The rebuilt cluster, left running for further checks; `close()` stops it."""

    cluster: LocalCluster
    postgres: LocalPostgres
    files: list[StoredFile]
    result: DrillResult

    def close(self) -> None:
        try:
            self.cluster.stop()
        finally:
            self.postgres.remove()


def run_drill(cfg: StackConfig, workdir: Path, files: int, subnet: str, seed: int = 7) -> Rebuilt:
    """Steps 1-5 of the module docstring; the rebuilt cluster is returned running."""
    live_root, backup_root, rebuilt_root = workdir / "live", workdir / "backup", workdir / "rebuilt"
    cluster, postgres = unstarted_cluster(cfg, live_root, subnet)
    topology = cluster.topology
    try:
        postgres.init()
        cluster.start()
        stored = write_files(native_url(cluster), files, seed)

        started = time.monotonic()
        backup_root.mkdir(parents=True)
        # Metadata first: every chunk it points to was written before, so the volume copies have it.
        postgres.dump(backup_root / "metadata.dump")
        for volume in topology.of(Role.VOLUME):
            shutil.copytree(volume.data_dir, backup_root / volume.name)
        backup_seconds = time.monotonic() - started
    finally:
        cluster.stop()
        postgres.remove()
    shutil.rmtree(live_root)

    started = time.monotonic()
    rebuilt, new_postgres = unstarted_cluster(cfg, rebuilt_root, subnet, volumes=backup_root)
    rebuilt_topology = rebuilt.topology
    try:
        new_postgres.init()
        new_postgres.restore(backup_root / "metadata.dump")
        rebuilt.start()
        target = health_target(rebuilt_topology, rebuilt.values)
        report = wait_for_report(target, healthy=True, timeout=120)
        result = DrillResult(
            files=len(stored),
            bytes_written=sum(f.size for f in stored),
            backup_seconds=backup_seconds,
            recovery_seconds=time.monotonic() - started,
            healthy_after=report.healthy,
            health_table=report.table(),
        )
        result.files_lost, result.checksum_mismatches = verify_files(target.filer_url, stored)
        restored_fids = {fid for f in stored for fid in f.fids}
        try:
            new_files = write_files(native_url(rebuilt), 100, seed + 1, prefix="after-")
        except RuntimeError:
            result.new_writes_failed = 100
            new_files = []
        result.fid_collisions = [f.path for f in new_files if restored_fids & set(f.fids)]
        result.fsck_missing = fsck_missing(rebuilt_topology)
    except BaseException:
        rebuilt.stop()
        new_postgres.remove()
        raise
    return Rebuilt(rebuilt, new_postgres, stored, result)
