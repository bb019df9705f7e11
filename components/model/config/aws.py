"""The AWS-only part of the stack config: network, node sizing, the metadata database, disaster-recovery inputs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from components.model import sizing
from components.model.config.checks import cidr_list_problem, placement_problem, replication_problem
from components.model.config.database_pool import FilerPool, check_connection_budget, parse_filer_pool
from components.model.config.disks import DiskPerformance, parse_volume_disk
from components.model.config.reader import PROJECT, Reader, at_least

DISK_TYPES = ("gp3", "io1", "io2", "st1")
REPLICATION_KEYS = ("defaultReplication", "aegisReplication")


class DatabaseMode(StrEnum):
    RDS = "rds"
    EXTERNAL = "external"


@dataclass(frozen=True)
class NetworkSettings:
    region: str
    availability_zones: tuple[str, ...]
    vpc_id: str
    subnet_ids: tuple[str, ...]
    vpc_cidr: str
    orchestrator_security_group_id: str
    orchestrator_cidrs: tuple[str, ...]
    operator_cidrs: tuple[str, ...]
    monitoring_cidrs: tuple[str, ...]
    dns_zone_name: str


@dataclass(frozen=True)
class InstanceSettings:
    """The EC2 instances and disks the SeaweedFS nodes run on."""

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
    volume_snapshot_ids: tuple[str, ...]
    # Provisioned IOPS/throughput of the volume data disks (io1/io2 always have IOPS); the masters' and filers'
    # disks are gp3 with EC2's free baseline, which is always within its limits.
    volume_disk: DiskPerformance = field(default_factory=DiskPerformance)


@dataclass(frozen=True)
class DatabaseSettings:
    """The filers' PostgreSQL: an RDS instance the stack owns, or an existing server (external)."""

    mode: DatabaseMode
    host: str
    port: int
    name: str
    user: str
    instance_class: str
    storage_gib: int
    engine_version: str
    backup_retention_days: int
    restore_snapshot_id: str
    # Each filer's connection pool; on rds the preview checks all of them fit the instance class.
    pool: FilerPool = field(default_factory=FilerPool)


@dataclass(frozen=True)
class WatchSettings:
    """The in-VPC health function's schedule and the alarms on what it publishes."""

    schedule_minutes: int
    alarm_topic_arn: str
    runtime: str = "python3.11"
    # The fastest-growing tenant's usage growth that alarms; 0: no alarm.
    tenant_growth_alarm_gib_per_hour: int = 10


@dataclass(frozen=True)
class AwsSettings:
    """Settings that exist only for the AWS stack; each component is given the part it uses."""

    network: NetworkSettings
    instances: InstanceSettings
    database: DatabaseSettings
    watch: WatchSettings
    # Days S3 keeps each filer metadata backup (components/aws/metadata_backup.py).
    metadata_backup_retention_days: int = 30


def parse_aws(r: Reader, region: str) -> AwsSettings:
    settings = AwsSettings(
        network=_network(r, region),
        instances=_instances(r),
        database=_database(r),
        watch=_watch(r),
        metadata_backup_retention_days=r.checked(
            "metadataBackupRetentionDays",
            at_least(1, "day (S3 expires objects after whole days)"),
            "pulumi config set metadataBackupRetentionDays 30",
        ),
    )
    _check_placement(r, settings.network.availability_zones, r.value("volumeServerCount"))
    if settings.database.mode is DatabaseMode.RDS:
        # An external server's max_connections is not known here; its operator budgets it.
        check_connection_budget(r, settings.database.instance_class, r.value("filerCount"), settings.database.pool)
    return settings


def _network(r: Reader, region: str) -> NetworkSettings:
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
    return NetworkSettings(
        region=region,
        availability_zones=zones,
        vpc_id=vpc_id,
        subnet_ids=subnets,
        vpc_cidr=r.checked("vpcCidr", lambda v: cidr_list_problem((v,)), "pulumi config set vpcCidr 10.40.0.0/16"),
        **_ingress(r),
        dns_zone_name=r.value("dnsZoneName"),
    )


