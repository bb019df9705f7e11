"""The topology model: which SeaweedFS processes a stack runs, and exactly how each one is started.

This is the only place a `weed` flag is written. The Docker dev stack, the AWS instances and the
integration tests all take their command lines, environment, config files and health probes from
`build_topology`; they differ only in the `Placement` they pass (addresses and directories).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from components.model import raft, sizing
from components.model.aegis import layout as aegis_layout
from components.model.config import DatabaseSettings, StackConfig
from components.model.haproxy import render_haproxy_cfg
from components.model.job_script import apply_until_served
from components.model.maintenance import maintenance_env
from components.model.refs import Ref

HTTP_PORTS = {"master": 9333, "volume": 8080, "filer": 8888, "s3": 8333}
GRPC_OFFSET = 10000  # every weed server listens for gRPC on its HTTP port + 10000
METRICS_PORTS = {"master": 9324, "volume": 9325, "filer": 9326, "s3": 9327}
LB_STATS_PORT = 8404

FILER_RULES_PATH = "/etc/seaweedfs/filer.conf"


class Role(StrEnum):
    MASTER = "master"
    VOLUME = "volume"
    FILER = "filer"
    S3 = "s3"

    @property
    def http_port(self) -> int:
        return HTTP_PORTS[self.value]

    @property
    def grpc_port(self) -> int:
        return HTTP_PORTS[self.value] + GRPC_OFFSET

    @property
    def metrics_port(self) -> int:
        return METRICS_PORTS[self.value]


# Each tier registers with the one before it: volume servers and filers with the masters, S3 with the filers.
START_ORDER = (Role.MASTER, Role.VOLUME, Role.FILER, Role.S3)


class Placement(Protocol):
    """Where nodes live: the address others reach them at, what they bind, and their directories."""

    def host(self, node: str) -> str: ...

    def bind(self, node: str) -> str: ...

    def data_dir(self, node: str) -> str: ...

    def config_dir(self, node: str) -> str: ...


@dataclass(frozen=True)
class Node:
    name: str
    role: Role
    index: int
    data_center: str = ""
    rack: str = ""


@dataclass(frozen=True)
class ConfigFile:
    """A file a process needs; `content` may hold `{{ref}}` placeholders."""

    path: str
    content: str


@dataclass(frozen=True)
class HealthProbe:
    path: str
    port: int


@dataclass(frozen=True)
class Service:
    """One long-running weed process."""

    node: Node
    host: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    files: tuple[ConfigFile, ...]
    data_dir: str
    health: HealthProbe

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def role(self) -> Role:
        return self.node.role

    @property
    def http_address(self) -> str:
        return f"{self.host}:{self.role.http_port}"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.role.http_port, self.role.grpc_port, self.role.metrics_port)

    @property
    def argv(self) -> tuple[str, ...]:
        return ("weed", *self.args)


@dataclass(frozen=True)
class Job:
    """A one-shot job run after the cluster is up: `weed <args>` applies its file, and it exits 0 only once
    `served_url` returns exactly that file (idempotent, safe to re-run). Every runner starts `argv`."""

    name: str
    args: tuple[str, ...]
    files: tuple[ConfigFile, ...]
    served_url: str

    @property
    def argv(self) -> tuple[str, ...]:
        return ("/bin/sh", "-c", apply_until_served(self.name, self.args, self.served_url, self.files[0].path))


@dataclass(frozen=True)
class LoadBalancer:
    """An HAProxy node in front of every filer; AEGIS talks to it as the filer URL, in both stacks, because it
    turns AEGIS's calls into what AEGIS means (components/model/aegis/calls.py)."""

    name: str
    host: str
    rack: str
    config: ConfigFile
    admin_socket: str = ""

    port = HTTP_PORTS["filer"]
    stats_port = LB_STATS_PORT
    health = HealthProbe("/healthz", LB_STATS_PORT)

    @staticmethod
    def filer_url(host: str) -> str:
        """The filer URL AEGIS is given, for the load balancer that `host` names (a host IP or a DNS name)."""
        return f"http://{host}:{LoadBalancer.port}"

    @property
    def argv(self) -> tuple[str, ...]:
        # -db: stay in the foreground, so whoever started it owns the process.
        return ("haproxy", "-db", "-f", self.config.path)


