"""What the S3 check lists to prove the gateway sees AEGIS data: a file the probe writes through the filer.

The filer's buckets folder is /aegis/volumes, so `/aegis/volumes/<tenant>/<volume>/<path>` on the filer is
`s3://<tenant>/<volume>/<path>` (components/model/aegis/layout.py; a unit test keeps the two in step, and
this package stays free of the model so it runs wherever Python and httpx do).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import quote

AEGIS_BUCKETS_FOLDER = "/aegis/volumes"
# A tenant of its own, so the probe never shares a directory with a real AEGIS tenant; a tenant is a bucket.
PROBE_TENANT = "aegis-healthcheck"
PROBE_BUCKET = PROBE_TENANT
PROBE_FILE = "s3-view-probe"
PROBE_TENANT_DIR = f"{AEGIS_BUCKETS_FOLDER}/{PROBE_TENANT}/"


@dataclass(frozen=True)
class S3ViewProbe:
    """One probe volume, named like an AEGIS volume (a UUID under the probe tenant)."""

    volume_id: str

    @property
    def volume_dir(self) -> str:
        return f"{PROBE_TENANT_DIR}{self.volume_id}"

    @property
    def filer_path(self) -> str:
        return f"{self.volume_dir}/{PROBE_FILE}"

    @property
    def prefix(self) -> str:
        return f"{self.volume_id}/"

    @property
    def key(self) -> str:
        return f"{self.prefix}{PROBE_FILE}"

    def list_url(self, endpoint: str) -> str:
        """ListObjectsV2 of the probe volume, percent-encoded as it is signed and sent."""
        return f"{endpoint.rstrip('/')}/{PROBE_BUCKET}?list-type=2&prefix={quote(self.prefix, safe='')}"


def listed_keys(list_bucket_result: str) -> list[str]:
    """The object keys of a ListObjectsV2 XML answer."""
    return [html.unescape(key) for key in re.findall(r"<Key>([^<]*)</Key>", list_bucket_result)]
