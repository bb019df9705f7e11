"""Re-write the AEGIS files that still sit in the collection of the old S3 mapping into the shared one.

Clusters deployed before 2026-12-07 had the buckets folder `/aegis`, so the files AEGIS wrote then are in the
collection `volumes` (docs/decisions/2026-12-07-s3-bucket-per-tenant.md). They stay readable, but a tenant named
`volumes` is now a bucket, and deleting its folder would drop that collection. This reads each such file through
the admin port and writes it back to the same path, where the filer rule puts it in `aegis_volumes`; the old
chunks are deleted by the overwrite and freed by the next vacuum.

    python -m scripts.rehome_collection --admin-url http://<nlb-dns>:8889 --master-url http://<master>:9333

Run it while AEGIS is stopped: a write AEGIS makes between this read and this write would be lost. `--dry-run`
only counts. Exit status 1 when a file could not be re-written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from urllib.parse import quote

import httpx

from components.model.aegis.layout import OLD_COLLECTION, VOLUMES_PREFIX

DIRECTORY_MODE = 0o20000000000  # Go's os.ModeDir, as the filer's JSON listing reports it
PAGE = 1000


def old_volume_ids(client: httpx.Client, master_url: str) -> set[int]:
    """The volumes of the old collection, from the master's /vol/status."""
    status = client.get(f"{master_url}/vol/status").json()
    found: set[int] = set()
    for racks in status["Volumes"]["DataCenters"].values():
        for nodes in racks.values():
            for volumes in nodes.values():
                found |= {v["Id"] for v in volumes or [] if v.get("Collection") == OLD_COLLECTION}
    return found


def files_under(client: httpx.Client, admin_url: str, directory: str) -> Iterator[str]:
    """Every file below `directory` (with a trailing `/`), page by page."""
    pending = [directory]
    while pending:
        current, last = pending.pop(), ""
        while True:
            params = {"limit": PAGE, "lastFileName": last}
            listing = client.get(f"{admin_url}{quote(current)}", params=params, headers={"Accept": "application/json"})
            if listing.status_code == 404:
                break
            body = listing.json()
            for entry in body.get("Entries") or []:
                if entry.get("Mode", 0) & DIRECTORY_MODE:
                    pending.append(f"{entry['FullPath']}/")
                else:
                    yield entry["FullPath"]
            if not body.get("ShouldDisplayLoadMore"):
                break
            last = body["LastFileName"]


def in_old_collection(client: httpx.Client, admin_url: str, path: str, old: set[int]) -> bool:
    meta = client.get(f"{admin_url}{quote(path)}", params={"metadata": "true"}).json()
    return any(chunk["fid"]["volume_id"] in old for chunk in meta.get("chunks") or [])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.rehome_collection", description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", required=True, help="the filer tier's admin URL, e.g. http://127.0.0.1:8889")
    parser.add_argument("--master-url", required=True, help="any master, e.g. http://127.0.0.1:9333")
    parser.add_argument("--dry-run", action="store_true", help="count the files to re-write, change nothing")
    args = parser.parse_args(argv)
    admin, master = args.admin_url.rstrip("/"), args.master_url.rstrip("/")
    moved = failed = seen = 0
    with httpx.Client(timeout=300) as client:
        old = old_volume_ids(client, master)
        for path in files_under(client, admin, VOLUMES_PREFIX) if old else ():
            seen += 1
            if not in_old_collection(client, admin, path, old):
                continue
            if args.dry_run:
                moved += 1
                continue
            read = client.get(f"{admin}{quote(path)}")
            written = read.is_success and client.put(f"{admin}{quote(path)}", content=read.content).is_success
            moved += written
            failed += not written
            if not written:
                print(f"could not re-write {path}", file=sys.stderr)
    verb = "to re-write" if args.dry_run else "re-written"
    print(f"{seen} files under {VOLUMES_PREFIX}; {moved} {verb} out of collection {OLD_COLLECTION}; {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
