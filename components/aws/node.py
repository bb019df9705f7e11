"""One EC2 node of the model: a stable network identity, an optional data disk and a replaceable instance.

The identity outlives the instance: the ENI keeps the private IP, the Route 53 record keeps
`<node>.<zone>` pointing at it, and the data volume keeps the data. Replacing the instance (a changed
command line, AMI or type) therefore brings the same process back under the same name, with its disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws.cloud_init import DataDisk, SecretSource, node_texts, render_cloud_init
from components.model.config import StackConfig
from components.model.refs import Ref, refs_in
from components.model.topology import Job, LoadBalancer, Service, Topology

DATA_DEVICE = "/dev/sdf"  # only the attachment's name: the node finds the disk by volume id
DNS_TTL_SECONDS = 60


@dataclass(frozen=True)
class Ami:
    """The image of every node. A looked-up "newest" image must not replace running nodes when a newer
    one is published, so changes are ignored unless the operator pinned `amiId`.
    """

    id: pulumi.Input[str]
    pinned: bool


@dataclass(frozen=True)
class NodeContext:
    """What every node of the stack shares."""

    stack: str
    zones: tuple[str, ...]
    subnet_ids: Sequence[pulumi.Input[str]]
    dns_zone_id: pulumi.Input[str]
    ami: Ami
    secrets: SecretSource
    # Non-secret deploy-time values (the database host): substituted into the user data.
    values: Mapping[Ref, pulumi.Input[str]]
    # The nodes read SSM parameters at boot: the parameters and the read permission come first.
    boot_after: Sequence[pulumi.Resource]


@dataclass(frozen=True)
class DataDiskSpec:
    size_gib: int
    type: str
    snapshot_id: str = ""


@dataclass(frozen=True)
class NodeSpec:
    """How a role's nodes are built."""

    instance_type: str
    security_group_id: pulumi.Input[str]
    instance_profile: pulumi.Input[str] | None
    root_disk_gib: int | None = None
    data_disk: DataDiskSpec | None = None
    # Masters: their address is in every peer's -peers list and in the Raft state on disk.
    protect_interface: bool = False


@dataclass(frozen=True)
class ClusterNodeArgs:
    model: Service | LoadBalancer
    spec: NodeSpec
    context: NodeContext
    jobs: tuple[Job, ...] = ()


def zone_index(model: Service | LoadBalancer, zones: Sequence[str]) -> int:
    """The zone a node runs in: services round-robin by index (as `layout` assigns racks), HAProxy by rack."""
    if isinstance(model, LoadBalancer):
        return zones.index(model.rack)
    return model.node.index % len(zones)


