"""Volume servers: the data, each on its own encrypted EBS volume, spread over the zones (rack = zone)."""

from __future__ import annotations

import pulumi

from components.aws.node import ClusterNode, DataDiskSpec, NodeSpec, RoleArgs, place
from components.model.topology import Role


class VolumeServers(pulumi.ComponentResource):
    """Volume servers on ClusterNodes; `volumeSnapshotIds[i]` restores server i's disk (disaster recovery)."""

    nodes: dict[str, ClusterNode]

    def __init__(self, name: str, args: RoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aegis:storage:VolumeServers", name, None, opts)
        instances = args.instances
        servers = args.topology.of(Role.VOLUME)
        snapshots = instances.volume_snapshot_ids or ("",) * len(servers)
        specs = [
            NodeSpec(
                instance_type=instances.volume_instance_type,
                security_group_id=args.security_group_id,
                instance_profile=args.instance_profile,
                data_disk=DataDiskSpec(
                    size_gib=instances.volume_disk_gib,
                    type=instances.volume_disk_type,
                    snapshot_id=snapshot,
                    iops=instances.volume_disk.iops,
                    throughput=instances.volume_disk.throughput,
                ),
            )
            for snapshot in snapshots
        ]
        self.nodes = place(self, servers, specs, args.context, after=args.after)
        self.register_outputs({"ips": {n: node.private_ip for n, node in self.nodes.items()}})
