"""The `spec.storage` block of an AEGIS NodeConfig, exactly as the orchestrator parses it.

Read from github.com/100monkeys-ai/aegis-orchestrator, `orchestrator/core/src/domain/node_config.rs`
(structs `StorageConfig` and `SeaweedFSConfig`, their serde defaults in the `default_*` functions),
at commit 59bc51e940bb342089df3e7d65343834de579cfb (2026-05-08). serde ignores unknown keys there,
so a key outside this schema does nothing: `fallback_to_local` was removed in commit
cd3691540c9b2434f15c078f21b6617f95b46380 (2026-02-28) and older pages still show it.

At run time the orchestrator reads only `backend`, `seaweedfs.filer_url` and `nfs_port`
(`cli/src/daemon/server.rs`); the other keys are parsed and unused today. Containers mount the NFS
gateway with `spec.runtime.nfs_port` / `spec.runtime.nfs_mountport`, which are outside `spec.storage`.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE_REPOSITORY = "100monkeys-ai/aegis-orchestrator"
SOURCE_PATH = "orchestrator/core/src/domain/node_config.rs"
SOURCE_COMMIT = "59bc51e940bb342089df3e7d65343834de579cfb"

# The largest value of each Rust integer type the schema uses.
RUST_UNSIGNED_MAX = {"u16": 2**16 - 1, "u32": 2**32 - 1, "u64": 2**64 - 1}


@dataclass(frozen=True)
class SchemaField:
    """One key: its Rust type (`Option<T>` may be absent) and its serde default (None: required or absent)."""

    rust_type: str
    default: object = None

    @property
    def optional(self) -> bool:
        return self.rust_type.startswith("Option<") or self.default is not None

    @property
    def value_type(self) -> str:
        return self.rust_type.removeprefix("Option<").removesuffix(">")


# `backend` values the orchestrator knows (a string, not an enum, in the struct).
BACKENDS = ("seaweedfs", "local_host", "opendal")

STORAGE: dict[str, SchemaField] = {
    "backend": SchemaField("String", "local_host"),
    "nfs_port": SchemaField("Option<u16>", 2049),
    "seaweedfs": SchemaField("Option<SeaweedFSConfig>"),
    "local_host": SchemaField("Option<LocalHostStorageConfig>"),
    "opendal": SchemaField("Option<OpenDalConfig>"),
}

SEAWEEDFS: dict[str, SchemaField] = {
    "filer_url": SchemaField("String"),
    "mount_point": SchemaField("String", "/var/lib/aegis/storage"),
    "default_ttl_hours": SchemaField("u32", 24),
    "default_size_limit_mb": SchemaField("u64", 1000),
    "max_size_limit_mb": SchemaField("u64", 10000),
    "gc_interval_minutes": SchemaField("u32", 60),
    "s3_endpoint": SchemaField("Option<String>"),
    "s3_region": SchemaField("String", "us-east-1"),
}
