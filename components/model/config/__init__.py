"""Stack configuration: one frozen, validated object parsed from the stack's config values.

The keys, their types and defaults are declared once, in the `config:` block of Pulumi.yaml
(`reader` reads it); the value rules live in `checks`, the AWS-only settings in `aws`. All problems
are reported together, each naming the key, the bad value and the fix, before a single resource exists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from components.model import raft, sizing
from components.model.aegis.schema import RUST_UNSIGNED_MAX
from components.model.config.aws import (
    REPLICATION_KEYS,
    AwsSettings,
    DatabaseMode,
    DatabaseSettings,
    InstanceSettings,
    NetworkSettings,
    WatchSettings,
    parse_aws,
)
from components.model.config.checks import DURATION_PATTERN, replication_problem, url_problem
from components.model.config.reader import PROJECT, SECRET_KEYS, ConfigError, Reader, at_least, schema
from components.model.config.retired import RETIRED_KEYS, retired_key_problems
from components.model.config.upkeep import Upkeep, parse_upkeep
from components.model.version import DIGEST_PATTERN, SEAWEEDFS_IMAGE_DIGESTS, SEAWEEDFS_VERSION, VERSION_PATTERN

__all__ = [
    "PROJECT",
    "AegisClientSettings",
    "AwsSettings",
    "AwsStackConfig",
    "ConfigError",
    "DatabaseMode",
    "DatabaseSettings",
    "InstanceSettings",
    "NetworkSettings",
    "Platform",
    "StackConfig",
    "WatchSettings",
    "parse",
    "schema",
]


class Platform(StrEnum):
    DOCKER = "docker"
    AWS = "aws"


@dataclass(frozen=True)
class AegisClientSettings:
    """How AEGIS uses the storage: values of its NodeConfig `spec.storage` block not derived from the cluster.

    ("Node" elsewhere in this project is a SeaweedFS node; AEGIS's NodeConfig is the orchestrator's.)
    """

    nfs_port: int
    default_ttl_hours: int
    default_size_limit_mb: int
    max_size_limit_mb: int
    gc_interval_minutes: int
    mount_point: str
    filer_url_override: str


@dataclass(frozen=True)
class StackConfig:
    """Everything the topology and the components are computed from; `aws` is None exactly on docker."""

    stack: str
    master_count: int
    volume_server_count: int
    filer_count: int
    default_replication: str
    volume_size_limit_mb: int
    aegis_replication: str  # of every file under /aegis/volumes/ (aegis_layout)
    s3_enabled: bool
    s3_region: str
    aegis_client: AegisClientSettings
    election_timeout: str
    raft_hashicorp: bool
    health_timeout_seconds: int
    upkeep: Upkeep
    aws: AwsSettings | None
    seaweedfs_version: str = SEAWEEDFS_VERSION
    allow_downgrade: bool = False
    # The release's image index digest (aws: always set, prod pulls by it; docker pulls the public tag).
    seaweedfs_image_digest: str = ""
    # "restart-all-masters" acknowledges an engine change on a running stack (components/model/raft.py).
    raft_engine_migration: str = ""

    @property
    def raft_engine(self) -> str:
        return raft.engine(self.raft_hashicorp)

    @property
    def platform(self) -> Platform:
        return Platform.DOCKER if self.aws is None else Platform.AWS


@dataclass(frozen=True)
class AwsStackConfig(StackConfig):
    """A config of the aws platform, as `parse` returns it: its AWS settings are always there."""

    aws: AwsSettings


def parse(
    raw: Mapping[str, Any],
    *,
    stack: str,
    secret_keys: set[str] | frozenset[str] = frozenset(),
    aws_region: str = "",
) -> StackConfig:
    """Parse and validate raw stack config values (key without namespace -> value)."""
    r = Reader(raw, set(secret_keys))
    retired_key_problems(r, raw)
    for key in sorted(set(raw) - set(schema()) - set(SECRET_KEYS) - set(RETIRED_KEYS)):
        r.problem(
            key, raw[key], "is not a key of this project", f"remove it, or use one of: {', '.join(sorted(schema()))}"
        )
    platform = _platform(r)
    counts = _aws_counts(r) if platform is Platform.AWS else _docker_counts(r)
    fields = {
        **_storage(r),
        "s3_enabled": r.value("s3Enabled"),
        "s3_region": r.checked(
            "s3Region", lambda v: None if v else "must not be empty", "pulumi config set s3Region us-east-1"
        ),
        "aegis_client": _aegis_client(r),
        **_masters(r),
        "health_timeout_seconds": r.checked(
            "healthTimeoutSeconds", at_least(10, "seconds"), "pulumi config set healthTimeoutSeconds 120"
        ),
        "upkeep": parse_upkeep(r),
        "aws": parse_aws(r, aws_region) if platform is Platform.AWS else None,
        **_release(r),
    }
    if platform is Platform.DOCKER:
        _single_copy_only(r)
    else:
        fields["seaweedfs_image_digest"] = _image_digest(r, fields["seaweedfs_version"])
    if r.problems:
        raise ConfigError(r.problems)
    if platform is Platform.AWS:
        return AwsStackConfig(stack=stack, **counts, **fields)
    return StackConfig(stack=stack, **counts, **fields)


def _platform(r: Reader) -> Platform:
    names = {p.value for p in Platform}
    name = r.checked(
        "platform", lambda v: None if v in names else "must be docker or aws", "pulumi config set platform docker|aws"
    )
    return Platform(name) if name in names else Platform.DOCKER


def _aws_counts(r: Reader) -> dict[str, int]:
    return {
        "master_count": r.checked(
            "masterCount",
            lambda v: (
                None
                if v >= 3 and v % 2 == 1
                else "the Raft quorum needs an odd number of masters, at least 3 (3 tolerates 1 failure, 5 tolerates 2)"
            ),
            "pulumi config set masterCount 3",
        ),
        "volume_server_count": r.checked(
            "volumeServerCount",
            at_least(sizing.VOLUME.count, "volume servers (spec minimum sizing)"),
            f"pulumi config set volumeServerCount {sizing.VOLUME.count}",
        ),
        "filer_count": r.checked(
            "filerCount",
            at_least(sizing.FILER.count, "filers (spec minimum sizing)"),
            f"pulumi config set filerCount {sizing.FILER.count}",
        ),
    }


def _docker_counts(r: Reader) -> dict[str, int]:
    single = "the docker stack is single-node: one master (-peers=none), one volume server, one filer"
    return {
        field: r.checked(key, lambda v: None if v == 1 else single, f"pulumi config set {key} 1")
        for field, key in (
            ("master_count", "masterCount"),
            ("volume_server_count", "volumeServerCount"),
            ("filer_count", "filerCount"),
        )
    }


def _storage(r: Reader) -> dict[str, Any]:
    """Replication of everything and of AEGIS's volumes, and the volume size."""

    def replication(key: str) -> str:
        return r.checked(key, replication_problem, f"use three digits, e.g. pulumi config set {key} 001")

    return {
        "default_replication": replication("defaultReplication"),
        "aegis_replication": replication("aegisReplication"),
        "volume_size_limit_mb": r.checked(
            "volumeSizeLimitMB",
            lambda v: None if 1 <= v <= 30000 else "SeaweedFS volumes must be between 1 and 30000 MB",
            "pulumi config set volumeSizeLimitMB 4096",
        ),
    }


