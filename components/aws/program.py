"""The prod stack program: the topology model placed on EC2 in several zones, behind an internal NLB."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws.alarms import StorageAlarms, StorageAlarmsArgs
from components.aws.backups import VolumeBackups, VolumeBackupsArgs
from components.aws.cloud_init import SecretSource
from components.aws.dashboard import stack_dashboard
from components.aws.database import MetadataDatabase, MetadataDatabaseArgs
from components.aws.filers import FilerPool
from components.aws.health_function import HealthFunction, HealthFunctionArgs
from components.aws.load_balancer import FilerLoadBalancer, FilerLoadBalancerArgs
from components.aws.masters import MasterQuorum
from components.aws.metadata_backup import MetadataBackupBucket, MetadataBackupBucketArgs
from components.aws.network import Network, NetworkArgs
from components.aws.node import Ami, ClusterNode, NodeContext, RoleArgs, usage_address
from components.aws.placement import AwsPlacement, prod_topology
from components.aws.registry import ImageRegistry, ImageRegistryArgs
from components.aws.s3_gateway import S3Gateway
from components.aws.security import SecretAccess, SecretAccessArgs, SecurityGroups, SecurityGroupsArgs, Tier
from components.aws.usage_image import UsageImage, UsageImageArgs
from components.aws.volumes import VolumeServers
from components.model.config import AwsStackConfig, DatabaseMode
from components.model.refs import Ref
from components.model.topology import Role, Topology
from components.rollout.stack_rollout import RolloutTarget, StackRollout, StackRolloutArgs
from components.stack.outputs import stack_outputs
from components.stack.release import stack_release_guard
from components.stack.secrets import ClusterSecrets, ClusterSecretsArgs


def _ami(ami_id: str) -> Ami:
    if ami_id:
        return Ami(id=ami_id, pinned=True)
    # The standard image (not "minimal"): it ships the AWS CLI and python3 the nodes' boot uses.
    found = aws.ec2.get_ami_output(
        most_recent=True,
        owners=["amazon"],
        filters=[
            aws.ec2.GetAmiFilterArgs(name="name", values=["al2023-ami-2023.*-x86_64"]),
            aws.ec2.GetAmiFilterArgs(name="architecture", values=["x86_64"]),
        ],
    )
    return Ami(id=found.id, pinned=False)


def _metadata_and_secrets(
    cfg: AwsStackConfig,
    topology: Topology,
    network: Network,
    groups: SecurityGroups,
    secrets: ClusterSecrets,
    registry: ImageRegistry,
    usage: UsageImage,
) -> tuple[MetadataDatabase, SecretAccess]:
    """The filers' PostgreSQL, and every secret (its password included) in SSM for the nodes to read, with
    the nodes' roles (which also pull the weed image, or on HAProxy nodes the usage image, from the registry)."""
    database = MetadataDatabase(
        "metadata-db",
        MetadataDatabaseArgs(
            stack=cfg.stack,
            database=cfg.aws.database,
            subnet_ids=network.subnet_ids,
            security_group_id=groups.ids.get(Tier.DB),
            password=secrets.values.get(Ref.DB_PASSWORD),
        ),
    )
    access = SecretAccess(
        "secrets",
        SecretAccessArgs(
            stack=cfg.stack,
            region=cfg.aws.network.region,
            topology=topology,
            values={**secrets.values, Ref.DB_PASSWORD: database.password},
            image_repository_arn=registry.repository_arn,
            usage_repository_arn=usage.repository_arn,
        ),
    )
    return database, access


def _node_context(
    cfg: AwsStackConfig,
    topology: Topology,
    network: Network,
    database: MetadataDatabase,
    access: SecretAccess,
    registry: ImageRegistry,
    usage: UsageImage,
    guard: pulumi.Resource,
) -> NodeContext:
    return NodeContext(
        stack=cfg.stack,
        zones=cfg.aws.network.availability_zones,
        subnet_ids=network.subnet_ids,
        dns_zone_id=network.zone_id,
        ami=_ami(cfg.aws.instances.ami_id),
        secrets=SecretSource(stack=cfg.stack, region=cfg.aws.network.region),
        values={Ref.DB_HOST: database.host},
        # A node boots only once its zone's NAT route exists: SSM, ECR and dnf are all behind it.
        boot_after=[access, *network.egress],
        image=registry.image,
        usage_image=usage.image,
        masters={m.name: m.http_address for m in topology.of(Role.MASTER)},
        documents_after=[guard],
    )


