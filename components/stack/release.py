"""The stack's SeaweedFS release: `Release` and its `ReleaseGuard`, the same in both stacks.

The guard is a Pulumi dynamic resource whose `check` refuses a release below the one the stack runs (its
previous inputs) unless allowDowngrade, and a change of the masters' Raft engine unless raftEngineMigration
names the documented migration (components/model/raft.py). Its inputs, and so its state, carry the release
and the engine, so the preview shows a change of either. Whatever a release reaches (containers, node
documents) depends on it, so a refusal fails the preview and the update before a single node changes.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

from components.model.config import StackConfig
from components.model.raft import raft_engine_problem
from components.model.rollout import release_problem

# What the guard compares with the state: a change of any of them is an update in the preview.
_TRACKED = ("version", "raft_engine", "raft_engine_migration")


def release_check(olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
    """A dynamic provider's check of inputs that carry `version` and `allow_downgrade`, and, from the
    ReleaseGuard, `raft_engine` and `raft_engine_migration`."""
    failures = []
    for prop, problem in (("version", release_problem(olds, news)), ("raft_engine", raft_engine_problem(olds, news))):
        if problem:
            failures.append(CheckFailure(prop, problem))
    return CheckResult(news, failures)


class _ReleaseGuardProvider(ResourceProvider):
    """Refuses a release below the one the stack runs (its previous inputs) unless allow_downgrade."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return release_check(olds, news)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=any(olds.get(k) != news.get(k) for k in _TRACKED), replaces=[], stables=[])

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_="release-guard", outs=props)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=news)


class ReleaseGuard(pulumi.dynamic.Resource):
    """Registered before anything a release reaches (containers, node documents): a downgrade that is not
    allowed fails the preview and the update before a single node changes."""

    def __init__(
        self,
        name: str,
        version: str,
        allow_downgrade: bool,
        opts: pulumi.ResourceOptions | None = None,
        raft: tuple[str, str] | None = None,
    ) -> None:
        props: dict[str, Any] = {"version": version, "allow_downgrade": allow_downgrade}
        if raft is not None:
            props["raft_engine"], props["raft_engine_migration"] = raft
        super().__init__(_ReleaseGuardProvider(), name, props, opts)


class Release(pulumi.ComponentResource):
    """The stack's SeaweedFS release and its guard; whatever a release reaches depends on this.

    `raft`: (engine, migration) as the stack config has them (`StackConfig.raft_engine`,
    `raft_engine_migration`); the guard records the engine and refuses a change the migration does not allow."""

    def __init__(self, name: str, version: str, allow_downgrade: bool, raft: tuple[str, str] | None = None) -> None:
        super().__init__("aegis:storage:Release", name, None, None)
        self.guard = ReleaseGuard(name, version, allow_downgrade, pulumi.ResourceOptions(parent=self), raft)
        outputs: dict[str, Any] = {"version": version}
        if raft is not None:
            outputs["raft_engine"] = raft[0]
        self.register_outputs(outputs)


def stack_release_guard(cfg: StackConfig) -> ReleaseGuard:
    """The guard of the stack's one release, registered the same way by both stacks."""
    raft = (cfg.raft_engine, cfg.raft_engine_migration)
    return Release("seaweedfs-release", cfg.seaweedfs_version, cfg.allow_downgrade, raft=raft).guard
