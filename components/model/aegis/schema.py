"""The AEGIS NodeConfig manifest, as far as this stack's output touches it, exactly as the orchestrator parses it.

Read from github.com/100monkeys-ai/aegis-orchestrator, `orchestrator/core/src/domain/node_config.rs`
(structs `NodeConfigManifest`, `ManifestMetadata`, `NodeConfigSpec`, `NodeIdentity`, `StorageConfig` and
`SeaweedFSConfig`, their serde defaults in the `default_*` functions, and `NodeConfigManifest::validate`),
at commit 59bc51e940bb342089df3e7d65343834de579cfb (2026-05-08). No struct there has
`#[serde(deny_unknown_fields)]`: serde ignores an unknown key, so a key outside this schema does nothing,
silently. `fallback_to_local` was removed in commit cd3691540c9b2434f15c078f21b6617f95b46380 (2026-02-28)
and older pages still show it.

At run time the orchestrator reads only `backend`, `seaweedfs.filer_url` and `nfs_port` of `spec.storage`
(`cli/src/daemon/server.rs`); the other keys are parsed and unused today. Containers mount the NFS
gateway with `spec.runtime.nfs_port` / `spec.runtime.nfs_mountport`, which are outside `spec.storage`.

Only the structs the output and its merge check need are spelled out key by key; `SPEC` lists every key of
`NodeConfigSpec` with its Rust type, so a key that is not there is known not to exist.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE_REPOSITORY = "100monkeys-ai/aegis-orchestrator"
SOURCE_PATH = "orchestrator/core/src/domain/node_config.rs"
SOURCE_COMMIT = "59bc51e940bb342089df3e7d65343834de579cfb"

# The largest value of each Rust integer type the schema uses.
RUST_UNSIGNED_MAX = {"u16": 2**16 - 1, "u32": 2**32 - 1, "u64": 2**64 - 1, "usize": 2**64 - 1}
# A `#[serde(default)]` field of a type whose Default is not a plain value (a struct, an empty Vec, false).
SERDE_DEFAULT = "Default::default()"


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
        """The type inside `Option<…>`, or the type itself."""
        if self.rust_type.startswith("Option<"):
            return self.rust_type.removeprefix("Option<").removesuffix(">")
        return self.rust_type


# What `NodeConfigManifest::validate` insists on, beyond the types.
API_VERSION = "100monkeys.ai/v1"
KIND = "NodeConfig"
# `NodeType`, serde rename_all = "lowercase".
NODE_TYPES = ("edge", "orchestrator", "hybrid")
# `backend` values the orchestrator knows (a string, not an enum, in the struct).
BACKENDS = ("seaweedfs", "local_host", "opendal")

MANIFEST: dict[str, SchemaField] = {
    "apiVersion": SchemaField("String"),
    "kind": SchemaField("String"),
    "metadata": SchemaField("ManifestMetadata"),
    "spec": SchemaField("NodeConfigSpec"),
}

METADATA: dict[str, SchemaField] = {
    "name": SchemaField("String"),
    "version": SchemaField("Option<String>"),
    "labels": SchemaField("Option<HashMap<String, String>>"),
}

SPEC: dict[str, SchemaField] = {
    "node": SchemaField("NodeIdentity"),
    "image_tag": SchemaField("Option<String>"),
    "llm_providers": SchemaField("Vec<LLMProviderConfig>", SERDE_DEFAULT),
    "llm_selection": SchemaField("LLMSelection", SERDE_DEFAULT),
    "runtime": SchemaField("RuntimeConfig", SERDE_DEFAULT),
    "network": SchemaField("Option<NetworkConfig>"),
    "observability": SchemaField("Option<ObservabilityConfig>"),
    "storage": SchemaField("Option<StorageConfig>"),
    "mcp_servers": SchemaField("Option<Vec<McpServerConfig>>"),
    "builtin_dispatchers": SchemaField("Option<Vec<BuiltinDispatcherConfig>>"),
    "registry_credentials": SchemaField("Vec<RegistryCredentials>", SERDE_DEFAULT),
    "database": SchemaField("Option<DatabaseConfig>"),
    "temporal": SchemaField("Option<TemporalConfig>"),
    "cortex": SchemaField("Option<CortexConfig>"),
    "secrets": SchemaField("Option<SecretsConfig>"),
    "seal": SchemaField("Option<SealConfig>"),
    "cluster": SchemaField("Option<ClusterConfig>"),
    "security_contexts": SchemaField("Option<Vec<SecurityContextDefinition>>"),
    "iam": SchemaField("Option<IamConfig>"),
    "grpc_auth": SchemaField("Option<GrpcAuthConfig>"),
    "seal_gateway": SchemaField("Option<SealGatewayConfig>"),
    "deploy_builtins": SchemaField("bool", SERDE_DEFAULT),
    "force_deploy_builtins": SchemaField("Option<String>"),
    "max_execution_list_limit": SchemaField("Option<usize>"),
    "billing": SchemaField("Option<BillingConfig>"),
    "zaru": SchemaField("Option<ZaruConfig>"),
}

NODE: dict[str, SchemaField] = {
    "id": SchemaField("String"),
    "type": SchemaField("NodeType"),
    "region": SchemaField("Option<String>"),
    "tags": SchemaField("Vec<String>", SERDE_DEFAULT),
    "resources": SchemaField("Option<NodeResources>"),
}

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

# The structs spelled out above, by Rust name: a checker follows a key of one of these types into its schema.
STRUCTS: dict[str, dict[str, SchemaField]] = {
    "NodeConfigManifest": MANIFEST,
    "ManifestMetadata": METADATA,
    "NodeConfigSpec": SPEC,
    "NodeIdentity": NODE,
    "StorageConfig": STORAGE,
    "SeaweedFSConfig": SEAWEEDFS,
}
