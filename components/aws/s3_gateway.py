"""The optional S3 gateway: operators' read access to artifacts, reached only through the internal NLB."""

from __future__ import annotations

import pulumi

from components.aws.node import ClusterNode, NodeSpec, RoleArgs, place
from components.model.topology import Role


class S3Gateway(pulumi.ComponentResource):
    """The S3 gateway on a ClusterNode. Sized like a filer: it is a filer client doing the same work."""

    node: ClusterNode
    nodes: dict[str, ClusterNode]
    private_ip: pulumi.Output[str]

    def __init__(self, name: str, args: RoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aegis:storage:S3Gateway", name, None, opts)
        (gateway,) = args.topology.of(Role.S3)
        spec = NodeSpec(
            instance_type=args.instances.filer_instance_type,
            security_group_id=args.security_group_id,
            instance_profile=args.instance_profile,
            root_disk_gib=args.instances.filer_disk_gib,
        )
        self.nodes = place(self, [gateway], [spec], args.context, after=args.after)
        self.node = self.nodes[gateway.name]
        self.private_ip = self.node.private_ip
        self.register_outputs({"private_ip": self.private_ip, "host": gateway.host})
