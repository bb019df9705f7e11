"""Stack configuration: one frozen, validated object parsed from the stack's config values.

The keys, their types and defaults are declared once, in the `config:` block of Pulumi.yaml; this module
reads that block, converts the raw values a stack provides and checks every rule a deployment depends
on. All problems are reported together, each naming the key, the bad value and the fix, before a
single resource exists.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from components import sizing

PROJECT = "aegis-storage"
PROJECT_FILE = Path(__file__).resolve().parent.parent / "Pulumi.yaml"

DEFAULT_TENANT_ID = "00000000-0000-0000-0000-000000000001"


class Platform(StrEnum):
    DOCKER = "docker"
    AWS = "aws"


class DatabaseMode(StrEnum):
    RDS = "rds"
    EXTERNAL = "external"


class ConfigError(ValueError):
    """Invalid stack configuration; the message lists every problem with its fix."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid stack configuration ({len(problems)} problem(s)):\n{lines}")


@dataclass(frozen=True)
class ConfigKey:
    name: str
    type: str
    default: Any
    description: str


@cache
def schema() -> dict[str, ConfigKey]:
    """The config keys declared in Pulumi.yaml."""
    project = yaml.safe_load(PROJECT_FILE.read_text())
    return {
        name: ConfigKey(name, spec["type"], spec.get("default"), spec.get("description", ""))
        for name, spec in project["config"].items()
    }


@dataclass(frozen=True)
class StorageClass:
    """Replication and TTL of one AEGIS storage class."""

    name: str
    replication: str
    ttl: str = ""


@dataclass(frozen=True)
class NodeConfigSettings:
    """Values of the AEGIS NodeConfig `spec.storage` block that are not derived from the cluster."""

    nfs_port: int
    default_ttl_hours: int
    default_size_limit_mb: int
    gc_interval_minutes: int
    fallback_to_local: bool
    filer_url_override: str


@dataclass(frozen=True)
class AwsSettings:
    """Settings that exist only for the AWS stack."""

    region: str
    availability_zones: tuple[str, ...]
    vpc_id: str
    subnet_ids: tuple[str, ...]
    vpc_cidr: str
    orchestrator_security_group_id: str
    orchestrator_cidrs: tuple[str, ...]
    operator_cidrs: tuple[str, ...]
    monitoring_cidrs: tuple[str, ...]
    ami_id: str
    master_instance_type: str
    filer_instance_type: str
    volume_instance_type: str
    load_balancer_instance_type: str
    master_disk_gib: int
    filer_disk_gib: int
    volume_disk_gib: int
    volume_disk_type: str
    load_balancer_count: int
    database_mode: DatabaseMode
    database_host: str
    database_port: int
    database_name: str
    database_user: str
    database_instance_class: str
    database_storage_gib: int
    database_engine_version: str
    database_backup_retention_days: int
    database_restore_snapshot_id: str
    volume_snapshot_ids: tuple[str, ...]
    dns_zone_name: str


@dataclass(frozen=True)
class StackConfig:
    """Everything the topology and the components are computed from."""

    stack: str
    platform: Platform
    master_count: int
    volume_server_count: int
    filer_count: int
    default_replication: str
    volume_size_limit_mb: int
    tenant_ids: tuple[str, ...]
    ephemeral_volume_prefix: str
    ephemeral: StorageClass
    persistent: StorageClass
    s3_enabled: bool
    s3_region: str
    node: NodeConfigSettings
    election_timeout: str
    raft_hashicorp: bool
    health_timeout_seconds: int
    aws: AwsSettings | None

    def key(self, name: str) -> str:
        return f"{PROJECT}:{name}"


# --- value checks -------------------------------------------------------------------------------

