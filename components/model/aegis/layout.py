"""Where AEGIS keeps its data on the filer, and the storage rules and S3 view that follow from it.

The orchestrator (`orchestrator/core/src/application/volume_manager.rs`) writes every volume to
`/aegis/volumes/<tenant>/<volume-uuid>/...`. Tenants are RFC-1123 slugs (`zaru-consumer`, `aegis-system`,
`u-<32 hex>` per user, `t-...` per team) that appear at run time, and ephemeral and persistent volumes
look alike: the storage class is not in the path, and AEGIS sends no collection, replication or TTL.
So a path rule can only say one thing for all AEGIS data, and it must never carry a TTL, which would
delete persistent volumes (AEGIS deletes its expired ephemeral volumes itself).

S3 view: the filer's buckets folder is `/aegis`, so all AEGIS data is the one bucket `volumes`
(`s3://volumes/<tenant>/<volume>/<path>`), and the filer stores it in the one collection `volumes`.
Why not the deployment page's `s3://<tenant>/...`: docs/decisions/2026-11-27-s3-view-one-bucket.md.
"""

from __future__ import annotations

import json
import re

AEGIS_ROOT = "/aegis"
VOLUMES_PREFIX = f"{AEGIS_ROOT}/volumes/"
# filer.toml `[filer.options] buckets_folder` (weed/server/filer_server.go), as the env the filer reads.
BUCKETS_FOLDER_ENV = ("WEED_FILER_OPTIONS_BUCKETS_FOLDER", AEGIS_ROOT)
S3_BUCKET = "volumes"
COLLECTION = S3_BUCKET  # under the buckets folder, the filer names a file's collection after its bucket

# RFC 1123 label, as AEGIS's tenant ids are (shared_kernel.rs).
TENANT_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def volume_path(tenant: str, volume_id: str) -> str:
    """The directory of one AEGIS volume, as the orchestrator names it (no trailing slash)."""
    if not TENANT_PATTERN.match(tenant):
        raise ValueError(f"{tenant!r} is not an AEGIS tenant id (an RFC 1123 label)")
    return f"{VOLUMES_PREFIX}{tenant}/{volume_id}"


def render_rules(replication: str) -> str:
    """filer.conf: one rule for every AEGIS volume, its replication and never a TTL."""
    locations = [{"locationPrefix": VOLUMES_PREFIX, "replication": replication}]
    return json.dumps({"version": 1, "locations": locations}, indent=2) + "\n"
