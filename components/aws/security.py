"""Who may reach and who may read what: security groups from the model's ports, SSM access from its refs.

The ingress matrix (`ingress_matrix`) is pure and lists every allowed (tier, port, source); nothing
else gets in. Tiers are `nlb` (the internal Network Load Balancer), `lb` (HAProxy), `filer`,
`master`, `volume`, `s3` (when enabled) and `db` (when the stack owns an RDS database):

- AEGIS orchestrators (their security group and/or CIDRs) reach the NLB on the filer LB port, only.
- The NLB reaches HAProxy on the LB port and on its health port (the NLB target check); HAProxy
  reaches the filers' HTTP port, and the usage service beside it their gRPC port too (`weed filer.meta.tail`
  reads the metadata stream over gRPC).
- Filers reach masters (HTTP+gRPC), volume servers (HTTP+gRPC: chunk reads and writes), the database,
  and each other's gRPC (metadata subscription).
- Volume servers reach masters (HTTP+gRPC: heartbeats) and each other (HTTP+gRPC: replication).
- Masters reach each other (HTTP+gRPC: Raft) and the volume servers' gRPC (volume growth, vacuum).
- The S3 gateway reaches filers, volume servers and masters on HTTP+gRPC.
- The NLB reaches HAProxy's admin frontend (the filer's native API, which AEGIS's filer URL does not pass),
  and the NLB's admin port admits the health function, the cluster's weed nodes and the operators' CIDRs
  (operatorCidrs), never the orchestrators.
- Operators (operatorCidrs) reach the NLB's S3 port and the NLB reaches the gateway on it, only when
  S3 is enabled: never the orchestrators, never the internet.
- Monitoring CIDRs reach each tier's metrics port and HAProxy's stats port.
- `health` is the in-VPC health function (`health_function.py`), which nothing reaches: it reaches the
  HTTP ports its probes use (the NLB's filer, admin and S3 ports, each filer, master and volume server) and
  HAProxy's stats port, and no gRPC or metrics port.

Egress is open: nodes pull the image, install packages and call SSM.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import pulumi
import pulumi_aws as aws

from components.aws.bootstrap import node_parameter_name
from components.aws.cloud_init import node_texts, parameter_name, secret_refs
from components.aws.iam import assume_role_policy
from components.aws.registry import pull_policy
from components.model.config import DatabaseMode, DatabaseSettings, NetworkSettings
from components.model.haproxy import ADMIN_PORT
from components.model.refs import Ref
from components.model.topology import LoadBalancer, Role, Topology


class Tier(StrEnum):
    NLB = "nlb"
    LB = "lb"
    FILER = "filer"
    MASTER = "master"
    VOLUME = "volume"
    S3 = "s3"
    DB = "db"
    HEALTH = "health"


class SourceKind(StrEnum):
    TIER = "tier"
    CIDR = "cidr"
    SECURITY_GROUP = "security_group"


@dataclass(frozen=True)
class Rule:
    """One allowed TCP port into a tier from one source."""

    tier: Tier
    port: int
    source_kind: SourceKind
    source: str
    description: str


def tiers(database: DatabaseSettings, topology: Topology) -> tuple[Tier, ...]:
    """The tiers a stack runs, each with its own security group."""
    present = [Tier.NLB, Tier.LB] if topology.load_balancers else []
    present += [Tier(role.value) for role in Role if topology.of(role)]
    if database.mode is DatabaseMode.RDS:
        present.append(Tier.DB)
    return (*present, Tier.HEALTH)


def ingress_matrix(network: NetworkSettings, database: DatabaseSettings, topology: Topology) -> list[Rule]:
    """Every ingress rule of the stack (see the module docstring), without duplicates, in a stable order."""
    present = tiers(database, topology)
    rules: dict[tuple[Tier, int, SourceKind, str], Rule] = {}

    def allow(target: Tier, ports: Sequence[int], kind: SourceKind, source: str, why: str) -> None:
        if target not in present or (kind is SourceKind.TIER and Tier(source) not in present):
            return
        for port in ports:
            rules.setdefault((target, port, kind, source), Rule(target, port, kind, source, why))

    def between(target: Tier, ports: Sequence[int], source: Tier, why: str) -> None:
        allow(target, ports, SourceKind.TIER, source.value, why)

    def both(role: Role) -> tuple[int, int]:
        return (role.http_port, role.grpc_port)

    lb_port, lb_health = LoadBalancer.port, LoadBalancer.health.port
    if network.orchestrator_security_group_id:
        allow(
            Tier.NLB,
            [lb_port],
            SourceKind.SECURITY_GROUP,
            network.orchestrator_security_group_id,
            "AEGIS orchestrators to the filer load balancer",
        )
    for cidr in network.orchestrator_cidrs:
        allow(Tier.NLB, [lb_port], SourceKind.CIDR, cidr, "AEGIS orchestrators to the filer load balancer")
    between(Tier.LB, [lb_port, lb_health], Tier.NLB, "NLB to HAProxy (traffic and target health check)")
    between(Tier.FILER, [Role.FILER.http_port], Tier.LB, "HAProxy to the filers")
    between(Tier.FILER, [Role.FILER.grpc_port], Tier.LB, "usage service to the filers' metadata stream")
    _admin_frontend_rules(between, allow, network.operator_cidrs)

    between(Tier.MASTER, both(Role.MASTER), Tier.FILER, "filers to masters")
    between(Tier.VOLUME, both(Role.VOLUME), Tier.FILER, "filers to volume servers (chunks)")
    between(Tier.FILER, [Role.FILER.grpc_port], Tier.FILER, "filers to filers (metadata sync)")
    between(Tier.DB, [database.port], Tier.FILER, "filers to the metadata database")

    between(Tier.MASTER, both(Role.MASTER), Tier.VOLUME, "volume servers to masters (heartbeats)")
    between(Tier.VOLUME, both(Role.VOLUME), Tier.VOLUME, "volume servers to volume servers (replication)")
    between(Tier.MASTER, both(Role.MASTER), Tier.MASTER, "masters to masters (Raft)")
    between(Tier.VOLUME, [Role.VOLUME.grpc_port], Tier.MASTER, "masters to volume servers (growth, vacuum)")

    between(Tier.FILER, both(Role.FILER), Tier.S3, "S3 gateway to filers")
    between(Tier.VOLUME, both(Role.VOLUME), Tier.S3, "S3 gateway to volume servers")
    between(Tier.MASTER, both(Role.MASTER), Tier.S3, "S3 gateway to masters")
    if Tier.S3 in present:
        for cidr in network.operator_cidrs:
            allow(Tier.NLB, [Role.S3.http_port], SourceKind.CIDR, cidr, "operators to the S3 gateway")
        between(Tier.S3, [Role.S3.http_port], Tier.NLB, "NLB to the S3 gateway")

    _health_function_rules(between, s3=Tier.S3 in present)

    for cidr in network.monitoring_cidrs:
        for role in Role:
            allow(Tier(role.value), [role.metrics_port], SourceKind.CIDR, cidr, f"monitoring to {role.value} metrics")
        allow(Tier.LB, [LoadBalancer.stats_port], SourceKind.CIDR, cidr, "monitoring to HAProxy stats")
    return list(rules.values())


def _admin_frontend_rules(
    between: Callable[[Tier, Sequence[int], Tier, str], None],
    allow: Callable[[Tier, Sequence[int], SourceKind, str, str], None],
    operator_cidrs: Sequence[str],
) -> None:
    """HAProxy's admin frontend (the filer's native API) through the NLB: for the weed nodes (operators' repairs
    from a node) and the operators' CIDRs; the health function's rule is with its others. Never the orchestrators:
    their filer URL lets through AEGIS's calls only."""
    admin = ADMIN_PORT
    between(Tier.LB, [admin], Tier.NLB, "NLB to HAProxy's admin frontend")
    for node in (Tier.FILER, Tier.MASTER, Tier.VOLUME, Tier.S3):
        between(Tier.NLB, [admin], node, f"{node.value} nodes to the admin frontend (operators' repairs)")
    for cidr in operator_cidrs:
        allow(Tier.NLB, [admin], SourceKind.CIDR, cidr, "operators to the admin frontend (the filer's API)")


