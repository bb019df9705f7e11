"""The NodeConfig output against the orchestrator's own NodeConfig schema (components/model/aegis/schema.py).

The orchestrator's serde ignores unknown keys; these checks reject them, since such a key would do nothing.
"""

import re
from typing import Any

import pytest
import yaml

from components.model.aegis import schema as aegis_schema
from components.model.aegis.node_config import render_node_config
from components.model.aegis.schema import (
    API_VERSION,
    BACKENDS,
    KIND,
    NODE_TYPES,
    RUST_UNSIGNED_MAX,
    SEAWEEDFS,
    STORAGE,
    STRUCTS,
    SchemaField,
)
from components.model.config import ConfigError, StackConfig, parse
from tests.support.stack_configs import prod

FILER = "http://localhost:8888"


def rendered(cfg: StackConfig, s3_endpoint: str | None = "http://localhost:8333") -> dict[str, Any]:
    return yaml.safe_load(render_node_config(cfg, FILER, s3_endpoint))


def storage_block(raw: dict, s3_endpoint: str | None = "http://localhost:8333") -> dict:
    document = rendered(parse(raw, stack="dev"), s3_endpoint)
    assert list(document) == ["storage"]
    return document["storage"]


def type_problem(field: SchemaField, value: object) -> str | None:
    """Why `value` would not deserialize into the field's Rust type, or None (structs are checked by the caller)."""
    kind = field.value_type
    if kind == "String":
        return None if isinstance(value, str) else f"{value!r} is not a string"
    if kind == "bool":
        return None if isinstance(value, bool) else f"{value!r} is not a bool"
    if kind == "NodeType":
        return None if value in NODE_TYPES else f"{value!r} is not one of {NODE_TYPES}"
    if kind in RUST_UNSIGNED_MAX:
        fits = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= RUST_UNSIGNED_MAX[kind]
        return None if fits else f"{value!r} is not a {kind}"
    if kind in STRUCTS:
        return None if isinstance(value, dict) else f"{value!r} is not a mapping ({kind})"
    return f"{kind} is not a type this test checks"


def schema_problems(value: dict, schema: dict[str, SchemaField], where: str = "") -> list[str]:
    """Every key of `value` the orchestrator would not parse, every required key missing, every wrong type,
    through the nested structs the schema spells out."""
    problems = [f"{where}{key}: not parsed by the orchestrator" for key in sorted(set(value) - set(schema))]
    problems += [f"{where}{key}: required" for key, f in schema.items() if not f.optional and key not in value]
    for key, item in value.items():
        field = schema.get(key)
        if field is None or (item is None and field.optional):
            continue
        problems += [f"{where}{key}: {p}" for p in [type_problem(field, item)] if p]
        if field.value_type in STRUCTS and isinstance(item, dict):
            problems += schema_problems(item, STRUCTS[field.value_type], f"{where}{key}.")
    return problems


