"""The stack's policies as plain functions over plain data, testable without the policy SDK.

Each rule takes what the engine shows a policy (a resource's type and properties, its `protect` option,
or the whole stack as (type, properties, protect) triples) and returns its violations as messages; an
empty list means compliant. `policy/pack.py` wraps each one into a Pulumi policy.

Properties are read key by key and only when needed: during a preview the policy SDK raises on a value
that is not known yet, and a rule should not give up over a value it does not look at.

The ports come from `components.model.topology`, the model every node is started from, so a port the
cluster starts listening on is covered here without a second list to keep in step.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.model.topology import GRPC_OFFSET, HTTP_PORTS, LB_STATS_PORT, METRICS_PORTS

INSTANCE = "aws:ec2/instance:Instance"
RDS_INSTANCE = "aws:rds/instance:Instance"
EBS_VOLUME = "aws:ebs/volume:Volume"
NETWORK_INTERFACE = "aws:ec2/networkInterface:NetworkInterface"
DNS_ZONE = "aws:route53/zone:Zone"
S3_BUCKET = "aws:s3/bucket:Bucket"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
LAMBDA_FUNCTION = "aws:lambda/function:Function"
LAMBDA_URL = "aws:lambda/functionUrl:FunctionUrl"
LAMBDA_PERMISSION = "aws:lambda/permission:Permission"

NODE_TAG = "aegis-storage:node"
MASTER_NODE = re.compile(r"master-\d+")
S3_PORT = HTTP_PORTS["s3"]
SEAWEEDFS_PORTS = frozenset(
    {
        *HTTP_PORTS.values(),
        *(port + GRPC_OFFSET for port in HTTP_PORTS.values()),
        *METRICS_PORTS.values(),
        LB_STATS_PORT,
    }
)
POSTGRES_PORT = 5432

# (type, properties, protect) of one resource of the stack, as a stack policy sees it.
StackResource = tuple[str, Mapping[str, Any], bool]

_ALL_PROTOCOLS = {"-1", "all"}
_TCP = {"tcp", "6"}


@dataclass(frozen=True)
class _IngressShape:
    """Where a resource type keeps an ingress rule's protocol and sources."""

    protocol: str
    cidrs: tuple[str, ...]
    groups: tuple[str, ...]


_INGRESS_SHAPES = {
    INGRESS_RULE: _IngressShape("ipProtocol", ("cidrIpv4", "cidrIpv6"), ("referencedSecurityGroupId",)),
    SECURITY_GROUP: _IngressShape("protocol", ("cidrBlocks", "ipv6CidrBlocks"), ("securityGroups",)),
    SECURITY_GROUP_RULE: _IngressShape("protocol", ("cidrBlocks", "ipv6CidrBlocks"), ("sourceSecurityGroupId",)),
}