def _health_function_rules(between: Callable[[Tier, Sequence[int], Tier, str], None], *, s3: bool) -> None:
    """What the health function probes, over HTTP only; a rule into an absent tier is dropped by `between`."""
    # The admin frontend: the probes AEGIS never sends and their cleanup (the filer URL refuses them).
    nlb_ports = [LoadBalancer.port, ADMIN_PORT] + ([Role.S3.http_port] if s3 else [])
    between(Tier.NLB, nlb_ports, Tier.HEALTH, "health function to the NLB")
    between(Tier.LB, [LoadBalancer.stats_port], Tier.HEALTH, "health function to HAProxy stats (filers up)")
    for role in (Role.FILER, Role.MASTER, Role.VOLUME):
        between(Tier(role.value), [role.http_port], Tier.HEALTH, f"health function to {role.value} HTTP")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass(frozen=True)
class SecurityGroupsArgs:
    stack: str
    network: NetworkSettings
    database: DatabaseSettings
    topology: Topology
    vpc_id: pulumi.Input[str]


class SecurityGroups(pulumi.ComponentResource):
    """One security group per tier, with exactly the rules of `ingress_matrix`, one port per rule."""

    ids: dict[Tier, pulumi.Output[str]]

    def __init__(self, name: str, args: SecurityGroupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aegis:storage:SecurityGroups", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stack = args.stack
        self.ids = {}
        for tier in tiers(args.database, args.topology):
            group = aws.ec2.SecurityGroup(
                f"{name}-{tier.value}",
                vpc_id=args.vpc_id,
                description=f"aegis-storage {stack}: {tier.value}",
                tags={"Name": f"aegis-storage-{stack}-{tier.value}"},
                opts=child,
            )
            self.ids[tier] = group.id
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-{tier.value}-egress",
                security_group_id=group.id,
                ip_protocol="-1",
                cidr_ipv4="0.0.0.0/0",
                description="image pulls, packages, SSM",
                opts=child,
            )
        for rule in ingress_matrix(args.network, args.database, args.topology):
            source: dict[str, pulumi.Input[str]] = (
                {"cidr_ipv4": rule.source}
                if rule.source_kind is SourceKind.CIDR
                else {
                    "referenced_security_group_id": (
                        self.ids[Tier(rule.source)] if rule.source_kind is SourceKind.TIER else rule.source
                    )
                }
            )
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-{rule.tier.value}-{rule.port}-from-{_slug(rule.source)}",
                security_group_id=self.ids[rule.tier],
                ip_protocol="tcp",
                from_port=rule.port,
                to_port=rule.port,
                description=rule.description,
                **source,
                opts=child,
            )
        self.register_outputs({tier.value: group_id for tier, group_id in self.ids.items()})


