"""Where the production nodes live: stable private DNS names, /data volumes, config under /etc."""

from __future__ import annotations

from components.model.config import AwsStackConfig
from components.model.topology import Topology, build_topology


class AwsPlacement:
    """Every node is `<node>.<private zone>`: a name that outlives the instance behind it."""

    def __init__(self, zone_name: str) -> None:
        self.zone_name = zone_name

    def host(self, node: str) -> str:
        return f"{node}.{self.zone_name}"

    def bind(self, node: str) -> str:
        return "0.0.0.0"

    def data_dir(self, node: str) -> str:
        return "/data"

    def config_dir(self, node: str) -> str:
        return "/etc/haproxy" if node.startswith("lb-") else "/etc/seaweedfs"


def prod_topology(cfg: AwsStackConfig) -> Topology:
    return build_topology(cfg, AwsPlacement(cfg.aws.network.dns_zone_name))
