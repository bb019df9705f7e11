"""The release guard refuses a change of the masters' Raft engine on a running stack without the documented
migration, and keeps the engine in its state so a change shows in the preview (components/model/raft.py)."""

from __future__ import annotations

from components.model import raft
from components.stack.release import _ReleaseGuardProvider


def guard(version="4.48", engine=raft.GORAFT, migration="") -> dict:
    return {"version": version, "allow_downgrade": False, "raft_engine": engine, "raft_engine_migration": migration}


def test_the_release_guard_refuses_an_engine_change_without_the_migration():
    provider = _ReleaseGuardProvider()
    (failure,) = provider.check(guard(), guard(engine=raft.HASHICORP)).failures
    assert failure.property == "raft_engine"
    assert "from goraft to hashicorp" in failure.reason and "no migration" in failure.reason
    assert "pulumi config set raftHashicorp false" in failure.reason
    assert f"raftEngineMigration {raft.RESTART_ALL_MASTERS}" in failure.reason
    assert provider.check(guard(), guard(engine=raft.HASHICORP, migration=raft.RESTART_ALL_MASTERS)).failures == []
    assert provider.check(guard(), guard()).failures == []
    assert provider.check({}, guard(engine=raft.HASHICORP)).failures == []  # a new stack runs no engine yet
    # A state written before the engine was recorded: nothing to compare with.
    assert provider.check({"version": "4.48", "allow_downgrade": False}, guard(engine=raft.HASHICORP)).failures == []


def test_an_engine_change_and_a_downgrade_are_both_reported():
    failures = _ReleaseGuardProvider().check(guard(), guard(version="4.47", engine=raft.HASHICORP)).failures
    assert {f.property for f in failures} == {"version", "raft_engine"}


def test_the_engine_is_in_the_guards_state_so_a_change_shows_in_the_preview():
    provider = _ReleaseGuardProvider()
    assert provider.diff("release-guard", guard(), guard(engine=raft.HASHICORP)).changes is True
    assert provider.diff("release-guard", guard(), guard()).changes is False
    # RolloutRun's inputs carry no engine: its check (the same release_check) is unchanged.
    assert raft.raft_engine_problem(guard(), {"version": "4.48", "allow_downgrade": False}) is None
