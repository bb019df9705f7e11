"""The metadata-backup drill, on loopback, with the prod topology: restore the filer metadata from the backup job's
own file (not from PostgreSQL) and the volumes from a later copy, and count what no longer matches.

1. Start the HA topology on PostgreSQL, write files ("before"), run the backup job's rendered script for real,
   with a local directory standing in for the S3 bucket.
2. Keep writing ("after"), then take the "EBS snapshot": a copy of every volume server's data directory.
3. Destroy every process, the database and every data and master directory.
4. Rebuild with fresh secrets, an empty database and the copied volumes; `fs.meta.load` the backup (made
   loadable: weed 4.48's loader drops the last file otherwise) into the fresh filer store through the running
   cluster, then restart the filers (the store has it, not a cache).
5. Verify: every "before" file reads back with its checksum; no "after" file is in the metadata;
   `volume.fsck` names no file with a missing chunk, and counts the orphans (the "after" files' chunks).
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from components.model.config import StackConfig
from components.model.metadata_backup import loadable, metadata_backup
from components.model.refs import Ref
from components.model.topology import Role, Topology
from tests.support.cluster import LocalCluster, health_target, weed_binary
from tests.support.drill import fsck_missing, native_url, unstarted_cluster, verify_files, write_files
from tests.support.weed_shell import run as weed_shell

ORPHAN = re.compile(r"(\d+) orphan entries|orphan:(\d+)|(\d+) orphan", re.IGNORECASE)


@dataclass
class MetadataDrillResult:
    files_before: int
    files_after: int
    chunks_after: int
    backup_bytes: int = 0
    backup_seconds: float = 0.0
    restore_seconds: float = 0.0
    total_seconds: float = 0.0
    backup_output: str = ""
    files_lost: list[str] = field(default_factory=list)
    checksum_mismatches: list[str] = field(default_factory=list)
    after_files_visible: int = 0
    fsck_missing: list[str] = field(default_factory=list)
    fsck_orphans: int = 0
    fsck_output: str = ""

    def summary(self) -> str:
        return (
            f"{self.files_before} files before the backup, {self.files_after} after it ({self.chunks_after} chunks); "
            f"backup {self.backup_bytes / 1024:.0f} KiB in {self.backup_seconds:.1f}s, restore (fs.meta.load) "
            f"{self.restore_seconds:.1f}s; files lost {len(self.files_lost)}, checksum mismatches "
            f"{len(self.checksum_mismatches)}, after-backup files visible {self.after_files_visible}; "
            f"fsck missing {len(self.fsck_missing)}, fsck orphans {self.fsck_orphans}; "
            f"drill {self.total_seconds:.0f}s"
        )


def run_backup_job(topology: Topology, target: Path) -> str:
    """The backup job's rendered script, for real, with the pinned binary and a local target; its output."""
    script = (
        metadata_backup(topology).script((weed_binary(),)).replace(Ref.METADATA_BACKUP_URL.placeholder, str(target))
    )
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"backup job failed (exit {result.returncode}): {result.stdout} {result.stderr}")
    return result.stdout + result.stderr


def fsck_orphans(topology: Topology) -> tuple[int, str]:
    """Chunks on the volume servers that no filer entry names, per `volume.fsck -v` (nothing is purged)."""
    masters = ",".join(topology.master_addresses)
    output = weed_shell(masters, "lock\nvolume.fsck -v -cutoffTimeAgo=1s\nunlock\n", timeout=300)
    counts = [int(next(g for g in m.groups() if g)) for m in ORPHAN.finditer(output)]
    return (max(counts) if counts else 0), output


def _restart_filers(cluster: LocalCluster) -> None:
    for filer in cluster.topology.of(Role.FILER):
        cluster.restart(filer.name)
        cluster.wait_healthy(filer.name, 60)


def run_metadata_drill(cfg: StackConfig, workdir: Path, before: int, after: int, subnet: str) -> MetadataDrillResult:
    started_drill = time.monotonic()
    live_root, rebuilt_root = workdir / "live", workdir / "rebuilt"
    bucket, snapshot = workdir / "bucket", workdir / "snapshot"
    bucket.mkdir(parents=True)
    cluster, postgres = unstarted_cluster(cfg, live_root, subnet)
    topology = cluster.topology
    try:
        postgres.init()
        cluster.start()
        # The admin frontend: the filer's native API (AEGIS's filer URL refuses the metadata reads).
        filer_url = native_url(cluster)
        stored = write_files(filer_url, before, seed=11)
        started = time.monotonic()
        backup_output = run_backup_job(topology, bucket)
        backup_seconds = time.monotonic() - started
        later = write_files(filer_url, after, seed=12, prefix="after-")
        for volume in topology.of(Role.VOLUME):
            shutil.copytree(volume.data_dir, snapshot / volume.name)
    finally:
        cluster.stop()
        postgres.remove()
    shutil.rmtree(live_root)
    (backup_file,) = bucket.glob("filer-metadata-*.meta.gz")
    result = MetadataDrillResult(
        files_before=len(stored),
        files_after=len(later),
        chunks_after=sum(len(f.fids) for f in later),
        backup_bytes=backup_file.stat().st_size,
        backup_seconds=backup_seconds,
        backup_output=backup_output,
    )

    rebuilt, new_postgres = unstarted_cluster(cfg, rebuilt_root, subnet, volumes=snapshot)
    rebuilt_topology = rebuilt.topology
    try:
        new_postgres.init()  # an empty database: the filers create their table in it
        rebuilt.start()
        started = time.monotonic()
        # As the runbook does: the backup made loadable (components/model/metadata_backup.py), then loaded.
        restore = workdir / "restore.meta"
        restore.write_bytes(loadable(gzip.decompress(backup_file.read_bytes())))
        loaded = weed_shell(",".join(rebuilt_topology.master_addresses), f"fs.meta.load -v=false {restore}\n")
        if "is loaded" not in loaded:
            raise RuntimeError(f"fs.meta.load failed: {loaded[-1500:]}")
        _restart_filers(rebuilt)
        result.restore_seconds = time.monotonic() - started
        target = health_target(rebuilt_topology, rebuilt.values)
        result.files_lost, result.checksum_mismatches = verify_files(target.filer_url, stored)
        with httpx.Client(timeout=30) as client:
            result.after_files_visible = sum(
                client.get(f"{target.filer_url}{f.path}").status_code == 200 for f in later
            )
        result.fsck_missing = fsck_missing(rebuilt_topology)
        result.fsck_orphans, result.fsck_output = fsck_orphans(rebuilt_topology)
    finally:
        rebuilt.stop()
        new_postgres.remove()
    result.total_seconds = time.monotonic() - started_drill
    return result
