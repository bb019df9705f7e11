"""The NodeConfig output against the orchestrator's own `spec.storage` schema (components/model/aegis/schema.py)."""

import re

import pytest
import yaml

from components.model.aegis import schema as aegis_schema
from components.model.aegis.node_config import render_node_config
from components.model.aegis.schema import BACKENDS, RUST_UNSIGNED_MAX, SEAWEEDFS, STORAGE, SchemaField
from components.model.config import ConfigError, parse


def storage_block(raw: dict, s3_endpoint: str | None = "http://localhost:8333") -> dict:
    cfg = parse(raw, stack="dev")
    return yaml.safe_load(render_node_config(cfg, "http://localhost:8888", s3_endpoint))["spec"]["storage"]


def type_problem(field: SchemaField, value: object) -> str | None:
    """Why `value` would not deserialize into the field's Rust type, or None."""
    kind = field.value_type
    if kind == "String":
        return None if isinstance(value, str) else f"{value!r} is not a string"
    if kind in RUST_UNSIGNED_MAX:
        fits = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= RUST_UNSIGNED_MAX[kind]
        return None if fits else f"{value!r} is not a {kind}"
    return f"{kind} is not a scalar this test checks"


def schema_problems(block: dict, schema: dict[str, SchemaField]) -> list[str]:
    problems = [f"{key}: not parsed by the orchestrator" for key in set(block) - set(schema)]
    problems += [f"{key}: required" for key, f in schema.items() if not f.optional and key not in block]
    for key, value in block.items():
        if key in schema and not isinstance(value, dict):
            problems += [f"{key}: {p}" for p in [type_problem(schema[key], value)] if p]
    return problems


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
    assert sorted(schema_problems(storage, STORAGE)) == [
        "fallback_to_local: not parsed by the orchestrator",
        "nfs_port: 70000 is not a u16",
    ]


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