def _aegis_client(r: Reader) -> AegisClientSettings:
    """The NodeConfig values, each within the range of its Rust type in the orchestrator (aegis_schema)."""
    default_size = r.checked(
        "defaultSizeLimitMb", _unsigned("u64", 1, "MB"), "pulumi config set defaultSizeLimitMb 1000"
    )
    return AegisClientSettings(
        nfs_port=r.checked(
            "nfsPort", lambda v: None if 1 <= v <= 65535 else "is not a TCP port", "pulumi config set nfsPort 2049"
        ),
        default_ttl_hours=r.checked(
            "defaultTtlHours", _unsigned("u32", 1, "hour"), "pulumi config set defaultTtlHours 24"
        ),
        default_size_limit_mb=default_size,
        max_size_limit_mb=r.checked(
            "maxSizeLimitMb",
            lambda v: (
                _unsigned("u64", 1, "MB")(v)
                or (f"is below defaultSizeLimitMb ({default_size})" if v < default_size else None)
            ),
            f"pulumi config set maxSizeLimitMb {max(default_size, 10000)}",
        ),
        gc_interval_minutes=r.checked(
            "gcIntervalMinutes", _unsigned("u32", 1, "minute"), "pulumi config set gcIntervalMinutes 60"
        ),
        mount_point=r.checked(
            "mountPoint",
            lambda v: None if v.startswith("/") else "must be an absolute path on the AEGIS host",
            "pulumi config set mountPoint /var/lib/aegis/storage",
        ),
        filer_url_override=r.checked(
            "aegisFilerUrl", url_problem, 'pulumi config set aegisFilerUrl "http://seaweedfs-filer-lb:8888"'
        ),
    )


