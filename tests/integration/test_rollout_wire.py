"""The rollout resource's provider as the engine drives it: the prod program's recorded inputs (under
mocks), serialized into a protobuf Struct and sent over gRPC to `pulumi.dynamic`'s provider server in a
fresh interpreter, which unpickles the provider. Check refuses a downgrade; Diff sees a changed flag."""

from __future__ import annotations

import pytest
from pulumi.runtime import proto

from tests.support.engine_wire import PROVIDER_KEY, DynamicProviderServer, to_struct
from tests.support.prod_program import execute

pytestmark = pytest.mark.integration

URN = "urn:pulumi:prod::aegis-storage::pulumi-python:dynamic:Resource::stack-rollout"
# Prod pulls only by digest, so a release without one pinned in version.py names its digest in config.
OLDER = {"seaweedfsVersion": "4.47", "seaweedfsImageDigest": "sha256:" + "47" * 32}


def recorded(**overrides) -> dict:
    (rollout,) = [
        r for r in execute(**overrides).run.of_type("pulumi-python:dynamic:Resource") if r.name == "stack-rollout"
    ]
    assert PROVIDER_KEY in rollout.inputs
    return rollout.inputs


def test_the_unpickled_provider_refuses_a_downgrade_and_sees_a_flag_change():
    running, older, flag = recorded(), recorded(**OLDER), recorded(electionTimeout="5s")
    with DynamicProviderServer() as server:
        refused = server.stub.Check(proto.CheckRequest(urn=URN, olds=to_struct(running), news=to_struct(older)))
        (failure,) = refused.failures
        assert failure.property == "version" and '"4.47" is below 4.48' in failure.reason
        allowed = recorded(**OLDER, allowDowngrade=True)
        check = server.stub.Check(proto.CheckRequest(urn=URN, olds=to_struct(running), news=to_struct(allowed)))
        assert list(check.failures) == []
        changed = server.diff(URN, "stack-rollout", to_struct(running), to_struct(flag))
        assert changed.changes == proto.DiffResponse.DIFF_SOME and list(changed.replaces) == []
        same = server.diff(URN, "stack-rollout", to_struct(running), to_struct(running))
        assert same.changes == proto.DiffResponse.DIFF_NONE
