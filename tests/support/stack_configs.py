"""The shipped stacks' config, parsed: the prod stack as Pulumi.prod.yaml sets it, with overrides on top.

`prod()` is the valid prod config a test or benchmark starts from; `problems()` is what the parser refuses.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from components.model.config import PROJECT, ConfigError, StackConfig, parse
from tests.support.pulumi_harness import ROOT

PROD_STACK_FILE: dict[str, Any] = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
# The project's keys without their namespace, as `pulumi config` takes them.
PROD: dict[str, Any] = {k.split(":", 1)[1]: v for k, v in PROD_STACK_FILE.items() if k.startswith(f"{PROJECT}:")}
REGION: str = PROD_STACK_FILE["aws:region"]


def prod(**overrides: Any) -> StackConfig:
    """The shipped prod config with `overrides` (config keys) on top."""
    return parse({**PROD, **overrides}, stack="prod", aws_region=REGION)


def problems(**kwargs: Any) -> list[str]:
    """The messages the parser refuses `kwargs` with: a dev stack's keys, or prod's with `_platform="aws"`."""
    platform = kwargs.pop("_platform", "docker")
    base = PROD if platform == "aws" else {}
    with pytest.raises(ConfigError) as err:
        parse({**base, **kwargs}, stack="t", aws_region=REGION)
    return err.value.problems