@dataclass(frozen=True)
class Topology:
    services: tuple[Service, ...]
    jobs: tuple[Job, ...]
    load_balancers: tuple[LoadBalancer, ...]
    filer_rules: str
    replication_default: str

    @property
    def expected(self) -> dict[Role, int]:
        """How many of each service a healthy cluster has."""
        return {role: len(self.of(role)) for role in Role}

    def of(self, role: Role) -> tuple[Service, ...]:
        return tuple(s for s in self.services if s.role is role)

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    @property
    def master_addresses(self) -> tuple[str, ...]:
        return tuple(s.http_address for s in self.of(Role.MASTER))


@dataclass(frozen=True)
class Site:
    """What the platform decides about the topology, derived from the config in one place (`site`)."""

    data_center: str  # "" (docker): no -dataCenter and -rack flags
    zones: tuple[str, ...]  # the racks nodes are spread over, round-robin
    load_balancer_count: int
    volume_disk_gib: int | None  # None: not known ahead, weed sizes a volume server's slots from its free disk
    database: DatabaseSettings | None  # None: each filer keeps its metadata in leveldb2 on its data dir


DOCKER_SITE = Site(data_center="", zones=("",), load_balancer_count=1, volume_disk_gib=None, database=None)


def site(cfg: StackConfig) -> Site:
    """Docker: one machine, one HAProxy in front of the single filer. AWS: the region is the data center and
    each zone a rack; the metadata lives in PostgreSQL."""
    if cfg.aws is None:
        return DOCKER_SITE
    return Site(
        data_center=cfg.aws.network.region,
        zones=cfg.aws.network.availability_zones,
        load_balancer_count=cfg.aws.instances.load_balancer_count,
        volume_disk_gib=cfg.aws.instances.volume_disk_gib,
        database=cfg.aws.database,
    )


def layout(cfg: StackConfig) -> tuple[Node, ...]:
    """The nodes a config asks for. On AWS, volume servers are spread over the zones (rack = zone)."""
    where = site(cfg)

    def nodes(role: Role, count: int) -> list[Node]:
        zones = where.zones
        return [Node(f"{role.value}-{i}", role, i, where.data_center, zones[i % len(zones)]) for i in range(count)]

    return tuple(
        nodes(Role.MASTER, cfg.master_count)
        + nodes(Role.VOLUME, cfg.volume_server_count)
        + nodes(Role.FILER, cfg.filer_count)
        + (nodes(Role.S3, 1) if cfg.s3_enabled else [])
    )


def load_balancer_nodes(cfg: StackConfig) -> tuple[tuple[str, str], ...]:
    """(name, zone) of each HAProxy node, round-robin over the zones."""
    where = site(cfg)
    return tuple((f"lb-{i}", where.zones[i % len(where.zones)]) for i in range(where.load_balancer_count))


def _common_flags(node: Node, placement: Placement) -> list[str]:
    return [
        f"-ip={placement.host(node.name)}",
        f"-ip.bind={placement.bind(node.name)}",
        f"-port={node.role.http_port}",
        f"-port.grpc={node.role.grpc_port}",
        f"-metricsPort={node.role.metrics_port}",
    ]


def _location_flags(node: Node) -> list[str]:
    if not node.data_center:
        return []
    return [f"-dataCenter={node.data_center}", f"-rack={node.rack}"]


def volume_slots(cfg: StackConfig) -> int:
    """-max for a volume server; 0 lets weed size it from the free disk."""
    disk_gib = site(cfg).volume_disk_gib
    return 0 if disk_gib is None else sizing.volume_slots(disk_gib, cfg.volume_size_limit_mb)


