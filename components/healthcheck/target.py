"""What the health check probes, and the `health_target` stack output that carries it from the stacks.

The output's keys are the names of `Target`'s fields, and their JSON types follow the fields' types: the
stacks write it with `health_target_output` and the check reads it back with `Target.from_stack_outputs`,
so a key is spelled once, here. The S3 keys are left out of it: they are secret stack outputs of their own
(`SECRET_OUTPUTS`), which the Lambda reads from SSM instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any
from urllib.parse import SplitResult, urlsplit

HEALTH_TARGET = "health_target"
# Target field -> the stack output holding it, beside `health_target`.
SECRET_OUTPUTS = {"s3_access_key": "s3_admin_access_key", "s3_secret_key": "s3_admin_secret_key"}
SECRET_PLACEHOLDER = "[secret]"


@dataclass(frozen=True)
class Target:
    """Where the cluster answers and what a healthy one looks like."""

    filer_url: str
    master_urls: tuple[str, ...]
    expected_masters: int
    expected_volume_servers: tuple[str, ...]
    filer_addresses: tuple[str, ...] = ()
    # The tier's admin frontend: the filer's native API, for the probes and cleanup AEGIS never sends (the filer
    # URL lets through AEGIS's calls only). None: a bare filer, where the filer URL is the native API.
    admin_url: str | None = None
    s3_endpoint: str | None = None
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = "us-east-1"
    filer_rules: str | None = None  # the rendered /etc/seaweedfs/filer.conf, compared with the live one
    # Below these a volume server makes the cluster "degraded"; 0 leaves the check out.
    min_free_volume_slots: int = 0
    min_free_disk_percent: int = 0
    volume_server_urls: tuple[str, ...] = ()  # where each volume server's /status (disk use) can be read
    # The filers' metadata log is purged past this many days (metadataLogRetentionDays); its oldest day folder
    # past it + 1 makes the cluster "degraded". 0 (outputs written before it) leaves the check out.
    metadata_log_retention_days: int = 0
    # The tier runs the usage service beside each HAProxy (both stacks do): one that takes no connection is down.
    # False (outputs written before it, a bare filer): a stopped service and none at all look alike.
    usage_service: bool = False

    def __post_init__(self) -> None:
        if not self.master_urls:
            raise ValueError("at least one master URL is needed")
        if self.expected_masters < 1:
            raise ValueError(f"expected masters must be at least 1, got {self.expected_masters}")
        if self.min_free_volume_slots < 0:
            raise ValueError(f"minimum free volume slots must be 0 or more, got {self.min_free_volume_slots}")
        if not 0 <= self.min_free_disk_percent < 100:
            raise ValueError(f"minimum free disk must be 0-99 percent, got {self.min_free_disk_percent}")
        if self.metadata_log_retention_days < 0:
            raise ValueError(f"metadata log retention must be 0 or more days, got {self.metadata_log_retention_days}")
        optional = tuple(url for url in (self.admin_url, self.s3_endpoint) if url is not None)
        for url in (self.filer_url, *self.master_urls, *self.filer_addresses, *self.volume_server_urls, *optional):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname or not _valid_port(parts):
                raise ValueError(f"{url!r} is not an http(s)://host[:port] URL with a port of 1-65535")
        for server in self.expected_volume_servers:
            # The master reports volume servers as bare host:port; a URL here could never match.
            found = re.fullmatch(r"[^\s/]+:(\d+)", server)
            if not found or not 1 <= int(found.group(1)) <= 65535:
                raise ValueError(f"volume server {server!r} must be host:port (port 1-65535), as the master reports it")

    @property
    def native_url(self) -> str:
        """Where the filer's native API answers: the admin URL, or the filer URL of a cluster without one."""
        return self.admin_url or self.filer_url

    @classmethod
    def from_stack_outputs(cls, outputs: Mapping[str, Any]) -> Target:
        """Build the target from the JSON of `pulumi stack output --json --show-secrets`."""
        if not isinstance(outputs, Mapping):
            raise ValueError("stack outputs must be a JSON object, as printed by `pulumi stack output --json`")
        health = _output(outputs, HEALTH_TARGET, Mapping)
        values: dict[str, Any] = {}
        for name, kind, default in _SCHEMA:
            if name in SECRET_OUTPUTS:
                values[name] = _output(outputs, SECRET_OUTPUTS[name], kind, default=default)
            elif kind is tuple:
                values[name] = _strings(health, name, f"{HEALTH_TARGET}.", default)
            else:
                values[name] = _output(health, name, kind, f"{HEALTH_TARGET}.", default)
        return cls(**values)


def health_target_output(**values: Any) -> dict[str, Any]:
    """The `health_target` stack output: a value for each of its keys (every field of `Target` but the S3
    keys), which may be Pulumi inputs; a None is read back as the field's default."""
    keys = [name for name, _, _ in _SCHEMA if name not in SECRET_OUTPUTS]
    if sorted(values) != sorted(keys):
        raise ValueError(f"{HEALTH_TARGET} takes the keys {keys}, got {sorted(values)}")
    return {key: values[key] for key in keys}


_REQUIRED: Any = object()
# The JSON type of each field type: a tuple of strings is a list in JSON.
_KINDS: dict[str, type] = {"str": str, "str | None": str, "int": int, "bool": bool, "tuple[str, ...]": tuple}
# (field, JSON type, default); built on import, so a field of a type the outputs cannot carry fails at once.
_SCHEMA: tuple[tuple[str, type, Any], ...] = tuple(
    (field.name, _KINDS[str(field.type)], _REQUIRED if field.default is MISSING else field.default)
    for field in fields(Target)
)


def _valid_port(parts: SplitResult) -> bool:
    # urlsplit only parses the port when asked, and raises then; httpx would raise later, mid-check.
    try:
        port = parts.port
    except ValueError:
        return False
    return port is None or port >= 1


def _output(source: Mapping[str, Any], key: str, kind: type, prefix: str = "", default: Any = _REQUIRED) -> Any:
    name = prefix + key
    value = source.get(key)
    if value is None:
        if default is _REQUIRED:
            raise ValueError(f"stack outputs have no {name}")
        return default
    if value == SECRET_PLACEHOLDER:
        raise ValueError(_hidden(name))
    # bool is an int subclass; a true/false count is a broken output, not 1/0.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"stack output {name} has the wrong type: {value!r}")
    return value


def _strings(source: Mapping[str, Any], key: str, prefix: str, default: Any = _REQUIRED) -> tuple[str, ...]:
    values = _output(source, key, list, prefix, default)
    if not all(isinstance(v, str) for v in values):
        raise ValueError(f"stack output {prefix}{key} must be a list of strings: {values!r}")
    if SECRET_PLACEHOLDER in values:
        raise ValueError(_hidden(prefix + key))
    return tuple(values)


def _hidden(name: str) -> str:
    return f'stack output {name} is hidden as "{SECRET_PLACEHOLDER}": run `pulumi stack output --json --show-secrets`'
