"""The dev stack program: generated secrets, the containers, and the health gate after them."""

from __future__ import annotations

from typing import Any

import pulumi

from components.docker.health_gate import HealthGate
from components.docker.storage import DevStorage, DevStorageArgs, dev_topology
from components.model.config import StackConfig
from components.stack.outputs import stack_outputs
from components.stack.release import stack_release_guard
from components.stack.secrets import ClusterSecrets, ClusterSecretsArgs


def deploy_dev(cfg: StackConfig) -> dict[str, Any]:
    topology = dev_topology(cfg)
    guard = stack_release_guard(cfg)
    secrets = ClusterSecrets("seaweedfs", ClusterSecretsArgs(s3_enabled=cfg.s3_enabled, database_password=False))
    storage = DevStorage(
        "seaweedfs",
        DevStorageArgs(cfg=cfg, topology=topology, values=secrets.values),
        opts=pulumi.ResourceOptions(depends_on=[guard]),
    )
    outputs = stack_outputs(
        cfg,
        topology,
        filer_url=storage.filer_url,
        master_urls=[storage.master_url],
        s3_endpoint=storage.s3_endpoint,
        filer_addresses=[],
        values=secrets.values,
    )
    HealthGate(
        "seaweedfs-health",
        outputs,
        cfg.health_timeout_seconds,
        opts=pulumi.ResourceOptions(depends_on=[storage, *storage.containers.values()]),
    )
    return outputs
