"""The dev and HA (prod) tiers started on loopback, for the test modules that run against both."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from components.healthcheck import Target
from components.model.config import StackConfig, parse
from tests.support.cluster import (
    LocalCluster,
    fresh_values,
    health_target,
    loopback_topology,
    running,
    running_prod,
    wait_for_report,
)
from tests.support.stack_configs import prod

TIERS = ("dev", "ha")


@contextmanager
def running_tier(tier: str, root: Path, subnet: str, cfg: StackConfig | None = None) -> Iterator[LocalCluster]:
    """The dev topology (`tier` "dev") or the prod one with its PostgreSQL ("ha") on `subnet`, from `cfg` or,
    by default, the stack's shipped config; stopped and removed on exit."""
    if tier == "dev":
        topology, _ = loopback_topology(cfg or parse({}, stack="dev"), root, subnet)
        with running(topology, fresh_values(), root) as cluster:
            yield cluster
    else:
        with running_prod(cfg or prod(), root, subnet) as (cluster, _):
            yield cluster


def healthy_target(cluster: LocalCluster, timeout: float = 90) -> Target:
    """The cluster's health target, once the health check passes on it."""
    target = health_target(cluster.topology, cluster.values)
    report = wait_for_report(target, healthy=True, timeout=timeout)
    assert report.healthy, report.table()
    return target