def _ingress_entries(resource_type: str, props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ingress rules a resource declares: itself, or a security group's inline `ingress` blocks."""
    if resource_type == SECURITY_GROUP:
        return list(props.get("ingress") or [])
    if resource_type == SECURITY_GROUP_RULE:
        return [props] if props.get("type") == "ingress" else []
    if resource_type == INGRESS_RULE:
        return [props]
    return []


def _covers(entry: Mapping[str, Any], shape: _IngressShape, port: int) -> bool:
    """True when the rule admits TCP traffic to `port` (all protocols, or a TCP range holding it)."""
    protocol = str(entry.get(shape.protocol, "")).lower()
    if protocol in _ALL_PROTOCOLS:
        return True
    if protocol not in _TCP:
        return False
    low, high = entry.get("fromPort"), entry.get("toPort")
    # A TCP rule without ports is rejected by AWS; if one gets this far, assume the worst.
    if low is None or high is None:
        return True
    return int(low) <= port <= int(high)


def _sources(entry: Mapping[str, Any], keys: Sequence[str]) -> list[str]:
    """The values under `keys`, each a single string or a list of them."""
    found: list[str] = []
    for key in keys:
        value = entry.get(key)
        if isinstance(value, str):
            found.append(value)
        elif value:
            found.extend(str(item) for item in value)
    return [value for value in found if value]


def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None


def _overlaps(cidr: str, other: str) -> bool:
    a, b = _network(cidr), _network(other)
    return a is not None and b is not None and a.version == b.version and a.overlaps(b)


def public_ingress(resource_type: str, props: Mapping[str, Any], database_port: int = POSTGRES_PORT) -> list[str]:
    """No ingress rule opens a SeaweedFS or PostgreSQL port to 0.0.0.0/0 or ::/0, directly or in a range."""
    shape = _INGRESS_SHAPES.get(resource_type)
    if shape is None:
        return []
    ports = sorted(SEAWEEDFS_PORTS | {database_port})
    violations = []
    for entry in _ingress_entries(resource_type, props):
        opened = [port for port in ports if _covers(entry, shape, port)]
        if not opened:
            continue
        for cidr in _sources(entry, shape.cidrs):
            network = _network(cidr)
            if network is not None and network.prefixlen == 0:
                violations.append(
                    f"ingress from {cidr} opens SeaweedFS/PostgreSQL port(s) {', '.join(map(str, opened))} to "
                    "the internet; admit the security groups or CIDRs that need them instead"
                )
    return violations


def s3_from_orchestrators(
    resource_type: str,
    props: Mapping[str, Any],
    orchestrator_groups: Collection[str],
    orchestrator_cidrs: Sequence[str],
) -> list[str]:
    """No ingress rule admits the orchestrators' network to the S3 gateway port.

    The orchestrators are the stack config's `orchestratorSecurityGroupId` and `orchestratorCidrs`; a
    CIDR source violates when it overlaps any orchestrator CIDR (a /8 holding them admits them too).
    """
    shape = _INGRESS_SHAPES.get(resource_type)
    if shape is None:
        return []
    violations = []
    for entry in _ingress_entries(resource_type, props):
        if not _covers(entry, shape, S3_PORT):
            continue
        for group in _sources(entry, shape.groups):
            if group in orchestrator_groups:
                violations.append(f"the orchestrators' security group {group} may reach the S3 gateway port {S3_PORT}")
        for cidr in _sources(entry, shape.cidrs):
            for orchestrators in orchestrator_cidrs:
                if _overlaps(cidr, orchestrators):
                    violations.append(
                        f"ingress from {cidr} admits the orchestrators ({orchestrators}) to the S3 gateway port "
                        f"{S3_PORT}; agents must reach storage through the filer only"
                    )
    return violations


def rds_hardened(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """The metadata database is Multi-AZ, encrypted, private, deletion-protected and snapshots on delete.

    publiclyAccessible and skipFinalSnapshot default to false in AWS, so only an explicit true violates.
    """
    if resource_type != RDS_INSTANCE:
        return []
    violations = [
        f"{key} must be true"
        for key in ("multiAz", "storageEncrypted", "deletionProtection")
        if props.get(key) is not True
    ]
    violations += [f"{key} must be false" for key in ("publiclyAccessible", "skipFinalSnapshot") if props.get(key)]
    return violations


def unencrypted_disks(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """EBS volumes and instance block devices are encrypted explicitly (not by an account default)."""
    if resource_type == EBS_VOLUME:
        return [] if props.get("encrypted") is True else ["EBS volume must set encrypted: true"]
    if resource_type != INSTANCE:
        return []
    root = props.get("rootBlockDevice") or {}
    violations = [] if root.get("encrypted") is True else ["rootBlockDevice must set encrypted: true"]
    for i, device in enumerate(props.get("ebsBlockDevices") or []):
        if device.get("encrypted") is not True:
            violations.append(f"ebsBlockDevices[{i}] must set encrypted: true")
    return violations


def _master_node(props: Mapping[str, Any]) -> str | None:
    node = (props.get("tags") or {}).get(NODE_TAG)
    return node if isinstance(node, str) and MASTER_NODE.fullmatch(node) else None


def unprotected_state(resource_type: str, props: Mapping[str, Any], protect: bool) -> list[str]:
    """What holds state or identity cannot be deleted by a `pulumi up`: the database, the EBS volumes, the
    DNS zone, the metadata backup bucket and the masters' network interfaces (their addresses are in every
    peer's Raft state).
    """
    if protect:
        return []
    if resource_type in (RDS_INSTANCE, EBS_VOLUME, DNS_ZONE, S3_BUCKET):
        return [f"{resource_type} holds state and must be created with protect=True"]
    if resource_type == NETWORK_INTERFACE and (node := _master_node(props)):
        return [f"the network interface of {node} must be created with protect=True (its address is in the Raft peers)"]
    return []


def master_quorum(resources: Iterable[StackResource]) -> list[str]:
    """A stack with master instances runs an odd number of them, at least 3 (a Raft quorum that survives
    the loss of one). A stack without master instances (the Docker dev stack) has nothing to check.
    """
    masters = sorted(node for type_, props, _ in resources if type_ == INSTANCE and (node := _master_node(props)))
    if not masters or (len(masters) >= 3 and len(masters) % 2 == 1):
        return []
    return [
        f"{len(masters)} master instance(s) ({', '.join(masters)}): Raft needs an odd number, at least 3, "
        "so that a majority survives the loss of one"
    ]


def private_functions(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Lambda functions (the in-VPC health function) run in the VPC and cannot be called from outside it:
    each has subnets and a security group, none has a function URL, none lets any principal invoke it.
    """
    if resource_type == LAMBDA_URL:
        return ["a Lambda function URL makes the function callable from the internet; invoke it from AWS instead"]
    if resource_type == LAMBDA_PERMISSION and props.get("principal") == "*":
        return ["a Lambda permission for principal '*' lets anyone invoke the function; name the service"]
    if resource_type == LAMBDA_FUNCTION:
        vpc = props.get("vpcConfig") or {}
        if not vpc.get("subnetIds") or not vpc.get("securityGroupIds"):
            return ["a Lambda function must run in the VPC: set vpcConfig subnetIds and securityGroupIds"]
    return []


# (type, properties, urn, urns of its dependencies) of one resource, for rules over the dependency graph.
GraphResource = tuple[str, Mapping[str, Any], str, Collection[str]]
NODE_NAME = re.compile(r"(?P<tier>[a-z0-9]+)-(?P<index>\d+)")


def one_replacement_per_tier(resources: Iterable[GraphResource]) -> list[str]:
    """No update can replace two instances of a tier at once: within each tier (by the node tag) every
    instance after the first depends on a resource that itself depends on the instance before it (the
    NodeReady gate), so the engine replaces them one after another, each only once the previous one is
    healthy. Instances without that chain are replaced in parallel when their AMI, type or user data
    changes, which takes the whole tier down (a Raft quorum, every replica) in one update.
    """
    resources = list(resources)
    dependencies = {urn: set(deps) for _, _, urn, deps in resources}
    tiers: dict[str, list[tuple[int, str, str]]] = {}
    for type_, props, urn, _ in resources:
        node = (props.get("tags") or {}).get(NODE_TAG) if type_ == INSTANCE else None
        if isinstance(node, str) and (match := NODE_NAME.fullmatch(node)):
            tiers.setdefault(match["tier"], []).append((int(match["index"]), node, urn))
    violations = []
    for tier, nodes in sorted(tiers.items()):
        nodes.sort()
        for (_, before, before_urn), (_, node, urn) in itertools.pairwise(nodes):
            gates = dependencies.get(urn, set())
            if not any(before_urn in dependencies.get(gate, set()) for gate in gates):
                violations.append(
                    f"instance {node} does not wait for {before} to be ready: an update could replace both "
                    f"at once and take the {tier} tier down (depend on {before}'s NodeReady)"
                )
    return violations
