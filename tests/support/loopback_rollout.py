"""The rollout driver the AWS stack uses, run against a loopback cluster (tests/support/rollout_local.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from components.rollout.driver import Rollout, Timing
from tests.support.cluster import LocalCluster, running_prod
from tests.support.rollout_local import LoopbackOperator, Release, loopback_gates, loopback_haproxy, previous_weed
from tests.support.stack_configs import prod


def loopback_rollout(
    cluster: LocalCluster, running: dict[str, Release], targets: dict[str, Release], gate_timeout: float, **options: Any
) -> Rollout:
    """A rollout of `cluster` from the `running` releases to `targets`: each node gated on its health for up to
    `gate_timeout` seconds, filers drained in the cluster's HAProxy first. `options` are Rollout's own
    (on_event, leader_handover)."""
    return Rollout(
        LoopbackOperator(cluster, running, targets),
        loopback_gates(cluster.topology),
        loopback_haproxy(cluster.topology),
        Timing(gate_timeout=gate_timeout),
        **options,
    )


@contextmanager
def running_previous_prod(root: Path, subnet: str) -> Iterator[LocalCluster]:
    """The shipped prod topology on `subnet`, started on the previous weed release: what a rollout starts from."""
    with running_prod(prod(), root, subnet, weed=previous_weed()) as (started, _):
        yield started
