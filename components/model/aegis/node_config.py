"""The `aegis_node_config` output: the `storage:` block of an AEGIS NodeConfig that points it at this cluster.

A whole NodeConfig is not ours to write: it needs each orchestrator node's own `metadata.name` and
`spec.node.id`, its LLM providers, database and secrets. So the output is exactly the `storage:` block, a
YAML document whose one key is `storage`; an operator sets it as `spec.storage` of each node's
aegis-config.yaml (README, "Outputs"). It carries exactly the keys the orchestrator parses (`schema`, with
its source): the orchestrator ignores a key it does not know silently, so none is emitted.
"""

from __future__ import annotations

import yaml

from components.model.config import Platform, StackConfig


def render_node_config(cfg: StackConfig, filer_url: str, s3_endpoint: str | None) -> str:
    """YAML of `storage:` ready to become `spec.storage` of a NodeConfig in aegis-config.yaml.

    `filer_url` is the stack's filer address unless the stack config overrides the name AEGIS uses.
    `s3_endpoint` is carried only where orchestrators can reach it: on AWS the `s3-not-from-orchestrators`
    policy (policy/rules.py) keeps the gateway's port closed to them, so an endpoint there would point
    AEGIS at an address it can never open.
    """
    seaweedfs: dict[str, object] = {
        "filer_url": cfg.aegis_client.filer_url_override or filer_url,
        "mount_point": cfg.aegis_client.mount_point,
        "default_ttl_hours": cfg.aegis_client.default_ttl_hours,
        "default_size_limit_mb": cfg.aegis_client.default_size_limit_mb,
        "max_size_limit_mb": cfg.aegis_client.max_size_limit_mb,
        "gc_interval_minutes": cfg.aegis_client.gc_interval_minutes,
    }
    if s3_endpoint and orchestrators_reach_s3(cfg):
        seaweedfs["s3_endpoint"] = s3_endpoint
    seaweedfs["s3_region"] = cfg.s3_region
    storage = {"backend": "seaweedfs", "nfs_port": cfg.aegis_client.nfs_port, "seaweedfs": seaweedfs}
    return yaml.safe_dump({"storage": storage}, sort_keys=False)


def orchestrators_reach_s3(cfg: StackConfig) -> bool:
    """Whether AEGIS's orchestrators may open the S3 gateway: on docker they share the host's network; on AWS
    a mandatory policy rejects any rule that lets them in."""
    return cfg.platform is Platform.DOCKER
