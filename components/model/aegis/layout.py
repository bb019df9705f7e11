"""Where AEGIS keeps its data on the filer, and the storage rules and S3 view that follow from it.

The orchestrator (`orchestrator/core/src/application/volume_manager.rs`) writes every volume to
`/aegis/volumes/<tenant>/<volume-uuid>/...`. Tenants are RFC-1123 slugs (`zaru-consumer`, `aegis-system`,
`u-<32 hex>` per user, `t-...` per team) that appear at run time, and ephemeral and persistent volumes
look alike: the storage class is not in the path, and AEGIS sends no collection, replication or TTL.
So a path rule can only say one thing for all AEGIS data, and it must never carry a TTL, which would
delete persistent volumes (AEGIS deletes its expired ephemeral volumes itself).

S3 view: the filer's buckets folder is `/aegis/volumes`, so each tenant is a bucket and
`/aegis/volumes/<tenant>/<volume>/<path>` is `s3://<tenant>/<volume>/<path>`, as the deployment page says.
Under a buckets folder the filer would give each bucket its own collection (its own volumes, several slots per
tenant); the one rule's `collection` takes precedence over the bucket's (weed/server/filer_server_handlers_write.go,
detectStorageOption), so every tenant shares one collection and tenants add no slots. Its name has an underscore,
which neither a tenant id nor an S3 bucket name can hold: deleting a bucket's folder makes the filer drop the
collection named after the bucket, and no bucket can ever be named after the shared one.
Why: docs/decisions/2026-12-07-s3-bucket-per-tenant.md (superseding 2026-11-27-s3-view-one-bucket.md).
"""

from __future__ import annotations

import json
import re

AEGIS_ROOT = "/aegis"
VOLUMES_PREFIX = f"{AEGIS_ROOT}/volumes/"
# filer.toml `[filer.options] buckets_folder` (weed/server/filer_server.go), as the env the filer reads.
BUCKETS_FOLDER = VOLUMES_PREFIX.rstrip("/")
BUCKETS_FOLDER_ENV = ("WEED_FILER_OPTIONS_BUCKETS_FOLDER", BUCKETS_FOLDER)
# The one collection of all AEGIS data: not a valid tenant id or bucket name (see the module docstring).
COLLECTION = "aegis_volumes"
# What clusters deployed before 2026-12-07 used: buckets folder /aegis, one bucket `volumes`, and so the
# collection `volumes`, which still holds the data written then (README, "The S3 view of AEGIS data").
OLD_BUCKETS_FOLDER, OLD_COLLECTION = AEGIS_ROOT, "volumes"

# RFC 1123 label, as AEGIS's tenant ids are (shared_kernel.rs).
TENANT_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def s3_url(tenant: str, key: str = "") -> str:
    """Where a tenant's data is in S3: its bucket, and `key` (`<volume>/<path>`) in it."""
    return f"s3://{tenant}/{key}"


def volume_path(tenant: str, volume_id: str) -> str:
    """The directory of one AEGIS volume, as the orchestrator names it (no trailing slash)."""
    if not TENANT_PATTERN.match(tenant):
        raise ValueError(f"{tenant!r} is not an AEGIS tenant id (an RFC 1123 label)")
    return f"{VOLUMES_PREFIX}{tenant}/{volume_id}"


def render_rules(replication: str) -> str:
    """filer.conf: one rule for every AEGIS volume, its one collection, its replication and never a TTL."""
    locations = [{"locationPrefix": VOLUMES_PREFIX, "collection": COLLECTION, "replication": replication}]
    return json.dumps({"version": 1, "locations": locations}, indent=2) + "\n"
