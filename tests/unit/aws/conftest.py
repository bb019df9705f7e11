"""Fixtures for the prod program's tests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import prod_program
from tests.support.prod_program import ACCOUNT, REGISTRY, Run, execute
from tests.support.stack_configs import REGION

USAGE_REPOSITORY_URL = f"{REGISTRY}/aegis-storage/prod/usage"
USAGE_REPOSITORY_ARN = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/aegis-storage/prod/usage"
_computed = prod_program.computed_outputs


def usage_repo_digest(inputs: dict[str, Any]) -> str:
    """What the Docker provider reports after a push, made from what was built: a changed build, a new digest."""
    built = json.dumps([inputs.get("imageName"), inputs.get("build", {}).get("args")], sort_keys=True)
    return f"{USAGE_REPOSITORY_URL}@sha256:{hashlib.sha256(built.encode()).hexdigest()}"


def _with_usage_image(type_: str, name: str, addresses: dict[str, str]) -> dict[str, Any]:
    if type_ == "aws:ecr/repository:Repository" and name == "usage-image":
        return {"repositoryUrl": USAGE_REPOSITORY_URL, "arn": USAGE_REPOSITORY_ARN, "registryId": ACCOUNT}
    return _computed(type_, name, addresses)


@pytest.fixture(scope="package", autouse=True)
def usage_image_pushed() -> Iterator[None]:
    """The mocks as the Docker provider and ECR answer for the usage image: its own repository, and the digest of
    the pushed image (the shared mocks echo inputs only)."""
    new_resource = prod_program.RecordingMocks.new_resource

    def pushed(self: Any, args: Any) -> tuple[str, dict[str, Any]]:
        id_, outputs = new_resource(self, args)
        if args.typ == "docker:index/image:Image":
            outputs = {**outputs, "repoDigest": usage_repo_digest(dict(args.inputs))}
        return id_, outputs

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(prod_program, "computed_outputs", _with_usage_image)
        patch.setattr(prod_program.RecordingMocks, "new_resource", pushed)
        yield


@pytest.fixture(scope="package")
def prod(usage_image_pushed: None) -> Run:
    """The prod program on the shipped config, run once; a module whose mocks compute more overrides it."""
    return execute()