def operators_manifest() -> dict[str, Any]:
    """The least a node's own aegis-config.yaml holds (what `NodeConfigManifest::validate` insists on)."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": "orchestrator-1"},
        "spec": {"node": {"id": "2b0c6d0e-5f3a-4c57-9a51-0f6a3c1d7e42", "type": "orchestrator"}},
    }


def merged(output: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """The merge the README gives: the output's `storage` becomes the manifest's `spec.storage`, whole."""
    return manifest | {"spec": manifest["spec"] | {"storage": output["storage"]}}


def test_schema_names_its_source():
    assert aegis_schema.SOURCE_REPOSITORY == "100monkeys-ai/aegis-orchestrator"
    assert aegis_schema.SOURCE_PATH == "orchestrator/core/src/domain/node_config.rs"
    assert re.fullmatch(r"[0-9a-f]{40}", aegis_schema.SOURCE_COMMIT)
    assert aegis_schema.SOURCE_COMMIT in aegis_schema.__doc__


@pytest.mark.parametrize("s3_endpoint", ["http://localhost:8333", None])
def test_output_has_exactly_the_parsed_keys_with_their_types(s3_endpoint):
    storage = storage_block({"s3Enabled": s3_endpoint is not None}, s3_endpoint)
    assert set(storage) == {"backend", "nfs_port", "seaweedfs"}
    assert storage["backend"] == "seaweedfs" and storage["backend"] in BACKENDS
    assert schema_problems(storage, STORAGE) == []
    assert schema_problems(storage["seaweedfs"], SEAWEEDFS) == []
    expected = set(SEAWEEDFS) - ({"s3_endpoint"} if s3_endpoint is None else set())
    assert set(storage["seaweedfs"]) == expected


def test_the_schema_check_catches_a_removed_key_and_a_wrong_type():
    storage = storage_block({})
    storage["fallback_to_local"] = True
    storage["nfs_port"] = 70000
    storage["seaweedfs"]["filer_urls"] = [FILER]
    del storage["seaweedfs"]["filer_url"]
    assert sorted(schema_problems(storage, STORAGE)) == [
        "fallback_to_local: not parsed by the orchestrator",
        "nfs_port: 70000 is not a u16",
        "seaweedfs.filer_url: required",
        "seaweedfs.filer_urls: not parsed by the orchestrator",
    ]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_output_set_as_spec_storage_makes_a_valid_node_config(stack: str) -> None:
    cfg = prod() if stack == "prod" else parse({}, stack="dev")
    manifest = merged(rendered(cfg), operators_manifest())

    assert schema_problems(manifest, aegis_schema.MANIFEST) == []
    assert (manifest["apiVersion"], manifest["kind"]) == (API_VERSION, KIND)
    assert manifest["spec"]["node"] == operators_manifest()["spec"]["node"]  # the node's own keys stay
    assert manifest["spec"]["storage"]["seaweedfs"]["filer_url"] == FILER


def test_the_output_alone_is_not_a_manifest_and_the_check_says_so() -> None:
    # The output is the storage block only: read as a whole NodeConfig it lacks everything but storage.
    assert schema_problems(rendered(parse({}, stack="dev")), aegis_schema.MANIFEST) == [
        "storage: not parsed by the orchestrator",
        "apiVersion: required",
        "kind: required",
        "metadata: required",
        "spec: required",
    ]
    broken = operators_manifest()
    broken["spec"]["node"]["type"] = "worker"
    broken["spec"]["nodes"] = []
    assert schema_problems(broken, aegis_schema.MANIFEST) == [
        "spec.nodes: not parsed by the orchestrator",
        f"spec.node.type: 'worker' is not one of {aegis_schema.NODE_TYPES}",
    ]


def test_s3_endpoint_only_where_orchestrators_can_reach_the_gateway() -> None:
    # Prod's s3-not-from-orchestrators policy keeps the gateway closed to them; the dev host shares its network.
    prod_output = rendered(prod(), "http://nlb.example:8333")["storage"]["seaweedfs"]
    assert "s3_endpoint" not in prod_output and schema_problems(prod_output, SEAWEEDFS) == []
    assert rendered(parse({}, stack="dev"))["storage"]["seaweedfs"]["s3_endpoint"] == "http://localhost:8333"


def test_defaults_are_the_orchestrators_defaults_and_overrides_reach_the_output():
    storage = storage_block({})
    for key in (
        "mount_point",
        "default_ttl_hours",
        "default_size_limit_mb",
        "max_size_limit_mb",
        "gc_interval_minutes",
    ):
        assert storage["seaweedfs"][key] == SEAWEEDFS[key].default, key
    assert storage["nfs_port"] == STORAGE["nfs_port"].default
    custom = storage_block({"aegisFilerUrl": "http://seaweedfs-filer-lb:8888", "nfsPort": 12049}, None)
    assert custom["seaweedfs"]["filer_url"] == "http://seaweedfs-filer-lb:8888" and custom["nfs_port"] == 12049


@pytest.mark.parametrize(
    ("raw", "key", "reason"),
    [
        ({"defaultTtlHours": 2**32}, "defaultTtlHours", "(u32)"),
        ({"gcIntervalMinutes": 0}, "gcIntervalMinutes", "minimum of 1"),
        ({"maxSizeLimitMb": 500}, "maxSizeLimitMb", "below defaultSizeLimitMb (1000)"),
        ({"mountPoint": "var/lib"}, "mountPoint", "absolute path"),
    ],
)
def test_values_aegis_cannot_read_fail_the_preview(raw, key, reason):
    with pytest.raises(ConfigError) as err:
        parse(raw, stack="dev")
    [message] = err.value.problems
    assert message.startswith(f"aegis-storage:{key} = ") and reason in message and "Fix: " in message


def test_a_stack_that_still_sets_fallback_to_local_is_told_it_is_gone():
    with pytest.raises(ConfigError) as err:
        parse({"fallbackToLocal": False}, stack="dev")
    [message] = err.value.problems
    assert message.startswith("aegis-storage:fallbackToLocal = false: is retired")
    assert "removed spec.storage.fallback_to_local" in message and "Fix: pulumi config rm fallbackToLocal" in message
