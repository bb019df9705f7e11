"""Stack outputs shared by both platforms: URLs, the AEGIS NodeConfig snippet and the health target."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from components.healthcheck.target import HEALTH_TARGET, SECRET_OUTPUTS, health_target_output
from components.model.aegis.node_config import render_node_config
from components.model.config import StackConfig
from components.model.haproxy import admin_url_beside
from components.model.refs import Ref
from components.model.topology import Role, Topology

S3_KEY_OUTPUTS = {
    SECRET_OUTPUTS["s3_access_key"]: Ref.S3_ADMIN_ACCESS_KEY,
    SECRET_OUTPUTS["s3_secret_key"]: Ref.S3_ADMIN_SECRET_KEY,
    "s3_readonly_access_key": Ref.S3_READONLY_ACCESS_KEY,
    "s3_readonly_secret_key": Ref.S3_READONLY_SECRET_KEY,
}


def stack_outputs(
    cfg: StackConfig,
    topology: Topology,
    *,
    filer_url: pulumi.Input[str],
    master_urls: list[pulumi.Input[str]],
    s3_endpoint: pulumi.Input[str] | None,
    filer_addresses: list[pulumi.Input[str]],
    values: Mapping[Ref, pulumi.Input[str]],
) -> dict[str, Any]:
    """What a user needs after `pulumi up`; `health_target` is what the health check reads."""
    outputs: dict[str, Any] = {
        "filer_url": filer_url,
        "master_url": master_urls[0],
        "aegis_node_config": pulumi.Output.all(filer_url, s3_endpoint).apply(
            lambda urls: render_node_config(cfg, urls[0], urls[1])
        ),
        HEALTH_TARGET: health_target_output(
            filer_url=filer_url,
            master_urls=master_urls,
            expected_masters=topology.expected[Role.MASTER],
            expected_volume_servers=[s.http_address for s in topology.of(Role.VOLUME)],
            filer_addresses=filer_addresses,
            # Both stacks' filer URL is an HAProxy (the NLB in prod), whose admin frontend is on the same host.
            admin_url=pulumi.Output.from_input(filer_url).apply(admin_url_beside),
            s3_endpoint=s3_endpoint,
            s3_region=cfg.s3_region,
            # The health check compares the filer's live rules with these.
            filer_rules=topology.filer_rules,
            min_free_volume_slots=cfg.upkeep.min_free_volume_slots,
            min_free_disk_percent=cfg.upkeep.min_free_disk_percent,
            # The health check's metadata log probe is degraded past this + 1 days.
            metadata_log_retention_days=cfg.upkeep.metadata_log_retention_days,
            # Disk use is read from each volume server; the dev stack publishes no volume server port on the host.
            volume_server_urls=[f"http://{s.http_address}" for s in topology.of(Role.VOLUME)] if cfg.aws else [],
            # Both stacks run the usage service beside each HAProxy.
            usage_service=True,
        ),
    }
    if s3_endpoint is not None:
        outputs["s3_endpoint"] = s3_endpoint
        outputs.update({key: pulumi.Output.secret(values[ref]) for key, ref in S3_KEY_OUTPUTS.items()})
    return outputs
