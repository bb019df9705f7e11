"""The Raft quorum: one master per zone, each with its own SSD for -mdir and a protected address."""

from __future__ import annotations

import pulumi

from components.aws.node import ClusterNode, DataDiskSpec, RoleArgs, place
from components.model.topology import Role


class MasterQuorum(pulumi.ComponentResource):
    """Masters on ClusterNodes, round-robin over the zones, so 3 masters sit in 3 zones.

    The ENIs are protected: a master's address is in every peer's -peers list and in its Raft state,
    so losing it would need the whole quorum to be reconfigured.

    The Raft settings come from the stack config; why prod ships the built-in Raft with
    `-electionTimeout=3s`: docs/decisions/2026-11-24-raft-election-timeout.md.
    """

    nodes: dict[str, ClusterNode]
    urls: list[str]

    def __init__(self, name: str, args: RoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aegis:storage:MasterQuorum", name, None, opts)
        masters = args.topology.of(Role.MASTER)
        spec = args.node_spec(
            args.instances.master_instance_type,
            data_disk=DataDiskSpec(size_gib=args.instances.master_disk_gib, type="gp3"),
            protect_interface=True,
        )
        self.nodes = place(self, masters, [spec] * len(masters), args.context, after=args.after)
        self.urls = [f"http://{m.http_address}" for m in masters]
        self.register_outputs({"urls": self.urls, "ips": {n: node.private_ip for n, node in self.nodes.items()}})