def _node_tiers(topology: Topology) -> set[Tier]:
    tiers = {Tier(service.role.value) for service in topology.services}
    return tiers | ({Tier.LB} if topology.load_balancers else set())


def tier_refs(topology: Topology) -> dict[Tier, tuple[Ref, ...]]:
    """The secret refs each tier's nodes read at boot (the filer tier also runs the jobs)."""
    needs: dict[Tier, tuple[Ref, ...]] = {}
    for role in Role:
        jobs = topology.jobs if role is Role.FILER else ()
        texts = [text for service in topology.of(role) for text in node_texts(service, jobs)]
        needs[Tier(role.value)] = secret_refs(texts)
    needs[Tier.LB] = secret_refs([text for lb in topology.load_balancers for text in node_texts(lb)])
    return {tier: refs for tier, refs in needs.items() if refs}


@dataclass(frozen=True)
class SecretAccessArgs:
    stack: str
    region: str
    topology: Topology
    values: Mapping[Ref, pulumi.Input[str]]
    # The weed image's ECR repository (components/aws/registry.py): every tier but HAProxy pulls from it.
    image_repository_arn: pulumi.Input[str] | None = None
    # The usage image's (components/aws/usage_image.py): the HAProxy nodes pull from it.
    usage_repository_arn: pulumi.Input[str] | None = None


