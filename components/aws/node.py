"""One EC2 node of the model: a stable network identity, an optional data disk and a replaceable instance.

The identity outlives the instance: the ENI keeps the private IP, the Route 53 record keeps
`<node>.<zone>` pointing at it, and the data volume keeps the data. Replacing the instance (an AMI or
instance-type change) therefore brings the same process back under the same name, with its disk.

What the node runs is its document in its own SSM parameter (components/aws/bootstrap.py); the user
data is the stable bootstrap that applies it. A changed command line, env value or release changes the
parameter, and `StackRollout` applies it one node at a time. Instances are replaced one at a time too:
each instance depends on the `NodeReady` of the node before it in its tier, which waits until that
node's new instance passes its health gate. The ENI is the instance's primary interface and can be
attached to one instance only, so a replaced instance is deleted before its successor starts; the chain
is what keeps that to one node of a tier at a time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws.bootstrap import decode_document, encode_document, node_parameter_name, render_bootstrap
from components.aws.cloud_init import DataDisk, SecretSource, node_document, node_texts
from components.model.config import InstanceSettings
from components.model.metadata_backup import MetadataBackup
from components.model.refs import Ref, refs_in
from components.model.topology import Job, LoadBalancer, Service, Topology
from components.model.usage import UsageService
from components.model.version import SEAWEEDFS_IMAGE
from components.rollout.resource import NodeReady, RolloutPlan, plan_node

DATA_DEVICE = "/dev/sdf"  # only the attachment's name: the node finds the disk by volume id
DNS_TTL_SECONDS = 60
# An HAProxy node's document holds the usage service's unit beside HAProxy's and no longer fits a standard
# parameter's 4 KB; an advanced one holds 8 KB (docs/decisions/2026-12-07-usage-on-tier-nodes.md).
PARAMETER_LIMITS = {"Standard": 4096, "Advanced": 8192}


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
    # The weed image (prod: the registry's reference by digest, known once the lookup found it there).
    image: pulumi.Input[str] = SEAWEEDFS_IMAGE
    # The usage service's image beside each HAProxy (prod: pushed to the stack's registry, by digest).
    usage_image: pulumi.Input[str] = ""
    # node name -> host:port of every master, for the masters' and volume servers' health gates
    masters: Mapping[str, str] = field(default_factory=dict)
    # A NodeReady covers the instance's boot: packages, the image pull, the first start.
    gate_timeout_seconds: float = 900.0
    # The release guard: a refused downgrade stops the update before any node document changes.
    documents_after: Sequence[pulumi.Resource] = ()


@dataclass(frozen=True)
class DataDiskSpec:
    size_gib: int
    type: str
    snapshot_id: str = ""
    # Validated against EC2's limits by the config (components/model/config/disks.py); None = EC2's default.
    iops: int | None = None
    throughput: int | None = None


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
    # The NodeReady of the node before this one in its tier: instances are replaced one at a time.
    after: tuple[pulumi.Resource, ...] = ()
    # Timers this node runs (the metadata backup, on one filer).
    scheduled: tuple[MetadataBackup, ...] = ()
    # The usage service beside an HAProxy node.
    usage: UsageService | None = None


def zone_index(model: Service | LoadBalancer, zones: Sequence[str]) -> int:
    """The zone a node runs in: services round-robin by index (as `layout` assigns racks), HAProxy by rack."""
    if isinstance(model, LoadBalancer):
        return zones.index(model.rack)
    return model.node.index % len(zones)


class ClusterNode(pulumi.ComponentResource):
    """ENI + `<node>.<zone>` A record + optional encrypted data volume + the instance running the model."""

    private_ip: pulumi.Output[str]
    instance: aws.ec2.Instance
    fingerprint: pulumi.Output[str]
    ready: NodeReady

    def __init__(self, name: str, args: ClusterNodeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aegis:storage:ClusterNode", name, None, opts)
        model, spec, ctx = args.model, args.spec, args.context
        zone = zone_index(model, ctx.zones)
        tags = {"Name": f"aegis-storage-{ctx.stack}-{model.name}", "aegis-storage:node": model.name}
        interface = self._interface(name, args, zone, tags)
        self.private_ip = interface.private_ip
        volume = self._data_volume(name, args, zone, tags) if spec.data_disk is not None else None
        parameter = self._parameter(name, args, volume)

        self.instance = aws.ec2.Instance(
            name,
            ami=ctx.ami.id,
            instance_type=spec.instance_type,
            primary_network_interface=aws.ec2.InstancePrimaryNetworkInterfaceArgs(
                network_interface_id=interface.id, delete_on_termination=False
            ),
            iam_instance_profile=spec.instance_profile,
            user_data=render_bootstrap(ctx.stack, model.name, ctx.secrets.region),
            # Only the bootstrap is in the user data, which runs only at first boot.
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
                depends_on=[*ctx.boot_after, parameter, *args.after],
            ),
        )
        self.ready = self._gate(name, args, self._attach(name, volume))
        self._register(model)

    def _attach(self, name: str, volume: aws.ebs.Volume | None) -> list[pulumi.Resource]:
        if volume is None:
            return []
        attachment = aws.ec2.VolumeAttachment(
            f"{name}-data",
            device_name=DATA_DEVICE,
            volume_id=volume.id,
            instance_id=self.instance.id,
            # Detaching a mounted disk from a running instance hangs; the instance is going away anyway.
            stop_instance_before_detaching=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return [attachment]

    def _gate(self, name: str, args: ClusterNodeArgs, after: list[pulumi.Resource]) -> NodeReady:
        """Ready once this instance passes the node's health gate: the next node's instance waits for it."""
        return NodeReady(
            f"{name}-ready",
            plan_json=self.instance.id.apply(lambda instance_id: _ready_plan(args, instance_id)),
            masters_json=json.dumps(dict(args.context.masters), sort_keys=True),
            opts=pulumi.ResourceOptions(parent=self, depends_on=after),
        )

    def _parameter(self, name: str, args: ClusterNodeArgs, volume: aws.ebs.Volume | None) -> aws.ssm.Parameter:
        """The node's document in its own SSM parameter; its digest is the node's fingerprint."""
        document = self._document(args, volume)
        self.fingerprint = document.apply(lambda v: decode_document(v)["fingerprint"])
        return aws.ssm.Parameter(
            f"{name}-config",
            name=node_parameter_name(args.context.stack, args.model.name),
            type="String",
            value=document,
            tier=parameter_tier(args),
            description=f"aegis-storage {args.context.stack}: what {args.model.name} runs (no secret in it)",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.context.documents_after)),
        )

    def _register(self, model: Service | LoadBalancer) -> None:
        self.register_outputs(
            {
                "private_ip": self.private_ip,
                "host": model.host,
                "instance_id": self.instance.id,
                "fingerprint": self.fingerprint,
            }
        )

    def _interface(self, name: str, args: ClusterNodeArgs, zone: int, tags: dict[str, str]) -> aws.ec2.NetworkInterface:
        """The node's stable address: an ENI that outlives instances, and its `<node>.<zone>` name."""
        model, spec, ctx = args.model, args.spec, args.context
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

    def _data_volume(self, name: str, args: ClusterNodeArgs, zone: int, tags: dict[str, str]) -> aws.ebs.Volume:
        """The encrypted data disk, protected and kept on delete: it is the node's state."""
        model, spec, ctx = args.model, args.spec, args.context
        assert spec.data_disk is not None
        assert isinstance(model, Service), "only weed services have a data disk"
        return aws.ebs.Volume(
            f"{name}-data",
            availability_zone=ctx.zones[zone],
            size=spec.data_disk.size_gib,
            type=spec.data_disk.type,
            iops=spec.data_disk.iops,
            throughput=spec.data_disk.throughput,
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
    def _document(args: ClusterNodeArgs, volume: aws.ebs.Volume | None) -> pulumi.Output[str]:
        model, ctx = args.model, args.context
        # Only the values this node uses, so a node never waits for (or is replaced by) another's value.
        used = {ref for text in node_texts(model, args.jobs, args.scheduled, args.usage) for ref in refs_in(text)}
        refs = tuple(ref for ref in ctx.values if ref in used)
        volume_id = volume.id if volume is not None else ""
        data_dir = model.data_dir if isinstance(model, Service) else ""

        def render(resolved: list[str]) -> str:
            document = node_document(
                model,
                secrets=ctx.secrets,
                values=dict(zip(refs, resolved[2:], strict=True)),
                data_disk=DataDisk(resolved[0], data_dir) if volume is not None else None,
                jobs=args.jobs,
                image=resolved[1],
                scheduled=args.scheduled,
                usage=args.usage,
            )
            return encode_document(document)

        # HAProxy runs the distribution's package: an HAProxy node waits only for the usage service's image.
        image = ctx.image if isinstance(model, Service) else ctx.usage_image if args.usage else ""
        return pulumi.Output.all(volume_id, image, *(ctx.values[ref] for ref in refs)).apply(render)


def _ready_plan(args: ClusterNodeArgs, instance_id: str) -> str:
    node = plan_node(args.model, "", instance_id, usage_address(args.usage))
    ctx = args.context
    return RolloutPlan(ctx.secrets.region, (node,), (), ctx.gate_timeout_seconds).to_json()


def parameter_tier(args: ClusterNodeArgs) -> str | None:
    """The tier of the node's document parameter: Advanced beside a usage service; otherwise the provider's
    default (Standard), so the weed nodes' parameters stay as they are."""
    return "Advanced" if args.usage else None


def usage_address(usage: UsageService | None) -> str:
    """host:port of the usage service beside an HAProxy, as its node reaches it; "" for a node without one."""
    return f"{usage.host}:{usage.port}" if usage else ""


@dataclass(frozen=True)
class RoleArgs:
    """What a role component needs to place its services."""

    instances: InstanceSettings
    topology: Topology
    context: NodeContext
    security_group_id: pulumi.Input[str]
    instance_profile: pulumi.Input[str] | None
    # What the role's first instance waits for besides the context's boot_after (the S3 gateway: every filer's
    # NodeReady, as `weed s3` opens its port only once a filer answers).
    after: tuple[pulumi.Resource, ...] = ()

    def node_spec(self, instance_type: str, **disks: Any) -> NodeSpec:
        """The role's nodes: `instance_type` in the role's security group with its instance profile; `disks` are
        NodeSpec's other fields (root_disk_gib, data_disk, protect_interface)."""
        return NodeSpec(instance_type, self.security_group_id, self.instance_profile, **disks)


def place(
    parent: pulumi.ComponentResource,
    services: Sequence[Service | LoadBalancer],
    specs: Sequence[NodeSpec],
    context: NodeContext,
    jobs: tuple[Job, ...] = (),
    after: tuple[pulumi.Resource, ...] = (),
    scheduled: Sequence[MetadataBackup] = (),
    usage: Mapping[str, UsageService] | None = None,
) -> dict[str, ClusterNode]:
    """One ClusterNode per service, children of `parent`, named after the model's node names; the first
    instance waits for `after`, each later one for the one before it to be ready (see the module docstring).
    Each of `scheduled` goes to the node it names, each of `usage` to the HAProxy node it is keyed by."""
    nodes: dict[str, ClusterNode] = {}
    for service, spec in zip(services, specs, strict=True):
        timers = tuple(s for s in scheduled if s.node == service.name)
        beside = (usage or {}).get(service.name)
        node = ClusterNode(
            service.name,
            ClusterNodeArgs(service, spec, context, jobs=jobs, after=after, scheduled=timers, usage=beside),
            opts=pulumi.ResourceOptions(parent=parent),
        )
        nodes[service.name] = node
        after = (node.ready,)
    return nodes
