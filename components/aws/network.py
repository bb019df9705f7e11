"""The VPC the nodes live in, one private subnet per zone, and the private zone that names the nodes."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.model.config import NetworkSettings


def subnet_cidrs(vpc_cidr: str, zone_count: int) -> tuple[list[str], list[str]]:
    """(private, public) CIDRs, one of each per zone: the VPC split in equal blocks, private ones first."""
    vpc = ipaddress.ip_network(vpc_cidr, strict=False)
    blocks = list(vpc.subnets(prefixlen_diff=math.ceil(math.log2(2 * zone_count))))
    return [str(b) for b in blocks[:zone_count]], [str(b) for b in blocks[zone_count : 2 * zone_count]]


@dataclass(frozen=True)
class NetworkArgs:
    stack: str
    network: NetworkSettings


class Network(pulumi.ComponentResource):
    """The configured VPC and subnets, or a new VPC with a private subnet per zone behind a NAT gateway
    per zone (nodes pull the image and reach SSM without a public address; one NAT per zone keeps a
    zone outage from cutting the others off). Either way, the private hosted zone is created here.
    """

    vpc_id: pulumi.Output[str]
    subnet_ids: list[pulumi.Output[str]]
    zone_id: pulumi.Output[str]
    # What makes the private subnets' way out work (each zone's NAT route and its association; empty with an
    # existing VPC): an instance booted before them cannot reach SSM, ECR or the package mirrors.
    egress: list[pulumi.Resource]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aegis:storage:Network", name, None, opts)
        settings = args.network
        self._name = name
        self._tag = f"aegis-storage-{args.stack}"
        self.egress = []
        if settings.vpc_id:
            self.vpc_id = pulumi.Output.from_input(settings.vpc_id)
            self.subnet_ids = [pulumi.Output.from_input(s) for s in settings.subnet_ids]
        else:
            self._create_vpc(settings.vpc_cidr, settings.availability_zones)
        zone = aws.route53.Zone(
            f"{name}-zone",
            name=settings.dns_zone_name,
            comment=f"{self._tag}: stable names of the SeaweedFS nodes",
            vpcs=[aws.route53.ZoneVpcArgs(vpc_id=self.vpc_id, vpc_region=settings.region)],
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self.zone_id = zone.zone_id
        self.register_outputs({"vpc_id": self.vpc_id, "subnet_ids": self.subnet_ids, "zone_id": self.zone_id})

    def _create_vpc(self, cidr: str, zones: tuple[str, ...]) -> None:
        name, child = self._name, pulumi.ResourceOptions(parent=self)
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=cidr,
            # The private hosted zone resolves only with both on.
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={"Name": self._tag},
            opts=child,
        )
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={"Name": self._tag}, opts=child)
        public_routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)],
            tags={"Name": f"{self._tag}-public"},
            opts=child,
        )
        private_cidrs, public_cidrs = subnet_cidrs(cidr, len(zones))
        self.vpc_id = vpc.id
        self.subnet_ids = []
        for zone, private_cidr, public_cidr in zip(zones, private_cidrs, public_cidrs, strict=True):
            self.subnet_ids.append(
                self._zone_subnets(vpc.id, zone, private_cidr, public_cidr, public_routes.id, gateway)
            )

    def _zone_subnets(
        self,
        vpc_id: pulumi.Output[str],
        zone: str,
        private_cidr: str,
        public_cidr: str,
        public_routes_id: pulumi.Output[str],
        gateway: aws.ec2.InternetGateway,
    ) -> pulumi.Output[str]:
        """A public subnet with a NAT gateway, and the private subnet the nodes use, routed through it."""
        name, child = self._name, pulumi.ResourceOptions(parent=self)
        public = aws.ec2.Subnet(
            f"{name}-public-{zone}",
            vpc_id=vpc_id,
            cidr_block=public_cidr,
            availability_zone=zone,
            tags={"Name": f"{self._tag}-public-{zone}"},
            opts=child,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-public-{zone}", subnet_id=public.id, route_table_id=public_routes_id, opts=child
        )
        address = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", tags={"Name": f"{self._tag}-{zone}"}, opts=child)
        nat = aws.ec2.NatGateway(
            f"{name}-nat-{zone}",
            allocation_id=address.id,
            subnet_id=public.id,
            tags={"Name": f"{self._tag}-{zone}"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
        )
        private = aws.ec2.Subnet(
            f"{name}-private-{zone}",
            vpc_id=vpc_id,
            cidr_block=private_cidr,
            availability_zone=zone,
            tags={"Name": f"{self._tag}-private-{zone}"},
            opts=child,
        )
        routes = aws.ec2.RouteTable(
            f"{name}-private-{zone}",
            vpc_id=vpc_id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
            tags={"Name": f"{self._tag}-private-{zone}"},
            opts=child,
        )
        association = aws.ec2.RouteTableAssociation(
            f"{name}-private-{zone}", subnet_id=private.id, route_table_id=routes.id, opts=child
        )
        self.egress += [routes, association]
        return private.id
