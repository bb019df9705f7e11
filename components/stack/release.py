"""The stack's SeaweedFS release: `Release` and its `ReleaseGuard`, the same in both stacks.

The guard is a Pulumi dynamic resource whose `check` refuses a release below the one the stack runs (its
previous inputs) unless allowDowngrade. Whatever a release reaches (containers, node documents) depends
on it, so a refused downgrade fails the preview and the update before a single node changes.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

from components.model.rollout import release_problem


def release_check(olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
    """A dynamic provider's check of inputs that carry `version` and `allow_downgrade`."""
    problem = release_problem(olds, news)
    return CheckResult(news, [CheckFailure("version", problem)] if problem else [])


class _ReleaseGuardProvider(ResourceProvider):
    """Refuses a release below the one the stack runs (its previous inputs) unless allow_downgrade."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return release_check(olds, news)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=olds.get("version") != news["version"], replaces=[], stables=[])

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_="release-guard", outs=props)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=news)


class ReleaseGuard(pulumi.dynamic.Resource):
    """Registered before anything a release reaches (containers, node documents): a downgrade that is not
    allowed fails the preview and the update before a single node changes."""

    def __init__(
        self, name: str, version: str, allow_downgrade: bool, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(_ReleaseGuardProvider(), name, {"version": version, "allow_downgrade": allow_downgrade}, opts)


class Release(pulumi.ComponentResource):
    """The stack's SeaweedFS release and its guard; whatever a release reaches depends on this."""

    def __init__(self, name: str, version: str, allow_downgrade: bool) -> None:
        super().__init__("aegis:storage:Release", name, None, None)
        self.guard = ReleaseGuard(name, version, allow_downgrade, pulumi.ResourceOptions(parent=self))
        self.register_outputs({"version": version})