class ClusterNode(pulumi.ComponentResource):
    """ENI + `<node>.<zone>` A record + optional encrypted data volume + the instance running the model."""

    private_ip: pulumi.Output[str]
    instance: aws.ec2.Instance

    def __init__(self, name: str, args: ClusterNodeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aegis:storage:ClusterNode", name, None, opts)
        model, spec, ctx = args.model, args.spec, args.context
        zone = zone_index(model, ctx.zones)
        tags = {"Name": f"aegis-storage-{ctx.stack}-{model.name}", "aegis-storage:node": model.name}
        child = pulumi.ResourceOptions(parent=self)
        interface = self._interface(name, model, spec, ctx, zone, tags)
        self.private_ip = interface.private_ip
        volume = self._data_volume(name, model, spec, ctx, zone, tags) if spec.data_disk is not None else None

        self.instance = aws.ec2.Instance(
            name,
            ami=ctx.ami.id,
            instance_type=spec.instance_type,
            primary_network_interface=aws.ec2.InstancePrimaryNetworkInterfaceArgs(
                network_interface_id=interface.id, delete_on_termination=False
            ),
            iam_instance_profile=spec.instance_profile,
            user_data=self._user_data(args, volume),
            # The command lines live in the user data, which runs only at first boot.
            user_data_replace_on_change=True,
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(http_endpoint="enabled", http_tokens="required"),
            # A failed host is replaced by EC2 with the same ENI and disks; a lost volume server's copies
            # come back through the masters' maintenance script instead.
            maintenance_options=aws.ec2.InstanceMaintenanceOptionsArgs(auto_recovery="default"),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                encrypted=True, volume_type="gp3", volume_size=spec.root_disk_gib
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                # The ENI can be attached to one instance only: the old instance must go first.
                delete_before_replace=True,
                ignore_changes=[] if ctx.ami.pinned else ["ami"],
                depends_on=list(ctx.boot_after),
            ),
        )
        if volume is not None:
            aws.ec2.VolumeAttachment(
                f"{name}-data",
                device_name=DATA_DEVICE,
                volume_id=volume.id,
                instance_id=self.instance.id,
                # Detaching a mounted disk from a running instance hangs; the instance is going away anyway.
                stop_instance_before_detaching=True,
                opts=child,
            )
        self.register_outputs({"private_ip": self.private_ip, "host": model.host, "instance_id": self.instance.id})

    def _interface(
        self,
        name: str,
        model: Service | LoadBalancer,
        spec: NodeSpec,
        ctx: NodeContext,
        zone: int,
        tags: dict[str, str],
    ) -> aws.ec2.NetworkInterface:
        """The node's stable address: an ENI that outlives instances, and its `<node>.<zone>` name."""
        child = pulumi.ResourceOptions(parent=self)
        interface = aws.ec2.NetworkInterface(
            f"{name}-eni",
            subnet_id=ctx.subnet_ids[zone],
            security_groups=[spec.security_group_id],
            description=f"{model.host}: stable address of {model.name}",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=spec.protect_interface),
        )
        aws.route53.Record(
            f"{name}-dns",
            zone_id=ctx.dns_zone_id,
            name=model.host,
            type="A",
            ttl=DNS_TTL_SECONDS,
            records=[interface.private_ip],
            opts=child,
        )
        return interface

    def _data_volume(
        self,
        name: str,
        model: Service | LoadBalancer,
        spec: NodeSpec,
        ctx: NodeContext,
        zone: int,
        tags: dict[str, str],
    ) -> aws.ebs.Volume:
        """The encrypted data disk, protected and kept on delete: it is the node's state."""
        assert spec.data_disk is not None
        assert isinstance(model, Service), "only weed services have a data disk"
        return aws.ebs.Volume(
            f"{name}-data",
            availability_zone=ctx.zones[zone],
            size=spec.data_disk.size_gib,
            type=spec.data_disk.type,
            encrypted=True,
            snapshot_id=spec.data_disk.snapshot_id or None,
            tags={
                **tags,
                "Name": f"aegis-storage-{ctx.stack}-{model.name}-data",
                "aegis-storage:backup": f"{ctx.stack}-volume-data",
            },
            opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
        )

    @staticmethod
    def _user_data(args: ClusterNodeArgs, volume: aws.ebs.Volume | None) -> pulumi.Output[str]:
        model, ctx = args.model, args.context
        # Only the values this node uses, so a node never waits for (or is replaced by) another's value.
        used = {ref for text in node_texts(model, args.jobs) for ref in refs_in(text)}
        refs = tuple(ref for ref in ctx.values if ref in used)
        volume_id = volume.id if volume is not None else ""
        data_dir = model.data_dir if isinstance(model, Service) else ""

        def render(resolved: list[str]) -> str:
            return render_cloud_init(
                model,
                secrets=ctx.secrets,
                values=dict(zip(refs, resolved[1:], strict=True)),
                data_disk=DataDisk(resolved[0], data_dir) if volume is not None else None,
                jobs=args.jobs,
            )

        return pulumi.Output.all(volume_id, *(ctx.values[ref] for ref in refs)).apply(render)


@dataclass(frozen=True)
class RoleArgs:
    """What a role component needs to place its services."""

    cfg: StackConfig
    topology: Topology
    context: NodeContext
    security_group_id: pulumi.Input[str]
    instance_profile: pulumi.Input[str] | None


def place(
    parent: pulumi.ComponentResource,
    services: Sequence[Service],
    specs: Sequence[NodeSpec],
    context: NodeContext,
    jobs: tuple[Job, ...] = (),
) -> dict[str, ClusterNode]:
    """One ClusterNode per service, children of `parent`, named after the model's node names."""
    return {
        service.name: ClusterNode(
            service.name,
            ClusterNodeArgs(model=service, spec=spec, context=context, jobs=jobs),
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for service, spec in zip(services, specs, strict=True)
    }