class SecretAccess(pulumi.ComponentResource):
    """The stack's secrets as SSM SecureString parameters, and per tier an instance profile that may read
    exactly the parameters that tier's nodes reference, nothing else; and the tier's own node documents
    (`/<project>/<stack>/nodes/<tier>-*`), with the SSM agent's managed policy for the rollout's Run Command.
    """

    profiles: dict[Tier, pulumi.Output[str]]
    # Each tier's role name, for what a tier may do beyond reading its secrets (the filers' metadata backup).
    roles: dict[Tier, pulumi.Output[str]]

    def __init__(self, name: str, args: SecretAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aegis:storage:SecretAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        needs = tier_refs(args.topology)
        parameters: dict[Ref, aws.ssm.Parameter] = {}
        for ref in sorted({ref for refs in needs.values() for ref in refs}):
            parameters[ref] = aws.ssm.Parameter(
                f"{name}-{ref.value.replace('_', '-')}",
                name=parameter_name(args.stack, ref),
                type="SecureString",
                value=pulumi.Output.secret(args.values[ref]),
                description=f"aegis-storage {args.stack}: {ref.value}, read by the nodes at boot",
                opts=child,
            )
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
        account = (partition.partition, args.region, identity.account_id)

        def parameter_arn(ref: Ref) -> pulumi.Output[str]:
            return pulumi.Output.format("arn:{0}:ssm:{1}:{2}:parameter{3}", *account, parameter_name(args.stack, ref))

        # SecureStrings use the AWS-managed aws/ssm key; decrypting is allowed only through SSM.
        any_key = pulumi.Output.format("arn:{0}:kms:{1}:{2}:key/*", *account)
        node_tiers = [tier for tier in Tier if tier in needs or tier in _node_tiers(args.topology)]
        self.roles = {}
        self.profiles = {
            tier: self._tier_profile(name, args, tier, [parameter_arn(ref) for ref in needs.get(tier, ())], any_key)
            for tier in node_tiers
        }
        self.register_outputs(
            {
                "parameters": {ref.value: p.name for ref, p in parameters.items()},
                "profiles": {tier.value: profile for tier, profile in self.profiles.items()},
            }
        )

    def _tier_profile(
        self,
        name: str,
        args: SecretAccessArgs,
        tier: Tier,
        parameter_arns: list[pulumi.Output[str]],
        any_key: pulumi.Output[str],
    ) -> pulumi.Output[str]:
        """An instance profile whose role may read (and decrypt through SSM) exactly `parameter_arns`."""
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-{tier.value}",
            assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
            description=f"aegis-storage {args.stack} {tier.value} nodes",
            opts=child,
        )
        self.roles[tier] = role.name
        self._node_document_access(name, args, tier, role)
        repository = args.usage_repository_arn if tier is Tier.LB else args.image_repository_arn
        if repository is not None:
            aws.iam.RolePolicy(
                f"{name}-{tier.value}-pull-image",
                role=role.id,
                policy=pulumi.Output.json_dumps(pulumi.Output.from_input(repository).apply(pull_policy)),
                opts=child,
            )
        if not parameter_arns:
            return self._profile(name, args, tier, role)
        aws.iam.RolePolicy(
            f"{name}-{tier.value}-read-secrets",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["ssm:GetParameter", "ssm:GetParameters"],
                            "Resource": parameter_arns,
                        },
                        {
                            "Effect": "Allow",
                            "Action": "kms:Decrypt",
                            "Resource": any_key,
                            "Condition": {"StringEquals": {"kms:ViaService": f"ssm.{args.region}.amazonaws.com"}},
                        },
                    ],
                }
            ),
            opts=child,
        )
        return self._profile(name, args, tier, role)

    def _node_document_access(self, name: str, args: SecretAccessArgs, tier: Tier, role: aws.iam.Role) -> None:
        """The tier's nodes read their own documents; the rollout reaches them through the SSM agent."""
        child = pulumi.ResourceOptions(parent=self)
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        documents = pulumi.Output.format(
            "arn:{0}:ssm:{1}:{2}:parameter{3}",
            partition,
            args.region,
            aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id,
            node_parameter_name(args.stack, f"{tier.value}-*"),
        )
        aws.iam.RolePolicy(
            f"{name}-{tier.value}-read-node-config",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": documents}],
                }
            ),
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-{tier.value}-ssm-agent",
            role=role.name,
            policy_arn=pulumi.Output.format("arn:{0}:iam::aws:policy/AmazonSSMManagedInstanceCore", partition),
            opts=child,
        )

    def _profile(self, name: str, args: SecretAccessArgs, tier: Tier, role: aws.iam.Role) -> pulumi.Output[str]:
        child = pulumi.ResourceOptions(parent=self)
        profile = aws.iam.InstanceProfile(
            f"{name}-{tier.value}",
            # Named, so an operator can tell from an instance which tier's secrets it may read.
            name=f"aegis-storage-{args.stack}-{tier.value}",
            role=role.name,
            opts=child,
        )
        return profile.name
