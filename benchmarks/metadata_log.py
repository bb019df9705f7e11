"""Bytes of the filers' metadata log per million AEGIS-style writes, without the purge and with it.

`python -m benchmarks.metadata_log [--writes 20000] [--concurrency 8]` starts the dev topology on loopback
(the stack's commands; the filer itself, no HAProxy), writes `--writes` small files as AEGIS lays them out
(/aegis/volumes/<tenant>/<volume>/…, FILES_PER_VOLUME files of FILE_BYTES per volume, each volume created
with its `.keep`), waits until the filer has flushed its log (it writes a file per minute) and reads the
log's size with the health check's reader (components/healthcheck/metadata_log.py).

The measured bytes per write, times a million, is what the log grows per million writes. Without the
purge it never shrinks; with it (`fs.log.purge -daysAgo=<metadataLogRetentionDays>`) it holds at most the
last retention + 1 days, whatever the cluster's age. The table prints both for a few daily write rates.
Not part of `python -m benchmarks`. Every wait is bounded; every process it starts is stopped by PID.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import httpx

from components.healthcheck.metadata_log import MetadataLog, read_metadata_log
from components.model.aegis.layout import volume_path
from components.model.config import parse
from components.model.maintenance import maintenance_commands
from components.model.topology import Role
from tests.support.cluster import fresh_values, loopback_topology, running
from tests.support.weed_shell import run as weed_shell

SUBNET = "127.0.85"
FILES_PER_VOLUME = 100
FILE_BYTES = 1024
TENANTS = ("zaru-consumer", "aegis-system", "u-" + "0" * 32)
FLUSH_LIMIT = 150.0  # the filer flushes its log buffer at least once a minute
DAILY_RATES = (100_000, 1_000_000, 10_000_000)
MILLION = 1_000_000


def aegis_paths(writes: int) -> list[str]:
    """`writes` file paths spread over AEGIS volumes of FILES_PER_VOLUME files, the first of each its .keep."""
    paths = []
    for v in range(-(-writes // FILES_PER_VOLUME)):
        volume = volume_path(TENANTS[v % len(TENANTS)], str(uuid.UUID(int=v)))
        paths.append(f"{volume}/.keep")
        paths.extend(f"{volume}/work/f{i}" for i in range(1, FILES_PER_VOLUME))
    return paths[:writes]


def write_all(filer: str, paths: list[str], concurrency: int) -> float:
    """PUT every path; seconds taken. Raises on the first failed write."""
    body = b"a" * FILE_BYTES
    started = time.monotonic()
    with httpx.Client(timeout=60) as client, ThreadPoolExecutor(concurrency) as pool:
        for status in pool.map(lambda p: client.put(f"{filer}{p}", content=body).status_code, paths):
            if status != 201:
                raise RuntimeError(f"a write failed: HTTP {status}")
    return time.monotonic() - started


def flushed_log(filer: str) -> MetadataLog:
    """The log once two readings 65 s apart agree (a whole flush interval), bounded by FLUSH_LIMIT."""
    deadline = time.monotonic() + FLUSH_LIMIT
    last = read_metadata_log(filer)
    while time.monotonic() < deadline:
        time.sleep(min(65.0, max(1.0, deadline - time.monotonic())))
        now = read_metadata_log(filer)
        if now.bytes == last.bytes and now.bytes:
            return now
        last = now
    return last


def table(bytes_per_write: float, retention_days: int) -> list[str]:
    rows = [f"{'writes/day':>12}  {'no purge, after 1 year':>24}  {f'purged (≤ {retention_days + 1} days)':>24}"]
    for rate in DAILY_RATES:
        year = bytes_per_write * rate * 365
        bounded = bytes_per_write * rate * (retention_days + 1)
        rows.append(f"{rate:>12,}  {human(year):>24}  {human(bounded):>24}")
    return rows


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"


def run(writes: int, concurrency: int, root: Path) -> int:
    cfg = parse({"platform": "docker"}, stack="bench")
    topology, _ = loopback_topology(cfg, root, SUBNET)
    with running(replace(topology, load_balancers=()), fresh_values(), root) as cluster:
        filer = f"http://{cluster.topology.of(Role.FILER)[0].http_address}"
        # Before: the rules job's few events, flushed or not; they are noise against thousands of writes.
        empty = read_metadata_log(filer)
        seconds = write_all(filer, aegis_paths(writes), concurrency)
        grown = flushed_log(filer)
        per_write = (grown.bytes - empty.bytes) / writes
        retention = cfg.upkeep.metadata_log_retention_days
        (purge,) = [c for c in maintenance_commands(retention) if c.startswith("fs.log.purge")]
        weed_shell(",".join(cluster.topology.master_addresses), purge + "\n")
        kept = read_metadata_log(filer)
    print(
        f"{writes:,} writes of {FILE_BYTES} B in {seconds:.1f} s ({writes / seconds:,.0f}/s, {concurrency} at a time)"
    )
    print(f"metadata log: {human(empty.bytes)} before, {human(grown.bytes)} after; {per_write:,.1f} B per write")
    print(f"per million writes: {human(per_write * MILLION)} added to the log, for good without the purge")
    print(f"`{purge}` on today's log kept {human(kept.bytes)} (today is within the retention)")
    print("\n".join(table(per_write, retention)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metadata_log", description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="metadata-log-") as tmp:
        return run(args.writes, args.concurrency, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
