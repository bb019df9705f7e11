"""The filer URL AEGIS uses: HAProxy nodes in several zones behind one internal Network Load Balancer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws.node import ClusterNode, NodeContext, NodeSpec, place
from components.aws.placement import AwsPlacement
from components.model import sizing
from components.model.haproxy import ADMIN_PORT
from components.model.topology import HealthProbe, LoadBalancer, Role, Topology
from components.model.usage import UsageService
from components.stack.usage_image import usage_in_image


@dataclass(frozen=True)
class FilerLoadBalancerArgs:
    instance_type: str
    topology: Topology
    context: NodeContext
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    nlb_security_group_id: pulumi.Input[str]
    haproxy_security_group_id: pulumi.Input[str]
    haproxy_instance_profile: pulumi.Input[str] | None
    # The S3 gateway's address when S3 is enabled: the NLB also forwards the S3 port to it.
    s3_target_ip: pulumi.Input[str] | None
    # Where the usage service beside each HAProxy finds its files (the stack's placement).
    placement: AwsPlacement
    # What the first HAProxy instance waits for: every filer's NodeReady, since the usage service beside it is
    # ready only once it has read the filers' metadata stream (in a new stack the filers come up later).
    after: tuple[pulumi.Resource, ...] = ()


class FilerLoadBalancer(pulumi.ComponentResource):
    """`topology.load_balancers` on ClusterNodes, behind an internal, cross-zone NLB.

    Targets are the HAProxy nodes' ENI addresses ("ip" targets): they outlive instance replacements, and
    the NLB's own address is what the nodes see, so their security group can admit the NLB's group only.
    """

    nodes: dict[str, ClusterNode]
    usage: dict[str, UsageService]
    dns_name: pulumi.Output[str]
    filer_url: pulumi.Output[str]
    s3_endpoint: pulumi.Output[str] | None

    def __init__(self, name: str, args: FilerLoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aegis:storage:FilerLoadBalancer", name, None, opts)
        self._name, self._args = name, args
        spec = NodeSpec(
            instance_type=args.instance_type,
            security_group_id=args.haproxy_security_group_id,
            instance_profile=args.haproxy_instance_profile,
            root_disk_gib=sizing.LOAD_BALANCER.disk_gib,
        )
        lbs = args.topology.load_balancers
        self.usage = {lb.name: usage_in_image(args.topology, lb, args.placement) for lb in lbs}
        self.nodes = place(self, lbs, [spec] * len(lbs), args.context, after=args.after, usage=self.usage)
        self._nlb = aws.lb.LoadBalancer(
            f"{name}-nlb",
            internal=True,
            load_balancer_type="network",
            subnets=list(args.subnet_ids),
            security_groups=[args.nlb_security_group_id],
            enable_cross_zone_load_balancing=True,
            tags={"Name": f"aegis-storage-{args.context.stack}"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.dns_name = self._nlb.dns_name
        haproxies = [n.private_ip for n in self.nodes.values()]
        filer_group = self._forward("filer", LoadBalancer.port, LoadBalancer.health, haproxies)
        # The dimensions of the NLB's CloudWatch metrics (components/aws/dashboard.py).
        self.arn_suffix = self._nlb.arn_suffix
        self.filer_target_group_arn_suffix = filer_group.arn_suffix
        # The admin frontend (the filer's native API); the NLB's security group decides who reaches it.
        self._forward("admin", ADMIN_PORT, LoadBalancer.health, haproxies)
        self.filer_url = self.dns_name.apply(LoadBalancer.filer_url)
        self.s3_endpoint = None
        if args.s3_target_ip is not None:
            (gateway,) = args.topology.of(Role.S3)
            self._forward("s3", Role.S3.http_port, gateway.health, [args.s3_target_ip])
            self.s3_endpoint = pulumi.Output.format("http://{0}:{1}", self.dns_name, Role.S3.http_port)
        self.register_outputs({"dns_name": self.dns_name, "filer_url": self.filer_url, "s3_endpoint": self.s3_endpoint})

    def _forward(
        self, label: str, port: int, probe: HealthProbe, targets: Sequence[pulumi.Input[str]]
    ) -> aws.lb.TargetGroup:
        """A TCP listener on `port` forwarding to `targets` on the same port, checked with `probe`."""
        child = pulumi.ResourceOptions(parent=self)
        group = aws.lb.TargetGroup(
            f"{self._name}-{label}",
            port=port,
            protocol="TCP",
            target_type="ip",
            vpc_id=self._args.vpc_id,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                protocol="HTTP",
                path=probe.path,
                port=str(probe.port),
                interval=10,
                healthy_threshold=2,
                unhealthy_threshold=2,
            ),
            opts=child,
        )
        for i, target in enumerate(targets):
            aws.lb.TargetGroupAttachment(
                f"{self._name}-{label}-{i}", target_group_arn=group.arn, target_id=target, port=port, opts=child
            )
        aws.lb.Listener(
            f"{self._name}-{label}",
            load_balancer_arn=self._nlb.arn,
            port=port,
            protocol="TCP",
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=group.arn)],
            opts=child,
        )
        return group