def _unsigned(rust_type: str, minimum: int, what: str) -> Callable[[int], str | None]:
    """At least `minimum`, and small enough for the orchestrator's `rust_type` field."""
    largest = RUST_UNSIGNED_MAX[rust_type]
    return lambda v: (
        at_least(minimum, what)(v)
        or (f"is above {largest}, the largest value AEGIS reads ({rust_type})" if v > largest else None)
    )


def _masters(r: Reader) -> dict[str, Any]:
    return {
        "election_timeout": r.checked(
            "electionTimeout",
            lambda v: None if DURATION_PATTERN.match(v) else "must be a Go duration such as 3s or 1500ms",
            "pulumi config set electionTimeout 10s",
        ),
        "raft_hashicorp": r.value("raftHashicorp"),
        "raft_engine_migration": r.checked(
            "raftEngineMigration",
            lambda v: None if v in raft.MIGRATIONS else f"must be unset or {raft.RESTART_ALL_MASTERS}",
            f"pulumi config set raftEngineMigration {raft.RESTART_ALL_MASTERS} (or pulumi config rm it)",
        ),
    }


def _release(r: Reader) -> dict[str, Any]:
    version = r.checked(
        "seaweedfsVersion",
        lambda v: None if not v or VERSION_PATTERN.match(v) else "must be a SeaweedFS release such as 4.48",
        f"pulumi config set seaweedfsVersion {SEAWEEDFS_VERSION}",
    )
    return {"seaweedfs_version": version or SEAWEEDFS_VERSION, "allow_downgrade": r.value("allowDowngrade")}


def _image_digest(r: Reader, version: str) -> str:
    """The digest prod pulls `version` by: the key, else the one pinned for the release in version.py."""
    digest = r.checked(
        "seaweedfsImageDigest",
        lambda v: None if not v or DIGEST_PATTERN.match(v) else "must be an image digest, sha256:<64 hex>",
        f"pulumi config set seaweedfsImageDigest sha256:... (the index digest of chrislusf/seaweedfs:{version})",
    )
    if digest or not VERSION_PATTERN.match(version):
        return digest
    if version not in SEAWEEDFS_IMAGE_DIGESTS:
        r.problem(
            "seaweedfsVersion",
            version,
            "has no image digest pinned in components/model/version.py, and prod pulls only by digest",
            f"add the index digest of chrislusf/seaweedfs:{version} to SEAWEEDFS_IMAGE_DIGESTS and copy the "
            "image into the stack's repository (docs/image-registry.md), or pulumi config set seaweedfsImageDigest "
            "sha256:...",
        )
        return ""
    return SEAWEEDFS_IMAGE_DIGESTS[version]


def _single_copy_only(r: Reader) -> None:
    for key in REPLICATION_KEYS:
        if r.value(key) != "000" and not replication_problem(r.value(key)):
            r.problem(
                key,
                r.value(key),
                "the docker stack has one volume server, so extra copies have nowhere to go and writes hang",
                f"pulumi config set {key} 000",
            )
