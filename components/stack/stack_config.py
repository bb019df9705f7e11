"""Reads the stack's Pulumi config into the validated StackConfig, failing the preview cleanly."""

from __future__ import annotations

import pulumi
from pulumi.runtime import config as runtime_config

from components.model import config


def _project_values() -> dict[str, str]:
    """Every value set in this project's namespace, declared or not, so a misspelt key is reported."""
    prefix = f"{config.PROJECT}:"
    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return {key[len(prefix) :]: value for key, value in values.items() if key.startswith(prefix)}


def load() -> config.StackConfig:
    """Parse this stack's config; invalid config stops the program before any resource exists."""
    raw = _project_values()
    secret_keys = {key for key in raw if pulumi.runtime.is_config_secret(f"{config.PROJECT}:{key}")}
    region = pulumi.Config("aws").get("region") or ""
    try:
        return config.parse(raw, stack=pulumi.get_stack(), secret_keys=secret_keys, aws_region=region)
    except config.ConfigError as err:
        # RunError ends the program with just this message, no Python traceback.
        raise pulumi.RunError(str(err)) from None