def filer_store_env(cfg: StackConfig, data_dir: str) -> tuple[tuple[str, str], ...]:
    """The filer metadata store as filer.toml keys in env form (WEED_ + upper-case key, . -> _)."""
    db = site(cfg).database
    if db is None:
        return (("WEED_LEVELDB2_ENABLED", "true"), ("WEED_LEVELDB2_DIR", f"{data_dir}/filerldb2"))
    return (
        # The filer refuses to start when two stores are enabled, and leveldb2 is on by default.
        ("WEED_LEVELDB2_ENABLED", "false"),
        ("WEED_POSTGRES2_ENABLED", "true"),
        ("WEED_POSTGRES2_HOSTNAME", Ref.DB_HOST.placeholder),
        ("WEED_POSTGRES2_PORT", str(db.port)),
        ("WEED_POSTGRES2_DATABASE", db.name),
        ("WEED_POSTGRES2_USERNAME", db.user),
        ("WEED_POSTGRES2_PASSWORD", Ref.DB_PASSWORD.placeholder),
        ("WEED_POSTGRES2_SSLMODE", "require"),
        # Explicit pools, budgeted against the database at preview (database_pool.py).
        *db.pool.env(),
    )


def render_filer_rules(cfg: StackConfig) -> str:
    """filer.conf path rules: AEGIS's volumes keep `aegisReplication` copies, and no path gets a TTL."""
    return aegis_layout.render_rules(cfg.aegis_replication)


def render_s3_identities() -> str:
    """s3.json: an admin identity for AEGIS and a read-only one for operators; no anonymous access."""
    identities = [
        {
            "name": "aegis-admin",
            "credentials": [
                {"accessKey": Ref.S3_ADMIN_ACCESS_KEY.placeholder, "secretKey": Ref.S3_ADMIN_SECRET_KEY.placeholder}
            ],
            "actions": ["Admin", "Read", "List", "Write", "Tagging"],
        },
        {
            "name": "operator-readonly",
            "credentials": [
                {
                    "accessKey": Ref.S3_READONLY_ACCESS_KEY.placeholder,
                    "secretKey": Ref.S3_READONLY_SECRET_KEY.placeholder,
                }
            ],
            "actions": ["Read", "List"],
        },
    ]
    return json.dumps({"identities": identities}, indent=2) + "\n"


JWT_ENV = ("WEED_JWT_SIGNING_KEY", Ref.JWT_SIGNING_KEY.placeholder)


@dataclass(frozen=True)
class _Peers:
    """The addresses a node's flags name: every master, every filer."""

    masters: str
    filers: str
    master_count: int


def _master(node: Node, cfg: StackConfig, placement: Placement, peers: _Peers) -> Service:
    args = [
        "master",
        *_common_flags(node, placement),
        f"-mdir={placement.data_dir(node.name)}",
        f"-peers={'none' if peers.master_count == 1 else peers.masters}",
        f"-defaultReplication={cfg.default_replication}",
        f"-volumeSizeLimitMB={cfg.volume_size_limit_mb}",
        f"-electionTimeout={cfg.election_timeout}",
        raft.master_flag(cfg.raft_hashicorp),
        "-telemetry=false",
    ]
    env = (JWT_ENV, *maintenance_env(cfg.upkeep))
    return _service(node, placement, args, env, (), HealthProbe("/cluster/healthz", node.role.http_port))


def _volume(node: Node, cfg: StackConfig, placement: Placement, peers: _Peers) -> Service:
    args = [
        "volume",
        *_common_flags(node, placement),
        *_location_flags(node),
        f"-dir={placement.data_dir(node.name)}",
        f"-max={volume_slots(cfg)}",
        f"-master={peers.masters}",
    ]
    if _is_loopback(placement.host(node.name)):
        # weed 4.48 refuses to copy a volume from a loopback address (an SSRF guard), and on loopback every
        # copy source is one, so volume.fix.replication could repair nothing there. Private addresses, as
        # on AWS, are allowed without this flag.
        args.append("-volume.allowUntrustedRemoteEndpoints")
    return _service(node, placement, args, (JWT_ENV,), (), HealthProbe("/healthz", node.role.http_port))


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, as on Docker and AWS
        return False


