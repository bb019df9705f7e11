"""The AEGIS NodeConfig `spec.storage` block that points an orchestrator node at this cluster.

It carries exactly the keys the orchestrator parses (`aegis_schema`, with its source); a key it does
not know would be ignored silently, so none is emitted.
"""

from __future__ import annotations

import yaml

from components.model.config import StackConfig


def render_node_config(cfg: StackConfig, filer_url: str, s3_endpoint: str | None) -> str:
    """YAML ready to paste under a NodeConfig in aegis-config.yaml.

    `filer_url` is the stack's filer address unless the stack config overrides the name AEGIS uses.
    """
    seaweedfs: dict[str, object] = {
        "filer_url": cfg.aegis_client.filer_url_override or filer_url,
        "mount_point": cfg.aegis_client.mount_point,
        "default_ttl_hours": cfg.aegis_client.default_ttl_hours,
        "default_size_limit_mb": cfg.aegis_client.default_size_limit_mb,
        "max_size_limit_mb": cfg.aegis_client.max_size_limit_mb,
        "gc_interval_minutes": cfg.aegis_client.gc_interval_minutes,
    }
    if s3_endpoint:
        seaweedfs["s3_endpoint"] = s3_endpoint
    seaweedfs["s3_region"] = cfg.s3_region
    storage = {"backend": "seaweedfs", "nfs_port": cfg.aegis_client.nfs_port, "seaweedfs": seaweedfs}
    return yaml.safe_dump({"spec": {"storage": storage}}, sort_keys=False)