def _ingress(r: Reader) -> dict[str, object]:
    """Who may reach the cluster: the orchestrators, the operators (S3), the monitoring (metrics)."""
    orchestrator_sg = r.value("orchestratorSecurityGroupId")
    orchestrator_cidrs = r.checked(
        "orchestratorCidrs", cidr_list_problem, 'pulumi config set --path "orchestratorCidrs[0]" 10.20.0.0/16'
    )
    if not orchestrator_sg and not orchestrator_cidrs:
        r.problem(
            "orchestratorSecurityGroupId",
            orchestrator_sg,
            "AEGIS orchestrators need a way in to the filer load balancer",
            "pulumi config set orchestratorSecurityGroupId sg-... (or set orchestratorCidrs)",
        )
    operator_cidrs = r.checked(
        "operatorCidrs", cidr_list_problem, 'pulumi config set --path "operatorCidrs[0]" 10.99.0.0/24'
    )
    if r.value("s3Enabled") and not operator_cidrs:
        r.problem(
            "operatorCidrs",
            list(operator_cidrs),
            "the S3 gateway is enabled but no operator network may reach it",
            'pulumi config set --path "operatorCidrs[0]" <operator CIDR>',
        )
    return {
        "orchestrator_security_group_id": orchestrator_sg,
        "orchestrator_cidrs": orchestrator_cidrs,
        "operator_cidrs": operator_cidrs,
        "monitoring_cidrs": r.checked(
            "monitoringCidrs", cidr_list_problem, 'pulumi config set --path "monitoringCidrs[0]" 10.98.0.0/24'
        ),
    }


def _instance_type(r: Reader, key: str, minimum: sizing.NodeMinimum) -> str:
    chosen = r.value(key)
    if not chosen:
        return sizing.smallest_instance_type(minimum).name
    problem = sizing.instance_type_problem(chosen, minimum)
    if problem:
        r.problem(key, chosen, problem, f"pulumi config set {key} {sizing.smallest_instance_type(minimum).name}")
    return chosen


def _disk(r: Reader, key: str, minimum: sizing.NodeMinimum) -> int:
    return r.checked(
        key,
        at_least(minimum.disk_gib, f"GiB (spec minimum for a {minimum.role})"),
        f"pulumi config set {key} {minimum.disk_gib}",
    )


def _volume_disk_type(r: Reader) -> str:
    return r.checked(
        "volumeDiskType",
        lambda v: None if v in DISK_TYPES else f"must be one of {', '.join(DISK_TYPES)}",
        "pulumi config set volumeDiskType gp3",
    )


def _instances(r: Reader) -> InstanceSettings:
    volume_count = r.value("volumeServerCount")
    disk_gib, disk_type = _disk(r, "volumeDiskGiB", sizing.VOLUME), _volume_disk_type(r)
    return InstanceSettings(
        ami_id=r.value("amiId"),
        master_instance_type=_instance_type(r, "masterInstanceType", sizing.MASTER),
        filer_instance_type=_instance_type(r, "filerInstanceType", sizing.FILER),
        volume_instance_type=_instance_type(r, "volumeInstanceType", sizing.VOLUME),
        load_balancer_instance_type=_instance_type(r, "loadBalancerInstanceType", sizing.LOAD_BALANCER),
        master_disk_gib=_disk(r, "masterDiskGiB", sizing.MASTER),
        filer_disk_gib=_disk(r, "filerDiskGiB", sizing.FILER),
        volume_disk_gib=disk_gib,
        volume_disk_type=disk_type,
        volume_disk=parse_volume_disk(r, disk_type, disk_gib),
        load_balancer_count=r.checked(
            "loadBalancerCount",
            at_least(2, "HAProxy nodes (one is a single point of failure)"),
            "pulumi config set loadBalancerCount 2",
        ),
        volume_snapshot_ids=r.checked(
            "volumeSnapshotIds",
            lambda v: (
                None if not v or len(v) == volume_count else f"needs one snapshot per volume server ({volume_count})"
            ),
            'pulumi config set --path "volumeSnapshotIds[0]" snap-... (one per volume server, in order)',
        ),
    )


def _database_mode(r: Reader) -> DatabaseMode:
    name = r.checked(
        "databaseMode",
        lambda v: None if v in {m.value for m in DatabaseMode} else "must be rds or external",
        "pulumi config set databaseMode rds",
    )
    mode = DatabaseMode(name) if name in {m.value for m in DatabaseMode} else DatabaseMode.RDS
    if mode is DatabaseMode.EXTERNAL:
        if not r.value("databaseHost"):
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
    return mode


