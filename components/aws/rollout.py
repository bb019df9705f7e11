"""The stack's `StackRollout`: every node's target fingerprint and instance, in one plan."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from components.aws.node import ClusterNode, plan_node
from components.model.config import StackConfig
from components.model.topology import Topology
from components.rollout.resource import RolloutPlan, StackRollout


class RollingChanges(pulumi.ComponentResource):
    """Holds the stack's rollout resource (the dynamic resource's own type token cannot be chosen)."""

    rollout: StackRollout

    def __init__(self, name: str, cfg: StackConfig, topology: Topology, nodes: Mapping[str, ClusterNode]) -> None:
        super().__init__(
            "aegis:storage:StackRollout", name, None, pulumi.ResourceOptions(depends_on=list(nodes.values()))
        )
        self.rollout = stack_rollout(cfg, topology, nodes, parent=self)
        self.register_outputs({"rolled": self.rollout.rolled})


def stack_rollout(
    cfg: StackConfig, topology: Topology, nodes: Mapping[str, ClusterNode], parent: pulumi.Resource
) -> StackRollout:
    """After every node exists: a changed node document is then applied one node at a time."""
    assert cfg.aws is not None
    models = {m.name: m for m in (*topology.services, *topology.load_balancers)}
    names = sorted(nodes)
    lbs = [(lb.name, lb.admin_socket) for lb in topology.load_balancers]

    def plan(resolved: list[str]) -> str:
        # resolved: each node's fingerprint and instance id, in `names` order
        found = dict(zip(names, zip(resolved[::2], resolved[1::2], strict=True), strict=True))
        return RolloutPlan(
            region=cfg.aws.network.region if cfg.aws else "",
            nodes=tuple(plan_node(models[name], *found[name]) for name in names),
            load_balancers=tuple((found[name][1], admin_socket) for name, admin_socket in lbs),
            gate_timeout=float(cfg.health_timeout_seconds),
        ).to_json()

    inputs = [value for name in names for value in (nodes[name].fingerprint, nodes[name].instance.id)]
    return StackRollout(
        "stack-rollout",
        plan_json=pulumi.Output.all(*inputs).apply(plan),
        version=cfg.seaweedfs_version,
        allow_downgrade=cfg.allow_downgrade,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(nodes.values())),
    )