_REPLICATION = re.compile(r"^[0-9]{3}$")
_TTL = re.compile(r"^([1-9][0-9]{0,2})([mhdwMy])$")
_DURATION = re.compile(r"^[1-9][0-9]*(ms|s|m)$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_VOLUME_PREFIX = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def is_valid_bucket_name(name: str) -> bool:
    """S3 bucket naming rules (what the SeaweedFS S3 gateway accepts as a bucket)."""
    if not _BUCKET.match(name) or ".." in name or ".-" in name or "-." in name:
        return False
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return True
    return False


def replication_problem(value: str) -> str | None:
    if not _REPLICATION.match(value):
        return (
            "must be three digits xyz (x other data centers, y other racks, z other servers in the same rack), "
            "e.g. 000 or 001"
        )
    return None


def ttl_problem(value: str) -> str | None:
    match = _TTL.match(value)
    if not match or int(match.group(1)) > 255:
        return "must be a SeaweedFS TTL: 1-255 followed by m, h, d, w, M or y (e.g. 24h, 7d)"
    return None


class _Reader:
    """Converts raw stack values with the schema's types and collects problems."""

    def __init__(self, raw: Mapping[str, Any], secret_keys: set[str]) -> None:
        self.raw = raw
        self.secret_keys = secret_keys
        self.problems: list[str] = []

    def problem(self, key: str, value: Any, message: str, fix: str) -> None:
        shown = "<secret>" if key in self.secret_keys else json.dumps(value)
        self.problems.append(f"{PROJECT}:{key} = {shown}: {message}. Fix: {fix}")

    def value(self, key: str) -> Any:
        spec = schema()[key]
        raw = self.raw.get(key)
        if raw is None:
            return _convert(spec.type, spec.default)
        converted = _convert(spec.type, raw)
        if converted is None:
            self.problem(key, raw, f"is not a valid {spec.type}", f"pulumi config set {key} <{spec.type}>")
            return spec.default
        return converted

    def checked(self, key: str, ok: Callable[[Any], str | None], fix: str) -> Any:
        value = self.value(key)
        message = ok(value)
        if message:
            self.problem(key, value, message, fix)
        return value


def _convert(kind: str, raw: Any) -> Any:
    if kind == "string":
        return raw if isinstance(raw, str) else None
    if kind == "integer":
        if isinstance(raw, bool):
            return None
        if isinstance(raw, int):
            return raw
        return int(raw) if isinstance(raw, str) and re.fullmatch(r"-?[0-9]+", raw.strip()) else None
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        return {"true": True, "false": False}.get(str(raw).strip().lower())
    if kind == "array":
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                return None
        if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
            return tuple(raw)
        return None
    raise AssertionError(f"unknown config type {kind}")


def _at_least(minimum: int, what: str) -> Callable[[int], str | None]:
    return lambda v: None if v >= minimum else f"is below the minimum of {minimum} {what}"


def _cidr_list_problem(cidrs: tuple[str, ...]) -> str | None:
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            return f"{cidr!r} is not a CIDR"
        if network.prefixlen == 0:
            return f"{cidr!r} opens the port to the whole internet"
    return None


def _url_problem(value: str) -> str | None:
    if not value:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return "must be an http(s) URL with a host, e.g. http://seaweedfs-filer-lb:8888"
    return None


def parse(
    raw: Mapping[str, Any],
    *,
    stack: str,
    secret_keys: set[str] | frozenset[str] = frozenset(),
    aws_region: str = "",
) -> StackConfig:
    """Parse and validate raw stack config values (key without namespace -> value)."""
    unknown = sorted(set(raw) - set(schema()) - set(SECRET_KEYS))
    r = _Reader(raw, set(secret_keys))
    for key in unknown:
        r.problem(
            key, raw[key], "is not a key of this project", f"remove it, or use one of: {', '.join(sorted(schema()))}"
        )

    platform_name = r.checked(
        "platform",
        lambda v: None if v in {p.value for p in Platform} else "must be docker or aws",
        "pulumi config set platform docker|aws",
    )
    platform = Platform(platform_name) if platform_name in {p.value for p in Platform} else Platform.DOCKER
    on_aws = platform is Platform.AWS

    if on_aws:
        master_count = r.checked(
            "masterCount",
            lambda v: (
                None
                if v >= 3 and v % 2 == 1
                else "the Raft quorum needs an odd number of masters, at least 3 (3 tolerates 1 failure, 5 tolerates 2)"
            ),
            "pulumi config set masterCount 3",
        )
        volume_count = r.checked(
            "volumeServerCount",
            _at_least(sizing.VOLUME.count, "volume servers (spec minimum sizing)"),
            f"pulumi config set volumeServerCount {sizing.VOLUME.count}",
        )
        filer_count = r.checked(
            "filerCount",
            _at_least(sizing.FILER.count, "filers (spec minimum sizing)"),
            f"pulumi config set filerCount {sizing.FILER.count}",
        )
    else:
        single = "the docker stack is single-node: one master (-peers=none), one volume server, one filer"
        master_count = r.checked("masterCount", lambda v: None if v == 1 else single, "pulumi config set masterCount 1")
        volume_count = r.checked(
            "volumeServerCount", lambda v: None if v == 1 else single, "pulumi config set volumeServerCount 1"
        )
        filer_count = r.checked("filerCount", lambda v: None if v == 1 else single, "pulumi config set filerCount 1")

    replication_fix = "use three digits, e.g. pulumi config set {key} 001"
    default_replication = r.checked(
        "defaultReplication", replication_problem, replication_fix.format(key="defaultReplication")
    )
    ephemeral_replication = r.checked(
        "ephemeralReplication", replication_problem, replication_fix.format(key="ephemeralReplication")
    )
    persistent_replication = r.checked(
        "persistentReplication", replication_problem, replication_fix.format(key="persistentReplication")
    )
    ephemeral_ttl = r.checked("ephemeralTtl", ttl_problem, "pulumi config set ephemeralTtl 24h")
    volume_size_limit = r.checked(
        "volumeSizeLimitMB",
        lambda v: None if 1 <= v <= 30000 else "SeaweedFS volumes must be between 1 and 30000 MB",
        "pulumi config set volumeSizeLimitMB 4096",
    )
    tenant_ids = r.checked(
        "tenantIds",
        lambda v: (
            None
            if v and all(is_valid_bucket_name(t) for t in v)
            else "every tenant id is an S3 bucket name: 3-63 lower-case letters, digits, '-' or '.', not an IP"
        ),
        f'pulumi config set --path "tenantIds[0]" {DEFAULT_TENANT_ID}',
    )
    ephemeral_prefix = r.checked(
        "ephemeralVolumePrefix",
        lambda v: (
            None if _VOLUME_PREFIX.match(v) else "must be a non-empty volume id prefix (lower-case, digits, . _ -)"
        ),
        'pulumi config set ephemeralVolumePrefix "eph-"',
    )
    s3_region = r.checked(
        "s3Region", lambda v: None if v else "must not be empty", "pulumi config set s3Region us-east-1"
    )
    filer_url = r.checked(
        "aegisFilerUrl", _url_problem, 'pulumi config set aegisFilerUrl "http://seaweedfs-filer-lb:8888"'
    )
    election_timeout = r.checked(
        "electionTimeout",
        lambda v: None if _DURATION.match(v) else "must be a Go duration such as 3s or 1500ms",
        "pulumi config set electionTimeout 10s",
    )
    node = NodeConfigSettings(
        nfs_port=r.checked(
            "nfsPort", lambda v: None if 1 <= v <= 65535 else "is not a TCP port", "pulumi config set nfsPort 2049"
        ),
        default_ttl_hours=r.checked("defaultTtlHours", _at_least(1, "hour"), "pulumi config set defaultTtlHours 24"),
        default_size_limit_mb=r.checked(
            "defaultSizeLimitMb", _at_least(1, "MB"), "pulumi config set defaultSizeLimitMb 1000"
        ),
        gc_interval_minutes=r.checked(
            "gcIntervalMinutes", _at_least(1, "minute"), "pulumi config set gcIntervalMinutes 60"
        ),
        fallback_to_local=r.value("fallbackToLocal"),
        filer_url_override=filer_url,
    )
    health_timeout = r.checked(
        "healthTimeoutSeconds", _at_least(10, "seconds"), "pulumi config set healthTimeoutSeconds 120"
    )
    aws = _parse_aws(r, aws_region) if on_aws else None
    if not on_aws:
        for key in ("defaultReplication", "persistentReplication", "ephemeralReplication"):
            if r.value(key) != "000" and not replication_problem(r.value(key)):
                r.problem(
                    key,
                    r.value(key),
                    "the docker stack has one volume server, so extra copies have nowhere to go and writes hang",
                    f"pulumi config set {key} 000",
                )

    if r.problems:
        raise ConfigError(r.problems)
    return StackConfig(
        stack=stack,
        platform=platform,
        master_count=master_count,
        volume_server_count=volume_count,
        filer_count=filer_count,
        default_replication=default_replication,
        volume_size_limit_mb=volume_size_limit,
        tenant_ids=tenant_ids,
        ephemeral_volume_prefix=ephemeral_prefix,
        ephemeral=StorageClass("ephemeral", ephemeral_replication, ephemeral_ttl),
        persistent=StorageClass("persistent", persistent_replication),
        s3_enabled=r.value("s3Enabled"),
        s3_region=s3_region,
        node=node,
        election_timeout=election_timeout,
        raft_hashicorp=r.value("raftHashicorp"),
        health_timeout_seconds=health_timeout,
        aws=aws,
    )


SECRET_KEYS = {
    # Not declared in Pulumi.yaml: a project-level default cannot be a secret.
    "databasePassword": "(aws, external) password of databaseUser; set with --secret",
}
DISK_TYPES = ("gp3", "io2", "st1")


def placement_problem(replication: str, servers_per_rack: Mapping[str, int]) -> str | None:
    """Why volumes of `replication` cannot grow on these racks (one data center), or None.

    xyz: x copies in other data centers, y on other racks, z on other servers of the same rack.
    """
    x, y, z = (int(d) for d in replication)
    if x:
        return f"needs {x + 1} data centers; the stack runs in one region (one data center)"
    if len(servers_per_rack) < y + 1:
        return f"needs {y + 1} racks (zones) with volume servers, there are {len(servers_per_rack)}"
    if z and max(servers_per_rack.values(), default=0) < z + 1:
        return (
            f"needs {z + 1} volume servers in one rack (zone), the most in any zone is "
            f"{max(servers_per_rack.values(), default=0)}: volumes cannot grow and writes hang"
        )
    return None


def _parse_aws(r: _Reader, region: str) -> AwsSettings:
    def strings(key: str) -> tuple[str, ...]:
        return r.value(key)

    zones = r.checked(
        "availabilityZones",
        lambda v: None if len(set(v)) == len(v) >= 3 else "needs at least 3 distinct zones (one master per zone)",
        'pulumi config set --path "availabilityZones[0]" us-east-1a (and [1], [2])',
    )
    if not region:
        r.problems.append(
            f"aws:region is not set. Fix: pulumi config set aws:region {zones[0][:-1] if zones else 'us-east-1'}"
        )
    vpc_id = r.value("vpcId")
    subnets = r.checked(
        "privateSubnetIds",
        lambda v: (
            None
            if (not vpc_id and not v) or (vpc_id and len(v) == len(zones))
            else "with vpcId, give one private subnet per availability zone (same order); without vpcId, none"
        ),
        'pulumi config set --path "privateSubnetIds[0]" subnet-... (one per zone)',
    )
    vpc_cidr = r.checked("vpcCidr", lambda v: _cidr_list_problem((v,)), "pulumi config set vpcCidr 10.40.0.0/16")
    orchestrator_sg = r.value("orchestratorSecurityGroupId")
    orchestrator_cidrs = r.checked(
        "orchestratorCidrs", _cidr_list_problem, 'pulumi config set --path "orchestratorCidrs[0]" 10.20.0.0/16'
    )
    if not orchestrator_sg and not orchestrator_cidrs:
        r.problem(
            "orchestratorSecurityGroupId",
            orchestrator_sg,
            "AEGIS orchestrators need a way in to the filer load balancer",
            "pulumi config set orchestratorSecurityGroupId sg-... (or set orchestratorCidrs)",
        )
    operator_cidrs = r.checked(
        "operatorCidrs", _cidr_list_problem, 'pulumi config set --path "operatorCidrs[0]" 10.99.0.0/24'
    )
    if r.value("s3Enabled") and not operator_cidrs:
        r.problem(
            "operatorCidrs",
            list(operator_cidrs),
            "the S3 gateway is enabled but no operator network may reach it",
            'pulumi config set --path "operatorCidrs[0]" <operator CIDR>',
        )
    monitoring_cidrs = r.checked(
        "monitoringCidrs", _cidr_list_problem, 'pulumi config set --path "monitoringCidrs[0]" 10.98.0.0/24'
    )

    def instance_type(key: str, minimum: sizing.NodeMinimum) -> str:
        chosen = r.value(key)
        if not chosen:
            return sizing.smallest_instance_type(minimum).name
        problem = sizing.instance_type_problem(chosen, minimum)
        if problem:
            r.problem(key, chosen, problem, f"pulumi config set {key} {sizing.smallest_instance_type(minimum).name}")
        return chosen

    def disk(key: str, minimum: sizing.NodeMinimum) -> int:
        return r.checked(
            key,
            _at_least(minimum.disk_gib, f"GiB (spec minimum for a {minimum.role})"),
            f"pulumi config set {key} {minimum.disk_gib}",
        )

    mode_name = r.checked(
        "databaseMode",
        lambda v: None if v in {m.value for m in DatabaseMode} else "must be rds or external",
        "pulumi config set databaseMode rds",
    )
    mode = DatabaseMode(mode_name) if mode_name in {m.value for m in DatabaseMode} else DatabaseMode.RDS
    database_host = r.value("databaseHost")
    if mode is DatabaseMode.EXTERNAL:
        if not database_host:
            r.problem(
                "databaseHost",
                "",
                "external databaseMode needs the PostgreSQL host",
                "pulumi config set databaseHost <host>",
            )
        if "databasePassword" not in r.raw:
            r.problems.append(
                f"{PROJECT}:databasePassword is missing: external databaseMode needs the filers' PostgreSQL password. "
                "Fix: pulumi config set --secret databasePassword <password>"
            )
    if "databasePassword" in r.raw and "databasePassword" not in r.secret_keys:
        r.problems.append(
            f"{PROJECT}:databasePassword is stored in plain text. "
            "Fix: pulumi config set --secret databasePassword <password> (and rotate it)"
        )
    volume_count = r.value("volumeServerCount")
    snapshots = r.checked(
        "volumeSnapshotIds",
        lambda v: None if not v or len(v) == volume_count else f"needs one snapshot per volume server ({volume_count})",
        'pulumi config set --path "volumeSnapshotIds[0]" snap-... (one per volume server, in order)',
    )
    load_balancers = r.checked(
        "loadBalancerCount",
        _at_least(2, "HAProxy nodes (one is a single point of failure)"),
        "pulumi config set loadBalancerCount 2",
    )
    settings = AwsSettings(
        region=region,
        availability_zones=zones,
        vpc_id=vpc_id,
        subnet_ids=subnets,
        vpc_cidr=vpc_cidr,
        orchestrator_security_group_id=orchestrator_sg,
        orchestrator_cidrs=orchestrator_cidrs,
        operator_cidrs=operator_cidrs,
        monitoring_cidrs=monitoring_cidrs,
        ami_id=r.value("amiId"),
        master_instance_type=instance_type("masterInstanceType", sizing.MASTER),
        filer_instance_type=instance_type("filerInstanceType", sizing.FILER),
        volume_instance_type=instance_type("volumeInstanceType", sizing.VOLUME),
        load_balancer_instance_type=instance_type("loadBalancerInstanceType", sizing.LOAD_BALANCER),
        master_disk_gib=disk("masterDiskGiB", sizing.MASTER),
        filer_disk_gib=disk("filerDiskGiB", sizing.FILER),
        volume_disk_gib=disk("volumeDiskGiB", sizing.VOLUME),
        volume_disk_type=r.checked(
            "volumeDiskType",
            lambda v: None if v in DISK_TYPES else f"must be one of {', '.join(DISK_TYPES)}",
            "pulumi config set volumeDiskType gp3",
        ),
        load_balancer_count=load_balancers,
        database_mode=mode,
        database_host=database_host,
        database_port=r.checked(
            "databasePort",
            lambda v: None if 1 <= v <= 65535 else "is not a TCP port",
            "pulumi config set databasePort 5432",
        ),
        database_name=r.value("databaseName"),
        database_user=r.value("databaseUser"),
        database_instance_class=r.value("databaseInstanceClass"),
        database_storage_gib=r.checked(
            "databaseStorageGiB", _at_least(20, "GiB (RDS minimum)"), "pulumi config set databaseStorageGiB 100"
        ),
        database_engine_version=r.value("databaseEngineVersion"),
        database_backup_retention_days=r.checked(
            "databaseBackupRetentionDays",
            lambda v: None if 1 <= v <= 35 else "must be 1-35 days (0 would disable backups and point-in-time restore)",
            "pulumi config set databaseBackupRetentionDays 14",
        ),
        database_restore_snapshot_id=r.value("databaseRestoreSnapshotId"),
        volume_snapshot_ids=snapshots,
        dns_zone_name=r.value("dnsZoneName"),
    )
    _check_placement(r, zones, volume_count)
    return settings


def _check_placement(r: _Reader, zones: tuple[str, ...], volume_count: int) -> None:
    """Every replication the stack uses must be able to grow volumes on the servers' racks (rack = zone)."""
    if not zones:
        return
    per_rack: dict[str, int] = {}
    for i in range(volume_count):
        per_rack[zones[i % len(zones)]] = per_rack.get(zones[i % len(zones)], 0) + 1
    for key in ("defaultReplication", "persistentReplication", "ephemeralReplication"):
        value = r.value(key)
        if replication_problem(value):
            continue
        problem = placement_problem(value, per_rack)
        if problem:
            spread = ", ".join(f"{zone}: {n}" for zone, n in per_rack.items())
            r.problem(
                key,
                value,
                f"cannot be placed on volume servers per zone ({spread}): it {problem}",
                f"use 010 (a copy in another zone) with pulumi config set {key} 010, or add volume servers so one "
                "zone has enough (volumeServerCount)",
            )