def _database(r: Reader) -> DatabaseSettings:
    return DatabaseSettings(
        mode=_database_mode(r),
        host=r.value("databaseHost"),
        port=r.checked(
            "databasePort",
            lambda v: None if 1 <= v <= 65535 else "is not a TCP port",
            "pulumi config set databasePort 5432",
        ),
        name=r.value("databaseName"),
        user=r.value("databaseUser"),
        instance_class=r.value("databaseInstanceClass"),
        storage_gib=r.checked(
            "databaseStorageGiB", at_least(20, "GiB (RDS minimum)"), "pulumi config set databaseStorageGiB 100"
        ),
        engine_version=r.value("databaseEngineVersion"),
        backup_retention_days=r.checked(
            "databaseBackupRetentionDays",
            lambda v: None if 1 <= v <= 35 else "must be 1-35 days (0 would disable backups and point-in-time restore)",
            "pulumi config set databaseBackupRetentionDays 14",
        ),
        restore_snapshot_id=r.value("databaseRestoreSnapshotId"),
        pool=parse_filer_pool(r),
    )


# The gate is one Lambda invocation, at most 15 minutes; the function needs a minute beyond its wait.
MAX_GATE_WAIT_SECONDS = 840
# The python runtimes of pulumi_aws.lambda_.Runtime that are 3.11 or newer (tests/unit/model hold the two equal).
# The check needs 3.11 (`zip(strict=)` and `isinstance(x, A | B)` are 3.10, `datetime.UTC` in its SigV4 signer is
# 3.11), and the function's zip (the check and its vendored httpx) is pure Python, so it runs on every runtime
# from there on, whatever Python the deployer has.
# Past this a tenant would fill any cluster this stack builds long before the alarm's two runs: a typo.
MAX_TENANT_GROWTH_GIB_PER_HOUR = 100_000
LAMBDA_PYTHON_RUNTIMES = ("python3.11", "python3.12", "python3.13", "python3.14")
TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}")


def _watch(r: Reader) -> WatchSettings:
    r.checked(
        "healthTimeoutSeconds",
        lambda v: (
            None
            if v <= MAX_GATE_WAIT_SECONDS
            else f"the in-VPC gate (one Lambda run) waits at most {MAX_GATE_WAIT_SECONDS} s"
        ),
        f"pulumi config set healthTimeoutSeconds {MAX_GATE_WAIT_SECONDS}",
    )
    return WatchSettings(
        schedule_minutes=r.checked(
            "healthScheduleMinutes",
            # Each alarm spans two runs, and a watch seen less than hourly would not be watching.
            lambda v: None if 1 <= v <= 60 else "must be 1-60 minutes",
            "pulumi config set healthScheduleMinutes 5",
        ),
        alarm_topic_arn=r.checked(
            "alarmTopicArn",
            lambda v: None if not v or TOPIC_ARN.fullmatch(v) else "is not an SNS topic ARN",
            "pulumi config set alarmTopicArn arn:aws:sns:<region>:<account>:<topic> (or unset it to create one)",
        ),
        runtime=r.checked(
            "healthFunctionRuntime",
            lambda v: (
                None
                if v in LAMBDA_PYTHON_RUNTIMES
                else f"is not a Lambda Python runtime the check runs on ({', '.join(LAMBDA_PYTHON_RUNTIMES)})"
            ),
            "pulumi config set healthFunctionRuntime python3.11",
        ),
        tenant_growth_alarm_gib_per_hour=r.checked(
            "tenantGrowthAlarmGiBPerHour",
            lambda v: (
                None if 0 <= v <= MAX_TENANT_GROWTH_GIB_PER_HOUR else f"must be 0-{MAX_TENANT_GROWTH_GIB_PER_HOUR}"
            ),
            "pulumi config set tenantGrowthAlarmGiBPerHour 10 (0 turns the alarm off)",
        ),
    )


def _check_placement(r: Reader, zones: tuple[str, ...], volume_count: int) -> None:
    """Every replication the stack uses must be able to grow volumes on the servers' racks (rack = zone)."""
    if not zones:
        return
    per_rack: dict[str, int] = {}
    for i in range(volume_count):
        per_rack[zones[i % len(zones)]] = per_rack.get(zones[i % len(zones)], 0) + 1
    for key in REPLICATION_KEYS:
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
