"""The stack outputs the health check CLI reads (`health_target` and the S3 admin keys), for the fake cluster
(tests/support/fake_cluster.py)."""

from __future__ import annotations

from typing import Any

from tests.support.fake_cluster import ACCESS_KEY, FILER, MASTER, S3, VOLUME


def fake_stack_outputs(**health_changes: Any) -> dict[str, Any]:
    """The fake cluster's outputs, its `health_target` with `health_changes` applied."""
    health = {
        "filer_url": f"http://{FILER}",
        "master_urls": [f"http://{MASTER}"],
        "expected_masters": 1,
        "expected_volume_servers": [VOLUME],
        "s3_endpoint": f"http://{S3}",
    }
    return {"health_target": health | health_changes, "s3_admin_access_key": ACCESS_KEY, "s3_admin_secret_key": "pw"}