def deploy_aws(cfg: AwsStackConfig) -> dict[str, Any]:
    aws_cfg = cfg.aws
    topology = prod_topology(cfg)
    guard = stack_release_guard(cfg)
    rds = aws_cfg.database.mode is DatabaseMode.RDS
    secrets = ClusterSecrets("seaweedfs", ClusterSecretsArgs(s3_enabled=cfg.s3_enabled, database_password=rds))
    network = Network("network", NetworkArgs(stack=cfg.stack, network=aws_cfg.network))
    groups = SecurityGroups(
        "sg", SecurityGroupsArgs(cfg.stack, aws_cfg.network, aws_cfg.database, topology, vpc_id=network.vpc_id)
    )
    registry = ImageRegistry("image", ImageRegistryArgs(stack=cfg.stack, digest=cfg.seaweedfs_image_digest))
    usage = UsageImage("usage-image", UsageImageArgs(stack=cfg.stack, seaweedfs_image=registry.image))
    database, access = _metadata_and_secrets(cfg, topology, network, groups, secrets, registry, usage)
    context, backup = _with_metadata_backup(
        cfg, access, _node_context(cfg, topology, network, database, access, registry, usage, guard)
    )

    def role_args(tier: Tier) -> RoleArgs:
        return RoleArgs(aws_cfg.instances, topology, context, groups.ids[tier], access.profiles.get(tier))

    masters = MasterQuorum("masters", role_args(Tier.MASTER))
    volumes = VolumeServers("volumes", role_args(Tier.VOLUME))
    VolumeBackups("backups", VolumeBackupsArgs(stack=cfg.stack))
    filers = FilerPool("filers", role_args(Tier.FILER))
    # `weed s3` opens its port only once a filer answers, and the filers wait for the database: the gateway's
    # instance starts after every filer is ready, so its own readiness window does not close first.
    filers_ready = tuple(node.ready for node in filers.nodes.values())
    gateway = S3Gateway("s3", replace(role_args(Tier.S3), after=filers_ready)) if cfg.s3_enabled else None
    balancer = FilerLoadBalancer(
        "filer-lb",
        FilerLoadBalancerArgs(
            instance_type=aws_cfg.instances.load_balancer_instance_type,
            topology=topology,
            context=context,
            vpc_id=network.vpc_id,
            subnet_ids=network.subnet_ids,
            nlb_security_group_id=groups.ids[Tier.NLB],
            haproxy_security_group_id=groups.ids[Tier.LB],
            haproxy_instance_profile=access.profiles.get(Tier.LB),
            s3_target_ip=gateway.private_ip if gateway else None,
            placement=AwsPlacement(aws_cfg.network.dns_zone_name),
            after=filers_ready,
        ),
    )
    nodes = {**masters.nodes, **volumes.nodes, **filers.nodes, **(gateway.nodes if gateway else {}), **balancer.nodes}
    rollout = _rollout(cfg, topology, nodes, balancer)
    outputs = stack_outputs(
        cfg,
        topology,
        filer_url=balancer.filer_url,
        master_urls=list(masters.urls),
        s3_endpoint=balancer.s3_endpoint,
        filer_addresses=list(filers.addresses),
        values=secrets.values,
    )
    outputs.update(_watched(cfg, network, groups, outputs["health_target"], nodes, balancer, rollout))
    outputs["metadata_backup_url"] = backup.url
    return outputs


def _with_metadata_backup(
    cfg: AwsStackConfig, access: SecretAccess, context: NodeContext
) -> tuple[NodeContext, MetadataBackupBucket]:
    """The bucket the filer metadata backup goes to, apart from RDS, and the context that tells the first filer's
    node where it is (components/aws/filers.py)."""
    bucket = MetadataBackupBucket(
        "metadata-backup",
        MetadataBackupBucketArgs(
            stack=cfg.stack,
            retention_days=cfg.aws.metadata_backup_retention_days,
            writer_role=access.roles[Tier.FILER],
        ),
    )
    return replace(context, values={**context.values, Ref.METADATA_BACKUP_URL: bucket.url}), bucket


def _rollout(
    cfg: AwsStackConfig, topology: Topology, nodes: dict[str, ClusterNode], balancer: FilerLoadBalancer
) -> StackRollout:
    """Each node's document digest and instance, for the rollout that starts once every node exists; an HAProxy
    node is ready once the usage service beside it is too."""
    models = {m.name: m for m in (*topology.services, *topology.load_balancers)}
    targets = {
        name: RolloutTarget(models[name], node.fingerprint, node.instance.id, usage_address(balancer.usage.get(name)))
        for name, node in nodes.items()
    }
    args = StackRolloutArgs(
        region=cfg.aws.network.region,
        version=cfg.seaweedfs_version,
        allow_downgrade=cfg.allow_downgrade,
        gate_timeout_seconds=float(cfg.health_timeout_seconds),
        targets=targets,
        after=list(nodes.values()),
    )
    return StackRollout("rolling-changes", args)


def _watched(
    cfg: AwsStackConfig,
    network: Network,
    groups: SecurityGroups,
    target: dict[str, Any],
    nodes: dict[str, ClusterNode],
    balancer: FilerLoadBalancer,
    rollout: StackRollout,
) -> dict[str, Any]:
    """The in-VPC health gate after every node and the rollout, its scheduled watch, the alarms, the dashboard
    and per-node recovery. A change rolled out in place (a node's fingerprint) runs the gate again, as a
    replacement does."""
    function = HealthFunction(
        "health",
        HealthFunctionArgs(
            stack=cfg.stack,
            region=cfg.aws.network.region,
            runtime=cfg.aws.watch.runtime,
            schedule_minutes=cfg.aws.watch.schedule_minutes,
            health_timeout_seconds=cfg.health_timeout_seconds,
            s3_enabled=cfg.s3_enabled,
            subnet_ids=network.subnet_ids,
            security_group_id=groups.ids[Tier.HEALTH],
            target=target,
            load_balancer_ips=[node.private_ip for node in balancer.nodes.values()],
            deployment_values=[v for node in nodes.values() for v in (node.instance.id, node.fingerprint)],
            deployed=[*nodes.values(), balancer, rollout],
        ),
    )
    instance_ids = {name: node.instance.id for name, node in nodes.items()}
    alarms = StorageAlarms(
        "alarms",
        StorageAlarmsArgs(
            stack=cfg.stack,
            region=cfg.aws.network.region,
            watch=cfg.aws.watch,
            upkeep=cfg.upkeep,
            function_name=function.function_name,
            instance_ids=instance_ids,
        ),
    )
    stack_dashboard(cfg, balancer.arn_suffix, balancer.filer_target_group_arn_suffix)
    return {"health_function": function.function_name, "alarm_topic_arn": alarms.topic_arn}
