"""A stack's state holds each dynamic provider as `pulumi.dynamic` pickled it (by module and class name), and
`pulumi refresh` and `pulumi destroy` unpickle it from there: the names running stacks hold must load."""

from __future__ import annotations

import base64

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.rollout.resource import _NodeReadyProvider, _RolloutRunProvider
from components.stack.release import _ReleaseGuardProvider

# `__provider` of the rollout, the release guard and a NodeReady as the states of running stacks hold them.
HELD_BY_RUNNING_STACKS = {
    "gASVPAAAAAAAAACMG2NvbXBvbmVudHMucm9sbG91dC5yZXNvdXJjZZSMFV9TdGFja1JvbGxvdXRQcm92aWRlcpSTlCmBlC4=": (
        _RolloutRunProvider
    ),
    "gASVPAAAAAAAAACMG2NvbXBvbmVudHMucm9sbG91dC5yZXNvdXJjZZSMFV9SZWxlYXNlR3VhcmRQcm92aWRlcpSTlCmBlC4=": (
        _ReleaseGuardProvider
    ),
    "gASVOQAAAAAAAACMG2NvbXBvbmVudHMucm9sbG91dC5yZXNvdXJjZZSMEl9Ob2RlUmVhZHlQcm92aWRlcpSTlCmBlC4=": _NodeReadyProvider,
}


@pytest.mark.parametrize(("held", "provider"), HELD_BY_RUNNING_STACKS.items())
def test_a_provider_a_running_stack_holds_unpickles_to_the_current_one(held: str, provider: type) -> None:
    assert type(dill.loads(base64.b64decode(held))) is provider


@pytest.mark.parametrize("provider", [_RolloutRunProvider, _ReleaseGuardProvider, _NodeReadyProvider])
def test_a_provider_pickled_now_unpickles_to_itself(provider: type) -> None:
    assert type(dill.loads(base64.b64decode(serialize_provider(provider())))) is provider
