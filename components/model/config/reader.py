"""Reads raw stack values against the schema in Pulumi.yaml and collects every problem with its fix."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PROJECT = "aegis-storage"
PROJECT_FILE = Path(__file__).resolve().parents[3] / "Pulumi.yaml"

SECRET_KEYS = {
    # Not declared in Pulumi.yaml: a project-level default cannot be a secret.
    "databasePassword": "(aws, external) password of databaseUser; set with --secret",
}


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


class Reader:
    """Converts raw stack values with the schema's types and collects problems."""

    def __init__(self, raw: Mapping[str, Any], secret_keys: set[str]) -> None:
        self.raw = raw
        self.secret_keys = secret_keys
        self.problems: list[str] = []

    def problem(self, key: str, value: Any, message: str, fix: str) -> None:
        shown = "<secret>" if key in self.secret_keys else json.dumps(value)
        # scripts/deploy sets it for dev ("scripts/pulumi dev config"): a plain `pulumi config` there would
        # miss the per-user backend and passphrase and write to the tracked Pulumi.dev.yaml.
        command = os.environ.get("AEGIS_STORAGE_CONFIG_COMMAND")
        if command:
            fix = fix.replace("pulumi config ", f"{command} ")
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


def at_least(minimum: int, what: str) -> Callable[[int], str | None]:
    return lambda v: None if v >= minimum else f"is below the minimum of {minimum} {what}"