def _filer(node: Node, cfg: StackConfig, placement: Placement, peers: _Peers) -> Service:
    data = placement.data_dir(node.name)
    args = [
        "filer",
        *_common_flags(node, placement),
        *_location_flags(node),
        f"-master={peers.masters}",
        # The default socket path is shared by every filer on a host.
        f"-localSocket={data}/filer.sock",
    ]
    # The buckets folder /aegis/volumes makes each AEGIS tenant an S3 bucket; the filer rule keeps them in one
    # collection (components/model/aegis/layout.py).
    env = (JWT_ENV, *filer_store_env(cfg, data), aegis_layout.BUCKETS_FOLDER_ENV)
    return _service(node, placement, args, env, (), HealthProbe("/healthz", node.role.http_port))


def _s3(node: Node, cfg: StackConfig, placement: Placement, peers: _Peers) -> Service:
    s3_config = ConfigFile(f"{placement.config_dir(node.name)}/s3.json", render_s3_identities())
    args = [
        "s3",
        *_common_flags(node, placement),
        f"-filer={peers.filers}",
        f"-config={s3_config.path}",
        # Without these the gateway also opens Iceberg (8181) and Lance (9101) listeners.
        "-port.iceberg=0",
        "-port.lance=0",
        # A tenant's bucket holds its volumes: no S3 call may delete it with its contents.
        "-allowDeleteBucketNotEmpty=false",
    ]
    return _service(node, placement, args, (), (s3_config,), HealthProbe("/healthz", node.role.http_port))


def _service(
    node: Node,
    placement: Placement,
    args: list[str],
    env: tuple[tuple[str, str], ...],
    files: tuple[ConfigFile, ...],
    health: HealthProbe,
) -> Service:
    return Service(
        node=node,
        host=placement.host(node.name),
        args=tuple(args),
        env=env,
        files=files,
        data_dir=placement.data_dir(node.name),
        health=health,
    )


_SERVICES = {Role.MASTER: _master, Role.VOLUME: _volume, Role.FILER: _filer, Role.S3: _s3}


def _rules_job(rules: str, first_filer: Service, placement: Placement) -> Job:
    rules_file = ConfigFile(f"{placement.config_dir('filer-rules')}/filer.conf", rules)
    return Job(
        name="filer-rules",
        args=("filer.copy", rules_file.path, f"http://{first_filer.http_address}{FILER_RULES_PATH.rsplit('/', 1)[0]}/"),
        files=(rules_file,),
        served_url=f"http://{first_filer.http_address}{FILER_RULES_PATH}",
    )


def _admin_socket(placement: Placement, name: str) -> str:
    return f"{placement.config_dir(name)}/admin.sock"


def _load_balancers(cfg: StackConfig, filers: list[Service], placement: Placement) -> tuple[LoadBalancer, ...]:
    filer_addresses = [s.http_address for s in filers]
    return tuple(
        LoadBalancer(
            name=name,
            host=placement.host(name),
            rack=rack,
            config=ConfigFile(
                f"{placement.config_dir(name)}/haproxy.cfg",
                render_haproxy_cfg(
                    filer_addresses,
                    bind=placement.bind(name),
                    port=LoadBalancer.port,
                    stats_bind=placement.bind(name),
                    stats_port=LoadBalancer.stats_port,
                    admin_socket=_admin_socket(placement, name),
                ),
            ),
            admin_socket=_admin_socket(placement, name),
        )
        for name, rack in load_balancer_nodes(cfg)
    )


def build_topology(cfg: StackConfig, placement: Placement) -> Topology:
    nodes = layout(cfg)

    def addresses(role: Role) -> str:
        return ",".join(f"{placement.host(n.name)}:{role.http_port}" for n in nodes if n.role is role)

    peers = _Peers(addresses(Role.MASTER), addresses(Role.FILER), sum(n.role is Role.MASTER for n in nodes))
    services = [_SERVICES[node.role](node, cfg, placement, peers) for node in nodes]
    filers = [s for s in services if s.role is Role.FILER]
    rules = render_filer_rules(cfg)
    return Topology(
        services=tuple(services),
        jobs=(_rules_job(rules, filers[0], placement),),
        load_balancers=_load_balancers(cfg, filers, placement),
        filer_rules=rules,
        replication_default=cfg.default_replication,
    )
